"""``green-chain meters``: which energy meters this machine has, and an idle reading.

Lists every meter (GPU via NVML, CPU via RAPL, the CPU-time estimate), whether
it is available (or why not), its domains and whether they are measured or
estimated, then reads every domain over ``--seconds`` of idling and prints the
idle power in watts.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from green_chain.cli.errors import UsageError
from green_chain.energy.idle import IdleBaseline
from green_chain.energy.probe import MeterStatus


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "meters",
        help="show the energy meters found on this machine and a short idle reading",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--seconds", type=float, default=1.0, help="idle reading length in seconds (default 1.0)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def format_report(statuses: list[MeterStatus], idle: IdleBaseline | None) -> str:
    lines = ["Energy meters on this machine:"]
    for s in statuses:
        if not s.available:
            state = f"unavailable: {s.reason}"
        elif s.used:
            state = f"available, {s.kind}"
        else:
            state = f"available, {s.reason}"
        lines.append(f"  {s.label:<14} [{s.name}] {state}")
        for name, info in s.domains.items():
            lines.append(f"      {name:<16} {info.kind:<10} {info.description}")
    if idle is None:
        lines.append("No meter available: energy cannot be measured here.")
        return "\n".join(lines)
    lines.append(f"Idle reading over {idle.duration_s:.2f} s:")
    lines.append(f"  {'domain':<16} {'source':<9} {'kind':<10} {'power_w':>9}")
    for name, power in idle.power_w.items():
        lines.append(
            f"  {name:<16} {idle.sources.get(name, '?'):<9} "
            f"{idle.kinds.get(name, '?'):<10} {power:>9.3f}"
        )
    for name, reason in idle.unavailable.items():
        lines.append(f"  {name:<16} unavailable: {reason}")
    if any(k == "estimated" for k in idle.kinds.values()):
        lines.append(
            "Note: 'estimated' figures come from process CPU time x a per-core power "
            "(source 'estimate', +/-50%), not from a hardware counter."
        )
    return "\n".join(lines)


def run(args: argparse.Namespace, **probe_kwargs: Any) -> int:
    """Probe, read idle power, print. ``probe_kwargs`` go to ``probe_meters`` (tests)."""
    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.energy.probe import probe_meters

    if not args.seconds > 0:
        raise UsageError(f"--seconds must be > 0, got {args.seconds}")
    statuses, backends = probe_meters(**probe_kwargs)
    idle: IdleBaseline | None = None
    if backends:
        monitor = EnergyMonitor(backends)
        try:
            idle = IdleBaseline.measure(monitor, duration_s=args.seconds)
        finally:
            monitor.close()
    if args.json:
        print(
            json.dumps(
                {
                    "meters": [s.to_dict() for s in statuses],
                    "idle": None if idle is None else idle.to_dict(),
                },
                indent=2,
            )
        )
    else:
        print(format_report(statuses, idle))
    return 0
