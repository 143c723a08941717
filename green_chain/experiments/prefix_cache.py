"""Prefix KV reuse in ``ChatLocal``: what it saves, in ratios from one run.

``python -m green_chain.experiments.prefix_cache [--model M] [--turns 10] [--max-new-tokens 32]``

(a) Prefill CPU time (``time.process_time``, one torch thread) of a call whose prompt
    shares a ``--prefix-tokens`` (default 1,000) token prefix with an earlier call,
    against a cold call of the same length (prefix cache cleared). Each call generates
    one token, so it is a prefill plus one step; median of ``--repeats`` pairs.
(b) Energy per turn over a ``--turns``-turn MT-Bench-101 dialogue
    (``../shared/data/dialogue/mtbench101.jsonl``; its dialogues have at most 7 turns,
    so the turns of the longest dialogues are chained in file order until there are
    enough, each with its reference ("golden") assistant reply as history), with the
    cache off and on, with the full history and with ``RelevantHistory`` (budget
    ``--history-budget`` tokens). Energy is read by the detected meters
    (:class:`~green_chain.energy.monitor.EnergyMonitor`) around each turn (the history
    filter included) and labelled with its kind; replies are greedy, so the cache on
    and off give the same tokens (checked and printed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

MODEL = "smollm2-135m-instruct"


def dialogue_turns(path: Path, turns: int) -> list[tuple[str, str]]:
    """``turns`` (user, reference reply) pairs from the longest MT-Bench-101 dialogues."""
    if turns < 1:
        raise ValueError(f"turns must be >= 1, got {turns}")
    if not path.is_file():
        raise FileNotFoundError(f"no MT-Bench-101 file at {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows.sort(key=lambda r: -len(r["history"]))  # stable: file order among equals
    out: list[tuple[str, str]] = []
    for row in rows:
        out += [(t["user"], t["bot"]) for t in row["history"]]
        if len(out) >= turns:
            return out[:turns]
    raise ValueError(f"{path} has only {len(out)} turns, asked for {turns}")


def _filler(lm: Any, tokens: int, seed_text: str) -> str:
    """A text of about ``tokens`` tokens (the model's tokenizer), from ``seed_text``."""
    ids: list[int] = []
    while len(ids) < tokens:
        ids += lm.tokenizer.encode(seed_text, add_special_tokens=False)
    return str(lm.tokenizer.decode(ids[:tokens]))


def prefill_ratio(model: str, prefix_tokens: int, repeats: int) -> dict[str, Any]:
    """(a): CPU seconds of a warm (shared-prefix) call vs a cold call of the same length."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from green_chain.models import ChatLocal

    chat = ChatLocal(model=model, max_new_tokens=1, prefix_cache=True)
    cache = chat.kv_cache
    assert cache is not None
    lm = chat.loaded
    turns = dialogue_turns(_data() / "dialogue" / "mtbench101.jsonl", 12)
    text = " ".join(f"{u} {b}" for u, b in turns)
    prefix = _filler(lm, prefix_tokens, text)
    warm_s, cold_s, reads, lengths = [], [], [], []
    for i in range(repeats):
        first = [SystemMessage(prefix), HumanMessage(f"Question {i}: who is the tallest?")]
        second = [SystemMessage(prefix), HumanMessage(f"Question {i}: who is the shortest?")]
        cache.clear()
        t0 = time.process_time()
        cold = chat.invoke(second)
        cold_s.append(time.process_time() - t0)
        cache.clear()
        chat.invoke(first)  # the earlier call that leaves the prefix in the cache
        t0 = time.process_time()
        warm = chat.invoke(second)
        warm_s.append(time.process_time() - t0)
        assert warm.usage_metadata is not None and cold.usage_metadata is not None
        reads.append(warm.usage_metadata["input_token_details"]["cache_read"])
        lengths.append(warm.usage_metadata["input_tokens"])
    warm_med, cold_med = statistics.median(warm_s), statistics.median(cold_s)
    return {
        "prompt_tokens": lengths[0],
        "cache_read_tokens": reads[0],
        "warm_cpu_s": warm_med,
        "cold_cpu_s": cold_med,
        "warm_over_cold": warm_med / cold_med if cold_med > 0 else None,
        "repeats": repeats,
    }


def dialogue_energy(
    model: str, turns: int, max_new_tokens: int, history_budget: int
) -> dict[str, Any]:
    """(b): energy per turn, cache off/on x full history/``RelevantHistory``."""
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

    from green_chain.energy.monitor import EnergyMonitor
    from green_chain.memory import RelevantHistory
    from green_chain.models import ChatLocal

    pairs = dialogue_turns(_data() / "dialogue" / "mtbench101.jsonl", turns)
    monitor = EnergyMonitor()
    filt = RelevantHistory(max_tokens=history_budget, token_counter=model)
    filt.invoke([HumanMessage("warm up the embeddings")])
    out: dict[str, Any] = {"meters": sorted({d.source for d in monitor.domains.values()})}
    replies: dict[tuple[str, bool], list[str]] = {}
    for history_mode in ("full", "relevant"):
        for cached in (False, True):
            chat = ChatLocal(model=model, max_new_tokens=max_new_tokens, prefix_cache=cached)
            if chat.kv_cache is not None:
                chat.kv_cache.clear()
            chat.model_copy(update={"max_new_tokens": 1, "prefix_cache": False}).invoke("Hi")
            history: list[BaseMessage] = []
            rows = []
            for i, (user, gold) in enumerate(pairs):
                key = ("turn", history_mode, cached, i)
                cpu0 = time.process_time()
                monitor.begin(key)
                messages: list[BaseMessage] = [*history, HumanMessage(user)]
                if history_mode == "relevant":
                    messages = filt.invoke(messages)
                reply = chat.invoke(messages)
                m = monitor.end(key)
                usage: dict[str, Any] = dict(reply.usage_metadata or {})
                details: dict[str, Any] = dict(usage.get("input_token_details") or {})
                rows.append(
                    {
                        "energy_j": m.total_j,
                        "kind": m.kind,
                        "cpu_s": time.process_time() - cpu0,
                        "input_tokens": usage.get("input_tokens", 0),
                        "cache_read": details.get("cache_read", 0),
                    }
                )
                replies.setdefault((history_mode, cached), []).append(str(reply.content))
                history += [HumanMessage(user), AIMessage(gold)]
            out[f"{history_mode}/{'on' if cached else 'off'}"] = rows
    monitor.close()
    out["same_replies"] = {
        mode: replies[(mode, False)] == replies[(mode, True)] for mode in ("full", "relevant")
    }
    return out


def _data() -> Path:
    from green_chain.paths import data_dir

    return Path(data_dir())


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    return sum(values) / len(values) if values else None


def _format(a: dict[str, Any], b: dict[str, Any]) -> str:
    lines = [
        f"(a) prefill: prompt {a['prompt_tokens']} tokens, {a['cache_read_tokens']} read from "
        f"the cache: warm {a['warm_cpu_s']:.3f} CPU s vs cold {a['cold_cpu_s']:.3f} CPU s "
        f"-> warm/cold = {a['warm_over_cold']:.3f} (median of {a['repeats']})",
        f"(b) energy per turn over {len(b['full/off'])} turns [meters: {', '.join(b['meters'])}]",
    ]
    for mode in ("full", "relevant"):
        off, on = b[f"{mode}/off"], b[f"{mode}/on"]
        e_off, e_on = _mean(off, "energy_j"), _mean(on, "energy_j")
        kinds = sorted({r["kind"] for r in off + on})
        ratio = f"{e_on / e_off:.3f}" if e_on is not None and e_off else "-"
        read = sum(r["cache_read"] for r in on) / max(1, sum(r["input_tokens"] for r in on))
        lines.append(
            f"  {mode:<8} history: mean prompt {_mean(on, 'input_tokens'):.0f} tokens, "
            f"{read:.0%} read from the cache; J/turn off {e_off or float('nan'):.3f}, "
            f"on {e_on or float('nan'):.3f} ({'/'.join(kinds)}) -> on/off = {ratio}; "
            f"CPU s/turn off {_mean(off, 'cpu_s'):.3f}, on {_mean(on, 'cpu_s'):.3f}; "
            f"same replies: {b['same_replies'][mode]}"
        )
    full_on, rel_on = _mean(b["full/on"], "energy_j"), _mean(b["relevant/on"], "energy_j")
    full_off = _mean(b["full/off"], "energy_j")
    rel_off = _mean(b["relevant/off"], "energy_j")
    if full_on and rel_on and full_off and rel_off:
        lines.append(
            f"  RelevantHistory vs full history (J/turn): cache off {rel_off / full_off:.3f}, "
            f"cache on {rel_on / full_on:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m green_chain.experiments.prefix_cache", description=__doc__
    )
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--prefix-tokens", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--history-budget", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    for name in ("prefix_tokens", "repeats", "turns", "max_new_tokens", "history_budget"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    import torch

    torch.set_num_threads(1)
    a = prefill_ratio(args.model, args.prefix_tokens, args.repeats)
    b = dialogue_energy(args.model, args.turns, args.max_new_tokens, args.history_budget)
    print(f"model {args.model}, torch threads 1", flush=True)
    print(_format(a, b))
    if args.json:
        args.json.write_text(json.dumps({"prefill": a, "dialogue": b}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
