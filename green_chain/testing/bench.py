"""Fakes for testing ``green_chain.bench`` without real models or data.

:func:`make_components` wires :class:`MeteredFakeChat` models (which spend scripted joules
per prompt character and answer token on a :class:`~green_chain.testing.meters.FakeMeterBackend`),
fake optimizers that publish their token counts, bag-of-words embeddings (the first tier's
``ExampleClassifier``), and a word-overlap stand-in for the
likelihood scorer; :func:`write_tiny_data` writes a tiny data folder in the real files'
formats (SQuAD, SST-2, MT-Bench-101)."""

from __future__ import annotations

import json
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableLambda

from green_chain.bench.components import Components
from green_chain.events import publish_token_counts
from green_chain.testing.embeddings import BagOfWordsEmbeddings


class MeteredFakeChat(BaseChatModel):
    """Answers with a fixed text; spends ``j_per_char`` joules per prompt character and
    ``j_per_token`` per generated token on the fake meter (words = tokens)."""

    name_: str = "fake-large"
    answer: str = "a fake answer that is long enough"
    j_per_char: float = 0.01
    j_per_token: float = 0.1
    max_new_tokens: int = 64
    meter: Any = None
    clock: Any = None

    @property
    def _llm_type(self) -> str:
        return "metered-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = "".join(m.text for m in messages)
        words = self.answer.split()[: self.max_new_tokens]
        self.meter.add_all(self.j_per_char * len(prompt) + self.j_per_token * len(words))
        self.clock.advance(0.001 * len(prompt))
        msg = AIMessage(
            " ".join(words),
            usage_metadata={
                "input_tokens": len(prompt.split()),
                "output_tokens": len(words),
                "total_tokens": len(prompt.split()) + len(words),
            },
            response_metadata={"model_name": self.name_},
        )
        return ChatResult(generations=[ChatGeneration(message=msg)])


def overlap_scorer(model: str, prompts: list[str], continuations: list[str]) -> list[float]:
    """Log-likelihood stand-in: share of the continuation's words found in the prompt."""
    out = []
    for p, c in zip(prompts, continuations, strict=True):
        words = c.lower().split()
        low = p.lower()
        out.append(sum(w in low for w in words) / max(len(words), 1))
    return out


class FakeSelector:
    def __init__(
        self, examples: list[dict[str, Any]], max_tokens: int, input_keys: list[str]
    ) -> None:
        self.examples, self.max_tokens, self.keys = examples, max_tokens, input_keys

    def select_examples(self, input_variables: dict[str, Any]) -> list[dict[str, Any]]:
        out, used = [], 0
        for ex in self.examples:
            n = sum(len(str(ex[k]).split()) for k in self.keys)
            if used + n > self.max_tokens:
                break
            out.append(ex)
            used += n
        return out


def make_components(clock: Any, meter: Any, *, compressor_j: float = 0.5) -> Components:
    large = MeteredFakeChat(name_="fake-large", j_per_char=0.01, meter=meter, clock=clock)
    cheap = MeteredFakeChat(name_="fake-cheap", j_per_char=0.004, meter=meter, clock=clock)

    def compressor(
        *, rate: float, keys: list[str], question_key: str | None = None, target_model: Any = None
    ):
        def compress(inputs: dict[str, Any], config: Any) -> dict[str, Any]:
            out = dict(inputs)
            for k in keys:
                words = str(inputs[k]).split()
                kept = words[: max(1, int(len(words) * rate))]
                out[k] = " ".join(kept)
                publish_token_counts("compression:fake", len(words), len(kept), config=config)
            meter.add_all(compressor_j)
            return out

        return RunnableLambda(compress)

    def history(*, max_tokens: int, keep_last: int = 1, target_model: Any = None):
        def keep(messages: list[BaseMessage], config: Any) -> list[BaseMessage]:
            kept = messages[-(2 * keep_last + 1) :]
            publish_token_counts("history:fake", len(messages), len(kept), config=config)
            meter.add_all(0.05)
            return kept

        return RunnableLambda(keep)

    def selector(
        *,
        examples: list[dict[str, Any]],
        max_tokens: int,
        input_keys: list[str],
        example_prompt: Any = None,
    ):
        return FakeSelector(examples, max_tokens, input_keys)

    def router(
        *, models: list[BaseChatModel], calibration: Any = (), scorer: Any = None, threshold=0.5
    ):
        return models[0]

    return Components(
        models={"cheap": cheap, "large": large},
        compressor=compressor,
        history=history,
        selector=selector,
        router=router,
        embeddings=BagOfWordsEmbeddings(),
        scorer=overlap_scorer,
        scorer_normalized=overlap_scorer,
        versions={"cheap": "fake-cheap", "large": "fake-large"},
    )


SQUAD_CONTEXTS = [
    "The Amazon river flows through Brazil and Peru into the Atlantic ocean after a long journey "
    "across the rainforest where many species live in the water and along the banks.",
    "Marie Curie won the Nobel prize in physics in 1903 and in chemistry in 1911 for her work on "
    "radioactivity which changed science and medicine for the following century.",
    "The Eiffel tower was completed in 1889 for the world fair in Paris and was designed by the "
    "engineering company of Gustave Eiffel whose name it carries today.",
]


def write_tiny_data(root) -> None:
    """A tiny data folder in the real files' formats (SQuAD, SST-2, MT-Bench-101)."""
    (root / "qa").mkdir(parents=True)
    qas = [
        ("Where does the Amazon flow into?", "Atlantic ocean"),
        ("When did Curie win physics?", "1903"),
        ("Who designed the tower?", "Gustave Eiffel"),
    ]
    with (root / "qa" / "squad_v1.1_dev.jsonl").open("w") as fh:
        for n in range(12):
            ctx = SQUAD_CONTEXTS[n % 3]
            q, a = qas[n % 3]
            fh.write(
                json.dumps(
                    {
                        "id": f"q{n}",
                        "title": f"T{n % 3}",
                        "context": ctx + f" Note {n}.",
                        "question": q,
                        "answers": [a],
                        "answer_starts": [0],
                        "is_impossible": False,
                    }
                )
                + "\n"
            )
    (root / "classification").mkdir()
    for split, n in (("train", 30), ("test", 10)):
        lines = [
            f"{i % 2} {'great lovely film' if i % 2 else 'dull boring mess'} number {i}"
            for i in range(n)
        ]
        (root / "classification" / f"sst2_stsa.binary.{split}").write_text("\n".join(lines) + "\n")
    (root / "dialogue").mkdir()
    with (root / "dialogue" / "mtbench101.jsonl").open("w") as fh:
        for i in range(8):
            hist = [
                {"user": f"tell me about topic {i} part {t}", "bot": f"topic {i} part {t} is nice"}
                for t in range(4)
            ]
            fh.write(json.dumps({"task": "CM", "id": i, "history": hist}) + "\n")
