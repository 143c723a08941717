"""``green-chain bench``: baseline vs green chains on real data, measured."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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
        help="small fixed subset of every scenario (< 10 min on 2 cores)",
    )
    p.add_argument("--scenarios", default="", help="comma-separated scenario names (default: all)")
    p.add_argument(
        "--items", type=int, default=None, help="test items per scenario (default: whole split)"
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
        "--stable-examples",
        action="store_true",
        help="few-shot green chains select their examples once per task, not per input "
        "(a stable prefix for the prefix cache)",
    )
    p.add_argument("--no-etr-sweep", action="store_true", help="skip the validated-ETR rate sweep")
    p.add_argument(
        "--etr-items",
        type=int,
        default=None,
        help=f"test items of the validated-ETR sweep per scenario (default: all; "
        f"--quick: {QUICK_ETR_ITEMS})",
    )
    p.add_argument(
        "--etr-scenarios",
        default=None,
        help=f"comma-separated scenarios the sweep runs on (default: every compressible one; "
        f"--quick: {','.join(QUICK_ETR_SCENARIOS)})",
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
    """Set torch's CPU threads (and ``OMP_NUM_THREADS`` for subprocesses); return the count.

    ``None`` = 1 on machines with at most 2 cores (one thread ran 6-8x faster than two
    on a shared 2-core machine), else torch's default.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if threads is None and (os.cpu_count() or 1) <= 2:
        threads = 1
    try:
        import torch
    except ImportError:
        return threads or 0
    if threads is not None:
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
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
    out = check_out_dir(
        Path(args.out)
        if args.out
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
    )


def run_options(args: argparse.Namespace, plan: BenchPlan) -> RunOptions:
    """The runner's options: green-chain settings and the validated-ETR sweep."""
    from green_chain.bench.runner import RunOptions
    from green_chain.bench.scenarios import GreenSettings

    settings = GreenSettings(
        route=not args.no_route, stable_examples=getattr(args, "stable_examples", False)
    )
    if args.rate is not None:
        settings.compression_rate = args.rate

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
        else (QUICK_ETR_ITEMS if args.quick else None),
        progress=not args.no_progress,
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
        "prefix_cache": getattr(args, "prefix_cache", "on"),
        "elapsed_s": round(elapsed_s, 1),
    }


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
    # exit 0 when the run completed and at least one scenario ran (failures are printed
    # above and recorded in results.json); 1 when no scenario ran at all
    return 0 if doc["overall"]["scenarios_ok"] > 0 else 1


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
    With ``--ray`` the test items run on Ray workers built by ``worker_setup`` (default:
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
    executor = _ray_executor(args, worker_setup)
    options.executor = executor
    print(
        f"green-chain bench: {len(plan.scenarios)} scenario(s), data {plan.data_root} "
        f"({plan.data_source}), results -> {plan.out}",
        file=sys.stderr,
    )
    started = time.monotonic()
    components.warm_up()
    if executor is not None:
        try:
            executor.start()
        except RuntimeError as exc:  # Ray missing or the cluster unreachable
            print(f"green-chain bench: error: {exc}", file=sys.stderr)
            return 2
    try:
        entries = run_benchmark(
            plan.scenarios, components, monitor, options, log=lambda m: print(m, file=sys.stderr)
        )
    finally:
        ray_info = executor.describe() if executor is not None else None
        if executor is not None:
            executor.shutdown()
    elapsed_s = time.monotonic() - started
    doc_options = _document_options(args, plan, options, threads, elapsed_s)
    doc_options["ray"] = ray_info
    doc = build_document(
        entries,
        options=doc_options,
        components_versions=dict(components.versions),
        meters=_meters(monitor),
        projection=plan.projection,
        projection_spec=plan.projection_spec,
    )
    doc["data_source"] = {
        "source": plan.data_source,
        "root": str(plan.data_root),
        "embedded": plan.data_source == "embedded",
    }
    return report(args, plan, doc, elapsed_s, threads)


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
            setup=worker_setup or partial(default_worker_setup, args.compressor),
        )
    except ValueError as exc:  # --ray, --ray-workers, --ray-cpus-per-worker: one line, exit 2
        raise UsageError(str(exc)) from exc
