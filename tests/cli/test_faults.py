"""Fault paths of ``report``, ``compare``, ``merge`` and ``bench``: one line, exit status 2.

A results.json of the wrong shape, an unwritable ``--out`` and an ``--out`` under an
existing file are user errors: one line on stderr naming the problem, exit 2, nothing
written. NaN or negative energies show as ``invalid`` and never reach a merged file. A
genuine bug still raises with its traceback.
"""

from __future__ import annotations

import copy
import errno
import json
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from green_chain.cli import bench, build_parser, main
from green_chain.energy.monitor import EnergyMonitor
from green_chain.testing.bench import make_components, write_tiny_data
from green_chain.testing.clock import FakeClock
from green_chain.testing.meters import FakeMeterBackend


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two small fake runs on disjoint scenarios (mergeable), as parsed documents."""
    root = tmp_path_factory.mktemp("runs")
    data = root / "data"
    write_tiny_data(data)
    docs = {}
    for name, scenario in (("a", "squad"), ("b", "sst2")):
        clock = FakeClock()
        meter = FakeMeterBackend(
            ["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock
        )
        args = build_parser().parse_args(
            [
                *("bench", "--data", str(data), "--out", str(root / name), "--no-progress"),
                *("--no-plots", "--no-etr-sweep", "--scenarios", scenario, "--items", "2"),
            ]
        )
        monitor = EnergyMonitor([meter], clock=clock)
        assert bench.run(args, components=make_components(clock, meter), monitor=monitor) == 0
        docs[name] = json.loads((root / name / "results.json").read_text())
    docs["data"] = data
    return docs


def _write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _one_line_error(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err
    assert err.startswith(f"green-chain {command}: error: "), err
    assert "Traceback" not in err
    return err


# -- results files of the wrong shape ---------------------------------------------------


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def mutate(doc: dict[str, Any]) -> Any:
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc

    return mutate


_DELETE = object()

#: name -> (mutation of a valid document, a word the error must name)
SHAPES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "a list": (lambda doc: [doc], "not a green-chain results.json"),
    "scenarios a list": (_set(("scenarios",), ["squad"]), "scenarios must be an object"),
    "scenario a number": (_set(("scenarios", "SCENARIO"), 3), "scenarios.SCENARIO must be"),
    "energy a string": (
        _set(("scenarios", "SCENARIO", "energy_green_j"), "12.5"),
        "scenarios.SCENARIO.energy_green_j must be a number",
    ),
    "overall missing a field": (
        _set(("overall", "energy_baseline_j"), _DELETE),
        "overall.energy_baseline_j is missing",
    ),
    "status missing": (_set(("scenarios", "SCENARIO", "status"), _DELETE), "status is missing"),
    "records an object": (
        _set(("scenarios", "SCENARIO", "records"), {"0": {}}),
        "records must be a list",
    ),
    "a record's calls a string": (
        _set(("scenarios", "SCENARIO", "records", 0, "calls"), "model"),
        "records[0].calls must be a list",
    ),
    "options a list": (_set(("options",), []), "options must be an object"),
}


def _broken_doc(runs: dict[str, Any], which: str, shape: str) -> tuple[Any, str]:
    doc = copy.deepcopy(runs[which])
    scenario = next(iter(doc["scenarios"]))
    mutate, expected = SHAPES[shape]
    doc["scenarios"]["SCENARIO"] = doc["scenarios"].pop(scenario)  # one name for the paths
    return mutate(doc), expected


#: command -> argv builder(bad file, good file A, good file B, out folder)
READERS: dict[str, Callable[[Path, Path, Path, Path], list[str]]] = {
    "report": lambda bad, a, b, out: ["report", str(bad), "--no-plots"],
    "report with plots": lambda bad, a, b, out: ["report", str(bad), "--out", str(out)],
    "compare A": lambda bad, a, b, out: ["compare", str(bad), str(b)],
    "compare B": lambda bad, a, b, out: ["compare", str(a), str(bad)],
    "merge first": lambda bad, a, b, out: ["merge", str(bad), str(b), "--out", str(out)],
    "merge second": lambda bad, a, b, out: ["merge", str(a), str(bad), "--out", str(out)],
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("reader", list(READERS))
def test_wrong_shape_is_one_line_and_exit_2(
    runs: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    reader: str,
    shape: str,
) -> None:
    which = "b" if reader in ("compare B", "merge second") else "a"
    doc, expected = _broken_doc(runs, which, shape)
    bad = _write(tmp_path / "bad.json", doc)
    a = _write(tmp_path / "a.json", runs["a"])
    b = _write(tmp_path / "b.json", runs["b"])
    out = tmp_path / "out"
    argv = READERS[reader](bad, a, b, out)
    assert main(argv) == 2
    err = _one_line_error(capsys, argv[0])
    assert str(bad) in err and expected in err
    assert not out.exists()  # nothing written, no empty folder left behind


# -- outputs that cannot be written ------------------------------------------------------


@pytest.fixture
def locked_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder nobody may write under (read-only mode bits).

    The superuser ignores mode bits, so there the OS's refusal is injected for paths under
    the folder (``os.mkdir``/``os.open``, what ``Path.mkdir`` and ``tempfile`` call).
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):
        real_mkdir, real_open = os.mkdir, os.open

        def refuse(path: Any) -> None:
            if Path(os.fsdecode(path)).absolute().is_relative_to(locked):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

        def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            refuse(path)
            real_mkdir(path, *args, **kwargs)

        def open_(path: Any, *args: Any, **kwargs: Any) -> int:
            refuse(path)
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "open", open_)
    yield locked
    locked.chmod(0o755)


def _no_real_components(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench`` must fail on its arguments before loading any model."""

    def refuse(**kwargs: Any) -> Any:
        raise AssertionError("bench loaded its components before checking --out")

    monkeypatch.setattr("green_chain.bench.components.default_components", refuse)


