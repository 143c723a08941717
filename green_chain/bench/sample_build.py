"""Build the embedded sample (``green_chain/bench/sample/``) from a full data folder.

``python -m green_chain.bench.sample_build --from ../shared/data`` rewrites the sample
so that a run on it picks the same items as a run on the full data:

* for seed 0 (the default run) the first ``TEST_ITEMS`` test items of every scenario
  (``QMSUM_TEST_ITEMS`` for QMSum, whose records are long) and its whole calibration
  set (few-shot pools, router-fit items); for seed 1 (the ``mixed`` scenario's draw of
  each member) the first ``MIXED_TEST_ITEMS`` test items and the calibration set;
* more test items in seed-0 order until each scenario holds at least ``TEST_ITEMS``
  test items and, where calibration is held apart from the pool, twice its
  calibration size (a few-shot scenario's: its first tier's ``tier_calibration_size``;
  the split never gives more than half of a small pool to calibration, so a smaller
  sample would split differently).

Records keep their bytes where possible. Files whose item ids are line numbers keep
every sampled record on its own line number (the others are blank lines, which the
loaders skip but count). Two files are trimmed: QMSum keeps only the transcript turns
its queries' context windows read (the others become empty turns), and the
Schema-Guided Dialogue turns keep only the fields the loader reads. The builder then
loads the sample and checks, for both seeds, that the splits of ``--quick`` and of
``--items TEST_ITEMS`` give the same test and calibration items (ids, inputs and
references) as the full data; it fails otherwise.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from green_chain.bench import data, sources
from green_chain.bench.items import Item, Split
from green_chain.bench.scenarios import Scenario, get_scenarios
from green_chain.bench.scenarios.mixed import MixedStream

#: Where the sample lives inside the package.
SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
#: Test items per scenario whose selection matches the full data (seed 0).
TEST_ITEMS = 20
#: QMSum: test items matching the full data (each is a different meeting).
QMSUM_TEST_ITEMS = 6
#: Test items per member scenario matching the full data in the mixed scenario (seed 1).
MIXED_TEST_ITEMS = 2
#: The sample's size limit in bytes.
MAX_BYTES = 3 * 1024 * 1024

Keep = set[str]


def _member_scenarios() -> list[Scenario]:
    return [s for s in get_scenarios() if not isinstance(s, MixedStream)]


def _first_items(scenario: Scenario) -> int:
    return QMSUM_TEST_ITEMS if scenario.name == "qmsum" else TEST_ITEMS


def needed_ids(scenario: Scenario, full: Path, extra: int = 0) -> Keep:
    """Item ids the sample must hold for ``scenario`` (``extra``: more seed-0 test items)."""
    out: Keep = set()
    for seed, n in ((0, _first_items(scenario) + extra), (1, MIXED_TEST_ITEMS)):
        split = scenario.split(full, None, seed)
        out |= {it.id for it in split.calibration}
        out |= {it.id for it in split.test[:n]}
    return out


# --- file writers: each keeps the records of the wanted ids -------------------------------


def _line_no(item_id: str) -> int:
    return int(item_id.rsplit(":", 1)[1])


def _jsonl_by_line(
    src: Path,
    dst: Path,
    keep_lines: set[int],
    trim: Callable[[dict[str, Any], int], dict[str, Any]] | None = None,
) -> None:
    opener = gzip.open if src.suffix == ".gz" else open
    out: list[str] = []
    with opener(src, "rt", encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n in keep_lines:
                text = line.rstrip("\n")
                if trim is not None:
                    text = json.dumps(trim(json.loads(text), n), ensure_ascii=False)
                out.append(text)
            else:
                out.append("")
    body = ("\n".join(out) + "\n").encode("utf-8")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.suffix == ".gz":
        # mtime=0: the same input gives the same bytes
        with gzip.GzipFile(dst, "wb", compresslevel=9, mtime=0) as gz:
            gz.write(body)
    else:
        dst.write_bytes(body)


def _jsonl_by_key(src: Path, dst: Path, keep: Callable[[dict[str, Any]], bool]) -> None:
    lines = [
        line
        for line in src.read_text(encoding="utf-8").splitlines()
        if line.strip() and keep(json.loads(line))
    ]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _text_by_line(src: Path, dst: Path, keep_lines: set[int], encoding: str) -> None:
    # str.splitlines, as the loaders split (it also breaks on \x85, \u2028 ...)
    lines = src.read_text(encoding=encoding).splitlines()
    out = [line if n in keep_lines else "" for n, line in enumerate(lines)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(("\n".join(out) + "\n").encode(encoding))


def _csv_by_row(src: Path, dst: Path, keep_rows: set[int]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    with src.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        writer.writerow(next(reader))
        for n, row in enumerate(reader):
            if n in keep_rows:
                writer.writerow(row)
            else:
                buf.write("\n")  # an empty row: skipped by the loader, counted
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(buf.getvalue(), encoding="utf-8")


def _json_list(src: Path, dst: Path, keep: Callable[[dict[str, Any]], bool], trim: Any) -> None:
    records = [trim(r) for r in json.loads(src.read_text(encoding="utf-8")) if keep(r)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")


def _qmsum_trim(max_context_words: int) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    """Blank the transcript turns no query's context window reads."""

    def trim(rec: dict[str, Any], _: int) -> dict[str, Any]:
        raw = rec["meeting_transcripts"]
        turns = [f"{t['speaker']}: {t['content']}" for t in raw]
        read: set[int] = set()
        for q in [*rec.get("general_query_list", []), *rec.get("specific_query_list", [])]:
            spans = q.get("relevant_text_span") or [["0", str(len(turns) - 1)]]
            lo = min(int(s[0]) for s in spans)
            hi = max(int(s[1]) for s in spans)
            a, b = data.window_bounds(turns, lo, hi, max_context_words)
            read.update(range(a - 1, b + 2))  # the window and the turn each side it tried
        blank = {"speaker": "", "content": ""}
        return {
            **rec,
            "meeting_transcripts": [t if i in read else blank for i, t in enumerate(raw)],
        }

    return trim


