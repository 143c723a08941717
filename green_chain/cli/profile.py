"""``green-chain profile MODEL``: measure a local model across prompt lengths, fit E(n).

Prompts are cut from real text (SQuAD v1.1 dev contexts from the shared data
folder; a repeated built-in paragraph only when that file is missing, said on
stderr). Each call is one prefill plus ``--max-new-tokens`` greedy tokens,
measured in its own meter window; the fitted ``E(n) = a n^2 + b n + c`` is
printed with R^2 and saved as JSON (``EnergyCurve.load`` reads it back).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from green_chain.cli.errors import UsageError
from green_chain.energy.profiling import DEFAULT_LENGTHS, ProfileResult, parse_lengths

SQUAD_FILE = "qa/squad_v1.1_dev.jsonl"
_FALLBACK_TEXT = (
    "Energy use of language models grows with the length of their prompts. Every token of "
    "a prompt passes through every layer of the network during the prefill, and attention "
    "compares each token with all tokens before it. Shorter prompts therefore cost less "
    "energy, as long as they keep the information the task needs. "
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "profile",
        help="measure a local model's energy across prompt lengths and fit E(n)=a*n^2+b*n+c",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="packaged model name (e.g. smollm2-135m-instruct) or local path")
    p.add_argument(
        "--lengths",
        default=",".join(str(n) for n in DEFAULT_LENGTHS),
        help="comma-separated prompt lengths in tokens (default: %(default)s)",
    )
    p.add_argument("--repeats", type=int, default=3, help="measured calls per length (default 3)")
    p.add_argument(
        "--max-new-tokens", type=int, default=1, help="tokens generated per call (default 1)"
    )
    p.add_argument(
        "--out", type=Path, default=None, help="curve JSON path (default <model>.curve.json)"
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=0.0,
        help="measure idle power this long first and fit net-of-idle energy (default 0: gross)",
    )
    p.add_argument("--data", default=None, help="shared data folder (default: $GREEN_CHAIN_DATA)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def load_text(data: str | None = None, *, min_chars: int = 60_000) -> tuple[str, str]:
    """Real text for prompts: ``(text, description)``; falls back to a built-in paragraph."""
    from green_chain.paths import data_file

    try:
        path = data_file(SQUAD_FILE, what="SQuAD v1.1 dev questions with contexts", root=data)
    except FileNotFoundError as exc:
        print(f"green-chain profile: {exc}; using a repeated built-in paragraph", file=sys.stderr)
        return _FALLBACK_TEXT, "built-in paragraph (SQuAD file missing)"
    seen: set[str] = set()
    parts: list[str] = []
    size = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            context = json.loads(line).get("context", "")
            if context and context not in seen:
                seen.add(context)
                parts.append(context)
                size += len(context)
                if size >= min_chars:
                    break
    return "\n\n".join(parts), f"SQuAD v1.1 dev contexts ({len(parts)} paragraphs, {path})"


def _run_fn(loaded: Any, max_new_tokens: int) -> Any:
    import torch

    model = loaded.model
    tokenizer = loaded.tokenizer
    device = next(model.parameters()).device
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        pad_id = getattr(tokenizer, "eos_token_id", None)

    def run(ids: list[int]) -> None:
        input_ids = torch.tensor([ids], device=device)
        mask = torch.ones_like(input_ids)
        with torch.inference_mode():
            if max_new_tokens <= 0:
                model(input_ids=input_ids, attention_mask=mask)
            else:
                model.generate(
                    input_ids=input_ids,
                    attention_mask=mask,
                    max_new_tokens=max_new_tokens,
                    min_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad_id,
                )
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run, str(device)


def format_result(result: ProfileResult) -> str:
    curve = result.curve
    lines = [
        f"{'tokens':>7} {'repeats':>7} {'energy_j':>10} {'predicted_j':>11} {'duration_s':>10}"
    ]
    for row in result.table():
        lines.append(
            f"{row['tokens']:>7} {row['repeats']:>7} {row['energy_j']:>10.4f} "
            f"{row['predicted_j']:>11.4f} {row['duration_s']:>10.4f}"
        )
    lines.append(
        f"E(n) = {curve.a:.4g}*n^2 + {curve.b:.4g}*n + {curve.c:.4g} J   R^2 = {curve.r2:.4f}"
    )
    lines.append(
        f"energy kind: {curve.kind} (source: {curve.source or 'none'})"
        + ("; net of idle" if result.net_of_idle else "; gross")
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        lengths = parse_lengths(args.lengths)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    if args.max_new_tokens < 0:
        raise UsageError(f"--max-new-tokens must be >= 0, got {args.max_new_tokens}")
    from green_chain.energy.idle import IdleBaseline
    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.energy.profiling import profile_model
    from green_chain.models import ModelNotAvailableError, load_causal_lm

    text, text_source = load_text(args.data)
    try:
        loaded = load_causal_lm(args.model)
    except (ValueError, ModelNotAvailableError) as exc:  # unknown name, missing package
        raise UsageError(str(exc)) from exc
    limit = getattr(getattr(loaded.model, "config", None), "max_position_embeddings", None)
    if limit and lengths[-1] + args.max_new_tokens > limit:
        raise UsageError(
            f"--lengths up to {lengths[-1]} tokens exceed {args.model}'s context of {limit} tokens"
        )
    run_fn, device = _run_fn(loaded, args.max_new_tokens)
    monitor = EnergyMonitor()
    try:
        if args.idle_seconds > 0:
            IdleBaseline.measure(monitor, duration_s=args.idle_seconds).apply(monitor)
        if not args.json:
            print(
                f"profiling {loaded.name} on {device}; prompts from {text_source}", file=sys.stderr
            )
        result = profile_model(
            run_fn,
            loaded.tokenizer,
            lengths,
            monitor,
            text=text,
            repeats=args.repeats,
            model_name=loaded.name,
            device=device,
            on_point=None
            if args.json
            else (lambda p: print(f"  {p.tokens:>5} tokens: {p.energy_j:.4f} J", file=sys.stderr)),
        )
    finally:
        monitor.close()
    out = args.out or Path(f"{Path(str(args.model)).name}.curve.json")
    result.curve.save(out)
    if args.json:
        data = result.to_dict()
        data["curve_path"] = str(out)
        data["text_source"] = text_source
        print(json.dumps(data, indent=2))
    else:
        print(format_result(result))
        print(f"saved {out}")
    return 0
