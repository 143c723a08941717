"""The prefix-cache experiment's dialogue builder and argument checks (no model runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from green_chain.experiments.prefix_cache import dialogue_turns, main


def _write(path: Path, lengths: list[int]) -> Path:
    rows = [
        {
            "task": "CM",
            "id": i,
            "history": [{"user": f"u{i}.{t}", "bot": f"b{i}.{t}"} for t in range(n)],
        }
        for i, n in enumerate(lengths)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_turns_chain_the_longest_dialogues_in_order(tmp_path: Path) -> None:
    path = _write(tmp_path / "mt.jsonl", [2, 4, 3, 4])
    turns = dialogue_turns(path, 10)
    # the two 4-turn dialogues (file order), then the 3-turn one, cut at 10
    assert [u for u, _ in turns] == [
        *(f"u1.{t}" for t in range(4)),
        *(f"u3.{t}" for t in range(4)),
        "u2.0",
        "u2.1",
    ]
    assert turns[0] == ("u1.0", "b1.0")


def test_bad_inputs_are_clear(tmp_path: Path) -> None:
    path = _write(tmp_path / "mt.jsonl", [2])
    with pytest.raises(ValueError, match="only 2 turns"):
        dialogue_turns(path, 3)
    with pytest.raises(ValueError, match="turns must be >= 1"):
        dialogue_turns(path, 0)
    with pytest.raises(FileNotFoundError, match="MT-Bench-101"):
        dialogue_turns(tmp_path / "absent.jsonl", 2)
    with pytest.raises(SystemExit):
        main(["--turns", "0"])
