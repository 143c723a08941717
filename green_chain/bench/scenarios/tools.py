"""Tool-calling prompts with many function specs (BFCL v4 'multiple').

Baseline: every function spec (JSON) in the prompt. Green: only the specs most
relevant to the request, under a token budget (the budgeted selector over the
item's specs), then the router. Quality: function-choice accuracy.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda

from green_chain.bench import data
from green_chain.bench.data import Root
from green_chain.bench.items import Item
from green_chain.bench.metrics import function_choice_correct
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv, as_optimizer, parser

TEMPLATE = (
    "You can call one of these functions:\n{functions}\n\n"
    "Request: {question}\nName the one function to call.\nFunction:"
)


def render_functions(functions: list[dict[str, Any]]) -> str:
    """One JSON spec per line."""
    return "\n".join(json.dumps(f, ensure_ascii=False) for f in functions)


class BFCLToolChoice(Scenario):
    optimizers = ("select_examples", "route", "response_budget")
    name = "bfcl"
    title = "Tool calling with many function specs (BFCL v4 multiple)"
    generation_metric = "function_choice"
    max_new_tokens = 10
    calibration_size = 20
    quick_items = 2

    def load(self, root: Root) -> list[Item]:
        return data.load_bfcl_multiple(root)

    def _prompt(self) -> PromptTemplate:
        return PromptTemplate.from_template(TEMPLATE)

    def baseline(self, env: ScenarioEnv) -> Runnable:
        def full(inputs: dict[str, Any]) -> dict[str, Any]:
            return {
                "question": inputs["question"],
                "functions": render_functions(inputs["functions"]),
            }

        return RunnableLambda(full) | self._prompt() | env.large(self.max_new_tokens) | parser()

    def green(self, env: ScenarioEnv) -> Runnable:
        budget = env.settings.tool_tokens
        factory = env.components.selector

        def select(inputs: dict[str, Any]) -> dict[str, Any]:
            specs = [
                {"name": f["name"], "spec": json.dumps(f, ensure_ascii=False)}
                for f in inputs["functions"]
            ]
            selector = factory(
                examples=specs,
                max_tokens=budget,
                input_keys=["spec"],
                example_prompt=lambda e: e["spec"],
            )
            kept = {e["name"] for e in selector.select_examples({"spec": inputs["question"]})}
            chosen = [f for f in inputs["functions"] if f["name"] in kept] or inputs["functions"][
                :1
            ]
            return {"question": inputs["question"], "functions": render_functions(chosen)}

        def full(inputs: dict[str, Any]) -> dict[str, Any]:
            return {
                "question": inputs["question"],
                "functions": render_functions(inputs["functions"]),
            }

        prep: Runnable = (
            as_optimizer(RunnableLambda(select), "select_functions")
            if env.settings.select_examples
            else RunnableLambda(full)
        )
        model = env.answer_model(
            self.max_new_tokens, self.response_budget(env, self.max_new_tokens)
        )
        return prep | self._prompt() | model | parser()

    def score_generation(self, item: Item, output: str) -> dict[str, float]:
        return {
            "function_choice": function_choice_correct(output, item.reference, item.choices or ())
        }
