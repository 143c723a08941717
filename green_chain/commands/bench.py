"""``green-chain bench``: baseline vs green chains on real data, measured."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from pathlib import Path
from typing import Any

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
        help="log the run to MLflow (needs green-chain-mlflow: pip install -e integrations/mlflow)",
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


def _mlflow_logger() -> Any:
    """``green_chain_mlflow.log_benchmark``, or a clear error naming what to install."""
    try:
        from green_chain_mlflow import log_benchmark
    except ImportError as exc:
        raise RuntimeError(
            f"--mlflow needs the green-chain-mlflow package ({exc}); install it with "
            "`pip install -e integrations/mlflow` (or `pip install green-chain-mlflow`)"
        ) from exc
    return log_benchmark


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


def run(
    args: argparse.Namespace,
    *,
    components: Any = None,
    monitor: Any = None,
    worker_setup: Any = None,
) -> int:
    """Run the benchmark. ``components``/``monitor`` (and the Ray workers' ``worker_setup``,
    see :mod:`green_chain.bench.ray_executor`) may be injected (tests)."""
    from green_chain.bench.components import ComponentUnavailableError, default_components
    from green_chain.bench.document import build_document, write_outputs
    from green_chain.bench.projection import DEFAULT_PROJECTION, Projection, calibrated_projection
    from green_chain.bench.results import format_table
    from green_chain.bench.runner import RunOptions, run_benchmark
    from green_chain.bench.scenarios import GreenSettings, get_scenarios
    from green_chain.paths import DATA_ENV, resolve_data

    if args.items is not None and args.items <= 0:
        raise ValueError(f"--items must be a positive number, got {args.items}")
    if args.etr_items is not None and args.etr_items <= 0:
        raise ValueError(f"--etr-items must be a positive number, got {args.etr_items}")
    if args.etr_scenarios is not None:
        get_scenarios(_scenario_names(args.etr_scenarios))  # unknown names: a clear error
    if args.rate is not None and not 0 < args.rate <= 1:
        raise ValueError(f"--rate must be in (0, 1], got {args.rate}")
    scenarios = get_scenarios(_scenario_names(args.scenarios))
    spec = args.projection or DEFAULT_PROJECTION
    projection: Any = None
    if getattr(args, "projection_calibration", None):
        if spec.lower() == "none":
            raise ValueError("--projection none contradicts --projection-calibration")
        projection = calibrated_projection(args.projection_calibration, args.projection)
        spec = projection.spec
    elif spec.lower() != "none":
        projection = Projection.parse(spec)
    data = resolve_data(args.data)
    root = data.root
    log_benchmark = _mlflow_logger() if args.mlflow else None
    threads = set_threads(args.threads)
    out = (
        Path(args.out)
        if args.out
        else Path(DEFAULT_OUT) / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    )

    if components is None:
        try:
            from green_chain.bench.components import DEFAULT_COMPRESSOR

            components = default_components(compressor=args.compressor or DEFAULT_COMPRESSOR)
        except ComponentUnavailableError as exc:
            print(f"green-chain bench: error: {exc}", file=sys.stderr)
            return 2
    if monitor is None:
        from green_chain.energy.monitor import EnergyMonitor

        monitor = EnergyMonitor()
    settings = GreenSettings(route=not args.no_route)
    if args.rate is not None:
        settings.compression_rate = args.rate
    handler_factory = None
    try:
        from green_chain.callbacks import EnergyCallbackHandler

        def handler_factory(m: Any) -> Any:
            return EnergyCallbackHandler(monitor=m, estimators=None)
    except ImportError:
        pass
    options = RunOptions(
        n_items=args.items,
        quick=args.quick,
        seed=args.seed,
        data_root=root,
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
        handler_factory=handler_factory,
    )
    executor = None
    if args.ray:
        from functools import partial

        from green_chain.bench.ray_executor import RayExecutor, default_worker_setup

        executor = RayExecutor(
            args.ray,
            workers=args.ray_workers,
            cpus_per_worker=args.ray_cpus_per_worker,
            setup=worker_setup or partial(default_worker_setup, args.compressor),
            handler_factory=handler_factory,
        )
        options.executor = executor
    print(
        f"green-chain bench: {len(scenarios)} scenario(s), data {root} ({data.source}), "
        f"results -> {out}",
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
            scenarios, components, monitor, options, log=lambda m: print(m, file=sys.stderr)
        )
    finally:
        ray_info = executor.describe() if executor is not None else None
        if executor is not None:
            executor.shutdown()
    elapsed_s = time.monotonic() - started
    doc = build_document(
        entries,
        options={
            "quick": args.quick,
            "items": args.items,
            "seed": args.seed,
            "data": str(root),
            "data_source": data.source,
            "data_env": os.environ.get(DATA_ENV),
            "scenarios": [s.name for s in scenarios],
            "settings": settings.to_dict(),
            "etr_rates": list(options.etr_rates),
            "etr_scenarios": None if options.etr_scenarios is None else list(options.etr_scenarios),
            "etr_items": options.etr_items,
            "threads": threads,
            "ray": ray_info,
            "elapsed_s": round(elapsed_s, 1),
        },
        components_versions=dict(components.versions),
        meters=_meters(monitor),
        projection=projection,
        projection_spec=None if projection is None else spec,
    )
    doc["data_source"] = {"source": data.source, "root": str(root), "embedded": data.embedded}
    paths = write_outputs(doc, out, plots=not args.no_plots)
    print(format_table(doc))
    print(f"\nran in {elapsed_s:.0f} s with {threads} torch thread(s)")
    failed = {n: s.get("error") for n, s in doc["scenarios"].items() if s["status"] != "ok"}
    for name, err in failed.items():
        print(f"FAILED {name}: {err}", file=sys.stderr)
    print("\nfiles:")
    for p in paths.values():
        print(f"  {p}")
    if log_benchmark is not None:
        run_id = log_benchmark(
            str(paths["json"]), experiment=args.mlflow, tracking_uri=args.mlflow_tracking_uri
        )
        print(f"logged to MLflow experiment {args.mlflow!r} (run {run_id})")
    # exit 0 when the run completed and at least one scenario ran (failures are printed
    # above and recorded in results.json); 1 when no scenario ran at all
    return 0 if doc["overall"]["scenarios_ok"] > 0 else 1
