"""Few-shot scenarios: SST-2, AG News, TREC classification and GSM8K worked examples.

Baseline: a fixed set of examples in every prompt, always the large model.
Green: examples chosen once per task under a token budget (classification), or the
worked solutions compressed once per task (GSM8K, where its frozen rate is below 1.0),
then the router.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnablePassthrough,
)

from green_chain.bench import data
from green_chain.bench.data import Root
from green_chain.bench.first_tier import FirstTierGate
from green_chain.bench.items import Item, Split, shuffled, split_items, stable_rank
from green_chain.bench.metrics import accuracy
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv, as_optimizer, parser


class FewShotClassification(Scenario):
    """Few-shot text classification; quality is the accuracy of the answered label.

    Both chains answer by constrained choice over the label set (:meth:`labels`; the
    model's most likely label after the prompt, ``ChatLocal(guided_choice=...)``), as
    vLLM's ``guided_choice`` does, so a tiny model cannot answer off the label set.
    The chat-turn format is kept: on 24 calibration items per task (never test items;
    ``base_prompt="completion"``, constrained choice) Gemma scored plain vs chat turns
    0.83/0.67 (SST-2), 0.29/0.29 (AG News), 0.46/0.46 (TREC), but SmolLM2 0.13/0.42 on
    AG News: no format is better for both models.

    With ``chat_examples`` (the default) the examples are chat turns (LangChain's
    few-shot chat pattern): each example a user turn with the input and an assistant
    turn with its label, then the user turn to classify. SmolLM2 gets them in its chat
    template; the base Gemma model gets the plain transcript (``User: ...`` /
    ``Assistant: <label>``), so its completion continues the pattern with a label.
    Without, one plain-text prompt ending in ``Label:`` (the older format).
    """

    #: Examples as user/assistant turns (else one plain-text prompt).
    chat_examples: ClassVar[bool] = True
    optimizers = ("select_examples", "route", "first_tier")

    instruction: ClassVar[str]
    input_name: ClassVar[str] = "Text"
    generation_metric = "accuracy"
    max_new_tokens = 3
    #: Calibration items: the first ``pool_size`` are the few-shot pool (fixed examples,
    #: selector, router fit); all of them fit the first-tier classifier, which needs
    #: hundreds to calibrate a threshold near a 95 % floor (a label-balanced round robin,
    #: so the first ``pool_size`` are the same items whatever this size).
    calibration_size = 400
    #: Calibration items the first tier fits on (all of them). Items beyond the first
    #: ``calibration_size`` are appended after those (from a train file: the label-balanced
    #: draw's next items; else the next items of the seeded pool order, which leave the
    #: test items), so the few-shot pool, the fixed examples and the label set stay those
    #: of the first ``calibration_size``. Never test items.
    tier_calibration_size: ClassVar[int] = 400
    #: The first tier's head (``GreenSettings.tier_head`` overrides it).
    tier_head: ClassVar[str] = "logistic"
    pool_size: ClassVar[int] = 64
    #: Examples in every baseline prompt.
    fixed_k: ClassVar[int] = 8
    quick_items = 2

    def split(self, root: Root, n_test: int | None, seed: int) -> Split:
        """As every scenario, but a separate train pool gives label-balanced calibration items.

        A seeded round robin over the labels, so a rare label (TREC's abbreviation) is in
        the few-shot pool the fixed examples and the selector draw from.
        """
        pool = self.calibration_pool(root)
        if pool is None:  # the seeded order's first items: a prefix whatever their number
            return split_items(
                self.load(root),
                n_test=n_test,
                n_calibration=max(self.calibration_size, self.tier_calibration_size),
                seed=seed,
            )
        balanced = label_balanced(pool, self.calibration_size, seed)
        split = split_items(
            self.load(root),
            n_test=n_test,
            n_calibration=len(balanced),
            seed=seed,
            calibration_pool=balanced,
        )
        if self.tier_calibration_size > self.calibration_size:
            # the round robin is prefix-stable: its first calibration_size are ``balanced``
            extra = label_balanced(pool, self.tier_calibration_size, seed)[len(balanced) :]
            split = Split([*split.calibration, *shuffled(extra, seed)], split.test)
            split.check_disjoint()
        return split

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "tier_calibration_size": self.tier_calibration_size,
            "tier_head": self.tier_head,
        }

    def render_example(self, example: dict[str, Any]) -> str:
        return f"{self.input_name}: {example['text']}\nLabel: {example['label']}"

    def examples(self, env: ScenarioEnv) -> list[dict[str, str]]:
        """The few-shot pool (the first ``pool_size`` calibration items) as example dicts."""
        return [
            {"text": it.inputs["text"], "label": it.reference}
            for it in env.calibration[: self.pool_size]
        ]

    def _tier_key(self, env: ScenarioEnv) -> tuple[Any, ...]:
        """What one first-tier fit depends on (calibration ids, tier settings, seed, components)."""
        s = env.settings
        return (
            tuple(it.id for it in env.calibration),
            s.tier_head or self.tier_head,
            s.tier_k,
            s.tier_l2,
            s.tier_quality_floor,
            s.tier_confidence_level,
            s.tier_holdout,
            s.tier_examples,
            env.seed,
            id(env.components),
        )

    def _tier_fits(self) -> dict[tuple[Any, ...], Runnable]:
        fits: dict[tuple[Any, ...], Runnable] = self.__dict__.setdefault("_first_tiers", {})
        return fits

    def first_tier(self, env: ScenarioEnv) -> Runnable:
        """The components' first tier fitted on all the calibration items (texts -> labels),
        per the settings' ``tier_*`` knobs; part held aside for its calibration.

        Fitted once per calibration set, settings and components: the green chain and its
        ``first_tier`` ablation share one fit (the embeddings of hundreds of items).
        """
        s = env.settings
        key = self._tier_key(env)
        fits = self._tier_fits()
        if key not in fits:
            items = self.tier_items(env)
            fits[key] = env.components.make_first_tier(
                texts=[it.inputs["text"] for it in items],
                labels=[it.reference for it in items],
                head=s.tier_head or self.tier_head,
                k=s.tier_k,
                l2=s.tier_l2,
                quality_floor=s.tier_quality_floor,
                confidence_level=s.tier_confidence_level,
                holdout=s.tier_holdout,
                seed=env.seed,
            )
        return fits[key]

    def tier_items(self, env: ScenarioEnv) -> list[Item]:
        """The calibration items the first tier is fitted on: all of them, or the first
        ``settings.tier_examples`` (the calibration list starts with the label-balanced
        few-shot pool, 400 items, that the larger tier calibration sets are appended to)."""
        n = env.settings.tier_examples
        return list(env.calibration if n is None else env.calibration[:n])

    def fitted_first_tiers(self, env: ScenarioEnv) -> dict[str, Runnable]:
        """``{self.name: tier}`` when this env's tier is already fitted, else ``{}``."""
        tier = self._tier_fits().get(self._tier_key(env))
        return {} if tier is None else {self.name: tier}

    def adopt_first_tiers(self, env: ScenarioEnv, tiers: Mapping[str, Runnable]) -> None:
        """Use ``tiers[self.name]`` (fitted elsewhere on the same items) as this env's fit."""
        if self.name in tiers:
            self._tier_fits()[self._tier_key(env)] = tiers[self.name]

    def fit_first_tier(self, env: ScenarioEnv) -> bool:
        """Fit :meth:`first_tier` (cached for the chain builders) when the green chain uses it."""
        if not (env.settings.first_tier and "first_tier" in self.optimizers):
            return False
        self.first_tier(env)
        return True

    def fixed_examples(self, env: ScenarioEnv) -> list[dict[str, str]]:
        """The baseline's examples: ``fixed_k`` calibration items, label-balanced, shuffled.

        Every label gets ``fixed_k // labels`` examples (the first labels in seeded order
        one more), then the examples are put in a seeded order, so no label is always last
        (a recency bias of tiny models).
        """
        pool = self.examples(env)
        by_label: dict[str, list[dict[str, str]]] = {}
        for ex in pool:
            by_label.setdefault(ex["label"], []).append(ex)
        labels = sorted(by_label, key=lambda lab: stable_rank(f"label:{lab}", env.seed))
        out: list[dict[str, str]] = []
        depth = 0
        while len(out) < min(self.fixed_k, len(pool)):
            for label in labels:
                if depth < len(by_label[label]) and len(out) < self.fixed_k:
                    out.append(by_label[label][depth])
            depth += 1
        return sorted(out, key=lambda ex: stable_rank(f"{ex['label']}|{ex['text']}", env.seed))

    def _prompt(self) -> Runnable:
        if self.chat_examples:
            return ChatPromptTemplate.from_messages(
                [
                    ("system", f"{self.instruction} Answer with the label only."),
                    MessagesPlaceholder("examples"),
                    ("human", f"{self.input_name}: {{text}}"),
                ]
            )
        return PromptTemplate.from_template(
            f"{self.instruction}\n\n{{examples}}\n\n{self.input_name}: {{text}}\nLabel:"
        )

    def _render(self, examples: Sequence[dict[str, Any]]) -> str | list[BaseMessage]:
        if self.chat_examples:
            turns: list[BaseMessage] = []
            for e in examples:
                turns.append(HumanMessage(f"{self.input_name}: {e['text']}"))
                turns.append(AIMessage(str(e["label"])))
            return turns
        return "\n\n".join(self.render_example(e) for e in examples)

    def labels(self, env: ScenarioEnv) -> tuple[str, ...]:
        """The label set (the calibration items' references, sorted)."""
        return tuple(sorted({it.reference for it in env.calibration}))

    def choice_env(self, env: ScenarioEnv) -> ScenarioEnv:
        """``env`` whose models answer by constrained choice over :meth:`labels`, for
        baseline and green alike (``ChatLocal(guided_choice=...)``)."""
        return replace(env, guided_choice=self.labels(env))

    def baseline(self, env: ScenarioEnv) -> Runnable:
        env = self.choice_env(env)
        fixed = self._render(self.fixed_examples(env))
        prep: Runnable = RunnablePassthrough.assign(examples=lambda _: fixed)
        return prep | self._prompt() | env.large(self.max_new_tokens) | parser()

    def budgeted_examples(self, env: ScenarioEnv) -> list[dict[str, str]]:
        """The stable selection: the baseline's label-balanced examples, in their order, kept
        while they fit ``settings.example_tokens`` (the large model's tokens; an example
        that would overflow is skipped, a shorter later one may still fit).

        Chosen once per task, so every prompt opens with the same examples and a prefix
        cache reads them instead of prefilling them again (per-input selection changes the
        prefix on every request and loses that).
        """
        from green_chain.routing.decision import model_name
        from green_chain.tokens import count_tokens

        large = model_name(env.components.models["large"])
        kept: list[dict[str, str]] = []
        used = 0
        for ex in self.fixed_examples(env):
            n = count_tokens(self.render_example(ex), large).tokens
            if used + n <= env.settings.example_tokens:
                kept.append(ex)
                used += n
        return kept

    def green(self, env: ScenarioEnv) -> Runnable:
        env = self.choice_env(env)
        if env.settings.select_examples:
            selector = env.components.selector(
                examples=self.examples(env),
                max_tokens=env.settings.example_tokens,
                input_keys=["text"],
                example_prompt=self.render_example,
            )

            stable: list[str | list[BaseMessage]] = []

            def select(inputs: dict[str, Any]) -> str | list[BaseMessage]:
                if not env.settings.stable_examples:
                    return self._render(selector.select_examples({"text": inputs["text"]}))
                if not stable:  # once per task: the same examples open every prompt
                    stable.append(self._render(self.budgeted_examples(env)))
                return stable[0]

            prep: Runnable = RunnablePassthrough.assign(
                examples=as_optimizer(RunnableLambda(select), "select_examples")
            )
            prompt: Runnable = prep | self._prompt()
        else:
            fixed = self._render(self.fixed_examples(env))
            prompt = RunnablePassthrough.assign(examples=lambda _: fixed) | self._prompt()
        chain: Runnable = prompt | env.answer_model(self.max_new_tokens) | parser()
        if env.settings.first_tier and "first_tier" in self.optimizers:
            chain = FirstTierGate(self.first_tier(env), chain, "text")
        return chain

    def score_generation(self, item: Item, output: str) -> dict[str, float]:
        return {"accuracy": accuracy(output, item.reference, item.choices)}


def label_balanced(items: Sequence[Item], n: int, seed: int) -> list[Item]:
    """``n`` items in a seeded round robin over their labels (``reference``), each label's
    items in seeded order: every label is represented while ``n`` allows."""
    by_label: dict[str, list[Item]] = {}
    for it in shuffled(items, seed):
        by_label.setdefault(it.reference, []).append(it)
    labels = sorted(by_label, key=lambda lab: stable_rank(f"label:{lab}", seed))
    out: list[Item] = []
    depth = 0
    while len(out) < min(n, len(items)):
        for label in labels:
            if depth < len(by_label[label]) and len(out) < n:
                out.append(by_label[label][depth])
        depth += 1
    return out


class SST2(FewShotClassification):
    name = "sst2"
    title = "Few-shot sentiment (SST-2)"
    instruction = "Classify the sentiment of each review as positive or negative."
    input_name = "Review"

    tier_calibration_size = 1200

    def load(self, root: Root) -> list[Item]:
        return data.load_sst2(root, "test")

    def calibration_pool(self, root: Root) -> list[Item] | None:
        return data.load_sst2(root, "train")


class AGNews(FewShotClassification):
    name = "agnews"
    title = "Few-shot topic classification (AG News)"
    instruction = "Classify each news article as World, Sports, Business or Science/Tech."
    input_name = "Article"

    tier_calibration_size = 1200

    def load(self, root: Root) -> list[Item]:
        return data.load_agnews(root)


class TREC(FewShotClassification):
    name = "trec"
    title = "Few-shot question type (TREC)"
    instruction = (
        "Classify each question by the type of its answer: abbreviation, description, "
        "entity, human, location or number."
    )
    input_name = "Question"

    tier_calibration_size = 2000

    def load(self, root: Root) -> list[Item]:
        return data.load_trec(root, "test")

    def calibration_pool(self, root: Root) -> list[Item] | None:
        return data.load_trec(root, "train")


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


class GSM8K(Scenario):
    """Arithmetic word problems with worked examples.

    The green chain can compress the worked solutions (:meth:`compressed_examples`); its
    frozen rate is 1.0, no compression (``docs/results/tuning/compression.json``).
    """

    name = "gsm8k"
    title = "Few-shot arithmetic with worked examples (GSM8K)"
    generation_metric = "accuracy"
    #: The cap without calibration items; :meth:`answer_cap` fits it on the worked solutions.
    max_new_tokens = 160
    calibration_size = 40
    quick_items = 2
    compressible = True
    optimizers = ("compress", "route", "response_budget")
    #: No retry at a larger budget when an answer hits its budget. Measured on 4 calibration
    #: items (gsm8k:505, 427, 593, 203; 2-core box, estimated): Gemma-270M loops until the
    #: cap on all four (baseline 896 tokens, 0/4 right); with the retry the green chain spent
    #: 46.7 % more than the baseline and was no more often right (0/4): a looping answer hits
    #: the budget, and the retry pays for a second, capped one.
    response_retry = False
    stop = ("\n\nQ:", "\nQ:")
    quick_router_items = 2
    #: Frozen (docs/results/tuning/compression.json): no compression. The examples are a
    #: stable prefix the prefix cache prefills once per task, so cutting them saves 2.4 %
    #: of a standard run's tokens at most, under the 5 % a compression must save.
    default_rate = 1.0
    fixed_k: ClassVar[int] = 8

    def load(self, root: Root) -> list[Item]:
        return data.load_gsm8k(root)

    def example_items(self, env: ScenarioEnv) -> list[Item]:
        """The calibration items whose worked solutions are the examples (seeded draw)."""
        return shuffled(env.calibration, env.seed)[: self.fixed_k]

    def examples_text(self, env: ScenarioEnv, solutions: Sequence[str] | None = None) -> str:
        """The worked examples: ``Q: ...`` / ``A: <solution> The answer is N.`` per example.

        ``solutions`` replaces the examples' worked solutions (the compressed ones); the
        question and the closing "The answer is N." sentence are always kept whole, so the
        model still sees the pattern that ends an answer.
        """
        chosen = self.example_items(env)
        texts = [it.meta["solution"] for it in chosen] if solutions is None else list(solutions)
        if len(texts) != len(chosen):
            raise ValueError(
                f"solutions: expected {len(chosen)} worked solutions, got {len(texts)}"
            )
        return "\n\n".join(
            f"Q: {it.inputs['question']}\nA: {text} {self.mc_text(it.reference)}"
            for it, text in zip(chosen, texts, strict=True)
        )

    def stable_prefix(self, env: ScenarioEnv) -> str | None:
        """The uncompressed text every prompt of the task opens with (the examples), or
        ``None`` when the green chain's examples change per question
        (``settings.stable_examples`` off). A prefix cache prefills it once per task."""
        return self.examples_text(env) if env.settings.stable_examples else None

    def _prompt(self) -> PromptTemplate:
        return PromptTemplate.from_template("{examples}\n\nQ: {question}\nA:")

    def answer_cap(self, env: ScenarioEnv) -> int:
        """Room for a whole worked answer: 1.5x the 95th percentile of the calibration
        solutions' tokens (large model's tokenizer where registered), a multiple of 16.

        A cap that cuts the reasoning before "The answer is N." scores 0 whatever the
        model knew (the old 48-token cap). Fitted on calibration items only.
        """
        from green_chain.routing.decision import model_name
        from green_chain.tokens import count_tokens

        if not env.calibration:
            return self.max_new_tokens
        large = model_name(env.components.models["large"])
        sizes = sorted(
            count_tokens(f"{it.meta['solution']} {self.mc_text(it.reference)}", large).tokens
            for it in env.calibration
        )
        p95 = sizes[min(len(sizes) - 1, int(0.95 * len(sizes)))]
        return int(-(-1.5 * p95 // 16) * 16)

    def baseline(self, env: ScenarioEnv) -> Runnable:
        examples = self.examples_text(env)
        return (
            self._prompt().partial(examples=examples) | env.large(self.answer_cap(env)) | parser()
        )

    def compressed_examples(self, env: ScenarioEnv) -> Runnable:
        """The examples text with each worked solution compressed at :meth:`rate`.

        A runnable over the chain's inputs returning the examples text. Only the
        solutions are compressed (each to its share of the budget, one ``solution_<k>``
        key per example); questions and closing sentences stay whole. With
        ``settings.stable_examples`` (the default) the compression runs once per task,
        question-agnostic, and every prompt opens with the same compressed examples, a
        prefix the model's cache reads instead of prefilling; otherwise each question
        ranks the solutions' sentences (the prefix then changes on every request).
        """
        stable = env.settings.stable_examples
        solutions = [it.meta["solution"] for it in self.example_items(env)]
        keys = [f"solution_{k}" for k in range(len(solutions))]
        compressor = env.components.compressor(
            rate=self.rate(env),
            keys=keys,
            question_key=None if stable else "question",
            target_model=None,
        )
        done: list[str] = []

        def compress(inputs: dict[str, Any], config: RunnableConfig) -> str:
            if stable and done:
                return done[0]
            value: dict[str, Any] = dict(zip(keys, solutions, strict=True))
            if not stable:
                value["question"] = inputs["question"]
            out = compressor.invoke(value, config)
            text = self.examples_text(env, [out[k] for k in keys])
            if stable:
                done.append(text)
            return text

        return as_optimizer(RunnableLambda(compress), "compress_examples")

    def green(self, env: ScenarioEnv) -> Runnable:
        if env.settings.compress and self.rate(env) < 1.0:
            prep: Runnable = RunnablePassthrough.assign(examples=self.compressed_examples(env))
        else:
            examples = self.examples_text(env)
            prep = RunnablePassthrough.assign(examples=lambda _: examples)
        cap = self.answer_cap(env)
        model = env.answer_model(cap, self.response_budget(env, cap), self.response_retry)
        return prep | self._prompt() | model | parser()

    def mc_text(self, answer: str, item: Item | None = None) -> str:
        return f"The answer is {answer}."

    def response_reference(self, item: Item) -> str:
        """The worked solution and its closing sentence (what a whole answer writes)."""
        return f"{item.meta['solution']} {self.mc_text(item.reference)}"

    def score_generation(self, item: Item, output: str) -> dict[str, float]:
        numbers = _NUMBER.findall(output.split("\n\nQ:")[0])
        guess = numbers[-1].replace(",", "").rstrip(".") if numbers else ""
        try:
            ok = float(guess) == float(item.reference)
        except ValueError:
            ok = False
        return {"accuracy": float(ok)}
