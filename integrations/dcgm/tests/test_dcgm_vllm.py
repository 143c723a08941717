"""VLLMMetrics: token deltas from a vLLM server's /metrics, over loopback."""

from __future__ import annotations

import pytest
from dcgm_testserver import PayloadServer, closed_port_url, payload
from green_chain_dcgm import VLLMMetrics

from green_chain.testing.clock import FakeClock


@pytest.fixture
def vllm_server():
    with PayloadServer() as server:
        server.routes["/metrics"] = payload("vllm_t0.txt")
        yield server


def test_read_sums_series_or_filters_by_model(vllm_server: PayloadServer) -> None:
    every = VLLMMetrics(vllm_server.url("")).read()
    assert every.error is None
    assert (every.prompt_tokens, every.generation_tokens) == (183_204 + 500, 61_877 + 100)
    llama = VLLMMetrics(
        vllm_server.url("/metrics"), model_name="meta-llama/Llama-3.1-8B-Instruct"
    ).read()
    assert (llama.prompt_tokens, llama.generation_tokens) == (183_204, 61_877)


def test_window_gives_token_deltas(vllm_server: PayloadServer) -> None:
    clock = FakeClock(10.0)
    metrics = VLLMMetrics(vllm_server.url("/metrics"), clock=clock)
    with metrics.window() as tokens:
        vllm_server.routes["/metrics"] = payload("vllm_t1.txt")
        clock.advance(2.5)
    assert tokens.available
    assert (tokens.prompt_tokens, tokens.generation_tokens) == (734, 256)
    assert tokens.duration_s == pytest.approx(2.5)
    assert tokens.reset is False


def test_counter_reset_counts_from_restart(vllm_server: PayloadServer) -> None:
    metrics = VLLMMetrics(
        vllm_server.url("/metrics"), model_name="meta-llama/Llama-3.1-8B-Instruct"
    )
    start = metrics.read()
    vllm_server.routes["/metrics"] = payload("vllm_reset.txt")
    delta = metrics.delta(start, metrics.read())
    assert delta.reset is True
    assert (delta.prompt_tokens, delta.generation_tokens) == (120, 40)


def test_unknown_model_and_unreachable_server_are_errors_not_exceptions(
    vllm_server: PayloadServer,
) -> None:
    missing = VLLMMetrics(vllm_server.url("/metrics"), model_name="nope").read()
    assert missing.prompt_tokens is None
    assert "model_name='nope'" in (missing.error or "")
    metrics = VLLMMetrics(closed_port_url(), timeout_s=0.5)
    with metrics.window() as tokens:
        pass
    assert not tokens.available
    assert tokens.prompt_tokens is None and tokens.error


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="http"):
        VLLMMetrics("vllm:8000")
    with pytest.raises(ValueError, match="timeout_s"):
        VLLMMetrics("http://vllm:8000", timeout_s=0)
