"""Token counters of a vLLM server, from its Prometheus ``/metrics`` endpoint.

vLLM publishes the counters ``vllm:prompt_tokens_total`` and
``vllm:generation_tokens_total`` (labels ``model_name``, ``engine``, ...).
:class:`VLLMMetrics` reads them and gives the tokens a server processed during a
window, so a step that calls a remote vLLM can be credited with the server's
own token counts next to the server's GPU energy from
:class:`~green_chain_dcgm.meter.DCGMMeter`. The counters are server-wide:
concurrent requests from other clients are included.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from green_chain_dcgm.http import EndpointError, http_get_text
from green_chain_dcgm.promtext import PromTextError, iter_samples

PROMPT_TOKENS_METRIC = "vllm:prompt_tokens_total"
GENERATION_TOKENS_METRIC = "vllm:generation_tokens_total"


@dataclass(frozen=True)
class VLLMTokenCounts:
    """Cumulative token counters at one instant.

    Attributes:
        timestamp_s: Monotonic clock seconds when read.
        prompt_tokens: Sum of ``vllm:prompt_tokens_total`` over the selected series,
            or ``None`` when unreadable.
        generation_tokens: Sum of ``vllm:generation_tokens_total``, or ``None``.
        error: Why the counters could not be read, else ``None``.
    """

    timestamp_s: float
    prompt_tokens: float | None
    generation_tokens: float | None
    error: str | None = None


@dataclass
class VLLMTokenDelta:
    """Tokens processed by the server over one window.

    Attributes:
        duration_s: Window length in seconds.
        prompt_tokens: Prompt (prefill) tokens in the window, or ``None``.
        generation_tokens: Generated tokens in the window, or ``None``.
        reset: True when a counter went down (server restart) inside the window;
            the figure then counts only tokens since the restart.
        error: Why the delta is unavailable, else ``None``.
    """

    duration_s: float = 0.0
    prompt_tokens: int | None = None
    generation_tokens: int | None = None
    reset: bool = False
    error: str | None = None

    @property
    def available(self) -> bool:
        return self.error is None and self.prompt_tokens is not None


def _delta(a: float | None, b: float | None) -> tuple[int | None, bool]:
    if a is None or b is None:
        return None, False
    if b < a:  # counter reset: only what was counted since the restart is known
        return round(b), True
    return round(b - a), False


class VLLMMetrics:
    """Read a vLLM server's token counters.

    Args:
        endpoint: The server's metrics URL (``http://vllm:8000/metrics``; a bare
            ``http://vllm:8000`` gets ``/metrics``).
        model_name: Only series with this ``model_name`` label; ``None`` = all.
        timeout_s: HTTP timeout in seconds.
        clock: Monotonic clock in seconds.

    Example::

        vllm = VLLMMetrics("http://vllm:8000/metrics")
        with vllm.window() as tokens:
            chain.invoke(question)
        tokens.generation_tokens   # tokens the server generated meanwhile
    """

    def __init__(
        self,
        endpoint: str,
        *,
        model_name: str | None = None,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, got {endpoint!r}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        path = urllib.parse.urlparse(endpoint).path.rstrip("/")
        self.url = endpoint if path else endpoint.rstrip("/") + "/metrics"
        self.model_name = model_name
        self.timeout_s = float(timeout_s)
        self.clock = clock

    def read(self) -> VLLMTokenCounts:
        """The cumulative counters now; never raises (``error`` says what failed)."""
        now_s = self.clock()
        try:
            text = http_get_text(self.url, timeout_s=self.timeout_s)
            totals: dict[str, float] = {}
            for sample in iter_samples(text):
                if sample.name not in (PROMPT_TOKENS_METRIC, GENERATION_TOKENS_METRIC):
                    continue
                if self.model_name and sample.labels.get("model_name") != self.model_name:
                    continue
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        except (EndpointError, PromTextError) as exc:
            return VLLMTokenCounts(now_s, None, None, error=str(exc))
        missing = [m for m in (PROMPT_TOKENS_METRIC, GENERATION_TOKENS_METRIC) if m not in totals]
        if missing:
            which = f" for model_name={self.model_name!r}" if self.model_name else ""
            return VLLMTokenCounts(
                now_s, None, None, error=f"{self.url} has no {', '.join(missing)}{which}"
            )
        return VLLMTokenCounts(
            now_s, totals[PROMPT_TOKENS_METRIC], totals[GENERATION_TOKENS_METRIC]
        )

    @staticmethod
    def delta(start: VLLMTokenCounts, end: VLLMTokenCounts) -> VLLMTokenDelta:
        """Tokens between two readings (a counter reset counts from the restart)."""
        duration_s = max(0.0, end.timestamp_s - start.timestamp_s)
        error = start.error or end.error
        if error:
            return VLLMTokenDelta(duration_s=duration_s, error=error)
        prompt, reset_p = _delta(start.prompt_tokens, end.prompt_tokens)
        generated, reset_g = _delta(start.generation_tokens, end.generation_tokens)
        return VLLMTokenDelta(
            duration_s=duration_s,
            prompt_tokens=prompt,
            generation_tokens=generated,
            reset=reset_p or reset_g,
        )

    @contextmanager
    def window(self) -> Iterator[VLLMTokenDelta]:
        """Context manager yielding a :class:`VLLMTokenDelta` filled in on exit."""
        result = VLLMTokenDelta()
        start = self.read()
        try:
            yield result
        finally:
            done = self.delta(start, self.read())
            result.duration_s = done.duration_s
            result.prompt_tokens = done.prompt_tokens
            result.generation_tokens = done.generation_tokens
            result.reset = done.reset
            result.error = done.error
