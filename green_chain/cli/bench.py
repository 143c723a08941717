"""``green-chain bench``: baseline vs green chains on real data, measured."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from green_chain.cli.errors import UsageError, check_out_dir

if TYPE_CHECKING:  # the command module stays light: ``green-chain --help`` imports it
    from green_chain.bench.components import Components
    from green_chain.bench.projection import CalibratedProjection, Projection
    from green_chain.bench.runner import RunOptions
    from green_chain.bench.scenarios import Scenario
    from green_chain.energy.monitor import EnergyMonitor

DEFAULT_OUT = "green-chain-results"
#: ``--quick`` runs the validated-ETR sweep on these scenarios and items only.
QUICK_ETR_SCENARIOS = ("squad",)
QUICK_ETR_ITEMS = 2
#: The standard run's sweep: this many calibration items per compressible scenario. The
#: sweep prefills every item at each of four rates in the driver, serially: on all
#: calibration items (up to 60; QMSum's are ~2 000 tokens) it would take about a quarter
#: of the 90-minute budget for a secondary figure. ``--etr-items N`` sets another number.
STANDARD_ETR_ITEMS = 5
#: Wall-time targets on a 2-core machine (issue 23): ``--quick`` 5 minutes; the standard
#: run (every scenario, default items, with or without ``--ablation``) 90 minutes.
QUICK_TARGET_S = 5 * 60
STANDARD_TARGET_S = 90 * 60


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run the baseline-vs-green benchmark on the shared data",
        description=(
            "Run each scenario's baseline chain (full context, fixed examples, large model) and green "
            "chain (compression, relevant history, budgeted examples, routing) on the same real items, "
            "measure both, and write results.json, CSV, plots and a table."
        ),
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small fixed subset of every scenario (target: 5 min on 2 cores with --jobs 2)",
    )
    p.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all)")
    p.add_argument(
        "--items",
        type=int,
        default=None,
        help="test items per scenario (default: 100, all where a split is smaller; --quick: a few)",
    )
    p.add_argument(
        "--ablation",
        action="store_true",
        help="also run, per optimizer a scenario uses, its green chain with that optimizer "
        "alone on the same items",
    )
    p.add_argument(
        "--data",
        default=None,
        help="data folder, or 'embedded' for the small sample inside the package (default: "
        "$GREEN_CHAIN_DATA, else ../shared/data, else the embedded sample)",
    )
    p.add_argument(
        "--out", default=None, help=f"output folder (default: ./{DEFAULT_OUT}/<timestamp>/)"
    )
    p.add_argument("--seed", type=int, default=0, help="item selection seed (default 0)")
    p.add_argument(
        "--projection",
        default=None,
        help="deployment pair to project energy for, CHEAP:LARGE@GPU "
        "(default llama-3.1-8b:llama-3.1-70b@h100); 'none' to skip",
    )
    p.add_argument(
        "--projection-calibration",
        default=None,
        metavar="FILE",
        help="price the projection from a measured gpu_calibration.json (make gpu-check) "
        "instead of published figures; --projection then names CHEAP:LARGE of the file",
    )
    p.add_argument(
        "--rate", type=float, default=None, help="compression rate of the green chains (kept share)"
    )
    p.add_argument(
        "--compressor",
        default=None,
        help="compression backend of the green chains: lexical (default), embedding, "
        "selective, learned, llmlingua, longllmlingua, llmlingua2",
    )
    p.add_argument(
        "--no-route", action="store_true", help="green chains use the large model (no router)"
    )
    p.add_argument(
        "--prefix-cache",
        choices=("on", "off"),
        default="on",
        help="reuse cached prompt prefixes (KV states) in the local models of both chains "
        "(default on; recorded in results.json)",
    )
    p.add_argument(
        "--per-input-examples",
        action="store_true",
        help="few-shot green chains select the examples most relevant to each input "
        "(default: once per task, the label-balanced examples that fit the token budget, "
        "a stable prefix for the prefix cache)",
    )
    p.add_argument("--no-etr-sweep", action="store_true", help="skip the validated-ETR rate sweep")
    p.add_argument(
        "--etr-items",
        type=int,
        default=None,
        help=f"calibration items of the validated-ETR sweep per scenario (no generation; "
        f"default: {STANDARD_ETR_ITEMS}; --quick: {QUICK_ETR_ITEMS})",
    )
    p.add_argument(
        "--etr-scenarios",
        default=None,
        help=f"comma-separated scenarios the sweep runs on (default: every compressible one; "
        f"--quick: {','.join(QUICK_ETR_SCENARIOS)})",
    )
    p.add_argument(
        "--route-costs",
        default=None,
        metavar="RESULTS_JSON",
        help="reuse the cheap/large cost ratios an earlier run measured (its results.json) "
        "instead of measuring them again, so the router decides the same way",
    )
    p.add_argument(
        "--route-labels",
        choices=("generated", "probe"),
        default=None,
        help="how the router's calibration items are labelled: 'generated' (default: both "
        "models answer each item, scored by the task's metric; the cost ratio over all of "
        "them) or 'probe' (the gold answer's likelihood after the prompt, nothing generated)",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="finish a killed run: write to DIR and take every scenario DIR's checkpoints "
        "hold from the same command and code instead of running it again",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the test items in N one-thread worker processes, each loading the models "
        "once and metering its items with its own monitor (default 1: in this process; "
        "--jobs 2 recommended on 2 cores)",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run the items as Ray tasks on the cluster at ADDRESS ('local': a local Ray "
        "instance); needs green-chain[ray]",
    )
    p.add_argument(
        "--ray-workers", type=int, default=None, help="Ray worker actors (default: CPUs / 1)"
    )
    p.add_argument(
        "--ray-cpus-per-worker", type=float, default=1.0, help="CPUs per Ray worker (default 1)"
    )
    p.add_argument(
        "--no-prompt-probe",
        action="store_true",
        help="skip the secondary prompt probe (prompt_evidence_*: the gold answer's likelihood "
        "after each prompt sent, scored unmetered right after each item through its chain's "
        "prefix cache, read only; baseline and green records only); quality is unchanged",
    )
    p.add_argument(
        "--rerun-same",
        action="store_true",
        help="with --ablation, run every variant even when it makes exactly the baseline's "
        "model calls (a router that never routes, a budget equal to the cap), or exactly the "
        "green chain's calls and optimizer work (the green chain's other optimizers all off); "
        "by default such a variant takes that chain's records (same_as: baseline, 0 %% saved "
        "by construction; same_as: green). Rerun, it is an A/A measurement of the meter's "
        "noise",
    )
    p.add_argument(
        "--no-baseline-cache",
        action="store_true",
        help="run every baseline call again instead of taking scored baseline records that "
        "an earlier run in the same folder cached by content (same commit, models, host, "
        "item, settings; off anyway when the git tree is dirty)",
    )
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: 1 on machines with <= 2 cores, else torch's default)",
    )
    p.add_argument(
        "--mlflow",
        nargs="?",
        const="green-chain-bench",
        default=None,
        metavar="EXPERIMENT",
        help="log the run to MLflow through the 'mlflow' exporter (entry-point group "
        "green_chain.exporters; install it with: pip install -e integrations/mlflow)",
    )
    p.add_argument(
        "--mlflow-tracking-uri", default=None, help="MLflow tracking URI (default: MLflow's own)"
    )
    p.set_defaults(func=run)


def _etr_scenarios(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The sweep's scenarios: ``--etr-scenarios``, else the quick set, else all (``None``)."""
    if args.etr_scenarios is not None:
        return tuple(_scenario_names(args.etr_scenarios))
    return QUICK_ETR_SCENARIOS if args.quick else None


