"""Evidence for budgeted few-shot selection and relevance-filtered history.

``python -m green_chain.experiments.history_examples [--items N] [--part examples|history|all]``

(a) Few-shot classification (SST-2, AG News, TREC) with the packaged chat model
    (SmolLM2-135M-Instruct): the label is the one whose name has the highest
    log-likelihood after the chat-templated prompt (``score_continuations``). Accuracy,
    prompt tokens and example tokens for ``BudgetedExampleSelector`` at two budgets
    (half the mean example tokens of semantic k=8 and of k=4) against
    ``SemanticSimilarityExampleSelector`` (k=4, k=8) and ``LengthBasedExampleSelector``,
    on the same test items.
(b) Multi-turn: MT-Bench-101 tasks whose last turn refers back (CM context memory, AR
    anaphora resolution, SI separate input) and Schema-Guided Dialogue: prompt tokens of
    the full history, ``trim_messages`` and ``RelevantHistory`` at the same budget
    (``--history-frac`` of the full history's tokens); quality = mean log-likelihood per
    token of the reference last reply.

Token counts use the SmolLM2 tokenizer on the chat-templated prompt (tokens).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

MODEL = "smollm2-135m-instruct"
#: ``lambda_mult`` values tried on validation items with ``--tune-lambda``.
LAMBDA_GRID = (0.5, 0.7, 0.85, 1.0)

TASKS: dict[str, dict[str, Any]] = {
    "sst2": {"labels": {"0": "negative", "1": "positive"}, "what": "sentiment"},
    "agnews": {
        "labels": {"1": "world", "2": "sports", "3": "business", "4": "technology"},
        "what": "news topic",
    },
    "trec": {
        "labels": {
            "ABBR": "abbreviation",
            "DESC": "description",
            "ENTY": "entity",
            "HUM": "person",
            "LOC": "location",
            "NUM": "number",
        },
        "what": "answer type of the question",
    },
}


# -- data ------------------------------------------------------------------------------
def _load_task(
    name: str, pool_size: int, items: int, seed: int, val: int = 0
) -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
    """``(pool, test, validation)``: ``val`` validation items are drawn from the pool's
    source after the pool (disjoint from pool and test)."""
    from green_chain.paths import data_file

    labels = TASKS[name]["labels"]
    rng = random.Random(seed)
    if name == "sst2":

        def read(split: str) -> list[dict[str, str]]:
            p = data_file(
                f"classification/sst2_stsa.binary.{split}", what="SST-2 'label sentence' lines"
            )
            rows = [
                line.rstrip("\n").split(" ", 1) for line in p.open(encoding="utf-8") if line.strip()
            ]
            return [{"text": t, "label": labels[lab]} for lab, t in rows]

        pool, test = read("train"), read("test")
    elif name == "trec":

        def read(split: str) -> list[dict[str, str]]:
            p = data_file(
                f"classification/trec_{split}.txt", what="TREC 'COARSE:fine question' lines"
            )
            out = []
            for line in p.open(encoding="latin-1"):
                if line.strip():
                    tag, text = line.rstrip("\n").split(" ", 1)
                    out.append({"text": text, "label": labels[tag.split(":")[0]]})
            return out

        pool, test = read("train"), read("test")
    else:
        p = data_file(
            "classification/agnews_test.csv", what="AG News test CSV (class, title, text)"
        )
        with p.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        data = [
            {
                "text": f"{r['Title']}. {r['Description']}".replace("\\", " "),
                "label": labels[r["Class Index"]],
            }
            for r in rows
        ]
        rng.shuffle(data)
        half = len(data) // 2  # disjoint: pool from the first half, tests from the second
        pool, test = data[:half], data[half:]
    rng.shuffle(pool)
    rng = random.Random(seed + 1)
    test = list(test)
    rng.shuffle(test)
    return pool[:pool_size], test[:items], pool[pool_size : pool_size + max(0, val)]


# -- prompts ---------------------------------------------------------------------------
def _messages(task: str, examples: Sequence[dict[str, str]], text: str) -> list[dict[str, str]]:
    spec = TASKS[task]
    names = ", ".join(spec["labels"].values())
    msgs = [
        {"role": "system", "content": f"Classify the {spec['what']}. Answer with one of: {names}."}
    ]
    for ex in examples:
        msgs += [
            {"role": "user", "content": ex["text"]},
            {"role": "assistant", "content": ex["label"]},
        ]
    msgs.append({"role": "user", "content": text})
    return msgs


def _template(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def _selectors(
    pool: list[dict[str, str]], emb: Any, counter: Callable[[str], int]
) -> dict[str, Any]:
    from langchain_core.example_selectors import (
        LengthBasedExampleSelector,
        SemanticSimilarityExampleSelector,
    )
    from langchain_core.prompts import PromptTemplate
    from langchain_core.vectorstores import InMemoryVectorStore

    store = InMemoryVectorStore(embedding=emb)
    store.add_texts([ex["text"] for ex in pool], metadatas=pool)
    fmt = PromptTemplate.from_template("{text}\n{label}")
    return {
        "semantic_k4": SemanticSimilarityExampleSelector(
            vectorstore=store, k=4, input_keys=["text"]
        ),
        "semantic_k8": SemanticSimilarityExampleSelector(
            vectorstore=store, k=8, input_keys=["text"]
        ),
        "length_based": LengthBasedExampleSelector(
            examples=pool, example_prompt=fmt, max_length=120
        ),
    }


def _accuracy(
    lm: Any, task: str, per_item: Sequence[list[dict[str, str]]], items: list[dict[str, str]]
) -> tuple[int, list[str]]:
    """Correct answers (label with the highest log-likelihood) and the prompts used."""
    from green_chain.models.scoring import score_with

    label_names = list(TASKS[task]["labels"].values())
    prompts = [
        _template(lm.tokenizer, _messages(task, exs, it["text"]))
        for exs, it in zip(per_item, items, strict=True)
    ]
    correct = 0
    for prompt, it in zip(prompts, items, strict=True):
        # the prompt runs once; its KV cache is shared by the label candidates
        scores = score_with(lm.model, lm.tokenizer, prompt, label_names, shared_prompt=True)
        ll = [s.logprob_sum for s in scores]
        correct += label_names[max(range(len(ll)), key=ll.__getitem__)] == it["label"]
    return correct, prompts


def _budgeted(
    pool: list[dict[str, str]],
    budget: int,
    lam: float,
    emb: Any,
    count: Callable[[str], int],
    min_relevance: float,
) -> Any:
    from green_chain.selection import BudgetedExampleSelector

    return BudgetedExampleSelector(
        pool,
        max_tokens=max(budget, 1),
        embeddings=emb,
        token_counter=count,
        example_prompt=lambda e: f"{e['text']}\n{e['label']}",
        separator_tokens=10,
        input_keys=["text"],
        lambda_mult=lam,
        min_relevance=min_relevance,
        fetch_k=20,
    )


def run_examples(args: argparse.Namespace, lm: Any, emb: Any, out: dict[str, Any]) -> None:
    tok = lm.tokenizer

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False))

    for task in args.datasets:
        t0 = time.monotonic()
        pool, test, val = _load_task(
            task, args.pool, args.items, args.seed, args.val_items if args.tune_lambda else 0
        )
        sels = _selectors(pool, emb, count)
        chosen: dict[str, list[list[dict[str, str]]]] = {
            name: [s.select_examples({"text": it["text"]}) for it in test]
            for name, s in sels.items()
        }

        def ex_tokens(exs: list[dict[str, str]]) -> int:
            return sum(count(f"{e['text']}\n{e['label']}") + 10 for e in exs)  # ~10 chat markers

        k8 = statistics.mean(ex_tokens(x) for x in chosen["semantic_k8"])
        k4 = statistics.mean(ex_tokens(x) for x in chosen["semantic_k4"])
        tuned: dict[str, tuple[float, float]] = {}
        grid = [float(x) for x in args.lambda_grid.split(",")]
        for label, budget in (("budgeted_half_k8", int(k8 / 2)), ("budgeted_half_k4", int(k4 / 2))):
            lam = args.lambda_mult
            if val:  # pick lambda on validation items (never on the test items)
                val_acc = {}
                for cand in grid:
                    sel = _budgeted(pool, budget, cand, emb, count, args.min_relevance)
                    picks = [sel.select_examples({"text": it["text"]}) for it in val]
                    val_acc[cand] = _accuracy(lm, task, picks, val)[0] / len(val)
                lam = max(grid, key=lambda c: (val_acc[c], c))
                tuned[label] = (lam, val_acc[lam])
                print(f"[{task}] {label}: lambda_mult={lam} (validation accuracy {val_acc})")
            sel = _budgeted(pool, budget, lam, emb, count, args.min_relevance)
            chosen[label] = [sel.select_examples({"text": it["text"]}) for it in test]
        results = {}
        zero = statistics.mean(
            count(_template(tok, _messages(task, [], it["text"]))) for it in test
        )
        for name, per_item in chosen.items():
            if args.skip_baselines and not name.startswith("budgeted"):
                continue
            correct, prompts = _accuracy(lm, task, per_item, test)
            ptoks = statistics.mean(count(p) for p in prompts)
            results[name] = {
                "accuracy": correct / len(test),
                "prompt_tokens": ptoks,
                "example_tokens": ptoks - zero,
                "examples": statistics.mean(len(x) for x in per_item),
            }
            print(
                f"[{task}] {name:18s} acc={correct / len(test):.3f} prompt_tok={ptoks:7.1f} "
                f"example_tok={ptoks - zero:7.1f} k={results[name]['examples']:.2f}",
                flush=True,
            )
        out.setdefault("examples", {})[task] = {
            "items": len(test),
            "pool": len(pool),
            "lambda_mult": {k: v[0] for k, v in tuned.items()} or args.lambda_mult,
            "validation_items": len(val),
            "results": results,
            "seconds": time.monotonic() - t0,
        }


# -- history ---------------------------------------------------------------------------
def _dialogues(items: int, seed: int) -> dict[str, list[tuple[list[Any], str]]]:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    from green_chain.paths import data_file

    sys_msg = SystemMessage("You are a helpful assistant.")
    p = data_file("dialogue/mtbench101.jsonl", what="MT-Bench-101 dialogues (task, history)")
    mt = []
    for line in p.open(encoding="utf-8"):
        row = json.loads(line)
        if row["task"] in ("CM", "AR", "SI") and len(row["history"]) >= 3:
            msgs: list[Any] = [sys_msg]
            for turn in row["history"][:-1]:
                msgs += [HumanMessage(turn["user"]), AIMessage(turn["bot"])]
            msgs.append(HumanMessage(row["history"][-1]["user"]))
            mt.append((msgs, row["history"][-1]["bot"][:800]))
    p = data_file("dialogue/sgd_test_dialogues_001.json", what="SGD test dialogues")
    sgd = []
    for d in json.loads(p.read_text(encoding="utf-8")):
        turns = d["turns"]
        last_sys = max(i for i, t in enumerate(turns) if t["speaker"] == "SYSTEM" and i >= 1)
        if last_sys < 7:
            continue
        msgs = [sys_msg]
        for t in turns[:last_sys]:
            cls = HumanMessage if t["speaker"] == "USER" else AIMessage
            msgs.append(cls(t["utterance"]))
        sgd.append((msgs, turns[last_sys]["utterance"]))
    rng = random.Random(seed)
    rng.shuffle(mt)
    rng.shuffle(sgd)
    return {"mtbench101": mt[:items], "sgd": sgd[:items]}


def run_history(args: argparse.Namespace, lm: Any, emb: Any, out: dict[str, Any]) -> None:
    from langchain_core.messages import BaseMessage, convert_to_openai_messages, trim_messages

    from green_chain.memory import HistoryBudgetError, RelevantHistory
    from green_chain.models import score_continuations

    tok = lm.tokenizer

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False))

    def list_count(msgs: list[BaseMessage]) -> int:
        return sum(count(m.text) + 4 for m in msgs)

    for name, dialogues in _dialogues(args.items, args.seed).items():
        t0 = time.monotonic()
        variants: dict[str, list[list[BaseMessage]]] = {
            "full": [],
            "trim_messages": [],
            "relevant_history": [],
            # the budget trim_messages actually used (it stops at whole turns)
            "relevant_history_trim_tokens": [],
        }
        refs = []
        for msgs, ref in dialogues:
            budget = max(int(list_count(msgs) * args.history_frac), list_count([msgs[0], msgs[-1]]))
            trimmed = trim_messages(
                msgs,
                max_tokens=budget,
                token_counter=list_count,
                strategy="last",
                start_on="human",
                include_system=True,
            )
            try:
                kept = RelevantHistory(budget, embeddings=emb, token_counter=count).invoke(msgs)
            except HistoryBudgetError:
                kept = [msgs[0], msgs[-1]]
            try:
                same = RelevantHistory(
                    max(list_count(trimmed), list_count([msgs[0], msgs[-1]])),
                    embeddings=emb,
                    token_counter=count,
                ).invoke(msgs)
            except HistoryBudgetError:
                same = [msgs[0], msgs[-1]]
            variants["relevant_history_trim_tokens"].append(same)
            variants["full"].append(msgs)
            variants["trim_messages"].append(trimmed)
            variants["relevant_history"].append(kept)
            refs.append(ref)
        results = {}
        for vname, per_dialogue in variants.items():
            if vname in args.skip_variants:
                continue
            prompts = [_template(tok, convert_to_openai_messages(m)) for m in per_dialogue]
            scores = score_continuations(prompts, refs, model=lm, batch_size=args.batch_size)
            results[vname] = {
                "prompt_tokens": statistics.mean(count(p) for p in prompts),
                "mean_logprob": statistics.mean(s.mean_logprob for s in scores),
                "messages": statistics.mean(len(m) for m in per_dialogue),
                "per_item_mean_logprob": [s.mean_logprob for s in scores],
                "per_item_prompt_tokens": [count(p) for p in prompts],
            }
            r = results[vname]
            print(
                f"[{name}] {vname:28s} prompt_tok={r['prompt_tokens']:7.1f} "
                f"mean_logprob={r['mean_logprob']:.4f} msgs={r['messages']:.2f}",
                flush=True,
            )
        out.setdefault("history", {})[name] = {
            "items": len(refs),
            "results": results,
            "frac": args.history_frac,
            "seconds": time.monotonic() - t0,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m green_chain.experiments.history_examples")
    parser.add_argument("--items", type=int, default=200, help="test items per dataset")
    parser.add_argument("--pool", type=int, default=1000, help="example pool size")
    parser.add_argument("--part", choices=["examples", "history", "all"], default="all")
    parser.add_argument("--datasets", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--history-frac", type=float, default=0.5)
    parser.add_argument(
        "--skip-variants", nargs="*", default=[], help="history variants not scored"
    )
    parser.add_argument("--lambda-mult", type=float, default=0.7)
    parser.add_argument(
        "--tune-lambda",
        action="store_true",
        help="pick lambda_mult from --lambda-grid per budget on validation items "
        "(disjoint from pool and test)",
    )
    parser.add_argument(
        "--lambda-grid",
        default=",".join(str(x) for x in LAMBDA_GRID),
        help="comma-separated lambda_mult values tried by --tune-lambda",
    )
    parser.add_argument(
        "--skip-baselines",
        action="store_true",
        help="score only the budgeted selector (the baselines' selections still set its budgets)",
    )
    parser.add_argument("--val-items", type=int, default=100, help="validation items (tuning)")
    parser.add_argument("--min-relevance", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from green_chain.models import LocalEmbeddings, load_causal_lm

    lm = load_causal_lm(MODEL)
    emb = LocalEmbeddings()
    out: dict[str, Any] = {"model": MODEL, "args": vars(args)}
    if args.part in ("examples", "all"):
        run_examples(args, lm, emb, out)
    if args.part in ("history", "all"):
        run_history(args, lm, emb, out)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
