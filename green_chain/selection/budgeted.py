"""``BudgetedExampleSelector``: relevant, diverse few-shot examples under a token budget."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.example_selectors import BaseExampleSelector
from langchain_core.vectorstores import VectorStore

from green_chain.checks import real_in, token_count
from green_chain.events import apublish_token_counts, publish_token_counts
from green_chain.memory.resources import EmbeddingCache
from green_chain.models.token_counters import resolve_token_counter
from green_chain.selection.formatting import (
    ExampleKeyError,
    check_example,
    make_formatter,
    required_keys,
)
from green_chain.selection.mmr import budgeted_mmr

#: ``optimizer`` name in the published token-count events.
OPTIMIZER_NAME = "examples"


def _count_arg(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


class BudgetedExampleSelector(BaseExampleSelector):
    """Pick few-shot examples by relevance and diversity until a token budget is spent.

    Candidates are the ``fetch_k`` examples most similar to the input (cosine of
    embeddings). Among them, examples are added by maximal marginal relevance
    (``lambda_mult * relevance - (1 - lambda_mult) * similarity to those already picked``)
    while they fit ``max_tokens``; picking stops early when the best marginal relevance
    falls below ``min_relevance`` (adaptive k; ``min_examples`` are always picked when
    they fit). Ties break by insertion order, so selection is deterministic.

    What the budget counts: each picked example rendered with ``example_prompt``,
    counted with ``token_counter``, plus ``separator_tokens``; not the prefix, suffix or
    input of the few-shot prompt, nor the chat template.

    Each selection publishes ``green_chain.optimizer_tokens`` (optimizer ``"examples"``):
    ``tokens_after`` = tokens of the examples kept; ``tokens_before`` = tokens of the
    *reference* prompt, the ``reference_k`` examples most similar to the input (what a
    fixed-k ``SemanticSimilarityExampleSelector(k=reference_k)`` would have sent; same
    counting). So the ETR of the call is measured against that fixed-k prompt, and it
    can exceed 1 when the budget admits more than ``reference_k`` examples. Inside
    ``FewShotPromptTemplate`` / ``FewShotChatMessagePromptTemplate`` the event belongs to
    the prompt's run.

    Args:
        examples: Initial examples (dicts of template variables).
        max_tokens: Budget for the rendered examples (tokens of the target model).
        embeddings: LangChain embeddings (``None``: the packaged MiniLM, loaded lazily;
            with a ``vectorstore``, its own embeddings when it exposes them).
        vectorstore: Optional LangChain ``VectorStore`` holding the examples (in its
            documents' metadata, as LangChain's selectors do). In memory when ``None``.
        lambda_mult: Relevance/diversity trade-off in ``[0, 1]`` (1 = relevance only).
        min_relevance: Stop when the best marginal relevance is below this.
        input_keys: Input variables used for similarity (default: all input variables).
        example_prompt: How an example is rendered for counting: a prompt template (its
            variables become required keys), a callable ``example -> str`` or ``None``.
        token_counter: Counts tokens for the target model, as in ``trim_messages``: a model
            name, a tokenizer, a chat model, a callable, or ``None``/``"approximate"``
            (see :func:`green_chain.tokens.resolve_token_counter`).
        fetch_k: Candidates considered per selection.
        reference_k: Size of the fixed-k reference prompt the ETR is measured against
            (default 4, LangChain's ``SemanticSimilarityExampleSelector`` default; pass
            ``fetch_k`` to measure against every candidate offered).
        min_examples: Examples always picked when they fit the budget.
        max_examples: Upper bound on the examples picked (``None``: no bound).
        separator_tokens: Tokens added per example for the separator (tokens).
        most_relevant_last: Return the picked examples in reverse picking order (most
            relevant closest to the input).
    """

    def __init__(
        self,
        examples: Sequence[Mapping[str, Any]] | None = None,
        *,
        max_tokens: int,
        embeddings: Embeddings | None = None,
        vectorstore: VectorStore | None = None,
        lambda_mult: float = 0.5,
        min_relevance: float = 0.0,
        input_keys: list[str] | None = None,
        example_prompt: Any = None,
        token_counter: Any = None,
        fetch_k: int = 20,
        reference_k: int = 4,
        min_examples: int = 1,
        max_examples: int | None = None,
        separator_tokens: int = 2,
        most_relevant_last: bool = False,
    ) -> None:
        if isinstance(examples, str | bytes | Mapping) or not (
            examples is None or isinstance(examples, Iterable)
        ):
            raise ValueError(
                "examples must be a list of dicts of template variables (or None), got "
                f"{type(examples).__name__} {examples!r:.60}"
            )
        token_count(max_tokens, "max_tokens")
        real_in(lambda_mult, "lambda_mult", 0.0, 1.0)
        # marginal relevance = lambda * cosine - (1 - lambda) * cosine: always in [-1, 1]
        real_in(min_relevance, "min_relevance (a marginal relevance)", -1.0, 1.0)
        _count_arg(fetch_k, "fetch_k", 1)
        _count_arg(min_examples, "min_examples", 0)
        if max_examples is not None:
            _count_arg(max_examples, "max_examples (or None)", 1)
        _count_arg(reference_k, "reference_k", 1)
        token_count(separator_tokens, "separator_tokens", minimum=0)
        if vectorstore is not None and not isinstance(vectorstore, VectorStore):
            raise TypeError(
                f"vectorstore must be a LangChain VectorStore, got {type(vectorstore).__name__}"
            )
        if input_keys is not None and (isinstance(input_keys, str) or not input_keys):
            raise ValueError(f"input_keys must be a non-empty list of names, got {input_keys!r}")
        self.max_tokens = max_tokens
        self.lambda_mult = lambda_mult
        self.min_relevance = min_relevance
        self.input_keys = list(input_keys) if input_keys else None
        self.fetch_k = fetch_k
        self.reference_k = reference_k
        self.min_examples = min_examples
        self.max_examples = max_examples
        self.separator_tokens = separator_tokens
        self.most_relevant_last = most_relevant_last
        self.vectorstore = vectorstore
        if embeddings is None and vectorstore is not None:
            embeddings = vectorstore.embeddings
        self._cache = EmbeddingCache(embeddings)
        self._format = make_formatter(example_prompt)
        self._keys = required_keys(example_prompt, self.input_keys)
        self._count = resolve_token_counter(token_counter)
        self.token_method = self._count.method
        self.examples: list[dict[str, Any]] = []
        for i, ex in enumerate(examples or []):
            self.add_example(ex, _where=f"example {i}")

    # -- store -------------------------------------------------------------------------
    def _example_text(self, example: Mapping[str, Any], keys: Sequence[str] | None) -> str:
        keys = [k for k in (keys or []) if k in example] or sorted(example)
        return " ".join(str(example[k]) for k in sorted(keys))

    def add_example(self, example: Mapping[str, Any], _where: str = "the new example") -> Any:
        """Add an example (kept in memory; also added to the vector store if one is set)."""
        ex = check_example(example, self._keys, _where)
        self.examples.append(ex)
        if self.vectorstore is not None:
            return self.vectorstore.add_texts(
                [self._example_text(ex, self.input_keys)], metadatas=[ex]
            )[0]
        return None

    async def aadd_example(self, example: dict[str, str]) -> Any:
        """Async twin of :meth:`add_example`."""
        ex = check_example(example, self._keys, "the new example")
        self.examples.append(ex)
        if self.vectorstore is not None:
            ids = await self.vectorstore.aadd_texts(
                [self._example_text(ex, self.input_keys)], metadatas=[ex]
            )
            return ids[0]
        return None

    # -- selection -----------------------------------------------------------------------
    def _query(self, input_variables: Mapping[str, Any]) -> tuple[str, list[str]]:
        if not isinstance(input_variables, Mapping):
            raise TypeError(
                f"select_examples() needs a dict of input variables, got {type(input_variables).__name__}"
            )
        if not input_variables:
            raise ValueError(
                "select_examples() got no input variables: pass the prompt's input as a dict, "
                "e.g. {'question': '...'}, to pick the examples relevant to it"
            )
        keys = self.input_keys or sorted(input_variables)
        for k in keys:
            if k not in input_variables:
                raise ExampleKeyError(
                    f"the input is missing key {k!r} named in input_keys (it has {sorted(input_variables)})"
                )
        return " ".join(str(input_variables[k]) for k in keys), keys

    def _cost(self, example: Mapping[str, Any]) -> int:
        try:
            text = self._format(example)
        except KeyError as exc:
            raise ExampleKeyError(
                f"an example is missing key {exc.args[0]!r} needed by the example prompt "
                f"(it has {sorted(example)})"
            ) from exc
        return self._count(text) + self.separator_tokens

    def _candidates_memory(self, query_vec: np.ndarray, vecs: np.ndarray) -> list[int]:
        relevance = vecs @ query_vec
        order = np.argsort(-relevance, kind="stable")
        return [int(i) for i in order[: self.fetch_k]]

    def _pick(
        self, candidates: list[dict[str, Any]], query_vec: np.ndarray, vecs: np.ndarray
    ) -> tuple[list[dict[str, Any]], int, int]:
        costs = [self._cost(ex) for ex in candidates]
        picked = budgeted_mmr(
            vecs @ query_vec,
            vecs @ vecs.T,
            costs,
            self.max_tokens,
            lambda_mult=self.lambda_mult,
            min_score=self.min_relevance,
            min_count=self.min_examples,
            max_count=self.max_examples,
        )
        if self.most_relevant_last:
            picked = picked[::-1]
        # candidates are ordered by similarity to the input: the first reference_k are the
        # fixed-k prompt a similarity selector would have sent
        reference = sum(costs[: self.reference_k])
        return [candidates[i] for i in picked], reference, sum(costs[i] for i in picked)

    def _extra(self, offered: int, kept: int) -> dict[str, Any]:
        return {
            "tokenizer": self.token_method,
            "examples_offered": offered,
            "reference": f"top-{self.reference_k} by similarity",
            "examples_kept": kept,
            "pool_size": len(self.examples),
        }

    def _vector_candidates(self, docs: list[Any]) -> list[dict[str, Any]]:
        return [dict(d.metadata) for d in docs]

    def select_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        """The picked examples (see the class docstring)."""
        query, keys = self._query(input_variables)
        if self.vectorstore is not None:
            cands = self._vector_candidates(
                self.vectorstore.similarity_search(query, k=self.fetch_k)
            )
        else:
            cands = self.examples
        if not cands:
            return []
        vecs = self._cache.documents([self._example_text(ex, keys) for ex in cands])
        qv = self._cache.query(query)
        if self.vectorstore is None:
            idx = self._candidates_memory(qv, vecs)
            cands, vecs = [cands[i] for i in idx], vecs[idx]
        kept, before, after = self._pick(cands, qv, vecs)
        publish_token_counts(OPTIMIZER_NAME, before, after, **self._extra(len(cands), len(kept)))
        return kept

    async def aselect_examples(self, input_variables: dict[str, str]) -> list[dict[str, Any]]:
        """Async twin of :meth:`select_examples`."""
        query, keys = self._query(input_variables)
        if self.vectorstore is not None:
            docs = await self.vectorstore.asimilarity_search(query, k=self.fetch_k)
            cands = self._vector_candidates(docs)
        else:
            cands = self.examples
        if not cands:
            return []
        vecs = await self._cache.adocuments([self._example_text(ex, keys) for ex in cands])
        qv = await self._cache.aquery(query)
        if self.vectorstore is None:
            idx = self._candidates_memory(qv, vecs)
            cands, vecs = [cands[i] for i in idx], vecs[idx]
        kept, before, after = self._pick(cands, qv, vecs)
        await apublish_token_counts(
            OPTIMIZER_NAME, before, after, **self._extra(len(cands), len(kept))
        )
        return kept
