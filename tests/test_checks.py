"""The boundary checks: what each accepts, and a one-line error naming the argument."""

from __future__ import annotations

import math

import numpy as np
import pytest

from green_chain.checks import real_in, token_count


@pytest.mark.parametrize("value", [1, 512, np.int64(7)])
def test_token_count_accepts_ints(value: object) -> None:
    assert token_count(value, "max_tokens") == int(value)  # type: ignore[call-overload]
    assert type(token_count(value, "max_tokens")) is int


@pytest.mark.parametrize("value", [True, False, 0, -3, 1.0, 2.5, "10", None, math.nan])
def test_token_count_rejects_non_counts(value: object) -> None:
    with pytest.raises(ValueError, match=r"^max_tokens must be an int >= 1 \(tokens\), got ") as e:
        token_count(value, "max_tokens")
    assert repr(value) in str(e.value)


def test_token_count_minimum() -> None:
    assert token_count(0, "separator_tokens", minimum=0) == 0
    with pytest.raises(ValueError, match="separator_tokens must be an int >= 0"):
        token_count(-1, "separator_tokens", minimum=0)


@pytest.mark.parametrize("value", [0, 0.5, 1, np.float64(0.25)])
def test_real_in_accepts_finite_numbers_in_range(value: object) -> None:
    assert real_in(value, "w", 0.0, 1.0) == float(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1.5, -0.1, True, "0.5", None])
def test_real_in_rejects_the_rest(value: object) -> None:
    with pytest.raises(ValueError, match=r"^w must be a finite number in \[0, 1\], got "):
        real_in(value, "w", 0.0, 1.0)
