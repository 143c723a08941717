"""Quality metrics of the benchmark.

* :func:`exact_match` / :func:`f1` - SQuAD's official normalisation (lower case,
  no punctuation, no articles ``a/an/the``, collapsed white space), max over golds.
* :func:`accuracy` - label match after normalisation.
* :func:`function_choice_correct` - BFCL: the generated call names the gold function.
* :func:`rouge_l` - LCS-based ROUGE-L F-measure (Lin, 2004) on normalised tokens.
* :func:`multiple_choice` - gold answer vs distractors by log-likelihood under the
  model that answered, with the prompt it was actually sent. A secondary figure only
  (``prompt_evidence_score``: the evidence kept in the prompt) and the router's training
  signal; an item's quality is always the task metric on the generated answer.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, strip punctuation and articles, collapse spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference, else 0.0."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in references))


def _f1_one(prediction: str, reference: str) -> float:
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = Counter(pred) & Counter(ref)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(pred)
    recall = overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, references: Sequence[str]) -> float:
    """Token F1 (SQuAD), max over references, in [0, 1]."""
    if not references:
        raise ValueError("f1 needs at least one reference")
    return max(_f1_one(prediction, r) for r in references)


def accuracy(prediction: str, label: str, labels: Sequence[str] | None = None) -> float:
    """1.0 when the prediction names ``label``.

    With ``labels`` the first label (of all) mentioned in the prediction counts, so
    "positive, not negative" is positive; without, a normalised exact match.
    """
    pred = normalize_answer(prediction)
    if labels:
        found = first_label(prediction, labels)
        return float(found is not None and normalize_answer(found) == normalize_answer(label))
    return float(pred == normalize_answer(label))


def first_label(prediction: str, labels: Sequence[str]) -> str | None:
    """The label whose normalised form occurs earliest in the prediction, or ``None``."""
    pred = f" {normalize_answer(prediction)} "
    best: tuple[int, str] | None = None
    for lab in labels:
        pos = pred.find(f" {normalize_answer(lab)} ")
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, lab)
    return None if best is None else best[1]


def function_choice_correct(prediction: str, gold_name: str, names: Sequence[str]) -> float:
    """BFCL function choice: 1.0 when the first function name in the prediction is the gold one."""
    hits = [(prediction.find(n), n) for n in names if n and prediction.find(n) >= 0]
    if not hits:
        return 0.0
    # earliest mention; on ties (one name contains another) prefer the longer name
    hits.sort(key=lambda h: (h[0], -len(h[1])))
    return float(hits[0][1] == gold_name)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    if len(b) > len(a):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            cur[j] = prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1])
        prev = cur
    return prev[-1]


def rouge_l(prediction: str, reference: str, *, beta: float = 1.0) -> float:
    """ROUGE-L F-measure in [0, 1] from the longest common subsequence of normalised tokens."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(reference).split()
    lcs = _lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision = lcs / len(pred)
    recall = lcs / len(ref)
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


#: ``scorer(model_name, prompts, continuations) -> log-likelihoods`` (one per pair).
LikelihoodScorer = Callable[[str, list[str], list[str]], list[float]]


def multiple_choice(
    scorer: LikelihoodScorer,
    model_name: str,
    prompt: str,
    gold: str,
    distractors: Sequence[str],
) -> dict[str, float]:
    """Log-likelihood multiple choice: is the gold answer the most likely candidate?

    Returns ``{"mc_correct": 0/1, "gold_logprob": ..., "margin": gold - best distractor}``.
    Ties count as wrong (a model that cannot tell the candidates apart has not chosen).
    """
    if not distractors:
        raise ValueError("multiple choice needs at least one distractor")
    candidates = [gold, *distractors]
    scores = scorer(model_name, [prompt] * len(candidates), [f" {c}" for c in candidates])
    if len(scores) != len(candidates):
        raise ValueError(f"scorer returned {len(scores)} scores for {len(candidates)} candidates")
    best_other = max(scores[1:])
    return {
        "mc_correct": float(scores[0] > best_other),
        "gold_logprob": float(scores[0]),
        "margin": float(scores[0] - best_other),
    }


def packaged_scorer(normalize: bool = False) -> LikelihoodScorer:
    """The scorer backed by :func:`green_chain.models.score_continuations` (lazy import).

    Candidates sharing one prompt (the multiple choice) are scored with the prompt run
    once (``shared_prompt=True``), so a long context costs one prefill per item, not one
    per candidate.

    Args:
        normalize: Use the mean log-prob per token (long continuations such as
            summaries) instead of the sum (short answers).
    """

    def score(model_name: str, prompts: list[str], continuations: list[str]) -> list[float]:
        from green_chain.models import score_continuations

        results = score_continuations(prompts, continuations, model=model_name, shared_prompt=True)
        return [r.mean_logprob if normalize else r.logprob_sum for r in results]

    return score
