"""Spans of text that compression must never drop (``protect=``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

#: Built-in protect options, usable by name in ``protect=[...]``.
BUILTIN_PATTERNS: dict[str, str] = {
    # integers, decimals, percentages, dates like 1999-01-02, money
    "numbers": r"[$€£]?\d[\d,.:/-]*%?",
    # inline code spans and fenced code blocks
    "code": r"```.*?```|`[^`\n]+`",
    # runs of capitalised words not at a sentence start heuristically (named entities)
    "entities": r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'-]*(?:\s+(?:of|de|la|von|van)?\s*[A-Z][\w'-]*)*",
}


def compile_protect(protect: Iterable[str | re.Pattern[str]] | None) -> list[re.Pattern[str]]:
    """Compile a protect list.

    Items are built-in option names (``"numbers"``, ``"code"``, ``"entities"``),
    ``re.Pattern`` objects, or strings. A string is used as a regular expression when it
    compiles, otherwise it is matched literally. Use ``re.escape`` for literal terms
    with regex metacharacters.
    """
    out: list[re.Pattern[str]] = []
    for item in protect or ():
        if isinstance(item, re.Pattern):
            out.append(item)
        elif isinstance(item, str):
            if not item:
                raise ValueError("protect entries must be non-empty strings or patterns")
            if item in BUILTIN_PATTERNS:
                out.append(re.compile(BUILTIN_PATTERNS[item], re.DOTALL | re.MULTILINE))
                continue
            try:
                out.append(re.compile(item))
            except re.error:
                out.append(re.compile(re.escape(item)))
        else:
            raise TypeError(f"protect entries must be str or re.Pattern, got {type(item).__name__}")
    return out


def protected_mask(
    text: str, units: Sequence[str], patterns: Sequence[re.Pattern[str]]
) -> list[bool]:
    """For units that joined give ``text``: True for each unit overlapping a protected match."""
    mask = [False] * len(units)
    if not patterns or not units:
        return mask
    starts: list[int] = []
    pos = 0
    for u in units:
        starts.append(pos)
        pos += len(u)
    import bisect

    for pat in patterns:
        for m in pat.finditer(text):
            a, b = m.span()
            if a == b:
                continue
            i = bisect.bisect_right(starts, a) - 1
            while i < len(units) and starts[i] < b:
                if units[i].strip():
                    mask[i] = True
                i += 1
    return mask
