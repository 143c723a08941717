"""The shape of a results.json, checked in one place before any command reads one.

``green-chain report``, ``compare`` and ``merge`` load results files through
:func:`green_chain.bench.results.load_results`, which calls :func:`check_results`: a
file that is valid JSON but not a results document (a list, a scenario that is a
number, an energy that is a string, records that are not a list ...) fails here with
one line naming the file, the field (``scenarios.squad.energy_green_j``) and what it
accepts, instead of a ``KeyError`` or ``TypeError`` deep inside a table or a plot.

Only the fields the commands read are checked, so files of older or newer versions
with extra fields still load. Non-finite (NaN, inf) or negative energies have the
right *type* and load; :func:`invalid_figures` lists them for commands that must refuse
them (``merge`` never writes a NaN), and the table shows them as ``invalid``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

#: How tables show a NaN or infinite figure, or a negative energy.
INVALID = "invalid"


class ResultsFileError(ValueError):
    """A results file that is not a green-chain results.json; the message names the field."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, accepts: str, value: Any) -> ResultsFileError:
        return ResultsFileError(f"{self.source}: {path} must be {accepts}, got {_kind(value)}")

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "an object", value)
        return value

    def field(
        self, obj: dict[str, Any], key: str, path: str, accepts: str, *, required: bool
    ) -> None:
        """``obj[key]`` has the kind ``accepts`` names (``number``, ``number or null`` ...)."""
        if key not in obj:
            if required:
                raise ResultsFileError(f"{self.source}: {path}.{key} is missing ({accepts})")
            return
        value = obj[key]
        ok = {
            "a number": _is_number(value),
            "a number or null": value is None or _is_number(value),
            "a string": isinstance(value, str),
            "a string or null": value is None or isinstance(value, str),
            "an object": isinstance(value, dict),
            "an object or null": value is None or isinstance(value, dict),
            "a list": isinstance(value, list),
            "a list or null": value is None or isinstance(value, list),
        }[accepts]
        if not ok:
            raise self.fail(f"{path}.{key}", accepts, value)


#: Overall fields the table and ``compare`` read: (key, accepts, required).
_OVERALL = (
    ("energy_baseline_j", "a number", True),
    ("energy_green_j", "a number", True),
    ("energy_saved_pct", "a number or null", True),
    ("quality_retained_pct", "a number or null", True),
    ("energy_source", "a string", True),
    ("quality_retained_pct_capped", "a number or null", False),
    ("energy_saved_pct_projected", "a number or null", False),
)
#: Fields of a scenario that ran (``status == "ok"``): the table, compare, merge's overall.
_SCENARIO_OK = (
    ("n_items", "a number", True),
    ("energy_source", "a string", True),
    ("energy_baseline_j", "a number", True),
    ("energy_green_j", "a number", True),
    ("energy_saved_pct", "a number or null", True),
    ("quality_retained_pct", "a number or null", True),
    ("optimizer_energy_j", "a number or null", True),
    ("prompt_token_ratio", "a number or null", False),
    ("etr", "a number or null", False),
    ("etr_handler", "a number or null", False),
    ("validated_token_share", "a number or null", False),
    ("energy_saved_pct_projected", "a number or null", False),
    ("error", "a string or null", False),
    ("records", "a list or null", False),
)
#: Fields of one item record the plots and the E(n) fit read.
_RECORD = (
    ("energy_j", "a number or null", False),
    ("optimizer_energy_j", "a number or null", False),
    ("calls", "a list or null", False),
)
_CALL = (
    ("prompt_tokens", "a number or null", False),
    ("cached_tokens", "a number or null", False),
    ("model_name", "a string or null", False),
)


def check_results(doc: Any, source: str = "results file") -> dict[str, Any]:
    """``doc`` when it has the shape of a results.json (see the module docstring).

    Args:
        doc: The parsed JSON.
        source: How the file is named in the error (its path).

    Raises:
        ResultsFileError: One line naming ``source``, the field and what it accepts.
    """
    c = _Checker(source)
    if not isinstance(doc, dict) or "overall" not in doc or "scenarios" not in doc:
        raise ResultsFileError(
            f"{source} is not a green-chain results.json (an object with 'overall' and "
            f"'scenarios'), got {_kind(doc)}"
        )
    for key, accepts in (
        ("options", "an object"),
        ("projection", "an object or null"),
        ("energy_curves", "an object or null"),
        ("command", "a list"),
    ):
        c.field(doc, key, "(top level)", accepts, required=False)
    overall = c.mapping(doc["overall"], "overall")
    for key, accepts, required in _OVERALL:
        c.field(overall, key, "overall", accepts, required=required)
    scenarios = c.mapping(doc["scenarios"], "scenarios")
    for name, entry in scenarios.items():
        path = f"scenarios.{name}"
        s = c.mapping(entry, path)
        c.field(s, "status", path, "a string", required=True)
        if s["status"] != "ok":
            c.field(s, "error", path, "a string or null", required=False)
            continue
        for key, accepts, required in _SCENARIO_OK:
            c.field(s, key, path, accepts, required=required)
        if "energy_saved_pct_projected" in s:
            for key in ("energy_baseline_j_projected", "energy_green_j_projected"):
                c.field(s, key, path, "a number", required=True)
        for i, rec in enumerate(s.get("records") or []):
            rpath = f"{path}.records[{i}]"
            r = c.mapping(rec, rpath)
            for key, accepts, required in _RECORD:
                c.field(r, key, rpath, accepts, required=required)
            for j, call in enumerate(r.get("calls") or []):
                cpath = f"{rpath}.calls[{j}]"
                for key, accepts, required in _CALL:
                    c.field(c.mapping(call, cpath), key, cpath, accepts, required=required)
    return doc


def is_valid_energy(value: Any) -> bool:
    """A finite, non-negative number of joules (``None`` is *missing*, not invalid)."""
    return _is_number(value) and math.isfinite(value) and value >= 0


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, value


def invalid_figures(doc: Any) -> list[str]:
    """Paths of every non-finite number and every negative energy (``*_j``) in ``doc``.

    An energy field is one whose key ends in ``_j`` or ``_j_projected`` (joules).
    """
    out = []
    for path, value in _walk(doc, ""):
        if not _is_number(value):
            continue
        key = path.rsplit(".", 1)[-1]
        energy = key.endswith("_j") or key.endswith("_j_projected")
        if not math.isfinite(value) or (energy and value < 0):
            out.append(f"{path} = {value!r}")
    return out
