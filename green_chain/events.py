"""The one mechanism by which optimizers and routers talk to the energy handler.

Optimizers (compression, history filtering, example selection) and routers never
import the callback handler, and the handler never imports them: they meet only
through LangChain custom events, dispatched inside the optimizer's own run with
:func:`langchain_core.callbacks.dispatch_custom_event`. The handler receives them
in ``on_custom_event`` with the dispatching run's id and joins them to the model
call that consumes the optimized prompt (see ``green_chain.callbacks``).

Outside a LangChain run (an optimizer called as a plain function) there is no
parent run and the event is silently dropped: optimizers work with or without a
handler.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import RunnableConfig

logger = logging.getLogger(__name__)

#: Event name for an optimizer's before/after token counts.
OPTIMIZER_TOKENS_EVENT = "green_chain.optimizer_tokens"
#: Event name for a router's decision.
ROUTING_DECISION_EVENT = "green_chain.routing_decision"
#: Event name for a response budget's outcome (budget bound, whether the answer hit it).
RESPONSE_BUDGET_EVENT = "green_chain.response_budget"


def _dispatch(name: str, data: dict[str, Any], config: RunnableConfig | None) -> bool:
    from langchain_core.callbacks import dispatch_custom_event

    try:
        dispatch_custom_event(name, data, config=config)
    except RuntimeError:
        # No parent run id: called outside any LangChain run. Nothing listens.
        return False
    except Exception:  # a callback failing must never break the optimizer
        logger.debug("dispatching %s failed", name, exc_info=True)
        return False
    return True


async def _adispatch(name: str, data: dict[str, Any], config: RunnableConfig | None) -> bool:
    from langchain_core.callbacks import adispatch_custom_event

    try:
        await adispatch_custom_event(name, data, config=config)
    except RuntimeError:
        return False
    except Exception:
        logger.debug("dispatching %s failed", name, exc_info=True)
        return False
    return True


def token_counts_payload(
    optimizer: str,
    tokens_before: int,
    tokens_after: int,
    **extra: Any,
) -> dict[str, Any]:
    """Validate and build the payload of :data:`OPTIMIZER_TOKENS_EVENT`.

    Args:
        optimizer: Name of the optimizer (``compression:embedding``, ``history``, ...).
        tokens_before: Tokens of the part it optimized before optimizing.
        tokens_after: Tokens of that part after optimizing.
        extra: Further JSON-able fields (``tokenizer``, ``rate`` ...).
    """
    if tokens_before < 0 or tokens_after < 0:
        raise ValueError(
            f"token counts must be >= 0, got before={tokens_before}, after={tokens_after}"
        )
    return {
        "optimizer": optimizer,
        "tokens_before": int(tokens_before),
        "tokens_after": int(tokens_after),
        **extra,
    }


def publish_token_counts(
    optimizer: str,
    tokens_before: int,
    tokens_after: int,
    *,
    config: RunnableConfig | None = None,
    **extra: Any,
) -> bool:
    """Publish an optimizer's before/after token counts to any energy handler.

    Call it from inside the optimizer's run (``invoke``/``_call_with_config``).
    Returns True when the event was dispatched, False when no run was active.
    """
    payload = token_counts_payload(optimizer, tokens_before, tokens_after, **extra)
    return _dispatch(OPTIMIZER_TOKENS_EVENT, payload, config)


async def apublish_token_counts(
    optimizer: str,
    tokens_before: int,
    tokens_after: int,
    *,
    config: RunnableConfig | None = None,
    **extra: Any,
) -> bool:
    """Async twin of :func:`publish_token_counts`."""
    payload = token_counts_payload(optimizer, tokens_before, tokens_after, **extra)
    return await _adispatch(OPTIMIZER_TOKENS_EVENT, payload, config)


def publish_routing_decision(
    decision: dict[str, Any], *, config: RunnableConfig | None = None
) -> bool:
    """Publish a router's decision (chosen model, score, threshold, predictions)."""
    return _dispatch(ROUTING_DECISION_EVENT, dict(decision), config)


async def apublish_routing_decision(
    decision: dict[str, Any], *, config: RunnableConfig | None = None
) -> bool:
    """Async twin of :func:`publish_routing_decision`."""
    return await _adispatch(ROUTING_DECISION_EVENT, dict(decision), config)


def publish_response_budget(
    outcome: dict[str, Any], *, config: RunnableConfig | None = None
) -> bool:
    """Publish a response budget's outcome for the model call that just ended.

    Dispatch it from the run that made the call, right after the call: the
    handler stores it on that run's latest finished model-call descendant
    (``RunRecord.response_budget``). Never raises.
    """
    try:
        payload = dict(outcome)
    except Exception:
        logger.debug("response budget outcome is not a mapping", exc_info=True)
        return False
    return _dispatch(RESPONSE_BUDGET_EVENT, payload, config)


async def apublish_response_budget(
    outcome: dict[str, Any], *, config: RunnableConfig | None = None
) -> bool:
    """Async twin of :func:`publish_response_budget`."""
    try:
        payload = dict(outcome)
    except Exception:
        logger.debug("response budget outcome is not a mapping", exc_info=True)
        return False
    return await _adispatch(RESPONSE_BUDGET_EVENT, payload, config)
