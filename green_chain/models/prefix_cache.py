"""A prefix cache of attention key/value states, shared by the calls of one model.

Each chat turn re-sends the whole history and each few-shot prompt the same examples;
without a cache the model re-encodes (prefills) them on every call. This cache keeps
the key/value (KV) states of earlier calls in *blocks* of ``block_tokens`` tokens, as
vLLM's automatic prefix caching does: a block is identified by its own token ids and
its parent block (the block before it), so a chain of blocks from the start of a
sequence is a path in a trie, and two prompts share exactly the blocks of their common
block-aligned prefix. A call looks up the longest chain of cached blocks matching the
start of its prompt (:meth:`PrefixCache.lookup`), prefills only the rest, and stores
the blocks of its prompt and of the tokens it generated (:meth:`PrefixCache.store`).

Definitions:

- *cached tokens* (``cache_read``): prompt tokens whose KV states came from the cache.
  At least one prompt token is always prefilled (its logits start the reply), so a
  prompt of ``n`` tokens reads at most ``n - 1`` (rounded down to whole blocks).
- *bytes*: ``nbytes`` of the stored key and value tensors, all layers; the bound
  ``max_bytes`` holds after every :meth:`~PrefixCache.store` (least recently used
  blocks are evicted first, and a block is only evicted after its descendants, so
  every cached block stays reachable).

Sliding-window attention layers (Gemma 3's local layers) keep only the last
``window - 1`` positions; the caches handed out record all positions the call computes,
but a call that reused a prefix has only the window of it. A block stores those
layers' states only when the call that stored it had them; a prefix is reused only if its last ``window - 1``
positions have them, and the sliding layers are loaded with exactly those positions
(the state a full prefill leaves), so reuse stays exact.

Thread safety: every method holds the cache's lock; tensors handed out are never
modified in place (loading concatenates them into new tensors).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Default bound of a model's shared prefix cache: 256 MiB.
DEFAULT_MAX_BYTES = 256 * 2**20
#: Default block size in tokens (vLLM's default).
DEFAULT_BLOCK_TOKENS = 16

_ROOT = 0


@dataclass
class _Block:
    id: int
    parent: int
    tokens: tuple[int, ...]
    #: Per layer ``(keys, values)`` of shape ``[1, heads, block_tokens, head_dim]``;
    #: ``None`` for a sliding layer whose states had left the window when stored.
    kv: list[tuple[Any, Any] | None]
    nbytes: int
    children: int = 0


@dataclass(frozen=True)
class PrefixHit:
    """The cached part of a prompt: ``tokens`` cached tokens and a ready KV cache."""

    tokens: int
    cache: Any = field(repr=False, default=None)


@dataclass(frozen=True)
class PrefixCacheStats:
    """Counters of a :class:`PrefixCache` since it was created (or :meth:`~PrefixCache.clear`)."""

    blocks: int
    bytes: int
    max_bytes: int
    lookups: int
    hit_tokens: int
    evicted_blocks: int


def _layout(model: Any) -> list[int | None] | None:
    """Sliding window of each attention layer (``None``: full attention).

    ``None`` for a model whose cache has other layers (recurrent/linear attention,
    shared KV): their state is not a per-token tensor, so it cannot be cut in blocks.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

    cache = DynamicCache(config=model.config)
    kinds = (DynamicLayer, DynamicSlidingWindowLayer)
    if not cache.layers or any(type(layer) not in kinds for layer in cache.layers):
        return None
    return [getattr(layer, "sliding_window", None) for layer in cache.layers]


