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

Model loading (:func:`model_load_run`, :func:`amodel_load_run`): a chat model that
has to load its weights opens a run tagged :data:`MODEL_LOAD_TAG` around the load,
a child of the call (given the call's run manager) or a run just before the call
under the caller's parent (given the call's config); the handler records it as its
own ``load`` run, so the loading energy is shown but not charged to the call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig

logger = logging.getLogger(__name__)

#: Event name for an optimizer's before/after token counts.
OPTIMIZER_TOKENS_EVENT = "green_chain.optimizer_tokens"
#: Event name for a router's decision.
ROUTING_DECISION_EVENT = "green_chain.routing_decision"
#: Event name for a response budget's outcome (budget bound, whether the answer hit it).
RESPONSE_BUDGET_EVENT = "green_chain.response_budget"
#: Tag of the child run a model call opens around loading the model's weights.
MODEL_LOAD_TAG = "green_chain.model_load"


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


def _load_child_manager(run_manager: Any, model_name: str, *, is_async: bool) -> Any:
    """A callback manager for a load run under the model call ``run_manager``."""
    from langchain_core.callbacks import AsyncCallbackManager, CallbackManager

    cls = AsyncCallbackManager if is_async else CallbackManager
    return cls(
        handlers=list(run_manager.inheritable_handlers),
        inheritable_handlers=list(run_manager.inheritable_handlers),
        parent_run_id=run_manager.run_id,
        tags=[*run_manager.inheritable_tags, MODEL_LOAD_TAG],
        inheritable_tags=list(run_manager.inheritable_tags),
        metadata={**run_manager.inheritable_metadata, "ls_model_name": model_name},
        inheritable_metadata=dict(run_manager.inheritable_metadata),
    )


def _load_config_manager(config: RunnableConfig, model_name: str, *, is_async: bool) -> Any:
    """A callback manager for a load run under ``config``'s current parent run."""
    from langchain_core.runnables.config import (
        get_async_callback_manager_for_config,
        get_callback_manager_for_config,
    )

    get = get_async_callback_manager_for_config if is_async else get_callback_manager_for_config
    manager = get(config)
    manager.add_tags([MODEL_LOAD_TAG], inherit=False)
    manager.add_metadata({"ls_model_name": model_name}, inherit=False)
    return manager


@contextmanager
def model_load_run(
    run_manager: Any, model_name: str, *, config: RunnableConfig | None = None
) -> Iterator[None]:
    """Run the block (loading ``model_name``) as a ``load`` run of its own.

    Args:
        run_manager: The model call's ``CallbackManagerForLLMRun``: the load run is
            a child of the call. ``None``: use ``config``.
        model_name: The model being loaded (the run is named ``load <model_name>``).
        config: The call's ``RunnableConfig`` when there is no run manager (e.g. in
            ``stream``, before the call starts): the load run precedes the call
            under the same parent. Neither given: the block just runs.

    The run is tagged :data:`MODEL_LOAD_TAG`; callbacks failing never break the load,
    and an error of the load itself ends the run and is re-raised.
    """
    child = None
    if run_manager is not None or config is not None:
        try:
            if run_manager is not None:
                manager = _load_child_manager(run_manager, model_name, is_async=False)
            else:
                manager = _load_config_manager(config or {}, model_name, is_async=False)
            child = manager.on_chain_start(None, {"model": model_name}, name=f"load {model_name}")
        except Exception:
            logger.debug("opening the model-load run failed", exc_info=True)
    try:
        yield
    except BaseException as exc:
        _end_load(child, exc)
        raise
    _end_load(child, None)


def _end_load(child: Any, error: BaseException | None) -> None:
    if child is None:
        return
    try:
        if error is None:
            child.on_chain_end({"loaded": True})
        else:
            child.on_chain_error(error)
    except Exception:
        logger.debug("closing the model-load run failed", exc_info=True)


@asynccontextmanager
async def amodel_load_run(
    run_manager: Any, model_name: str, *, config: RunnableConfig | None = None
) -> AsyncIterator[None]:
    """Async twin of :func:`model_load_run` (``run_manager``: ``AsyncCallbackManagerForLLMRun``)."""
    child = None
    if run_manager is not None or config is not None:
        try:
            if run_manager is not None:
                manager = _load_child_manager(run_manager, model_name, is_async=True)
            else:
                manager = _load_config_manager(config or {}, model_name, is_async=True)
            child = await manager.on_chain_start(
                None, {"model": model_name}, name=f"load {model_name}"
            )
        except Exception:
            logger.debug("opening the model-load run failed", exc_info=True)
    try:
        yield
    except BaseException as exc:
        await _aend_load(child, exc)
        raise
    await _aend_load(child, None)


async def _aend_load(child: Any, error: BaseException | None) -> None:
    if child is None:
        return
    try:
        if error is None:
            await child.on_chain_end({"loaded": True})
        else:
            await child.on_chain_error(error)
    except Exception:
        logger.debug("closing the model-load run failed", exc_info=True)
