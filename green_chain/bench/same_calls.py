"""Ablation variants that would repeat a reference chain's computation: found, run once, reported.

An ablation variant ``only:<optimizer>`` can be the baseline in disguise for a scenario's
fitted settings: a compression rate of 1.0, a router that sends every calibration item to the large model
(``routes=False``: the chain calls the large model directly), a response budget equal to
the baseline's answer cap (nothing to cut, no larger retry possible). Such a variant makes,
on every test item, the same model calls as the baseline: the same model, prompt,
``max_tokens``, stop sequences, choices and tools, and runs no optimizer. Decoding is
greedy, so it would write the same answers with the same computation; running it again
measures only the meter's noise (an A/A difference: 7 % on GSM8K in the 8f1aa2f run) and
costs as much as the baseline (in that run about a quarter of the ablation's CPU time).

It can also be the green chain in disguise: when every *other* optimizer of the green
chain is off for the fitted settings, ``only:<optimizer>`` and ``green`` make the same
model calls *and* run the same optimizer work (the same optimizer runs on the same inputs,
the same routing decisions). GSM8K is the case in point: compression at rate 1.0 and a
router that never routes leave ``green`` = ``only:response_budget``, a second copy of the
green chain's whole decoding (a fifth of that scenario's CPU time).

:func:`same_calls` proves either identity per test item, without generating: it builds
the chains on recording models (:class:`TraceChat`, answering nothing) and compares each
variant's call trace and optimizer work with the baseline's (which runs no optimizer) and
then with the green chain's. A variant identical on every item is not run; the runner
copies the reference's records under its name (``same_as: "baseline"`` or ``"green"``), so
its ablation row is exactly the reference's (0 % saved and 0 points for the baseline), and
``results.json`` says why (``ablation_same_as_baseline`` / ``ablation_same_as_green``). A
variant that runs an optimizer (a run tagged :data:`~green_chain.bench.tags.OPTIMIZER_TAG`)
or makes a routing decision (a router's scorer, a first tier) is never the baseline,
whatever it answers: its own work costs energy; it is the green chain only where the green
chain does exactly that work on every item.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from green_chain.bench.items import Item
from green_chain.bench.tags import OPTIMIZER_TAG
from green_chain.events import ROUTING_DECISION_EVENT

#: Why a variant was not run (``results.json``: ``ablation_same_as_baseline``).
SAME_REASON = (
    "same model calls as the baseline on every test item (model, prompt, max_tokens, stop, "
    "choices, tools) and no optimizer run: not re-run, the baseline's records stand for it"
)
#: Why a variant was not run (``results.json``: ``ablation_same_as_green``).
SAME_AS_GREEN_REASON = (
    "same model calls as the green chain on every test item (model, prompt, max_tokens, "
    "stop, choices, tools) and the same optimizer runs on the same inputs and the same "
    "routing decisions (the green chain's other optimizers are off for the fitted "
    "settings): not re-run, the green chain's records stand for it"
)
#: The chains an ablation variant may be found identical to, in the order they are tried.
REFERENCES = ("baseline", "green")


class TraceChat(BaseChatModel):
    """A chat model that generates nothing and logs every call it gets.

    Has the fields the benchmark sets on its models (``max_tokens``, ``stop``,
    ``first_line``, ``guided_choice``, ``cache_salt``), so the chains configure it as they
    configure ``ChatLocal``; every copy shares ``log``. Each call appends
    ``(model, prompt, max_tokens, stop, first_line, guided_choice, tools)`` and answers
    ``""`` (the first choice under ``guided_choice``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str = "trace"
    max_tokens: int | None = None
    stop: list[str] | None = None
    first_line: bool = False
    guided_choice: list[str] | None = None
    cache_salt: str | None = None
    #: The shared call log (a plain list, never copied by validation; ``None``: not kept).
    log: Any = Field(default=None, exclude=True)

    @property
    def _llm_type(self) -> str:
        return "green-chain-trace"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model}

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        choices = kwargs.get("guided_choice", self.guided_choice)
        if self.log is None:
            self.log = []
        self.log.append(
            (
                self.model,
                tuple((m.type, m.text) for m in messages),
                kwargs.get("max_tokens", self.max_tokens),
                tuple(stop or self.stop or ()),
                self.first_line,
                tuple(choices or ()),
                repr(kwargs.get("tools")),
                repr(kwargs.get("tool_choice")),
            )
        )
        content = choices[0] if choices else ""
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content))])


class _Work(BaseCallbackHandler):
    """The optimizer work of one invocation, in order: each optimizer run (its name and
    inputs) and each routing decision (its whole record). Two invocations with equal
    ``steps`` ran the same optimizers on the same inputs and decided the same way."""

    raise_error = False
    run_inline = True

    def __init__(self) -> None:
        self.steps: list[tuple[str, str]] = []

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, tags: list[str] | None = None, **kwargs: Any
    ) -> None:
        if OPTIMIZER_TAG in (tags or []):
            name = kwargs.get("name") or (serialized or {}).get("name") or ""
            self.steps.append((f"optimizer:{name}", repr(inputs)))

    def on_custom_event(self, name: str, data: Any, **kwargs: Any) -> None:
        if name == ROUTING_DECISION_EVENT:
            items = sorted(data.items()) if isinstance(data, dict) else data
            self.steps.append(("routing", repr(items)))