class PrefixCache:
    """KV states of earlier calls of one model, in hashed token blocks (see module doc).

    Args:
        model: The ``transformers`` causal LM whose states are stored (its config gives
            the attention layout).
        max_bytes: Bound on the stored tensors, in bytes (>= 0; 0 stores nothing).
        block_tokens: Tokens per block (>= 1).
    """

    def __init__(
        self,
        model: Any,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        block_tokens: int = DEFAULT_BLOCK_TOKENS,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        if block_tokens < 1:
            raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
        self.max_bytes = int(max_bytes)
        self.block_tokens = int(block_tokens)
        self._config = model.config
        layout = _layout(model)
        #: False for models with non-attention cache layers: nothing is stored or read.
        self.supported = layout is not None
        self._windows: list[int | None] = layout or []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._blocks: dict[tuple[int, tuple[int, ...]], _Block] = {}
        self._by_id: dict[int, _Block] = {}
        #: Recency order, oldest first; a block always precedes its parent.
        self._lru: OrderedDict[int, None] = OrderedDict()
        self._bytes = 0
        self._lookups = 0
        self._hit_tokens = 0
        self._evicted = 0

    # ------------------------------------------------------------------ info
    @property
    def nbytes(self) -> int:
        """Bytes of the stored key/value tensors."""
        with self._lock:
            return self._bytes

    def stats(self) -> PrefixCacheStats:
        with self._lock:
            return PrefixCacheStats(
                blocks=len(self._by_id),
                bytes=self._bytes,
                max_bytes=self.max_bytes,
                lookups=self._lookups,
                hit_tokens=self._hit_tokens,
                evicted_blocks=self._evicted,
            )

    def clear(self) -> None:
        """Drop every block and reset the counters."""
        with self._lock:
            self._blocks.clear()
            self._by_id.clear()
            self._lru.clear()
            self._bytes = self._lookups = self._hit_tokens = self._evicted = 0

    def resize(self, max_bytes: int) -> None:
        """Set a new bound (bytes) and evict down to it."""
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        with self._lock:
            self.max_bytes = int(max_bytes)
            self._evict()

    # ------------------------------------------------------------------ lookup
    def _chain(self, ids: Sequence[int], limit: int) -> list[_Block]:
        chain: list[_Block] = []
        parent = _ROOT
        b = self.block_tokens
        for start in range(0, limit - b + 1, b):
            block = self._blocks.get((parent, tuple(ids[start : start + b])))
            if block is None:
                break
            chain.append(block)
            parent = block.id
        return chain

    def _usable(self, chain: list[_Block]) -> int:
        """Blocks of ``chain`` that can be loaded (sliding layers need their window)."""
        n = len(chain)
        b = self.block_tokens
        while n > 0:
            end = n * b
            ok = True
            for layer, window in enumerate(self._windows):
                if window is None:
                    continue
                first = max(0, end - (window - 1)) // b
                if any(chain[i].kv[layer] is None for i in range(first, n)):
                    ok = False
                    break
            if ok:
                return n
            n -= 1
        return 0

    def lookup(self, ids: Sequence[int], *, touch: bool = True) -> PrefixHit:
        """The longest cached prefix of ``ids`` (at most ``len(ids) - 1`` tokens).

        Returns a :class:`PrefixHit` whose ``cache`` is a fresh ``DynamicCache`` holding
        the prefix's states (empty when nothing is cached), to pass to the model. Its
        sliding-window layers record past states (``activate_past_recording``), so that
        every position the call computes can be stored; attention sees the same window.

        ``touch=False`` reads without a trace: the blocks' recency (LRU order) and the
        counters (``lookups``, ``hit_tokens``) stay as they were, so a read-only caller
        (an unmetered probe) cannot change which blocks the next call finds or evicts.
        """
        if not self.supported:
            return PrefixHit(0, None)
        with self._lock:
            chain = self._chain(ids, len(ids) - 1)
            chain = chain[: self._usable(chain)]
            if touch:
                self._lookups += 1
                for block in reversed(chain):  # children before parents in recency order
                    self._lru.move_to_end(block.id)
                self._hit_tokens += len(chain) * self.block_tokens
        return PrefixHit(len(chain) * self.block_tokens, self._load(chain))

    def lru_order(self) -> list[int]:
        """Block ids from least to most recently used (the eviction order; for checks)."""
        with self._lock:
            return list(self._lru)

    def _load(self, chain: list[_Block]) -> Any:
        import torch
        from transformers import DynamicCache

        cache = DynamicCache(config=self._config)
        if any(w is not None for w in self._windows):
            # keep every position this call computes, so all its blocks can be stored
            cache.activate_past_recording()
        if not chain:
            return cache
        end = len(chain) * self.block_tokens
        for layer, window in enumerate(self._windows):
            if window is None:
                parts = [blk.kv[layer] for blk in chain]
            else:
                first = max(0, end - (window - 1))
                parts = [blk.kv[layer] for blk in chain[first // self.block_tokens :]]
            keys = torch.cat([p[0] for p in parts if p is not None], dim=-2)
            values = torch.cat([p[1] for p in parts if p is not None], dim=-2)
            target: Any = cache.layers[layer]
            if window is not None:
                skip = keys.shape[-2] - min(end, window - 1)
                keys, values = keys[:, :, skip:], values[:, :, skip:]
            target.update(keys, values)
            if window is not None:
                target.cumulative_length = end
        return cache

    # ------------------------------------------------------------------ store
    def store(self, ids: Sequence[int], cache: Any) -> int:
        """Store the whole blocks of ``ids`` whose states ``cache`` holds; returns blocks added.

        Args:
            ids: The token ids the cache was computed over, from position 0.
            cache: A ``DynamicCache`` of one row (batch size 1) over ``ids`` (it may hold
                fewer positions than ``ids``: the last generated token is never fed).
        """
        layers = list(getattr(cache, "layers", []))
        if not self.supported or len(layers) != len(self._windows) or self.max_bytes == 0:
            return 0
        seq = min(len(ids), int(cache.get_seq_length()))
        b = self.block_tokens
        n_blocks = seq // b
        if n_blocks == 0:
            return 0
        spans: list[tuple[int, int]] = []  # per layer: first position held, positions held
        for layer in layers:
            keys = getattr(layer, "keys", None)
            if keys is None or keys.dim() != 4 or keys.shape[0] != 1:
                return 0
            held = int(keys.shape[-2])
            total = int(getattr(layer, "cumulative_length", held))
            spans.append((total - held, held))
        added = 0
        with self._lock:
            parent = _ROOT
            touched: list[int] = []
            for i in range(n_blocks):
                start = i * b
                key = (parent, tuple(int(t) for t in ids[start : start + b]))
                block = self._blocks.get(key)
                kv = (
                    self._slice(layers, spans, start) if block is None or None in block.kv else None
                )
                if block is None:
                    assert kv is not None
                    if all(x is None for x in kv):
                        break
                    nbytes = sum(x[0].nbytes + x[1].nbytes for x in kv if x is not None)
                    block = _Block(next(self._ids), parent, key[1], kv, nbytes)
                    self._blocks[key] = block
                    self._by_id[block.id] = block
                    self._bytes += nbytes
                    if parent != _ROOT:
                        self._by_id[parent].children += 1
                    added += 1
                elif kv is not None:  # fill sliding layers that had left the window
                    for layer, x in enumerate(kv):
                        if block.kv[layer] is None and x is not None:
                            block.kv[layer] = x
                            block.nbytes += x[0].nbytes + x[1].nbytes
                            self._bytes += x[0].nbytes + x[1].nbytes
                touched.append(block.id)
                parent = block.id
            for block_id in reversed(touched):
                self._lru[block_id] = None
                self._lru.move_to_end(block_id)
            self._evict()
        return added

    def _slice(
        self, layers: list[Any], spans: list[tuple[int, int]], start: int
    ) -> list[tuple[Any, Any] | None]:
        b = self.block_tokens
        kv: list[tuple[Any, Any] | None] = []
        for layer, (first, held) in zip(layers, spans, strict=True):
            if start < first or start + b > first + held:
                kv.append(None)
                continue
            lo = start - first
            kv.append(
                (
                    layer.keys[:, :, lo : lo + b].detach().clone(),
                    layer.values[:, :, lo : lo + b].detach().clone(),
                )
            )
        return kv

    def _evict(self) -> None:
        """Evict least recently used blocks (leaves first) until within ``max_bytes``."""
        while self._bytes > self.max_bytes and self._lru:
            victim = next((i for i in self._lru if self._by_id[i].children == 0), None)
            if victim is None:  # cannot happen with the recency invariant; stay safe
                victim = next(iter(self._lru))
            self._drop(victim)

    def _drop(self, block_id: int) -> None:
        block = self._by_id.pop(block_id)
        self._lru.pop(block_id, None)
        self._blocks.pop((block.parent, block.tokens), None)
        self._bytes -= block.nbytes
        self._evicted += 1
        parent = self._by_id.get(block.parent)
        if parent is not None:
            parent.children -= 1
        if block.children:  # orphans would be unreachable: drop them too
            for child in [c for c in self._by_id.values() if c.parent == block_id]:
                self._drop(child.id)


_shared: weakref.WeakKeyDictionary[Any, dict[str | None, PrefixCache]] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def shared_prefix_cache(
    model: Any, max_bytes: int = DEFAULT_MAX_BYTES, salt: str | None = None
) -> PrefixCache:
    """The process-wide prefix cache of ``model`` and ``salt`` (created on first use).

    Every :class:`~green_chain.models.chat_local.ChatLocal` over the same loaded model
    and the same ``salt`` shares it (``salt``: vLLM's ``cache_salt``, one isolated cache
    per value, e.g. per tenant or per benchmark chain); its bound is the largest
    ``max_bytes`` any caller asked for. Each salt's cache has its own bound.
    """
    with _shared_lock:
        caches = _shared.get(model)
        if caches is None:
            caches = {}
            _shared[model] = caches
        cache = caches.get(salt)
        if cache is None:
            cache = PrefixCache(model, max_bytes=max_bytes)
            caches[salt] = cache
        elif max_bytes > cache.max_bytes:
            cache.resize(max_bytes)
        return cache