#: command -> argv builder(out, good file A, good file B, data folder)
WRITERS: dict[str, Callable[[Path, Path, Path, Path], list[str]]] = {
    "report": lambda out, a, b, data: ["report", str(a), "--out", str(out)],
    "merge": lambda out, a, b, data: ["merge", str(a), str(b), "--out", str(out)],
    "bench": lambda out, a, b, data: [
        "bench",
        "--data",
        str(data),
        "--out",
        str(out),
        "--scenarios",
        "squad",
        "--items",
        "1",
    ],
}


@pytest.mark.parametrize("fault", ["unwritable", "under a file", "is a file"])
@pytest.mark.parametrize("writer", list(WRITERS))
def test_bad_out_is_one_line_and_exit_2(
    runs: dict[str, Any],
    tmp_path: Path,
    locked_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    writer: str,
    fault: str,
) -> None:
    _no_real_components(monkeypatch)
    a = _write(tmp_path / "a.json", runs["a"])
    b = _write(tmp_path / "b.json", runs["b"])
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    out = {
        "unwritable": locked_dir / "results",
        "under a file": a_file / "results",
        "is a file": a_file,
    }[fault]
    argv = WRITERS[writer](out, a, b, runs["data"])
    assert main(argv) == 2
    err = _one_line_error(capsys, writer)
    assert str(out) in err
    if fault == "unwritable":
        assert "cannot write there" in err and not out.exists()
    else:
        assert "a file, not a folder" in err
        assert a_file.read_text() == "not a folder"