#: One invocation's trace: its model calls (:class:`TraceChat` log entries) and its
#: optimizer work (:class:`_Work` steps).
Trace = tuple[list[tuple[Any, ...]], list[tuple[str, str]]]


def _trace(chain: Any, item: Item, log: list[tuple[Any, ...]]) -> Trace | None:
    """The calls ``chain`` makes on ``item`` and its optimizer work; ``None`` if it fails."""
    work = _Work()
    log.clear()
    try:
        chain.invoke(item.inputs, config={"callbacks": [work]})
    except Exception:  # not provably identical: the variant runs
        return None
    return list(log), work.steps


def trace_components(components: Any) -> Any:
    """``components`` with recording models in place of the cheap and large ones."""
    from green_chain.routing.decision import model_name

    log: list[tuple[Any, ...]] = []
    models = {
        role: TraceChat(model=f"{role}:{model_name(m)}", log=log)  # the role tells them apart
        for role, m in components.models.items()
    }
    return replace(components, models=models)


#: Optimizers never traced: a first tier runs on every request, and building its chain fits
#: a classifier (seconds of embeddings) for nothing. Every other variant is traced; one that
#: runs its optimizer (compression, example selection, history filtering, a routing scorer)
#: is told apart on the first item, while one whose optimizer is off for the fitted setting
#: (a compression rate of 1.0, a router that never routes, a budget equal to the cap) is not.
NEVER_TRACED = ("first_tier",)


def same_calls(
    scenario: Any, env: Any, variants: Iterable[str], items: Sequence[Item]
) -> dict[str, str]:
    """The ``variants`` whose computation equals a reference chain's on every one of ``items``.

    ``env`` is the run's scenario env (fitted router and first tiers included); nothing is
    generated (:class:`TraceChat`). ``only:<optimizer>`` variants are candidates, but for
    the :data:`NEVER_TRACED` optimizers. A variant is the baseline's when it makes the
    baseline's model calls and does no optimizer work; otherwise it is the green chain's
    when it makes the green chain's model calls and does the green chain's optimizer work
    (:class:`_Work`). Returns ``{variant: "baseline" | "green"}``; a variant that fails to
    build or run on the recording models, or differs on any item, is left out (it runs);
    a reference that fails to build or run on some item is nobody's reference.
    """
    from green_chain.bench.results import ABLATION_PREFIX
    from green_chain.bench.variants import variant_chain

    never = {f"{ABLATION_PREFIX}{opt}" for opt in NEVER_TRACED}
    variants = list(variants)
    candidates = [v for v in variants if v.startswith(ABLATION_PREFIX) and v not in never]
    if not candidates or not items:
        return {}
    try:
        comps = trace_components(env.components)
        log = next(iter(comps.models.values())).log
        traced = replace(env, components=comps)
        chains = {v: variant_chain(scenario, traced, v) for v in candidates}
    except Exception:  # not provably identical: every variant runs
        return {}
    # a green chain running a never-traced optimizer (its ablation variant is listed) does
    # work no traced variant does: it is nobody's twin, and building it would fit that
    # optimizer again (a first tier's classifier) for nothing
    untraced = any(v in never for v in variants)
    refs: dict[str, Any] = {}
    for ref in REFERENCES:
        if ref == "green" and untraced:
            continue
        try:
            refs[ref] = variant_chain(scenario, traced, ref)
        except Exception:  # no reference: nothing is found identical to it
            continue
    # each candidate's possible references, narrowed item by item
    open_refs = {v: [r for r in REFERENCES if r in refs] for v in candidates}
    for item in items:
        ref_traces = {r: _trace(chain, item, log) for r, chain in refs.items()}
        for v in [v for v, rs in open_refs.items() if rs]:
            got = _trace(chains[v], item, log)
            open_refs[v] = [
                r
                for r in open_refs[v]
                if got is not None
                and (ref_trace := ref_traces[r]) is not None
                and got == ref_trace
                and (r != "baseline" or not got[1])  # the baseline runs no optimizer
            ]
        if not any(open_refs.values()):
            break
    return {v: rs[0] for v, rs in open_refs.items() if rs}


def same_as_baseline(
    scenario: Any, env: Any, variants: Iterable[str], items: Sequence[Item]
) -> dict[str, str]:
    """The ``variants`` that :func:`same_calls` finds the baseline's: ``{variant: reason}``."""
    found = same_calls(scenario, env, variants, items)
    return {v: SAME_REASON for v, ref in found.items() if ref == "baseline"}


#: ``results.json``'s key and the reason, per reference chain.
SAME_KEYS = {
    "baseline": ("ablation_same_as_baseline", SAME_REASON),
    "green": ("ablation_same_as_green", SAME_AS_GREEN_REASON),
}


__all__ = [
    "NEVER_TRACED",
    "REFERENCES",
    "SAME_AS_GREEN_REASON",
    "SAME_KEYS",
    "SAME_REASON",
    "TraceChat",
    "same_as_baseline",
    "same_calls",
    "trace_components",
]
