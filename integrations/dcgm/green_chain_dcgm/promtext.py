"""A small parser for the Prometheus text exposition format (version 0.0.4).

Only what green-chain reads is supported: sample lines
``name{label="value",...} value [timestamp_ms]``, ``# HELP`` / ``# TYPE`` and
other comments (skipped), label-value escapes (``\\\\``, ``\\"``, ``\\n``) and the
special values ``NaN``, ``+Inf`` and ``-Inf``. Timestamps are ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class PromTextError(ValueError):
    """A line of a ``/metrics`` payload is not valid Prometheus text format."""


@dataclass(frozen=True)
class Sample:
    """One sample of one series: metric ``name``, its ``labels`` and ``value``."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    value: float = math.nan


def _parse_value(text: str, line_no: int) -> float:
    special = {"nan": math.nan, "+inf": math.inf, "inf": math.inf, "-inf": -math.inf}
    lowered = text.lower()
    if lowered in special:
        return special[lowered]
    try:
        return float(text)
    except ValueError:
        raise PromTextError(f"line {line_no}: {text!r} is not a sample value") from None


def _parse_labels(line: str, pos: int, line_no: int) -> tuple[dict[str, str], int]:
    """Parse ``{a="x",b="y"}`` starting at ``line[pos] == '{'``; return labels and end index."""
    labels: dict[str, str] = {}
    pos += 1
    while True:
        while pos < len(line) and line[pos] in " \t,":
            pos += 1
        if pos >= len(line):
            raise PromTextError(f"line {line_no}: unterminated label set")
        if line[pos] == "}":
            return labels, pos + 1
        match = _LABEL_NAME.match(line, pos)
        if match is None:
            raise PromTextError(f"line {line_no}: bad label name at column {pos + 1}")
        name = match.group(0)
        pos = match.end()
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if line[pos : pos + 2] != '="':
            raise PromTextError(f'line {line_no}: expected =" after label {name!r}')
        pos += 2
        chars: list[str] = []
        while True:
            if pos >= len(line):
                raise PromTextError(f"line {line_no}: unterminated value of label {name!r}")
            char = line[pos]
            if char == "\\" and pos + 1 < len(line):
                chars.append(_ESCAPES.get(line[pos + 1], "\\" + line[pos + 1]))
                pos += 2
                continue
            if char == '"':
                pos += 1
                break
            chars.append(char)
            pos += 1
        labels[name] = "".join(chars)


def parse_line(line: str, line_no: int = 1) -> Sample | None:
    """Parse one line; ``None`` for blank lines and comments."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    match = _NAME.match(line)
    if match is None:
        raise PromTextError(f"line {line_no}: no metric name in {line[:60]!r}")
    name = match.group(0)
    pos = match.end()
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _parse_labels(line, pos, line_no)
    rest = line[pos:].split()
    if not rest:
        raise PromTextError(f"line {line_no}: metric {name!r} has no value")
    return Sample(name=name, labels=labels, value=_parse_value(rest[0], line_no))


def iter_samples(text: str | Iterable[str]) -> Iterator[Sample]:
    """Every sample of a payload, in order. Raises :class:`PromTextError` on a bad line."""
    lines = text.splitlines() if isinstance(text, str) else text
    for line_no, line in enumerate(lines, start=1):
        sample = parse_line(line, line_no)
        if sample is not None:
            yield sample


def samples_named(text: str, name: str) -> list[Sample]:
    """The samples of metric ``name`` in a payload."""
    return [s for s in iter_samples(text) if s.name == name]
