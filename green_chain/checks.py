"""Argument checks at the public boundaries: one-line ``ValueError``s naming the argument.

A leaf module (it imports nothing of green_chain), so every folder may use it. Each
check returns the value it accepted and raises ``ValueError`` whose message names the
argument, what it accepts and what it got, so a bad argument fails at construction
instead of as an ``AttributeError`` or a comparison ``TypeError`` deep inside a run.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def token_count(value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` when it is an ``int >= minimum`` (a number of tokens).

    Bools are rejected: ``True`` is an ``int`` to Python but never a token count.

    Raises:
        ValueError: ``value`` is a bool, not an ``int``, or below ``minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum} (tokens), got {value!r}")
    return int(value)


def real_in(value: Any, name: str, low: float, high: float) -> float:
    """``value`` as a float when it is a finite real number in ``[low, high]``.

    NaN, infinities, bools, strings and other non-numbers are rejected.

    Raises:
        ValueError: ``value`` is not a finite number in ``[low, high]``.
    """
    number = (
        float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None
    )
    if number is None or not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return number
