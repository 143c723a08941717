"""Token generation for :class:`~green_chain.models.chat_local.ChatLocal`.

Two paths that give the same tokens under greedy decoding:

- :func:`generate_batch`: one ``model.generate`` call over several prompts, left-padded
  (decoder-only models must be padded on the left so every row continues from its own
  last token), with per-row stop-string detection.
- :func:`stream_one`: a manual decode loop over one prompt with a KV cache, yielding
  text as soon as it can no longer be the start of a stop sequence.

Both can also end a reply at its first repeated line (``GenParams.stop_on_repeat``): a
small model that has lost its way often writes the same line again and again until its
cap, and every token of that loop costs decoding energy and adds nothing. The reply is
cut before the repeat, with ``finish_reason="repeat"`` (:func:`repeat_cut`).

Token accounting: ``output_tokens`` counts the tokens the model computed for a row, up
to and including the one that ended it (end-of-sequence token, or the token that
completed a stop sequence). ``mean_logprob`` is the mean natural-log probability of
those tokens under the model's own (temperature 1) distribution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from green_chain.models.prefix_cache import PrefixCache


@dataclass(frozen=True)
class GenParams:
    """Decoding parameters (hashable: requests with equal params can share a batch)."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    #: End the reply at the first line break after its first non-blank character.
    first_line: bool = False
    #: Most seconds of generation (``None``: no limit); a reply cut by it has
    #: ``finish_reason="timeout"``.
    max_time_s: float | None = None
    #: The reply was prefilled with the opening of a JSON object (a forced tool call):
    #: generation stops, and the text is cut, where that object closes.
    json_prefix: str | None = None
    #: End the reply when a line repeats an earlier one (:func:`repeat_cut`); the reply
    #: is cut before the repeat and its ``finish_reason`` is ``"repeat"``.
    stop_on_repeat: bool = False


@dataclass
class GenOut:
    """One generated completion.

    Attributes:
        text: Decoded text, cut before the first stop sequence.
        input_tokens: Prompt tokens the model read.
        output_tokens: Tokens the model generated (see module docstring).
        mean_logprob: Mean log-probability of the generated tokens (nats/token).
        finish_reason: ``stop`` (EOS or stop sequence), ``length``, ``timeout`` or
            ``repeat`` (a repeated line, with ``stop_on_repeat``).
        batch_size: Rows in the generation this completion was part of.
        cached_tokens: Prompt tokens whose key/value states came from the prefix cache
            (not prefilled); 0 without a cache.
    """

    text: str
    input_tokens: int
    output_tokens: int
    mean_logprob: float
    finish_reason: str
    batch_size: int = 1
    cached_tokens: int = 0


def eos_ids(lm: Any) -> set[int]:
    ids: set[int] = set()
    eos = getattr(lm.model.generation_config, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(i) for i in eos)
    if lm.tokenizer.eos_token_id is not None:
        ids.add(int(lm.tokenizer.eos_token_id))
    return ids


def json_object_end(text: str) -> int:
    """End (exclusive) of the brace-balanced JSON object that opens ``text`` at its first
    ``{``; -1 while it is still open. Braces inside JSON strings do not count."""
    start = text.find("{")
    if start < 0:
        return -1
    depth = 0
    in_str = escaped = False
    for k in range(start, len(text)):
        ch = text[k]
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return k + 1
    return -1


def cut_at_stop(
    text: str, stop: Sequence[str], first_line: bool = False, json_prefix: str | None = None
) -> tuple[str, bool]:
    """``text`` cut before the earliest stop sequence, and whether one was found.

    With ``first_line``, a line break that follows non-blank text also ends it (leading
    blank lines are kept: a base model often opens its answer with one). With
    ``json_prefix`` (the prefilled start of a JSON object), the text ends right after the
    brace that closes that object.
    """
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    if json_prefix is not None:
        end = json_object_end(json_prefix + text)
        if end > 0:
            found.append(max(0, end - len(json_prefix)))
    if first_line:
        start = len(text) - len(text.lstrip())
        if start < len(text):
            brk = text.find("\n", start)
            if brk >= 0:
                found.append(brk)
    cut = min(found, default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


#: Shortest line (characters, surrounding blanks stripped) whose repeat ends a reply:
#: shorter lines ("}", "---", "Yes.") repeat in well-formed answers.
REPEAT_MIN_CHARS = 16


def repeat_cut(text: str, min_chars: int = REPEAT_MIN_CHARS) -> int:
    """Where a reply that loops should end: the start of its first complete line (one
    followed by a line break) that repeats an earlier line exactly, ignoring surrounding
    blanks, and that is at least ``min_chars`` long; ``-1`` when there is none.

    Only complete lines count: a line still being generated may yet differ.
    """
    seen: set[str] = set()
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            return -1
        line = text[start:end].strip()
        if len(line) >= min_chars:
            if line in seen:
                return start
            seen.add(line)
        start = end + 1


def cut_at_repeat(text: str) -> tuple[str, bool]:
    """``text`` cut before its first repeated line (:func:`repeat_cut`), trailing blanks
    dropped, and whether one was found."""
    k = repeat_cut(text)
    return (text[:k].rstrip(), True) if k >= 0 else (text, False)


def cut_reply(text: str, params: GenParams) -> tuple[str, str | None]:
    """``text`` cut as ``params`` ask, and why: ``"stop"`` (a stop sequence, the first
    line's end or a closed JSON object), ``"repeat"`` or ``None`` (not cut)."""
    text, hit = cut_at_stop(text, params.stop, params.first_line, params.json_prefix)
    reason = "stop" if hit else None
    if params.stop_on_repeat:
        text, looped = cut_at_repeat(text)
        if looped:
            reason = "repeat"
    return text, reason


def _held_back(text: str, stop: Sequence[str]) -> int:
    """Characters at the end of ``text`` that may begin a stop sequence."""
    hold = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                hold = max(hold, k)
                break
    return hold


def _pick(logits: Any, params: GenParams) -> int:
    import torch

    if params.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_p, dim=-1) - sorted_p < params.top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs / probs.sum(), 1))


