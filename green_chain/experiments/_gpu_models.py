"""Real model architectures with random weights, for :mod:`gpu_calibration` (standard library only at import).

Each :class:`Architecture` is a released model's configuration for
``AutoConfig.for_model``; :class:`TorchWorkload` builds it with
``AutoModelForCausalLM.from_config`` (random weights, bf16 on CUDA, no hub access)
and runs the calls whose energy is measured: a prefill pass and greedy decode steps.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Architecture:
    """A real model's architecture: ``AutoConfig.for_model(model_type, **config)``.

    ``params`` is the published parameter count (the built model's own count is
    recorded beside it); ``source`` names the configuration copied.
    """

    name: str
    model_type: str
    params: float
    source: str
    config: Mapping[str, Any]


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture(
            "llama-3.1-8b",
            "llama",
            8.03e9,
            "meta-llama/Llama-3.1-8B config.json (rope scaling left out: it does not change compute)",
            {
                "hidden_size": 4096,
                "intermediate_size": 14336,
                "num_hidden_layers": 32,
                "num_attention_heads": 32,
                "num_key_value_heads": 8,
                "vocab_size": 128256,
                "max_position_embeddings": 131072,
                "rms_norm_eps": 1e-5,
                "rope_theta": 500000.0,
                "tie_word_embeddings": False,
            },
        ),
        Architecture(
            "qwen2.5-32b",
            "qwen2",
            32.8e9,
            "Qwen/Qwen2.5-32B-Instruct config.json (dense; 65.5 GB in bf16)",
            {
                "hidden_size": 5120,
                "intermediate_size": 27648,
                "num_hidden_layers": 64,
                "num_attention_heads": 40,
                "num_key_value_heads": 8,
                "vocab_size": 152064,
                "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0,
                "tie_word_embeddings": False,
                "use_sliding_window": False,
            },
        ),
        Architecture(
            "smollm2-135m",
            "llama",
            134.5e6,
            "HuggingFaceTB/SmolLM2-135M-Instruct config.json (the packaged cheap model)",
            {
                "hidden_size": 576,
                "intermediate_size": 1536,
                "num_hidden_layers": 30,
                "num_attention_heads": 9,
                "num_key_value_heads": 3,
                "vocab_size": 49152,
                "max_position_embeddings": 8192,
                "rms_norm_eps": 1e-5,
                "rope_theta": 100000.0,
                "tie_word_embeddings": True,
            },
        ),
        Architecture(
            "gemma-3-270m",
            "gemma3_text",
            268e6,
            "google/gemma-3-270m config.json (the packaged large model)",
            {
                "hidden_size": 640,
                "intermediate_size": 2048,
                "num_hidden_layers": 18,
                "num_attention_heads": 4,
                "num_key_value_heads": 1,
                "head_dim": 256,
                "vocab_size": 262144,
                "max_position_embeddings": 32768,
                "rms_norm_eps": 1e-6,
                "rope_theta": 1000000.0,
                "sliding_window": 512,
                "query_pre_attn_scalar": 256,
                "tie_word_embeddings": True,
            },
        ),
    )
}

DEFAULT_MODELS = ("llama-3.1-8b", "qwen2.5-32b", "smollm2-135m", "gemma-3-270m")

#: ``--tiny``: the same architectures shrunk to a few thousand parameters per layer.
TINY_OVERRIDES: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 512,
    "max_position_embeddings": 2048,
}


def model_config(arch: Architecture, *, tiny: bool = False) -> dict[str, Any]:
    """The keyword arguments of ``AutoConfig.for_model`` for ``arch`` (shrunk when ``tiny``)."""
    cfg = dict(arch.config)
    if tiny:
        cfg.update(TINY_OVERRIDES)
        if "head_dim" in cfg:
            cfg["head_dim"] = 16
        if "sliding_window" in cfg:
            cfg["sliding_window"] = 64
        if "query_pre_attn_scalar" in cfg:
            cfg["query_pre_attn_scalar"] = 16
    return cfg


class Workload(Protocol):
    """One model on one device: the calls whose energy is measured."""

    params: int
    max_prompt_tokens: int

    def prefill(self, batch: int, tokens: int) -> None: ...

    def start_decode(self, batch: int, prompt_tokens: int) -> Any: ...

    def decode(self, state: Any, steps: int) -> None: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class TorchWorkload:
    """A causal LM built from an :class:`Architecture` with random weights (bf16 on CUDA)."""

    def __init__(self, arch: Architecture, *, device: str, tiny: bool) -> None:
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM

        self.torch = torch
        self.device = torch.device(device)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        cfg_kwargs = model_config(arch, tiny=tiny)
        self.config = AutoConfig.for_model(arch.model_type, **cfg_kwargs)
        self.max_prompt_tokens = int(cfg_kwargs["max_position_embeddings"])
        major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        with torch.device(self.device):
            model = AutoModelForCausalLM.from_config(self.config, **{dtype_kw: dtype})
        self.model = model.to(self.device).eval()
        self.params = sum(p.numel() for p in self.model.parameters())
        self.vocab = int(cfg_kwargs["vocab_size"])
        # transformers >= 5.x names the KV cache argument ``cache`` (``past_key_values`` before)
        self._cache_kw = (
            "cache" if "cache" in inspect.signature(self.model.forward).parameters
            else "past_key_values"
        )  # fmt: skip
        self._ids: dict[tuple[int, int], Any] = {}

    def _prompt(self, batch: int, tokens: int) -> Any:
        key = (batch, tokens)
        if key not in self._ids:
            self._ids = {key: self.torch.randint(0, self.vocab, key, device=self.device)}
        return self._ids[key]

    def prefill(self, batch: int, tokens: int) -> None:
        ids = self._prompt(batch, tokens)
        with self.torch.inference_mode():
            out = self.model.base_model(input_ids=ids, use_cache=True)
            self.model.lm_head(out.last_hidden_state[:, -1:])

    def start_decode(self, batch: int, prompt_tokens: int) -> Any:
        ids = self._prompt(batch, prompt_tokens)
        with self.torch.inference_mode():
            out = self.model.base_model(input_ids=ids, use_cache=True)
            logits = self.model.lm_head(out.last_hidden_state[:, -1:])
        return {"past": self._cache(out), "next": logits.argmax(-1)}

    def _cache(self, out: Any) -> Any:
        cache = getattr(out, "cache", None)
        return out.past_key_values if cache is None else cache

    def decode(self, state: Any, steps: int) -> None:
        past, tok = state["past"], state["next"]
        with self.torch.inference_mode():
            for _ in range(steps):
                out = self.model(input_ids=tok, use_cache=True, **{self._cache_kw: past})
                past, tok = self._cache(out), out.logits[:, -1:].argmax(-1)
        state["past"], state["next"] = past, tok

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def close(self) -> None:
        del self.model
        self._ids = {}
        gc.collect()
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()
