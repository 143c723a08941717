"""Warm a benchmark chain up before its test items: its setup, not its answers.

Building an example index, loading an encoder or tokenizer is a one-off setup cost of a
deployment, not a per-request cost, and must not be charged to the first test item. The
runner therefore runs each warmed chain (the green chain and its ablation variants; the
baseline has no setup beyond its model, loaded when the run starts) on a calibration
item first, unmeasured except as the run's one-off ``warm_up_j``.

The warm-up stops where the chain calls one of the run's answering models
(:class:`StopAtAnswer`): everything before the answer (compression, example selection,
history filtering, the response budget's prediction, a first tier) has run, and nothing
is prefilled or decoded. A full answer would be seconds of CPU per chain and worker (a
QMSum prompt, a GSM8K loop) that set nothing up, and would leave the item's prompt
states in the chain's prefix cache: the warmed chain's first test item could then read a
few-shot prefix the baseline's first item prefills. For chains that still store states
(an optimizer's own model call), :func:`~green_chain.bench.components.forget_prompt_states`
drops them afterwards. A failing warm-up is recorded (``errors``) and logged, never
swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import Runnable

from green_chain.bench.components import Components, forget_prompt_states
from green_chain.bench.items import Item
from green_chain.bench.tags import OptimizerRuns

logger = logging.getLogger(__name__)


class AnswerReached(Exception):
    """Raised by :class:`StopAtAnswer` where the chain calls an answering model."""


class StopAtAnswer(BaseCallbackHandler):
    """Stops an invocation at its first answering model call (before it computes anything).

    An answering call is a call of a model whose class is one of ``model_classes`` (the
    run's cheap and large models) that no optimizer makes (not tagged
    :data:`~green_chain.bench.tags.OPTIMIZER_TAG`, not below such a run): an optimizer's
    own model calls (a summarizer, a compressor's LM) run, as they are its setup.
    ``reached`` says whether it stopped one.
    """

    raise_error = True
    run_inline = True

    def __init__(self, model_classes: Sequence[str]) -> None:
        self.model_classes = frozenset(model_classes)
        self.reached = False
        self._runs = OptimizerRuns()

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._runs.start(run_id, parent_run_id, tags)

    def _model_start(
        self,
        serialized: dict[str, Any] | None,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
    ) -> None:
        if self._runs.start(run_id, parent_run_id, tags):  # an optimizer's own call
            return
        ident = (serialized or {}).get("id") or []
        name = ident[-1] if ident else None
        if name in self.model_classes:
            self.reached = True
            raise AnswerReached(f"warm-up stopped before the answering {name} call")

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: Any, **kwargs: Any
    ) -> None:
        self._model_start(
            serialized, kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("tags")
        )

    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: Any, **kwargs: Any) -> None:
        self._model_start(
            serialized, kwargs["run_id"], kwargs.get("parent_run_id"), kwargs.get("tags")
        )


class _NoStopNotice(logging.Filter):
    """Hides langchain-core's "Error in StopAtAnswer..." line: the stop is the plan."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "AnswerReached" not in record.getMessage()


@contextmanager
def _quiet_stops() -> Iterator[None]:
    log = logging.getLogger("langchain_core.callbacks.manager")
    notice = _NoStopNotice()
    log.addFilter(notice)
    try:
        yield
    finally:
        log.removeFilter(notice)


def _caused_by_stop(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return False
        if isinstance(seen, AnswerReached):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def warm_up(
    scenario: Any,
    chain: Runnable,
    calibration: Sequence[Item],
    log: Callable[[str], None] = logger.warning,
    *,
    components: Components | None = None,
    cache_salt: str | None = None,
) -> dict[str, Any]:
    """Run ``chain`` on ``scenario.warmup_items(calibration)``, unmeasured, up to its answer.

    With ``components``, each invocation stops at its first answering call of one of
    ``components.models`` (:class:`StopAtAnswer`; ``answer_calls_skipped`` counts them);
    without, it runs whole (the chain answers). With the chain's ``cache_salt``, prompt
    states left in its prefix cache are dropped afterwards
    (:func:`~green_chain.bench.components.forget_prompt_states`). Returns ``item_ids``,
    ``errors`` (``[{item_id, error}]``: recorded and logged, never swallowed) and
    ``answer_calls_skipped``.
    """
    items = scenario.warmup_items(calibration)
    errors: list[dict[str, str]] = []
    classes = (
        sorted({type(m).__name__ for m in components.models.values()})
        if components is not None
        else []
    )
    skipped = 0
    with _quiet_stops():
        for it in items:
            stop = StopAtAnswer(classes)
            config: dict[str, Any] = {"callbacks": [stop]} if classes else {}
            try:
                chain.invoke(it.inputs, config=config)  # type: ignore[arg-type]
            except Exception as exc:
                if stop.reached and _caused_by_stop(exc):
                    skipped += 1
                    continue
                errors.append({"item_id": it.id, "error": f"{type(exc).__name__}: {exc}"})
                log(f"warm-up of {scenario.name} failed on {it.id}: {type(exc).__name__}: {exc}")
    if components is not None and cache_salt is not None:
        forget_prompt_states(components, cache_salt)
    return {
        "item_ids": [it.id for it in items],
        "errors": errors,
        "answer_calls_skipped": skipped,
    }


__all__ = ["AnswerReached", "StopAtAnswer", "warm_up"]
