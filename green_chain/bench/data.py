"""Loaders for the real public data files the benchmark runs on.

Every loader takes the data folder (``None`` = :func:`green_chain.paths.data_dir`)
and returns :class:`~green_chain.bench.items.Item` objects in file order with
stable ids. A missing file raises :class:`FileNotFoundError` naming it and what
it should contain (see ``shared/data/SOURCES.md`` for provenance).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from green_chain.bench.items import Item
from green_chain.paths import data_file

Root = str | os.PathLike[str] | None


def _jsonl_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line index from 0, record)`` of a JSON-lines file (gzip if ``.gz``).

    Blank lines yield nothing but keep their index: the embedded sample
    (:mod:`green_chain.bench.sample_build`) blanks the records it leaves out, so the
    line-numbered item ids are the same as with the full file.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {n + 1} is not valid JSON ({exc})") from exc


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    for _, rec in _jsonl_lines(path):
        yield rec


def load_squad(root: Root = None) -> list[Item]:
    """SQuAD v1.1 dev: passage + question, gold answer spans (grouped by passage)."""
    path = data_file(
        "qa/squad_v1.1_dev.jsonl", what="SQuAD v1.1 dev records (JSON lines)", root=root
    )
    out = []
    for rec in _jsonl(path):
        answers = [a for a in rec.get("answers", []) if a]
        if rec.get("is_impossible") or not answers:
            continue
        out.append(
            Item(
                id=f"squad:{rec['id']}",
                inputs={"context": rec["context"], "question": rec["question"]},
                reference=answers[0],
                references=tuple(dict.fromkeys(answers)),
                group=f"squad-ctx:{rec['title']}:{hash_text(rec['context'])}",
                meta={"title": rec["title"]},
            )
        )
    return out


def load_nq_oracle(root: Root = None) -> list[Item]:
    """Natural Questions open with its gold Wikipedia passage (lost-in-the-middle oracle)."""
    path = data_file(
        "qa/nq-open-oracle.jsonl.gz",
        what="NQ-open oracle records with gold passages (gzip JSON lines)",
        root=root,
    )
    out = []
    for n, rec in _jsonl_lines(path):
        ctxs = rec.get("ctxs") or []
        answers = [a for a in rec.get("answers", []) if a]
        if not ctxs or not answers:
            continue
        ctx = ctxs[0]
        out.append(
            Item(
                id=f"nq:{n}",
                inputs={"context": f"{ctx['title']}\n{ctx['text']}", "question": rec["question"]},
                reference=answers[0],
                references=tuple(dict.fromkeys(answers)),
                meta={"title": ctx["title"]},
            )
        )
    return out


def load_hotpotqa(root: Root = None) -> list[Item]:
    """HotpotQA distractor sample: 2 gold paragraphs among distractors, in a fixed shuffled order."""
    path = data_file(
        "qa/hotpotqa_dev_distractor_sample100.json",
        what="100 HotpotQA dev distractor items (JSON list)",
        root=root,
    )
    records = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for rec in records:
        paras = [(rec["title_a"], rec["para_a"], True), (rec["title_b"], rec["para_b"], True)]
        paras += [(d[0], d[1], False) for d in rec.get("distractors", [])]
        # Deterministic interleaving independent of Python's hash seed.
        paras.sort(key=lambda p: hash_text(rec["_id"] + p[0]))
        context = "\n\n".join(f"{t}: {''.join(s).strip()}" for t, s, _ in paras)
        out.append(
            Item(
                id=f"hotpotqa:{rec['_id']}",
                inputs={"context": context, "question": rec["question"]},
                reference=rec["answer"],
                meta={"gold_titles": [rec["title_a"], rec["title_b"]]},
            )
        )
    return out


def load_qmsum(root: Root = None, *, max_context_words: int = 1500) -> list[Item]:
    """QMSum test: query-focused meeting summaries.

    The context is the transcript window around the query's relevant span (whole
    turns, expanded symmetrically up to ``max_context_words`` words; the general
    "summarize the whole meeting" queries take the opening of the meeting). Items of
    one meeting share a group.
    """
    path = data_file(
        "long_docs/qmsum_test.jsonl", what="QMSum test meetings (JSON lines)", root=root
    )
    out = []
    for m, rec in _jsonl_lines(path):
        turns = [f"{t['speaker']}: {t['content']}" for t in rec["meeting_transcripts"]]
        queries = [(q, "general") for q in rec.get("general_query_list", [])]
        queries += [(q, "specific") for q in rec.get("specific_query_list", [])]
        for qn, (q, kind) in enumerate(queries):
            spans = q.get("relevant_text_span") or [["0", str(len(turns) - 1)]]
            lo = min(int(s[0]) for s in spans)
            hi = max(int(s[1]) for s in spans)
            context = _window(turns, lo, hi, max_context_words)
            out.append(
                Item(
                    id=f"qmsum:{m}:{qn}",
                    inputs={"context": context, "question": q["query"]},
                    reference=q["answer"].strip(),
                    group=f"qmsum:{m}",
                    meta={"query_type": kind, "span": [lo, hi]},
                )
            )
    return out


def _window(turns: list[str], lo: int, hi: int, max_words: int) -> str:
    lo, hi = window_bounds(turns, lo, hi, max_words)
    return "\n".join(turns[lo : hi + 1])


def window_bounds(turns: list[str], lo: int, hi: int, max_words: int) -> tuple[int, int]:
    """First and last turn (inclusive) of the context window around the span ``lo..hi``.

    Only the window's turns and the one turn on each side that did not fit are read,
    so a copy that keeps those turns (others blanked) yields the same window.
    """
    lo, hi = max(0, lo), min(len(turns) - 1, hi)
    words = sum(len(t.split()) for t in turns[lo : hi + 1])
    if words > max_words:  # span too long: keep its opening turns within budget
        end = lo
        total = 0
        for i in range(lo, hi + 1):
            n = len(turns[i].split())
            if i > lo and total + n > max_words:
                break
            end = i
            total += n
        return lo, end
    while words < max_words and (lo > 0 or hi < len(turns) - 1):
        grew = False
        for idx in (lo - 1, hi + 1):
            if 0 <= idx < len(turns) and words + len(turns[idx].split()) <= max_words:
                words += len(turns[idx].split())
                lo, hi = min(lo, idx), max(hi, idx)
                grew = True
        if not grew:
            break
    return lo, hi


SST2_LABELS = ("negative", "positive")


def load_sst2(root: Root = None, split: str = "test") -> list[Item]:
    """SST-2 binary sentiment (``label sentence`` lines); ``split`` in train/dev/test."""
    if split not in ("train", "dev", "test"):
        raise ValueError(f"SST-2 split must be train, dev or test, got {split!r}")
    path = data_file(
        f"classification/sst2_stsa.binary.{split}", what="SST-2 lines '<0|1> <sentence>'", root=root
    )
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        label, _, text = line.partition(" ")
        out.append(
            Item(
                id=f"sst2-{split}:{n}",
                inputs={"text": text.strip()},
                reference=SST2_LABELS[int(label)],
                choices=SST2_LABELS,
            )
        )
    return out


def load_agnews(root: Root = None) -> list[Item]:
    """AG News test (4 topics), labels from ``agnews_classes.txt``."""
    classes_path = data_file(
        "classification/agnews_classes.txt",
        what="AG News class names '1-World, 2-Sports, ...'",
        root=root,
    )
    names = {}
    for part in classes_path.read_text(encoding="utf-8").split(","):
        num, _, name = part.strip().partition("-")
        names[num.strip()] = name.strip()
    labels = tuple(names[k] for k in sorted(names, key=int))
    path = data_file(
        "classification/agnews_test.csv",
        what="AG News test CSV (class,title,description)",
        root=root,
    )
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for n, row in enumerate(reader):
            if len(row) < 3:
                continue
            text = f"{row[1]}. {row[2]}".replace("\\", " ")
            out.append(
                Item(
                    id=f"agnews:{n}", inputs={"text": text}, reference=names[row[0]], choices=labels
                )
            )
    return out


TREC_LABELS = {
    "ABBR": "abbreviation",
    "DESC": "description",
    "ENTY": "entity",
    "HUM": "human",
    "LOC": "location",
    "NUM": "number",
}


def load_trec(root: Root = None, split: str = "test") -> list[Item]:
    """TREC question classification, coarse labels; ``split`` in train/test."""
    if split not in ("train", "test"):
        raise ValueError(f"TREC split must be train or test, got {split!r}")
    path = data_file(
        f"classification/trec_{split}.txt", what="TREC lines 'COARSE:fine question'", root=root
    )
    choices = tuple(TREC_LABELS.values())
    out = []
    for n, line in enumerate(path.read_text(encoding="latin-1").splitlines()):
        if not line.strip():
            continue
        label, _, text = line.partition(" ")
        coarse = label.split(":")[0]
        out.append(
            Item(
                id=f"trec-{split}:{n}",
                inputs={"text": text.strip()},
                reference=TREC_LABELS[coarse],
                choices=choices,
            )
        )
    return out


_GSM_FINAL = re.compile(r"####\s*(.+)$")


def load_gsm8k(root: Root = None) -> list[Item]:
    """GSM8K test: question, worked solution (``meta['solution']``), final number as reference."""
    path = data_file(
        "arithmetic/gsm8k_test.jsonl", what="GSM8K test records (JSON lines)", root=root
    )
    out = []
    for n, rec in _jsonl_lines(path):
        m = _GSM_FINAL.search(rec["answer"].strip())
        if not m:
            continue
        final = m.group(1).strip().replace(",", "")
        solution = re.sub(r"<<[^>]*>>", "", rec["answer"].split("####")[0]).strip()
        out.append(
            Item(
                id=f"gsm8k:{n}",
                inputs={"question": rec["question"]},
                reference=final,
                meta={"solution": solution},
            )
        )
    return out


def load_bfcl_multiple(root: Root = None) -> list[Item]:
    """BFCL v4 'multiple': a user request and 2-4 function specs; the gold function name."""
    path = data_file(
        "tool_calling/BFCL_v4_multiple.json", what="BFCL v4 multiple (JSON lines)", root=root
    )
    answers_path = data_file(
        "tool_calling/BFCL_v4_multiple.possible_answer.json",
        what="BFCL v4 multiple possible answers (JSON lines)",
        root=root,
    )
    gold = {rec["id"]: next(iter(rec["ground_truth"][0])) for rec in _jsonl(answers_path)}
    out = []
    for rec in _jsonl(path):
        if rec["id"] not in gold:
            continue
        user = " ".join(t["content"] for t in rec["question"][0] if t.get("role") == "user")
        functions = rec["function"]
        out.append(
            Item(
                id=f"bfcl:{rec['id']}",
                inputs={"question": user, "functions": functions},
                reference=gold[rec["id"]],
                choices=tuple(f["name"] for f in functions),
            )
        )
    return out


def load_mtbench101(root: Root = None) -> list[Item]:
    """MT-Bench-101 dialogues: the history before the last turn, the last user turn, the reference reply."""
    path = data_file(
        "dialogue/mtbench101.jsonl", what="MT-Bench-101 dialogues (JSON lines)", root=root
    )
    out = []
    for n, rec in _jsonl_lines(path):
        turns = rec.get("history") or []
        if len(turns) < 2:
            continue
        history = [(t["user"], t["bot"]) for t in turns[:-1]]
        out.append(
            Item(
                id=f"mtbench101:{rec.get('task', 'x')}:{rec.get('id', n)}:{n}",
                inputs={"history": history, "question": turns[-1]["user"]},
                reference=turns[-1]["bot"].strip(),
                meta={"task": rec.get("task"), "turns": len(turns)},
            )
        )
    return out


def load_sgd(root: Root = None) -> list[Item]:
    """Schema-Guided Dialogue test file 001: history up to the last user turn, the system reply."""
    path = data_file(
        "dialogue/sgd_test_dialogues_001.json",
        what="Schema-Guided Dialogue test dialogues (JSON list)",
        root=root,
    )
    out = []
    for rec in json.loads(path.read_text(encoding="utf-8")):
        turns = rec["turns"]
        # the last SYSTEM turn that confirms or offers slot values (it depends on the history)
        last = max(
            (
                i
                for i, t in enumerate(turns)
                if t["speaker"] == "SYSTEM" and i > 0 and _refers_back(t)
            ),
            default=None,
        )
        if last is None or last < 3:
            continue
        before = turns[: last - 1]
        history = []
        for i in range(0, len(before) - 1, 2):
            history.append((before[i]["utterance"], before[i + 1]["utterance"]))
        out.append(
            Item(
                id=f"sgd:{rec['dialogue_id']}",
                inputs={"history": history, "question": turns[last - 1]["utterance"]},
                reference=turns[last]["utterance"].strip(),
                meta={"services": rec.get("services", [])},
            )
        )
    return out


def _refers_back(turn: dict[str, Any]) -> bool:
    acts = {
        a["act"] for f in turn.get("frames", []) for a in f.get("actions", []) if a.get("values")
    }
    return bool(acts & {"CONFIRM", "OFFER", "INFORM"})


def hash_text(text: str) -> str:
    """Short stable hash of a text (for group ids)."""
    import hashlib

    return hashlib.sha1(text.encode()).hexdigest()[:12]
