"""Validated ETR: the smallest share of tokens that keeps quality within 5 %.

For a compression scenario, the green chain (routing off, so only compression changes)
renders its prompt at each rate of a sweep, on **calibration items only**, with a silent
echo model: nothing is generated. Rate 1.0 is the uncompressed prompt. The quality of a
rate is the prompt probe (the gold answer is the most likely continuation of the prompt,
against distractors, under the large model): the evidence the compressed prompt keeps.
The validated rate is the smallest rate whose probe score is at least ``1 - tolerance``
of the uncompressed one; its token share is the compressed prompt's tokens over the
uncompressed prompt's (the large model's tokenizer where registered). The sweep is a
tuning step: its items must be calibration items, never test items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from green_chain.bench.capture import CaptureHandler
from green_chain.bench.items import Item
from green_chain.bench.metrics import multiple_choice
from green_chain.bench.scenarios.base import Scenario, ScenarioEnv
from green_chain.routing.decision import model_name
from green_chain.tokens import count_tokens


def pick_validated(
    points: Sequence[dict[str, Any]], tolerance: float = 0.05
) -> dict[str, Any] | None:
    """The point with the smallest ``rate`` whose ``quality`` >= (1 - tolerance) x the rate-1.0 quality."""
    ref = next((p for p in points if p["rate"] >= 1.0), None)
    if ref is None:
        raise ValueError("the sweep needs rate 1.0 (the uncompressed prompt) as reference")
    ok = [p for p in points if p["quality"] >= (1.0 - tolerance) * ref["quality"]]
    return min(ok, key=lambda p: p["rate"]) if ok else None


def validated_etr(
    scenario: Scenario,
    env: ScenarioEnv,
    items: Sequence[Item],
    pool: Sequence[Item],
    rates: Sequence[float],
    tolerance: float = 0.05,
) -> dict[str, Any]:
    """Run the rate sweep on calibration ``items`` (no generation); the sweep and the pick.

    ``pool`` supplies the probe's distractors (calibration items as well).
    """
    if any(not 0 < r <= 1 for r in rates):
        raise ValueError(f"compression rates must be in (0, 1], got {list(rates)}")
    if not items:
        raise ValueError(f"{scenario.name}: the ETR sweep needs calibration items")
    if env.components.scorer is None:
        raise ValueError("the ETR sweep needs a likelihood scorer (components.scorer)")
    large = model_name(env.components.models["large"])
    echo = FakeListChatModel(responses=[""])
    silent = replace(env.components, models={"cheap": echo, "large": echo})
    sweep = sorted({1.0, *rates}, reverse=True)
    capture = CaptureHandler()
    points: list[dict[str, Any]] = []
    for rate in sweep:
        settings = replace(env.settings, compress=rate < 1.0, compression_rate=rate, route=False)
        chain = scenario.green(replace(env, settings=settings, components=silent))
        quality = tokens = 0.0
        for it in items:
            capture.reset()
            chain.invoke(it.inputs, config={"callbacks": [capture]})
            call = capture.reset().final_call()
            if call is None or call.prompt is None:
                raise RuntimeError(f"{scenario.name}: the green chain made no model call")
            wrong = [scenario.mc_text(w, it) for w in scenario.candidates(it, pool, env.seed)]
            # the same scorer as the quality probe (length-normalised for long continuations)
            normalized = scenario.normalized_for(it) and env.components.scorer_normalized
            scorer = env.components.scorer_normalized if normalized else env.components.scorer
            if scorer is None:
                raise ValueError("the ETR sweep needs a likelihood scorer (components.scorer)")
            mc = multiple_choice(
                scorer, large, call.prompt, scenario.mc_text(it.reference, it), wrong
            )
            quality += mc["mc_correct"]
            tokens += count_tokens(call.prompt, large).tokens
        n = len(items)
        points.append({"rate": rate, "quality": quality / n, "prompt_tokens": tokens / n})
    ref_tokens = points[0]["prompt_tokens"] or None
    for p in points:
        p["token_share"] = (p["prompt_tokens"] / ref_tokens) if ref_tokens else None
    best = pick_validated(points, tolerance)
    return {
        "tolerance": tolerance,
        "quality": "prompt_evidence_score (no generation)",
        "item_ids": [it.id for it in items],
        "items_from": "calibration",
        "sweep": points,
        "validated_rate": best["rate"] if best else None,
        "validated_token_share": best["token_share"] if best else None,
    }
