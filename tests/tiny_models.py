"""Tiny random-weight causal LMs built from configs (no downloads), for the engine tests.

Each builder seeds torch, so a given (arch, vocab) is always the same model. The models are small enough
that a forward pass costs well under a millisecond of compute on a CPU core, and fp32 so that greedy
decisions are not at the mercy of bf16 rounding.
"""

from __future__ import annotations

import torch

# Tiny models gain nothing from intra-op threads, and on a shared 2-core box threads only add jitter.
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config

ARCHS = ("llama", "qwen2", "qwen3", "gpt2")
EOS = 1  # tests pass eos explicitly; the configs' own defaults do not matter


def tiny_config(arch: str, vocab_size: int = 96, layers: int = 2, attn: str = "sdpa"):
    # Llama, Qwen2 and Qwen3 take the same shape; Qwen3 also names its head size.
    decoder = {"llama": (LlamaConfig, {}), "qwen2": (Qwen2Config, {}), "qwen3": (Qwen3Config, {"head_dim": 8})}
    if arch in decoder:
        config_class, extra = decoder[arch]
        cfg = config_class(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=0,
            eos_token_id=EOS,
            pad_token_id=0,
            **extra,
        )
    elif arch == "gpt2":
        cfg = GPT2Config(
            vocab_size=vocab_size,
            n_embd=32,
            n_layer=layers,
            n_head=4,
            n_positions=512,
            bos_token_id=0,
            eos_token_id=EOS,
            pad_token_id=0,
        )
    else:
        raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")
    cfg._attn_implementation = attn
    return cfg


def tiny_model(arch: str, vocab_size: int = 96, seed: int = 0, attn: str = "sdpa", scale: float = 1.0):
    """A tiny fp32 model in eval mode. ``scale`` multiplies the output head so that distributions are
    sharper (> 1) or flatter (< 1): sharp models loop, which lookup drafters need to be exercised."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(arch, vocab_size, attn=attn), dtype=torch.float32)
    if scale != 1.0:
        with torch.no_grad():
            head = model.get_output_embeddings()
            if model.config.tie_word_embeddings:
                # Untie so the scale changes the logits only, not the input embeddings.
                head.weight = torch.nn.Parameter(head.weight.detach().clone() * scale)
            else:
                head.weight.mul_(scale)
    model.eval()
    return model


def reference_greedy(model, prompt: list[int], max_new_tokens: int, eos_token_id=None) -> list[int]:
    """Plain ``model.generate(do_sample=False)`` new tokens, the ground truth for greedy equality."""
    ids = torch.tensor([prompt], dtype=torch.long)
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=eos_token_id,
            pad_token_id=0,
            min_new_tokens=0,
        )
    return out[0, len(prompt) :].tolist()
