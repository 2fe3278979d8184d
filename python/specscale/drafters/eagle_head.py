"""The EAGLE-3 draft head: the network and its checkpoint I/O (Li et al., 2025).

The target's hidden states entering three of its decoder layers (low, middle, high) are concatenated and
fused by ``fc`` into one vector per token. The head is a single Llama decoder layer whose attention reads
``[input_layernorm(embedding of the next token), hidden_norm(fused feature)]`` (twice the hidden width),
then ``norm`` and its own ``lm_head`` over a reduced draft vocabulary; ``d2t`` maps a draft id to the
target id ``draft_id + d2t[draft_id]``.

Checkpoints load from a local directory in the published layout (``config.json`` with Llama fields plus
``draft_vocab_size``; ``model.safetensors`` or ``pytorch_model.bin`` with ``fc``, ``midlayer.*``, ``norm``,
``lm_head``, ``d2t``, ``t2d`` and optionally ``embed_tokens``, which is otherwise taken from the target).
The drafter that uses the head is :class:`specscale.drafters.eagle.Eagle3Drafter`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from specscale.errors import InvalidArgumentError

__all__ = ["ARCHITECTURE", "Eagle3DraftHead", "GrowingKV"]

#: What ``save_pretrained`` writes as ``architectures`` (the name the reference checkpoints use).
ARCHITECTURE = "LlamaForCausalLMEagle3"


def _llama_parts() -> Any:
    from transformers.models.llama import modeling_llama

    return modeling_llama


class _FusedAttention(nn.Module):
    """Llama attention whose projections read the ``2 * hidden`` concatenation of embedding and feature."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = getattr(config, "num_key_value_heads", None) or self.num_heads
        self.head_dim = getattr(config, "head_dim", None) or hidden // self.num_heads
        bias = bool(getattr(config, "attention_bias", False))
        self.q_proj = nn.Linear(2 * hidden, self.num_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(2 * hidden, self.num_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(2 * hidden, self.num_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, hidden, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | GrowingKV,
        allowed: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x`` is ``[n, 2h]``; ``allowed`` ``[n, past + n]`` says which keys each query sees. ``past`` is
        the earlier keys/values, or a :class:`GrowingKV` that the new ones are appended to (no copy of
        the context). Returns the output ``[n, h]`` and the new keys/values ``[1, kv_heads, n, head_dim]``."""
        n = x.shape[0]
        q = self.q_proj(x).view(n, self.num_heads, self.head_dim).transpose(0, 1)[None]
        k = self.k_proj(x).view(n, self.num_kv_heads, self.head_dim).transpose(0, 1)[None]
        v = self.v_proj(x).view(n, self.num_kv_heads, self.head_dim).transpose(0, 1)[None]
        q, k = _llama_parts().apply_rotary_pos_emb(q, k, cos, sin)
        if isinstance(past, GrowingKV):
            past.append(k, v)
            keys, values = past.view(k, self.num_kv_heads, self.head_dim)
        else:
            keys = torch.cat([past[0], k], dim=2)
            values = torch.cat([past[1], v], dim=2)
        # Grouped-query attention without materializing repeated keys (the context can be long).
        gqa = self.num_kv_heads != self.num_heads
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed[None, None], enable_gqa=gqa)
        out = out[0].transpose(0, 1).reshape(n, self.num_heads * self.head_dim)
        return self.o_proj(out), k, v


class _FusedDecoderLayer(nn.Module):
    """The head's one decoder layer (``midlayer`` in the checkpoints)."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        parts = _llama_parts()
        eps = config.rms_norm_eps
        self.self_attn = _FusedAttention(config)
        self.mlp = parts.LlamaMLP(config)
        self.input_layernorm = parts.LlamaRMSNorm(config.hidden_size, eps=eps)
        self.hidden_norm = parts.LlamaRMSNorm(config.hidden_size, eps=eps)
        self.post_attention_layernorm = parts.LlamaRMSNorm(config.hidden_size, eps=eps)
        # Some trainers (SpecForge) take the residual after hidden_norm; the reference takes it before.
        self.norm_before_residual = bool(getattr(config, "norm_before_residual", False))

    def forward(
        self,
        embeds: torch.Tensor,
        hidden: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | GrowingKV,
        allowed: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        residual = hidden
        hidden = self.hidden_norm(hidden)
        if self.norm_before_residual:
            residual = hidden
        fused = torch.cat([self.input_layernorm(embeds), hidden], dim=-1)
        attn, k, v = self.self_attn(fused, cos, sin, past, allowed)
        hidden = residual + attn
        hidden = hidden + self.mlp(self.post_attention_layernorm(hidden))
        return hidden, k, v


class Eagle3DraftHead(nn.Module):
    """The EAGLE-3 draft head (weights and one forward step); :class:`Eagle3Drafter` drives it.

    Args:
        config: a ``transformers.LlamaConfig`` with ``draft_vocab_size`` (default: ``vocab_size``) and
            optionally ``target_hidden_size`` (default: ``hidden_size``).

    Its parameter names are those of the published checkpoints, so :meth:`save_pretrained` and
    :meth:`from_pretrained` read and write that layout.
    """

    def __init__(self, config: Any) -> None:
        super().__init__()
        parts = _llama_parts()
        self.config = config
        hidden = config.hidden_size
        self.target_hidden_size = int(getattr(config, "target_hidden_size", None) or hidden)
        self.draft_vocab_size = int(getattr(config, "draft_vocab_size", None) or config.vocab_size)
        self.embed_tokens = nn.Embedding(config.vocab_size, hidden)
        self.fc = nn.Linear(3 * self.target_hidden_size, hidden, bias=False)
        self.midlayer = _FusedDecoderLayer(config)
        self.norm = parts.LlamaRMSNorm(hidden, eps=config.rms_norm_eps)
        self.lm_head = nn.Linear(hidden, self.draft_vocab_size, bias=False)
        self.register_buffer("d2t", torch.zeros(self.draft_vocab_size, dtype=torch.long))
        self.register_buffer("t2d", torch.zeros(config.vocab_size, dtype=torch.bool))
        # Held outside the module tree so that casting the head to bf16 leaves the frequencies in fp32.
        self._rotary = [parts.LlamaRotaryEmbedding(config)]

    @property
    def feature_width(self) -> int:
        """Width of the fused target features ``fc`` expects: three times the target's hidden size."""
        return 3 * self.target_hidden_size

    def fuse(self, features: torch.Tensor) -> torch.Tensor:
        """Target features ``[n, 3 * target_hidden]`` -> the layer's hidden input ``[n, hidden]``."""
        return self.fc(features)

    def rotary(self, positions: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE ``cos, sin`` ``[1, n, head_dim]`` for absolute ``positions`` ``[n]``."""
        rotary = self._rotary[0]
        if rotary.inv_freq.device != positions.device:
            rotary.to(positions.device)
        return rotary(like, positions[None])  # type: ignore[no-any-return]

    def step(
        self,
        tokens: torch.Tensor,
        hidden: torch.Tensor,
        positions: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | GrowingKV,
        allowed: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass of the layer: target ids ``tokens`` ``[n]`` paired with ``hidden`` ``[n, hidden]``,
        attending to ``past`` (earlier ``(keys, values)`` ``[1, kv_heads, t, head_dim]``, or a cache the
        new entries are appended to) as ``allowed`` ``[n, t + n]`` says.

        Returns the layer outputs ``[n, hidden]`` (fed back as the next level's hidden input) and the
        new keys/values."""
        embeds = self.embed_tokens(tokens)
        cos, sin = self.rotary(positions, embeds)
        return self.midlayer(embeds, hidden, cos, sin, past, allowed)  # type: ignore[no-any-return]

    def log_probs(self, hidden: torch.Tensor) -> torch.Tensor:
        """Draft-vocabulary log-probabilities (float32) of the layer outputs ``hidden`` ``[n, hidden]``."""
        return torch.log_softmax(self.lm_head(self.norm(hidden)).float(), dim=-1)

    def to_target_ids(self, draft_ids: torch.Tensor) -> torch.Tensor:
        """Map draft-vocabulary ids to target ids (``id + d2t[id]``)."""
        d2t: torch.Tensor = self.d2t  # type: ignore[assignment]  # a registered buffer
        return draft_ids + d2t[draft_ids]

    # --- checkpoints ----------------------------------------------------------------------------------

    def save_pretrained(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json`` and ``model.safetensors`` in the published EAGLE-3 layout."""
        from safetensors.torch import save_file

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        config = self.config.to_dict()
        config["architectures"] = [ARCHITECTURE]
        config["draft_vocab_size"] = self.draft_vocab_size
        if self.target_hidden_size != self.config.hidden_size:
            config["target_hidden_size"] = self.target_hidden_size
        (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n")
        state = {name: t.detach().contiguous().cpu() for name, t in self.state_dict().items()}
        save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        target: Any = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> Eagle3DraftHead:
        """Load a head from a local directory in the published EAGLE-3 layout.

        Args:
            path: directory with ``config.json`` and ``model.safetensors`` (or a sharded
                ``model.safetensors.index.json``, or ``pytorch_model.bin``).
            target: the target model; its input embeddings are used when the checkpoint has no
                ``embed_tokens.weight`` (the reference checkpoints share the target's), and its dtype and
                device are the defaults.
            dtype, device: where to put the head (default: the target's, else float32 on CPU).
        """
        from transformers import LlamaConfig

        folder = Path(path)
        config_file = folder / "config.json"
        if not config_file.is_file():
            raise InvalidArgumentError(f"EAGLE-3 head directory {str(folder)!r} has no config.json")
        try:
            raw = json.loads(config_file.read_text())
        except json.JSONDecodeError as err:
            raise InvalidArgumentError(f"{config_file}: not valid JSON ({err})") from None
        for key in ("hidden_size", "num_attention_heads", "intermediate_size", "vocab_size"):
            if key not in raw:
                raise InvalidArgumentError(f"{config_file}: missing {key!r}")
        fields = {k: v for k, v in raw.items() if k not in ("architectures", "model_type", "torch_dtype", "dtype")}
        config = LlamaConfig(**fields)
        state = _read_weights(folder)
        state = {_canonical_name(name): tensor for name, tensor in state.items()}
        head = cls(config)
        if "embed_tokens.weight" not in state:
            embeddings = target.get_input_embeddings().weight if target is not None else None
            expected = tuple(head.embed_tokens.weight.shape)
            if embeddings is None or tuple(embeddings.shape) != expected:
                got = "no target" if embeddings is None else f"target embeddings of shape {tuple(embeddings.shape)}"
                raise InvalidArgumentError(
                    f"{folder}: the checkpoint has no embed_tokens.weight, so the target's input embeddings "
                    f"{expected} are needed; got {got}"
                )
            state["embed_tokens.weight"] = embeddings.detach().to("cpu", torch.float32)
        if "d2t" not in state:
            if head.draft_vocab_size != config.vocab_size:
                raise InvalidArgumentError(
                    f"{folder}: draft_vocab_size {head.draft_vocab_size} differs from vocab_size "
                    f"{config.vocab_size} but the checkpoint has no d2t map"
                )
            state["d2t"] = torch.zeros(head.draft_vocab_size, dtype=torch.long)
        if "t2d" not in state:
            state["t2d"] = torch.zeros(config.vocab_size, dtype=torch.bool)
        expected_shapes = {name: tuple(t.shape) for name, t in head.state_dict().items()}
        missing = sorted(set(expected_shapes) - set(state))
        unexpected = sorted(set(state) - set(expected_shapes))
        if missing or unexpected:
            raise InvalidArgumentError(
                f"{folder}: checkpoint does not match the EAGLE-3 head: missing {missing}, unexpected {unexpected}"
            )
        for name, shape in expected_shapes.items():
            if tuple(state[name].shape) != shape:
                raise InvalidArgumentError(
                    f"{folder}: {name} has shape {tuple(state[name].shape)}, the config implies {shape}"
                )
        state["d2t"] = state["d2t"].to(torch.long)
        state["t2d"] = state["t2d"].to(torch.bool)
        mapped = torch.arange(head.draft_vocab_size) + state["d2t"]
        if mapped.numel() and (int(mapped.min()) < 0 or int(mapped.max()) >= config.vocab_size):
            raise InvalidArgumentError(
                f"{folder}: d2t maps draft ids outside the target vocabulary [0, {config.vocab_size})"
            )
        head.load_state_dict(state)
        if target is not None:
            dtype = dtype or getattr(target, "dtype", None)
            device = device or getattr(target, "device", None)
        return head.to(device=device or "cpu", dtype=dtype or torch.float32).eval()


def _canonical_name(name: str) -> str:
    """Checkpoint key -> our parameter name (some exporters prefix ``model.`` or call the layer
    ``layers.0``)."""
    if name.startswith("model."):
        name = name[len("model.") :]
    if name.startswith("layers.0."):
        name = "midlayer." + name[len("layers.0.") :]
    return name


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    legacy = folder / "pytorch_model.bin"
    if single.is_file():
        from safetensors.torch import load_file

        return load_file(str(single))
    if index.is_file():
        from safetensors.torch import load_file

        shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(folder / shard)))
        return state
    if legacy.is_file():
        loaded = torch.load(str(legacy), map_location="cpu", weights_only=True)
        if not isinstance(loaded, dict):
            raise InvalidArgumentError(f"{legacy}: expected a state dict, got {type(loaded).__name__}")
        return loaded
    raise InvalidArgumentError(
        f"EAGLE-3 head directory {str(folder)!r} has no model.safetensors, "
        f"model.safetensors.index.json or pytorch_model.bin"
    )


class GrowingKV:
    """The draft layer's keys and values of the context, in buffers that grow by doubling (so appending
    a few tokens per step does not copy the whole context every step)."""

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None
        self.length = 0

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        n = keys.shape[2]
        if self.keys is None or self.values is None or self.length + n > self.keys.shape[2]:
            capacity = max(64, 2 * (self.length + n))
            shape = (1, keys.shape[1], capacity, keys.shape[3])
            grown_k = keys.new_empty(shape)
            grown_v = values.new_empty(shape)
            if self.keys is not None and self.values is not None:
                grown_k[:, :, : self.length] = self.keys[:, :, : self.length]
                grown_v[:, :, : self.length] = self.values[:, :, : self.length]
            self.keys, self.values = grown_k, grown_v
        self.keys[:, :, self.length : self.length + n] = keys
        self.values[:, :, self.length : self.length + n] = values
        self.length += n

    def view(self, like: torch.Tensor, kv_heads: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.keys is None or self.values is None:
            empty = like.new_empty((1, kv_heads, 0, head_dim))
            return empty, empty
        return self.keys[:, :, : self.length], self.values[:, :, : self.length]


