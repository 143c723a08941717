"""Multi-turn dialogue: MT-Bench-101 and Schema-Guided Dialogue.

Baseline: the whole history resent every turn, always the large model. Green: the
history filtered by relevance under a token budget, then the router. Quality: the
reference reply against replies of other dialogues (length-normalised log-likelihood),
ROUGE-L of the generated reply beside it.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from green_chain.bench import data
from green_chain.bench.data import Root
from green_chain.bench.items import Item
from green_chain.bench.metrics import rouge_l
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv, as_optimizer, parser

TEMPLATE = "A conversation between a user and a helpful assistant.\n\n{transcript}\nAssistant:"


def to_messages(inputs: dict[str, Any]) -> list[BaseMessage]:
    """History pairs plus the new user message as LangChain messages."""
    out: list[BaseMessage] = []
    for user, bot in inputs["history"]:
        out += [HumanMessage(user), AIMessage(bot)]
    out.append(HumanMessage(inputs["question"]))
    return out


def transcript(messages: list[BaseMessage]) -> dict[str, str]:
    """Plain-text transcript (the large model is a base model: no chat template)."""
    lines = [
        f"{'User' if m.type == 'human' else 'Assistant'}: {m.text}"
        for m in messages
        if m.type != "system"
    ]
    return {"transcript": "\n".join(lines)}


class Dialogue(Scenario):
    optimizers = ("history", "route", "response_budget")
    generation_metric = "rouge_l"
    max_new_tokens = 32
    calibration_size = 20
    quick_items = 2
    normalized_mc = True
    stop = ("\nUser:",)

    def _prompt(self) -> PromptTemplate:
        return PromptTemplate.from_template(TEMPLATE)

    def baseline(self, env: ScenarioEnv) -> Runnable:
        chain = RunnableLambda(to_messages) | RunnableLambda(transcript) | self._prompt()
        return chain | env.large(self.max_new_tokens) | parser()

    def green(self, env: ScenarioEnv) -> Runnable:
        chain: Runnable = RunnableLambda(to_messages)
        if env.settings.history:
            history = env.components.history(
                max_tokens=env.settings.history_tokens, keep_last=1, target_model=None
            )
            chain = chain | as_optimizer(history, "relevant_history")
        chain = chain | RunnableLambda(transcript) | self._prompt()
        budget = self.response_budget(env, self.max_new_tokens)
        return chain | env.answer_model(self.max_new_tokens, budget) | parser()

    def score_generation(self, item: Item, output: str) -> dict[str, float]:
        reply = output.split("\nUser:")[0].strip()
        return {"rouge_l": rouge_l(reply, item.reference)}


class MTBench101(Dialogue):
    name = "mtbench101"
    title = "Multi-turn dialogue (MT-Bench-101)"
    calibration_size = 40

    def load(self, root: Root) -> list[Item]:
        return data.load_mtbench101(root)


class SGD(Dialogue):
    name = "sgd"
    title = "Task-oriented dialogue (Schema-Guided Dialogue)"

    def load(self, root: Root) -> list[Item]:
        return data.load_sgd(root)