def test_a_write_failure_after_the_check_is_still_one_line(
    runs: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The top-level guard catches an OSError naming a file (a full disk) during the write."""

    def full_disk(doc: Any, out_dir: Any, **kwargs: Any) -> Any:
        path = str(Path(out_dir) / "results.json")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr("green_chain.bench.document.write_outputs", full_disk)
    a = _write(tmp_path / "a.json", runs["a"])
    b = _write(tmp_path / "b.json", runs["b"])
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 2
    err = _one_line_error(capsys, "merge")
    assert str(tmp_path / "m" / "results.json") in err and os.strerror(errno.ENOSPC) in err


@pytest.mark.parametrize("bug", [KeyError("energy_j"), ValueError("a bug"), TypeError("a bug")])
def test_a_bug_keeps_its_traceback(
    runs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bug: Exception
) -> None:
    def broken(docs: Any, **kwargs: Any) -> Any:
        raise bug

    monkeypatch.setattr("green_chain.bench.merge.merge_documents", broken)
    a = _write(tmp_path / "a.json", runs["a"])
    b = _write(tmp_path / "b.json", runs["b"])
    with pytest.raises(type(bug)):
        main(["merge", str(a), str(b), "--out", str(tmp_path / "m")])


def test_a_missing_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.json"
    for argv in (["report", str(missing)], ["merge", str(missing), str(missing), "--out", "x"]):
        assert main(argv) == 2
        assert str(missing) in _one_line_error(capsys, argv[0])


# -- NaN and negative energies -----------------------------------------------------------


def _with_energy(runs: dict[str, Any], value: float) -> dict[str, Any]:
    doc = copy.deepcopy(runs["a"])
    name = next(iter(doc["scenarios"]))
    doc["scenarios"][name]["energy_green_j"] = value
    return doc


@pytest.mark.parametrize("value", [math.nan, -3.0, math.inf])
def test_report_shows_invalid_energy_as_invalid(
    runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], value: float
) -> None:
    path = _write(tmp_path / "r.json", _with_energy(runs, value))
    assert main(["report", str(path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("squad"))
    cells = row.split()
    assert cells[3] == "invalid" and cells[4] == "invalid"  # green J, and the saving from it
    assert "nan" not in row.lower() and "-3.00" not in row and "inf" not in row
    assert "invalid: a NaN, infinite or negative figure" in out
    assert main(["compare", str(path), str(path)]) == 0
    assert "invalid" in capsys.readouterr().out


@pytest.mark.parametrize("value", [math.nan, -3.0])
def test_merge_refuses_invalid_energy_and_writes_nothing(
    runs: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], value: float
) -> None:
    bad = _write(tmp_path / "a.json", _with_energy(runs, value))
    b = _write(tmp_path / "b.json", runs["b"])
    out = tmp_path / "m"
    assert main(["merge", str(bad), str(b), "--out", str(out), "--no-plots"]) == 2
    err = _one_line_error(capsys, "merge")
    assert str(bad) in err and "scenarios.squad.energy_green_j" in err
    assert not out.exists()


def test_merged_file_is_strict_json(runs: dict[str, Any], tmp_path: Path) -> None:
    a = _write(tmp_path / "a.json", runs["a"])
    b = _write(tmp_path / "b.json", runs["b"])
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m"), "--no-plots"]) == 0

    def refuse(constant: str) -> Any:
        raise AssertionError(f"merge wrote {constant}")

    json.loads((tmp_path / "m" / "results.json").read_text(), parse_constant=refuse)


def test_data_download_to_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("x")
    assert main(["data", "download", "squad", "--to", str(target)]) == 2
    assert "--to" in _one_line_error(capsys, "data")
    assert main(["data", "download", "nope", "--to", str(tmp_path / "d")]) == 2
    assert "unknown scenario" in _one_line_error(capsys, "data")


def test_bad_ray_option_is_a_usage_error(runs: dict[str, Any], tmp_path: Path) -> None:
    from green_chain.cli import UsageError

    clock = FakeClock()
    meter = FakeMeterBackend(["cpu:fake"], kind="estimated", source="fake-estimate", clock=clock)
    args = build_parser().parse_args(
        [
            *("bench", "--data", str(runs["data"]), "--out", str(tmp_path / "o")),
            *("--scenarios", "squad", "--items", "1", "--ray", "local", "--ray-workers", "0"),
        ]
    )
    with pytest.raises(UsageError, match="--ray-workers must be >= 1"):
        bench.run(
            args,
            components=make_components(clock, meter),
            monitor=EnergyMonitor([meter], clock=clock),
        )


def test_merge_drops_a_non_finite_curve_fit_with_its_reason(
    runs: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from green_chain.bench import merge as bench_merge

    real = bench_merge.merge_documents

    def with_nan_curve(docs: Any, **kwargs: Any) -> Any:
        merged = real(docs, **kwargs)
        merged["energy_curves"] = {"m": {"a": 1.0, "b": 0.0, "c": 0.0, "r2": math.nan}}
        return merged

    monkeypatch.setattr(bench_merge, "merge_documents", with_nan_curve)
    a = _write(tmp_path / "a.json", runs["a"])
    b = _write(tmp_path / "b.json", runs["b"])
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m"), "--no-plots"]) == 0
    doc = json.loads((tmp_path / "m" / "results.json").read_text())
    assert doc["energy_curves"] == {}
    assert doc["energy_curves_dropped"] == {"m": "non-finite fit: r2 = nan"}