def _sgd_trim(rec: dict[str, Any]) -> dict[str, Any]:
    """Keep what the loader reads: ids, services, and per turn speaker, utterance, actions."""
    return {
        "dialogue_id": rec["dialogue_id"],
        "services": rec.get("services", []),
        "turns": [
            {
                "speaker": t["speaker"],
                "utterance": t["utterance"],
                "frames": [
                    {"service": f.get("service"), "actions": f.get("actions", [])}
                    for f in t.get("frames", [])
                ],
            }
            for t in rec["turns"]
        ],
    }


def _ids(keep: Keep, prefix: str) -> set[str]:
    return {i[len(prefix) :] for i in keep if i.startswith(prefix)}


def _lines(keep: Keep, prefix: str) -> set[int]:
    return {_line_no(i) for i in keep if i.startswith(prefix)}


def write_scenario(name: str, keep: Keep, full: Path, out: Path) -> list[str]:
    """Write the sample files of one scenario; returns their paths under the data folder."""

    def io_(rel: str) -> tuple[Path, Path]:
        return full / rel, out / rel

    files: list[str] = []
    if name == "squad":
        rel = "qa/squad_v1.1_dev.jsonl"
        wanted = _ids(keep, "squad:")
        _jsonl_by_key(*io_(rel), lambda r: r["id"] in wanted)
        files.append(rel)
    elif name == "nq":
        rel = "qa/nq-open-oracle.jsonl.gz"
        _jsonl_by_line(*io_(rel), _lines(keep, "nq:"))
        files.append(rel)
    elif name == "hotpotqa":
        rel = "qa/hotpotqa_dev_distractor_sample100.json"
        wanted = _ids(keep, "hotpotqa:")
        _json_list(*io_(rel), lambda r: r["_id"] in wanted, lambda r: r)
        files.append(rel)
    elif name == "qmsum":
        rel = "long_docs/qmsum_test.jsonl"
        meetings = {int(i.split(":")[1]) for i in keep}
        _jsonl_by_line(*io_(rel), meetings, trim=_qmsum_trim(1500))
        files.append(rel)
    elif name in ("sst2", "trec"):
        for split in ("test", "train"):
            rel = (
                f"classification/sst2_stsa.binary.{split}"
                if name == "sst2"
                else f"classification/trec_{split}.txt"
            )
            enc = "utf-8" if name == "sst2" else "latin-1"
            _text_by_line(*io_(rel), _lines(keep, f"{name}-{split}:"), enc)
            files.append(rel)
    elif name == "agnews":
        rel = "classification/agnews_test.csv"
        _csv_by_row(*io_(rel), _lines(keep, "agnews:"))
        classes = "classification/agnews_classes.txt"
        shutil.copyfile(*io_(classes))
        files += [rel, classes]
    elif name == "gsm8k":
        rel = "arithmetic/gsm8k_test.jsonl"
        _jsonl_by_line(*io_(rel), _lines(keep, "gsm8k:"))
        files.append(rel)
    elif name == "bfcl":
        wanted = _ids(keep, "bfcl:")
        for rel in (
            "tool_calling/BFCL_v4_multiple.json",
            "tool_calling/BFCL_v4_multiple.possible_answer.json",
        ):
            _jsonl_by_key(*io_(rel), lambda r: r["id"] in wanted)
            files.append(rel)
    elif name == "mtbench101":
        rel = "dialogue/mtbench101.jsonl"
        _jsonl_by_line(*io_(rel), _lines(keep, "mtbench101:"))
        files.append(rel)
    elif name == "sgd":
        rel = "dialogue/sgd_test_dialogues_001.json"
        wanted = _ids(keep, "sgd:")
        _json_list(*io_(rel), lambda r: r["dialogue_id"] in wanted, _sgd_trim)
        files.append(rel)
    else:
        raise ValueError(f"no sample rule for scenario {name!r}")
    return files