class _StopStrings:
    """A ``StoppingCriteria`` marking rows whose generated text is cut by ``params``
    (a stop string, the first line's end, a closed JSON object, a repeated line)."""

    def __init__(self, tokenizer: Any, params: GenParams, prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.params = params
        self.width = prompt_width
        self.stopped_at: dict[int, int] = {}

    @staticmethod
    def needed(params: GenParams) -> bool:
        """Whether ``params`` can cut a reply at all (else no criterion is installed)."""
        return bool(
            params.stop
            or params.first_line
            or params.json_prefix is not None
            or params.stop_on_repeat
        )

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        step = input_ids.shape[1] - self.width - 1
        for row in range(input_ids.shape[0]):
            if row in self.stopped_at:
                done[row] = True
                continue
            text = self.tokenizer.decode(input_ids[row, self.width :], skip_special_tokens=True)
            if cut_reply(text, self.params)[1] is not None:
                self.stopped_at[row] = step
                done[row] = True
        return done


def generate_batch(
    lm: Any,
    prompts: Sequence[Sequence[int]],
    params: GenParams,
    prefix_cache: PrefixCache | None = None,
) -> list[GenOut]:
    """Generate a completion for each prompt (token ids) in one batched, left-padded call.

    With a ``prefix_cache``, a lone prompt reuses its longest cached prefix and its
    states (prompt and generated tokens) are stored. Batches of several prompts neither
    read nor write it: rows are left-padded to one width, so a row's prefix would sit at
    a different cache offset in each batch, and ``generate`` takes one cache for all
    rows (each row would need its own prefix length); a batch's padded states are not
    stored either, so what the cache holds was always computed unpadded.
    """
    import torch
    from transformers import StoppingCriteriaList

    if not prompts:
        return []
    tok = lm.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos_ids(lm)), 0)
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, p in enumerate(prompts):
        if len(p) == 0:
            raise ValueError("cannot generate from an empty prompt")
        input_ids[row, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[row, width - len(p) :] = 1
    criteria = _StopStrings(tok, params, width) if _StopStrings.needed(params) else None
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": params.temperature, "top_p": params.top_p}
        if params.temperature > 0
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    device = next(lm.model.parameters()).device
    use_cache = prefix_cache if len(prompts) == 1 else None
    reuse = use_cache.lookup(prompts[0]) if use_cache is not None else None
    extra: dict[str, Any] = {}
    if reuse is not None and reuse.cache is not None:
        extra[_cache_keyword()] = reuse.cache
    with torch.inference_mode():
        out = lm.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=params.max_new_tokens,
            pad_token_id=pad,
            stopping_criteria=StoppingCriteriaList([criteria]) if criteria else None,
            return_dict_in_generate=True,
            output_logits=True,
            **({"max_time": params.max_time_s} if params.max_time_s is not None else {}),
            **sampling,
            **extra,
        )
    gen = out.sequences[:, width:].cpu()
    if use_cache is not None:
        use_cache.store(out.sequences[0].tolist(), _cache_of(out))
    eos = eos_ids(lm)
    results = []
    for row, p in enumerate(prompts):
        ids = gen[row].tolist()
        n, reason = len(ids), "length"
        for i, t in enumerate(ids):
            if t in eos:
                n, reason = i + 1, "stop"
                break
        stopped = criteria.stopped_at.get(row) if criteria is not None else None
        if stopped is not None and stopped + 1 <= n:
            n, reason = stopped + 1, "stop"
        lps = [float(torch.log_softmax(out.logits[i][row].float(), -1)[ids[i]]) for i in range(n)]
        text = tok.decode([t for t in ids[:n] if t not in eos], skip_special_tokens=True)
        text, why = cut_reply(text, params)
        if why is not None:
            reason = why
        elif reason == "length" and n < params.max_new_tokens:  # only max_time cuts earlier
            reason = "timeout"
        mean = sum(lps) / len(lps) if lps else math.nan
        cached = reuse.tokens if reuse is not None else 0
        results.append(GenOut(text, len(p), n, mean, reason, len(prompts), cached))
    return results


