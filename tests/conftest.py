"""Shared pytest set-up.

Integration tests (``-m integration``) use the real packaged models and the data
in ``../shared/data``; they are skipped with a reason when either is missing.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_data_dir():
    """The real evaluation data folder, or skip when it is absent."""
    from green_chain.paths import data_dir

    d = data_dir()
    if not d.is_dir():
        pytest.skip(f"shared evaluation data not found at {d} (set GREEN_CHAIN_DATA)")
    return d