# --- checks -------------------------------------------------------------------------------


def _same_split(scenario: Scenario, full: Path, sample: Path, n: int, seed: int) -> str | None:
    """``None`` when the sample's split equals the full data's, else what differs."""
    a: Split = scenario.split(full, n, seed)
    b: Split = scenario.split(sample, n, seed)
    for side in ("test", "calibration"):
        xs: list[Item] = getattr(a, side)
        ys: list[Item] = getattr(b, side)
        if [x.id for x in xs] != [y.id for y in ys]:
            return f"seed {seed}, {n} items: {side} ids differ"
        if xs != ys:
            return f"seed {seed}, {n} items: {side} inputs or references differ"
    return None


def check_scenario(scenario: Scenario, full: Path, sample: Path) -> list[str]:
    """Differences between the sample's and the full data's selections (empty = none)."""
    problems = []
    checks = [(0, scenario.quick_items), (0, _first_items(scenario)), (1, MIXED_TEST_ITEMS)]
    for seed, n in checks:
        diff = _same_split(scenario, full, sample, n, seed)
        if diff:
            problems.append(diff)
    test = scenario.split(sample, None, 0).test
    if len(test) < TEST_ITEMS:
        problems.append(f"only {len(test)} test items (< {TEST_ITEMS})")
    return problems


def _too_small(scenario: Scenario, sample: Path) -> bool:
    n_items = len(scenario.load(sample))
    held_apart = scenario.calibration_pool(sample) is None
    test = scenario.split(sample, None, 0).test
    # a few-shot scenario holds its first tier's calibration items apart too
    n_cal = max(scenario.calibration_size, getattr(scenario, "tier_calibration_size", 0))
    return len(test) < TEST_ITEMS or (held_apart and n_items < 2 * n_cal)


def build_scenario(scenario: Scenario, full: Path, out: Path) -> list[str]:
    """Write one scenario's sample, growing it until its splits match; returns its files."""
    extra = 0
    while True:
        files = write_scenario(scenario.name, needed_ids(scenario, full, extra), full, out)
        if not _too_small(scenario, out):
            break
        extra += max(1, math.ceil(extra / 2))
        if extra > 10_000:
            raise RuntimeError(f"{scenario.name}: cannot grow the sample to a matching split")
    problems = check_scenario(scenario, full, out)
    if problems:
        raise RuntimeError(f"{scenario.name}: the sample selects differently: {problems}")
    return files