def _scenario_names(raw: str) -> list[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def set_threads(threads: int | None) -> int:
    """Set the CPU threads of torch, OpenMP and numpy's BLAS, here and in subprocesses
    (:func:`green_chain.bench.threads.limit_threads`); return torch's count.

    ``None`` = 1 on machines with at most 2 cores (one thread ran 6-8x faster than two
    on a shared 2-core machine), else the libraries' defaults.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if threads is None and (os.cpu_count() or 1) <= 2:
        threads = 1
    if threads is not None:
        from green_chain.bench.threads import limit_threads

        return int(limit_threads(threads)["torch"] or threads)
    try:
        import torch
    except ImportError:
        return 0
    return int(torch.get_num_threads())


def _meters(monitor: Any) -> list[dict[str, Any]]:
    return [
        {"domain": d.domain, "source": d.source, "kind": d.kind, "description": d.description}
        for d in monitor.domains.values()
    ]


@dataclass
class BenchPlan:
    """What ``green-chain bench`` will run, from validated arguments."""

    scenarios: list[Scenario]
    data_root: Path
    #: How the data folder was chosen (``--data``, ``$GREEN_CHAIN_DATA``, ``../shared/data``,
    #: ``embedded``; see :func:`green_chain.paths.resolve_data`).
    data_source: str
    out: Path
    projection: Projection | CalibratedProjection | None
    projection_spec: str | None
    exporter: Callable[..., Any] | None
    cost_ratios: dict[str, float] = field(default_factory=dict)


def validate(args: argparse.Namespace) -> BenchPlan:
    """Check every argument before anything is loaded; a bad one is a one-line error.

    The output folder is created and a test file written there, so a run never ends
    unable to save its results.
    """
    from green_chain.bench.exporters import load_exporter
    from green_chain.bench.projection import (
        DEFAULT_PROJECTION,
        Projection,
        calibrated_projection,
    )
    from green_chain.bench.scenarios import get_scenarios
    from green_chain.paths import resolve_data

    if args.items is not None and args.items <= 0:
        raise ValueError(f"--items must be a positive number, got {args.items}")
    if args.etr_items is not None and args.etr_items <= 0:
        raise ValueError(f"--etr-items must be a positive number, got {args.etr_items}")
    if args.etr_scenarios is not None:
        get_scenarios(_scenario_names(args.etr_scenarios))  # unknown names: a clear error
    if args.rate is not None and not 0 < args.rate <= 1:
        raise ValueError(f"--rate must be in (0, 1], got {args.rate}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    jobs = getattr(args, "jobs", 1)
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if jobs > 1 and args.ray:
        raise ValueError(f"--jobs {jobs} and --ray both place the items; use one")
    scenarios = get_scenarios(_scenario_names(args.scenarios))
    spec = args.projection or DEFAULT_PROJECTION
    projection: Projection | CalibratedProjection | None = None
    if getattr(args, "projection_calibration", None):
        if spec.lower() == "none":
            raise ValueError("--projection none contradicts --projection-calibration")
        projection = calibrated_projection(args.projection_calibration, args.projection)
        spec = projection.spec
    elif spec.lower() != "none":
        projection = Projection.parse(spec)
    data = resolve_data(args.data)
    cost_ratios = (
        recorded_cost_ratios(args.route_costs) if getattr(args, "route_costs", None) else {}
    )
    resume = getattr(args, "resume", None)
    if resume and args.out and Path(args.out) != Path(resume):
        raise ValueError(f"--resume {resume} writes to that folder; drop --out {args.out}")
    if resume and not Path(resume).is_dir():
        raise FileNotFoundError(f"--resume: no run folder {resume}")
    out = check_out_dir(
        Path(resume or args.out)
        if resume or args.out
        else Path(DEFAULT_OUT) / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    return BenchPlan(
        scenarios=scenarios,
        data_root=data.root,
        data_source=data.source,
        out=out,
        projection=projection,
        projection_spec=None if projection is None else spec,
        exporter=load_exporter("mlflow") if args.mlflow else None,
        cost_ratios=cost_ratios,
    )


def recorded_cost_ratios(path: str) -> dict[str, float]:
    """The cheap/large cost ratios by scenario that the run in ``path`` measured."""
    from green_chain.bench.results import load_results

    doc = load_results(path)
    ratios = {
        name: float(s["router"]["cheap_cost_ratio"])
        for name, s in doc["scenarios"].items()
        if (s.get("router") or {}).get("cost_ratio_source") in ("measured", "reused")
    }
    if not ratios:
        raise ValueError(f"--route-costs: {path} records no measured cost ratio")
    return ratios


def run_options(args: argparse.Namespace, plan: BenchPlan) -> RunOptions:
    """The runner's options: green-chain settings and the validated-ETR sweep."""
    from green_chain.bench.runner import RunOptions
    from green_chain.bench.scenarios import GreenSettings

    settings = GreenSettings(
        route=not args.no_route, stable_examples=not getattr(args, "per_input_examples", False)
    )
    if args.rate is not None:
        settings.compression_rate = args.rate
    if args.quick:  # a smoke test: the first tier on the first 400 calibration items
        from green_chain.bench.scenarios.base import QUICK_TIER_EXAMPLES

        settings.tier_examples = QUICK_TIER_EXAMPLES

    return RunOptions(
        n_items=args.items,
        quick=args.quick,
        seed=args.seed,
        data_root=plan.data_root,
        settings=settings,
        etr_rates=()
        if args.no_etr_sweep
        else ((0.5, 0.33) if args.quick else (0.75, 0.5, 0.33, 0.25)),
        # --quick: the sweep on one scenario and a few items only (it triples the work)
        etr_scenarios=_etr_scenarios(args),
        etr_items=args.etr_items
        if args.etr_items is not None
        else (QUICK_ETR_ITEMS if args.quick else STANDARD_ETR_ITEMS),
        progress=not args.no_progress,
        cost_ratios=dict(plan.cost_ratios),
        ablation=bool(getattr(args, "ablation", False)),
        rerun_same=bool(getattr(args, "rerun_same", False)),
        prompt_probe=not getattr(args, "no_prompt_probe", False),
        route_labels=getattr(args, "route_labels", None),
    )


def _document_options(
    args: argparse.Namespace, plan: BenchPlan, options: RunOptions, threads: int, elapsed_s: float
) -> dict[str, Any]:
    """The ``options`` block of results.json: what was asked for and how it ran."""
    from green_chain.paths import DATA_ENV

    return {
        "quick": args.quick,
        "items": args.items,
        "seed": args.seed,
        "data": str(plan.data_root),
        "data_source": plan.data_source,
        "data_env": os.environ.get(DATA_ENV),
        "scenarios": [s.name for s in plan.scenarios],
        "settings": options.settings.to_dict(),
        "etr_rates": list(options.etr_rates),
        "etr_scenarios": None if options.etr_scenarios is None else list(options.etr_scenarios),
        "etr_items": options.etr_items,
        "threads": threads,
        "route_costs": getattr(args, "route_costs", None),
        "ablation": bool(getattr(args, "ablation", False)),
        "rerun_same": options.rerun_same,
        "prefix_cache": getattr(args, "prefix_cache", "on"),
        "prompt_probe": options.prompt_probe,
        "route_labels": options.route_labels or "generated",
        "elapsed_s": round(elapsed_s, 1),
    }


def run_fingerprint(
    args: argparse.Namespace, plan: BenchPlan, options: RunOptions, components: Components
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: items, seed, settings, code and models."""
    from green_chain.bench.document import git_state

    return {
        "quick": args.quick,
        "items": args.items,
        "seed": args.seed,
        "data": str(plan.data_root),
        "settings": options.settings.to_dict(),
        "etr_rates": list(options.etr_rates),
        "etr_scenarios": options.etr_scenarios,
        "etr_items": options.etr_items,
        "ablation": options.ablation,
        "rerun_same": options.rerun_same,
        "prompt_probe": options.prompt_probe,
        "route_labels": options.route_labels or "generated",
        "cost_ratios": options.cost_ratios,
        "models": dict(components.versions),
        "commit": git_state().get("commit"),
    }


def time_target_s(args: argparse.Namespace) -> int | None:
    """The run's wall-time target in seconds: ``--quick`` 300, the standard run 5400.

    The standard run is every scenario at the default items (``--ablation`` or not);
    other selections (``--items``, ``--scenarios``) have no target (``None``).
    """
    if args.quick:
        return QUICK_TARGET_S
    if args.items is None and not _scenario_names(args.scenarios):
        return STANDARD_TARGET_S
    return None


def timing(
    args: argparse.Namespace,
    wall_s: float,
    scenarios: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``timing`` of results.json: wall seconds of the whole command, its target, met or not.

    A run that took scenarios from ``--resume`` checkpoints ran them in earlier
    invocations: its own wall time says nothing of the whole run's, so ``met`` is
    ``None``; ``resumed`` lists those scenarios and ``scenarios_elapsed_s`` sums every
    scenario's own ``elapsed_s`` (each timed in the invocation that ran it).
    """
    target = time_target_s(args)
    resumed = sorted(n for n, e in (scenarios or {}).items() if e.get("resumed"))
    out: dict[str, Any] = {
        "wall_s": round(wall_s, 1),
        "target_s": target,
        "met": None if target is None or resumed else wall_s <= target,
        "cpu_count": os.cpu_count(),
        "jobs": getattr(args, "jobs", 1),
    }
    if resumed:
        out["resumed"] = resumed
        out["scenarios_elapsed_s"] = round(
            sum(float(e.get("elapsed_s") or 0.0) for e in (scenarios or {}).values()), 1
        )
    return out


def _timing_line(t: dict[str, Any]) -> str:
    head = f"wall time {t['wall_s']:.0f} s"
    if t["target_s"] is None:
        return f"{head} (no time target for this selection)"
    if t.get("resumed"):
        return (
            f"{head} for this invocation; {len(t['resumed'])} scenario(s) were resumed from "
            f"checkpoints, so the run is not judged against its {t['target_s']} s target "
            f"(each scenario's own elapsed time, summed: {t['scenarios_elapsed_s']:.0f} s)"
        )
    verdict = "met" if t["met"] else "MISSED"
    return (
        f"{head} against the target {t['target_s']} s on {t['cpu_count']} core(s) with "
        f"--jobs {t['jobs']}: {verdict}"
    )


def report(
    args: argparse.Namespace,
    plan: BenchPlan,
    doc: dict[str, Any],
    elapsed_s: float,
    threads: int,
) -> int:
    """Write the result files, print the table, export; the exit code of the run."""
    from green_chain.bench.document import write_outputs
    from green_chain.bench.results import format_table

    paths = write_outputs(doc, plan.out, plots=not args.no_plots)
    print(format_table(doc))
    print(f"\nran in {elapsed_s:.0f} s with {threads} torch thread(s)")
    if doc.get("timing"):
        print(_timing_line(doc["timing"]))
    failed = {n: s.get("error") for n, s in doc["scenarios"].items() if s["status"] != "ok"}
    for name, err in failed.items():
        print(f"FAILED {name}: {err}", file=sys.stderr)
    print("\nfiles:")
    for p in paths.values():
        print(f"  {p}")
    if plan.exporter is not None:
        run_id = plan.exporter(
            str(paths["json"]), experiment=args.mlflow, tracking_uri=args.mlflow_tracking_uri
        )
        print(f"logged to MLflow experiment {args.mlflow!r} (run {run_id})")
    failed_items = int(doc["overall"].get("failed_items") or 0) + int(
        doc["overall"].get("ablation_failed_items") or 0
    )
    if failed_items:
        print(f"FAILED ITEMS: {failed_items} (see the table)", file=sys.stderr)
    # exit 0 only when every scenario ran and no item failed (failures are printed above
    # and recorded in results.json): a run with failures is not evidence
    ok = doc["overall"]["scenarios_ok"] > 0 and not failed and not failed_items
    return 0 if ok else 1


def run(
    args: argparse.Namespace,
    *,
    components: Components | None = None,
    monitor: EnergyMonitor | None = None,
    worker_setup: Callable[[], tuple[Components, EnergyMonitor]] | None = None,
) -> int:
    """Run the benchmark: validate -> options -> run -> report.

    ``components``/``monitor`` may be injected (tests); by default the packaged models and
    green-chain's optimizers, with each scenario's router fitted on its calibration items,
    metered by an :class:`~green_chain.energy.monitor.EnergyMonitor` over the detected meters.
    With ``--jobs N`` (N > 1) or ``--ray`` the test items run on worker processes (local, or
    Ray actors) built by ``worker_setup`` (default:
    :func:`green_chain.bench.ray_executor.default_worker_setup`).
    """
    from green_chain.bench.components import (
        DEFAULT_COMPRESSOR,
        ComponentUnavailableError,
        default_components,
    )
    from green_chain.bench.document import build_document
    from green_chain.bench.exporters import ExporterUnavailableError
    from green_chain.bench.routefit import fit_route_policy
    from green_chain.bench.runner import run_benchmark
    from green_chain.energy.monitor import EnergyMonitor

    wall_started = time.monotonic()  # the whole command: model loading included
    try:
        plan = validate(args)
    except (ValueError, ExporterUnavailableError) as exc:  # bad arguments: one line, exit 2
        raise UsageError(str(exc)) from exc
    threads = set_threads(args.threads)
    if components is None:
        try:
            components = default_components(
                compressor=args.compressor or DEFAULT_COMPRESSOR,
                route_fitter=fit_route_policy,
                prefix_cache=getattr(args, "prefix_cache", "on") == "on",
            )
        except ComponentUnavailableError as exc:
            print(f"green-chain bench: error: {exc}", file=sys.stderr)
            return 2
    if monitor is None:
        monitor = EnergyMonitor()
    options = run_options(args, plan)
    executor = _ray_executor(args, worker_setup) or _process_executor(args, worker_setup)
    options.executor = executor
    print(
        f"green-chain bench: {len(plan.scenarios)} scenario(s), data {plan.data_root} "
        f"({plan.data_source}), results -> {plan.out}",
        file=sys.stderr,
    )
    from green_chain.bench.document import git_state

    git = git_state()  # the code that runs, before a long run can see a later commit
    options.baseline_cache = _baseline_cache(args, plan, options, components, monitor, git)
    started = time.monotonic()
    try:
        if executor is not None and hasattr(executor, "wait_started"):
            executor.start(wait=False)  # local workers load their models as the driver does
        components.warm_up()
        if executor is not None:
            waiting = getattr(executor, "wait_started", None)
            if waiting is not None:
                waiting()
            else:
                executor.start()
    except RuntimeError as exc:  # Ray missing, the cluster unreachable, a worker failed
        if executor is not None:
            executor.shutdown()
        print(f"green-chain bench: error: {exc}", file=sys.stderr)
        return 2
    try:
        entries = run_benchmark(
            plan.scenarios,
            components,
            monitor,
            options,
            log=lambda m: print(m, file=sys.stderr),
            checkpoint_dir=plan.out,
            fingerprint=run_fingerprint(args, plan, options, components),
            resume=bool(getattr(args, "resume", None)),
        )
    finally:
        executor_info = executor.describe() if executor is not None else None
        if executor is not None:
            executor.shutdown()
    elapsed_s = time.monotonic() - started
    doc_options = _document_options(args, plan, options, threads, elapsed_s)
    doc_options["ray"] = executor_info if args.ray else None
    doc_options["baseline_cache"] = (
        None if options.baseline_cache is None else options.baseline_cache.describe()
    )
    doc_options["jobs"] = getattr(args, "jobs", 1)
    doc_options["workers"] = None if args.ray else executor_info
    doc = build_document(
        entries,
        options=doc_options,
        components_versions=dict(components.versions),
        meters=_meters(monitor),
        projection=plan.projection,
        projection_spec=plan.projection_spec,
        git=git,
    )
    doc["data_source"] = {
        "source": plan.data_source,
        "root": str(plan.data_root),
        "embedded": plan.data_source == "embedded",
    }
    # written before the files: the timing covers everything but writing them
    doc["timing"] = timing(args, time.monotonic() - wall_started, doc.get("scenarios"))
    return report(args, plan, doc, elapsed_s, threads)


def _baseline_cache(
    args: argparse.Namespace,
    plan: BenchPlan,
    options: RunOptions,
    components: Components,
    monitor: EnergyMonitor,
    git: dict[str, Any],
) -> Any:
    """The run folder's content cache of baseline records, or ``None`` (off, or the code
    is not pinned: unknown commit or a dirty tree)."""
    if getattr(args, "no_baseline_cache", False):
        return None
    if not git.get("commit") or git.get("dirty") is not False:
        print(
            "green-chain bench: baseline cache off (the git commit is unknown or the tree dirty)",
            file=sys.stderr,
        )
        return None
    from green_chain.bench.content_cache import BaselineCache
    from green_chain.bench.document import hash_host

    return BaselineCache(
        plan.out,
        {
            "commit": git["commit"],
            "models": dict(components.versions),
            "host": hash_host(),
            "meters": _meters(monitor),
            "prefix_cache": getattr(args, "prefix_cache", "on"),
            "prompt_probe": options.prompt_probe,
            "jobs": getattr(args, "jobs", 1),
            "ray": args.ray,
        },
    )


def _ray_executor(args: argparse.Namespace, worker_setup: Any) -> Any:
    """The Ray executor of ``--ray`` (``None`` without it)."""
    if not args.ray:
        return None
    from functools import partial

    from green_chain.bench.ray_executor import RayExecutor, default_worker_setup

    try:
        return RayExecutor(
            args.ray,
            workers=args.ray_workers,
            cpus_per_worker=args.ray_cpus_per_worker,
            setup=worker_setup
            or partial(
                default_worker_setup, args.compressor, getattr(args, "prefix_cache", "on") == "on"
            ),
        )
    except ValueError as exc:  # --ray, --ray-workers, --ray-cpus-per-worker: one line, exit 2
        raise UsageError(str(exc)) from exc


def _process_executor(args: argparse.Namespace, worker_setup: Any) -> Any:
    """The local worker processes of ``--jobs N`` (``None`` for ``--jobs 1``: items run here)."""
    jobs = getattr(args, "jobs", 1)
    if jobs <= 1:
        return None
    from functools import partial

    from green_chain.bench.process_executor import ProcessExecutor
    from green_chain.bench.ray_executor import default_worker_setup

    return ProcessExecutor(
        jobs,
        setup=worker_setup
        or partial(
            default_worker_setup, args.compressor, getattr(args, "prefix_cache", "on") == "on"
        ),
        threads=1,
    )
