"""Compression rates judged on generated answers, on calibration items (run: python -m
green_chain.experiments.compression_generated).

For each compressible scenario, the green chain with compression alone answers the first
``--items`` calibration items with the large model at rate 1.0 and at each of ``--rates``;
each answer is scored by the scenario's own metric
(:func:`green_chain.bench.etr_generated.generated_sweep`). The frozen rate
(``docs/results/tuning/compression.json``, chosen by the prompt probe on 6 calibration
items) is printed beside what generated answers would choose, by the mean rule and by the
interval rule. The output is a tuning part: ``python -m green_chain.experiments.tuning
--merge`` takes its mean-rule rates in place of the probe's for these scenarios
(:func:`green_chain.experiments.tuning.apply_generated_rates`). Every item used is checked
against the scenario's whole test side. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m green_chain.experiments.compression_generated")
    p.add_argument("--data", default=None, help="data folder (default: as green-chain bench)")
    p.add_argument("--scenarios", default="squad,nq,hotpotqa")
    p.add_argument("--items", type=int, default=24, help="calibration items per scenario")
    p.add_argument("--rates", default="0.75,0.5,0.33,0.25")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the result as JSON here")
    a = p.parse_args(argv)
    if a.items < 2:
        p.error(f"--items must be >= 2, got {a.items}")
    try:
        rates = tuple(float(r) for r in a.rates.split(",") if r)
    except ValueError:
        p.error(f"--rates must be comma-separated numbers, got {a.rates!r}")
    if not rates or any(not 0 < r <= 1 for r in rates):
        p.error(f"--rates must be in (0, 1], got {a.rates!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from green_chain.bench.threads import limit_threads

    limit_threads(1)
    from green_chain.bench.components import DEFAULT_COMPRESSOR, default_components
    from green_chain.bench.etr_generated import generated_sweep
    from green_chain.bench.scenarios import GreenSettings, ScenarioEnv, get_scenarios
    from green_chain.bench.tuning import COMPRESSION_FILE

    names = [n for n in a.scenarios.split(",") if n]
    try:
        scenarios = get_scenarios(names)
    except ValueError as exc:
        p.error(f"--scenarios: {exc}")
    frozen_file = Path(COMPRESSION_FILE)
    frozen = (
        json.loads(frozen_file.read_text())["chosen"]["compression_rates"]
        if frozen_file.exists()
        else {}
    )
    comps = default_components(compressor=DEFAULT_COMPRESSOR)
    comps.warm_up()
    result: dict[str, Any] = {
        "command": " ".join(
            [
                "python -m green_chain.experiments.compression_generated",
                *(sys.argv[1:] if argv is None else argv),
            ]
        ),
        "args": vars(a),
        "seed": a.seed,
        "compressor": DEFAULT_COMPRESSOR,
        "calibration_ids": {},
        "generated": {"scenarios": {}},
    }
    for s in scenarios:
        if not s.compressible:
            print(f"{s.name}: no compression, skipped", file=sys.stderr)
            continue
        split = s.split(a.data, None, a.seed)
        items = split.calibration[: min(a.items, len(split.calibration))]
        overlap = {it.id for it in items} & {it.id for it in split.test}
        if overlap:
            raise RuntimeError(f"{s.name}: calibration items on the test side: {sorted(overlap)}")
        env = ScenarioEnv(
            comps,
            split.calibration,
            GreenSettings(route=False),
            a.seed,
            stop=s.stop,
            first_line=s.first_line,
        )
        t0 = time.perf_counter()
        sweep = generated_sweep(s, env, items, rates, seed=a.seed)
        sweep["elapsed_s"] = round(time.perf_counter() - t0, 1)
        sweep["frozen_rate"] = frozen.get(s.name)
        result["calibration_ids"][s.name] = [it.id for it in split.calibration]
        result["generated"]["scenarios"][s.name] = sweep
        print(
            json.dumps(
                {
                    "scenario": s.name,
                    "frozen_rate": sweep["frozen_rate"],
                    "validated_rate": sweep["validated_rate"],
                    "validated_rate_ci": sweep["validated_rate_ci"],
                    "sweep": [
                        {
                            k: p[k]
                            for k in ("rate", "quality", "quality_delta_pts", "quality_delta_ci95")
                        }
                        for p in sweep["sweep"]
                    ],
                    "elapsed_s": sweep["elapsed_s"],
                }
            ),
            flush=True,
        )
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