def sources_md(written: dict[str, list[str]], out: Path) -> str:
    """The sample's ``SOURCES.md``: each file's source repository, commit, path and license."""
    rows = [
        "# Embedded sample: sources",
        "",
        "A small sample of each benchmark scenario's public data, built by",
        "`python -m green_chain.bench.sample_build --from <full data folder>` (see that module:",
        "which records are kept, and why some lines are blank). Records are unchanged except",
        "where noted. Licenses are the sources' own; cite the row when you report a figure.",
        "",
        "| file | scenarios | repository | commit | source path | license | records kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in sources.DATA_FILES:
        if not any(f.path in fs for fs in written.values()):
            continue
        # SQuAD: the records come from the explorer pages, as in shared/data (see the notes)
        origin = "explore/1.1/dev/*.html (rebuilt)" if f.convert == "squad_v1" else f.source_path
        rows.append(
            f"| {f.path} | {', '.join(f.scenarios)} | {f.repo} | {f.commit} | "
            f"{origin} | {f.license} | {_records(out / f.path)} |"
        )
    rows += [
        "",
        "Notes",
        "- SQuAD v1.1 dev: one JSON line per question, rebuilt (as in `shared/data`) from the",
        "  repository's `explore/1.1/dev/*.html` pages; `answer_starts` is the first occurrence of",
        "  the answer text. `green-chain data download` converts `dataset/dev-v1.1.json` instead",
        "  (the same questions and answers, the official offsets).",
        "- QMSum: transcript turns that no query's context window reads are empty turns.",
        "- Schema-Guided Dialogue: turns keep speaker, utterance and frame actions only.",
        "- Line-numbered files (NQ, QMSum, SST-2, AG News, TREC, GSM8K, MT-Bench-101) keep each",
        "  record on its original line; the lines left out are blank, so item ids match the full data.",
        "",
    ]
    return "\n".join(rows)


def _records(path: Path) -> int:
    """Records in a sample file (blank placeholder lines and a CSV header not counted)."""
    if path.suffix == ".json" and path.read_text(encoding="utf-8").lstrip().startswith("["):
        return len(json.loads(path.read_text(encoding="utf-8")))
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return sum(1 for row in csv.reader(fh) if row) - 1  # less the header
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="latin-1") as fh:
        return sum(1 for line in fh if line.strip())


def sample_bytes(root: Path) -> int:
    """Bytes of every file under ``root``."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def build(full: Path, out: Path, *, log: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Rewrite the sample at ``out`` from the full data folder ``full``; returns files per scenario."""
    if not full.is_dir():
        raise FileNotFoundError(f"--from: data folder {full} does not exist")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written: dict[str, list[str]] = {}
    for scenario in _member_scenarios():
        written[scenario.name] = build_scenario(scenario, full, out)
        n = len(scenario.split(out, None, 0).test)
        log(f"{scenario.name}: {n} test items, files {', '.join(written[scenario.name])}")
    mixed = next(s for s in get_scenarios(["mixed"]))
    members = len(written)
    for n in (mixed.quick_items, members * MIXED_TEST_ITEMS):
        diff = _same_split(mixed, full, out, n, 0)
        if diff:
            raise RuntimeError(f"mixed: the sample selects differently: {diff}")
    (out / "SOURCES.md").write_text(sources_md(written, out), encoding="utf-8")
    total = sample_bytes(out)
    if total > MAX_BYTES:
        raise RuntimeError(f"the sample is {total} bytes, over the {MAX_BYTES}-byte limit")
    log(f"sample at {out}: {total} bytes")
    return written


def _files(written: dict[str, list[str]]) -> Iterable[str]:
    return sorted({f for fs in written.values() for f in fs})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m green_chain.bench.sample_build",
        description="Rebuild the embedded sample from a full data folder (see the module doc).",
    )
    p.add_argument("--from", dest="source", required=True, help="full data folder")
    p.add_argument("--to", default=str(SAMPLE_DIR), help=f"sample folder (default {SAMPLE_DIR})")
    args = p.parse_args(argv)
    try:
        written = build(Path(args.source).expanduser(), Path(args.to).expanduser())
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"sample_build: error: {exc}", file=sys.stderr)
        return 2
    for f in _files(written):
        print(f"  {f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
