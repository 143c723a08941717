"""Recipe 3: a chatbot that sends only the relevant part of its history.

What it shows
    A real multi-turn dialogue from MT-Bench-101 (``dialogue/mtbench101.jsonl``) is
    replayed turn by turn: at every turn the bot gets the earlier turns (the dataset's
    own user and assistant messages, so both variants see the same conversation) and
    the new user message. Two variants answer every turn:

    * **full history**: every earlier message is sent;
    * **relevant history**: :class:`green_chain.memory.RelevantHistory` keeps the
      messages most relevant to the new one (plus the latest turn) under a token
      budget counted with the model's own tokenizer, before the chat model.

    Each variant runs under ``get_energy_callback()``; the recipe prints prompt tokens
    and energy per turn, the report (its ETR column is the share of history tokens
    kept), and saves a per-turn plot of tokens and energy.

Run it
    .venv/bin/python cookbook/03_chatbot_relevant_history.py [--budget 160] [--out cookbook-output]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from green_chain.callbacks import get_energy_callback
from green_chain.memory import RelevantHistory
from green_chain.models import ChatLocal
from green_chain.paths import data_file

MODEL = "smollm2-135m-instruct"
SYSTEM = "You are a helpful assistant. Answer briefly."


def load_dialogue(min_turns: int, max_chars: int) -> dict[str, Any]:
    """The first MT-Bench-101 dialogue with at least ``min_turns`` turns, not too long."""
    path = data_file("dialogue/mtbench101.jsonl", what="MT-Bench-101 dialogues (JSON lines)")
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            turns = rec["history"]
            size = sum(len(t["user"]) + len(t["bot"]) for t in turns)
            if len(turns) >= min_turns and size <= max_chars:
                return rec
    raise ValueError(f"no MT-Bench-101 dialogue with >= {min_turns} turns and <= {max_chars} chars")


def replay(chain: Any, turns: list[dict[str, str]]) -> tuple[list[str], Any]:
    """Answer every user turn given the dataset's earlier turns; returns replies and report."""
    replies = []
    with get_energy_callback() as handler:
        for i, turn in enumerate(turns):
            messages: list[BaseMessage] = [SystemMessage(SYSTEM)]
            for earlier in turns[:i]:
                messages += [HumanMessage(earlier["user"]), AIMessage(earlier["bot"])]
            messages.append(HumanMessage(turn["user"]))
            replies.append(chain.invoke(messages).content)
    return replies, handler.report()


def per_turn(report: Any) -> dict[str, Any]:
    calls = [r for r in report.records() if r["run_type"] == "chat_model"]
    return {
        "turns": len(calls),
        "prompt_tokens": [r["prompt_tokens"] for r in calls],
        "energy_j": [r["attributed_inclusive_j"] for r in calls],
        "energy_kind": calls[0]["energy_kind"],
        "etr": report.by_model()[0]["etr"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Full vs relevant chat history, per turn.")
    parser.add_argument("--budget", type=int, default=160, help="history budget in tokens")
    parser.add_argument("--min-turns", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path("cookbook-output"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    dialogue = load_dialogue(args.min_turns, max_chars=2600)
    turns = dialogue["history"]
    print(f"MT-Bench-101 dialogue {dialogue['task']}#{dialogue['id']}: {len(turns)} turns")

    chat = ChatLocal(model=MODEL, max_new_tokens=args.max_new_tokens)
    history = RelevantHistory(
        max_tokens=args.budget, token_counter=MODEL, keep_last=1, on_overflow="keep_mandatory"
    )
    variants = {}
    for name, chain in (("full history", chat), ("relevant history", history | chat)):
        replies, report = replay(chain, turns)
        print(f"\n=== {name} ===")
        for i, reply in enumerate(replies, 1):
            print(f"turn {i}: {str(reply).strip()[:70]!r}")
        print(report.summary())
        variants[name] = per_turn(report)
        report.plot(args.out / f"03_{name.replace(' ', '_')}_report.png")

    full, relevant = variants["full history"], variants["relevant history"]
    print(f"\n{'turn':>4} {'tokens full':>11} {'tokens kept':>11} {'J full':>9} {'J kept':>9}")
    for i in range(full["turns"]):
        print(
            f"{i + 1:>4} {full['prompt_tokens'][i]:>11} {relevant['prompt_tokens'][i]:>11} "
            f"{full['energy_j'][i]:>9.3f} {relevant['energy_j'][i]:>9.3f}"
        )
    print(
        f"total prompt tokens {sum(full['prompt_tokens'])} -> {sum(relevant['prompt_tokens'])}, "
        f"energy {sum(full['energy_j']):.2f} J -> {sum(relevant['energy_j']):.2f} J "
        f"({full['energy_kind']})"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    x = list(range(1, full["turns"] + 1))
    for name, v in variants.items():
        ax1.plot(x, v["prompt_tokens"], marker="o", label=name)
        ax2.plot(x, v["energy_j"], marker="o", label=name)
    ax1.set(xlabel="turn", ylabel="prompt tokens", title="Prompt tokens per turn")
    ax2.set(xlabel="turn", ylabel=f"energy per call (J, {full['energy_kind']})")
    ax2.set_title("Energy per turn")
    ax1.legend()
    fig.tight_layout()
    plot = args.out / "03_tokens_energy_per_turn.png"
    fig.savefig(plot, dpi=110)
    plt.close(fig)
    print(f"plot saved to {plot}")
    print(
        "RESULT "
        + json.dumps(
            {"recipe": "03", "variants": [full, relevant], "plot": str(plot)}, default=float
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