def _cache_kwargs(out: Any) -> dict[str, Any]:
    """The KV cache of a forward output, under the keyword this transformers version uses."""
    if "cache" in out:  # transformers >= 5.x renamed past_key_values to cache
        return {"cache": out["cache"]}
    return {"past_key_values": out["past_key_values"]}


def _cache_of(out: Any) -> Any:
    """The KV cache of a forward or ``generate`` output."""
    return out["cache"] if "cache" in out else out["past_key_values"]


def _cache_keyword() -> str:
    """The keyword that passes a KV cache in (transformers >= 5.x: ``cache``)."""
    from transformers.generation.utils import GenerateDecoderOnlyOutput

    fields = getattr(GenerateDecoderOnlyOutput, "__dataclass_fields__", {})
    return "cache" if "cache" in fields else "past_key_values"


class StrippedPieces:
    """Streamed text pieces whose concatenation is the whole text ``.strip()``-ed.

    A base model's reply is stripped (its transcript puts a space after ``Assistant:``
    and a line break before the next speaker); streaming the raw pieces would give a
    different text than ``invoke``. :meth:`feed` drops leading whitespace and holds
    trailing whitespace back until non-blank text follows it; what is still held at the
    end is never emitted.
    """

    def __init__(self) -> None:
        self._started = False
        self._held = ""

    def feed(self, piece: str) -> str:
        """The part of ``piece`` (with held-back whitespace before it) to emit now."""
        if not self._started:
            piece = piece.lstrip()
            if not piece:
                return ""
            self._started = True
        text = self._held + piece
        body = text.rstrip()
        self._held = text[len(body) :]
        return body


def stream_one(
    lm: Any, prompt: Sequence[int], params: GenParams, prefix_cache: PrefixCache | None = None
) -> Iterator[str | GenOut]:
    """Yield text pieces of one completion as they are decoded, then its :class:`GenOut`.

    With a ``prefix_cache``, the longest cached prefix of ``prompt`` is not prefilled,
    and the states of the prompt and of the generated tokens are stored at the end.
    """
    import torch

    if len(prompt) == 0:
        raise ValueError("cannot generate from an empty prompt")
    tok, model = lm.tokenizer, lm.model
    eos = eos_ids(lm)
    device = next(model.parameters()).device
    generated: list[int] = []
    lps: list[float] = []
    emitted = 0
    reason = "length"
    reuse = prefix_cache.lookup(prompt) if prefix_cache is not None else None
    cached = reuse.tokens if reuse is not None else 0
    past = {_cache_keyword(): reuse.cache} if reuse is not None and reuse.cache is not None else {}
    deadline = None if params.max_time_s is None else time.monotonic() + params.max_time_s
    with torch.inference_mode():
        out = model(
            input_ids=torch.tensor([list(prompt[cached:])], device=device), use_cache=True, **past
        )
        for _ in range(params.max_new_tokens):
            if deadline is not None and generated and time.monotonic() > deadline:
                reason = "timeout"
                break
            logits = out.logits[0, -1].float()
            nxt = _pick(logits, params)
            lps.append(float(torch.log_softmax(logits, -1)[nxt]))
            generated.append(nxt)
            if nxt in eos:
                reason = "stop"
                break
            text = tok.decode(generated, skip_special_tokens=True)
            cut, why = cut_reply(text, params)
            if why is not None:
                if len(cut) > emitted:
                    yield cut[emitted:]
                emitted = len(cut)
                reason = why
                break
            safe = len(text) - _held_back(text, params.stop)
            if params.stop_on_repeat:  # the line in progress may yet repeat an earlier one
                safe = min(safe, len(text[: max(0, text.rfind("\n"))].rstrip()))
            while safe > emitted and text[safe - 1] == "\ufffd":  # incomplete UTF-8
                safe -= 1
            if safe > emitted:
                yield text[emitted:safe]
                emitted = safe
            out = model(
                input_ids=torch.tensor([[nxt]], device=device), use_cache=True, **_cache_kwargs(out)
            )
    if prefix_cache is not None:
        prefix_cache.store([*prompt, *generated], _cache_of(out))
    if reason in ("length", "timeout") or (generated and generated[-1] in eos):
        text = tok.decode([t for t in generated if t not in eos], skip_special_tokens=True)
        text, _ = cut_reply(text, params)
        if len(text) > emitted:
            yield text[emitted:]
            emitted = len(text)
    final = tok.decode([t for t in generated if t not in eos], skip_special_tokens=True)
    final, _ = cut_reply(final, params)
    mean = sum(lps) / len(lps) if lps else math.nan
    yield GenOut(final, len(prompt), len(generated), mean, reason, 1, cached)
