#!/usr/bin/env bash
# The checks that need a GPU, as one script for a session that is lent one. Everything is written under
# $OUT (default ./gpu-checks): the Qwen3-8B bf16 cost model, the roofline fitted to it and the H200 preset's
# error against it, the replay speedups it predicts, EAGLE-3's
# drafting cost beside an 8B-shaped verification pass, and the engine's end-to-end comparison on CUDA:
# Qwen3-8B's architecture in bf16 with every registered method that needs no file, EAGLE-3 and SAM[EAGLE-3]
# with a random head, each method's greedy output checked against model.generate token for token, and its
# speedup over plain decoding (engine.json). Weights are random (timings do not depend on them; random
# weights repeat themselves, so acceptance is not a real model's); the tokenizer is ../shared's Qwen one;
# nothing is downloaded. Sized for about 8 minutes on one H200.
#
#   OUT=/tmp/gpu bash benches/gpu_checks.sh            # on the GPU machine, from the repository root
#   SMALL=1 OUT=/tmp/gpu bash benches/gpu_checks.sh    # the same steps at toy sizes, to try it on a CPU
set -euo pipefail
OUT=${OUT:-gpu-checks}
mkdir -p "$OUT"
DEVICE=${DEVICE:-cuda}
if [[ -n "${SMALL:-}" ]]; then
    DEVICE=cpu
    COST=(--model tiny-llama --dtype fp32 --context-lengths 256 --draft-tokens 1,8,64 --repeats 2)
    EAGLE=(--hidden 256 --layers 4 --vocab 32000 --draft-vocab 8000 --contexts 512 --repeats 2 --dtype fp32)
    ENGINE=(--model tiny --dtype fp32 --prompts 1 --max-new-tokens 24 --repeats 1 --threads 1)
    REPLAY=(--limit 2)
else
    COST=(--model qwen3-8b --dtype bf16 --context-lengths 256,1024,4096,16384 --repeats 5)
    EAGLE=(--hidden 4096 --layers 32 --vocab 128256 --draft-vocab 32000 --contexts 1024,4096,16384 --dtype bf16)
    ENGINE=(--model qwen3-8b --dtype bf16 --prompts 2 --max-new-tokens 128 --repeats 1)
    REPLAY=()
fi
python -c "import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))" | tee "$OUT/device.txt"
# The package must be importable (a machine without network needs a carried, built environment).
python -c "import specscale._core" 2>/dev/null || pip install -e . -q
specscale costmodel --device "$DEVICE" "${COST[@]}" --out "$OUT/cost.json" --no-progress | tee "$OUT/costmodel.md"
# The roofline against the measured table: fitted to it, and (on a GPU) the preset's published figures
# checked against it. ROOFLINE names the preset of the GPU the script runs on.
specscale costmodel --calibrate "$OUT/cost.json" --out "$OUT/roofline-fitted.json" | tee "$OUT/roofline.md"
if [[ -z "${SMALL:-}" ]]; then
    specscale costmodel --calibrate "$OUT/cost.json" --roofline "${ROOFLINE:-h200}" | tee -a "$OUT/roofline.md"
fi
# Every method trace replay can run (the registry's model-free ones that need no file): the reference rows
# and ours, with the speedups the measured cost model predicts from their replayed steps.
REPLAYABLE=$(python -c "from specscale import methods as m; print(','.join(n for n in m.model_free_names() if m.get(n).missing({}) is None))")
if [[ -f ../shared/data/traces/bon8_math_qwen25math.jsonl ]]; then
    specscale replay ../shared/data/traces/bon8_math_qwen25math.jsonl --tokenizer ../shared/tokenizers/qwen2 \
        --methods "$REPLAYABLE" --cost-model "$OUT/cost.json" ${REPLAY[@]+"${REPLAY[@]}"} \
        --json "$OUT/replay.json" --quiet | tee "$OUT/replay.md"
fi
python benches/eagle3_bench.py --device "$DEVICE" "${EAGLE[@]}" | tee "$OUT/eagle3.txt"
python benches/engine_bench.py --device "$DEVICE" --eagle3 random --no-hf-baselines --ignore-eos "${ENGINE[@]}" \
    --json "$OUT/engine.json" | tee "$OUT/engine.txt"
# specscale's vLLM proposers on CUDA: AR (vLLM without speculation), vLLM's ngram and suffix (where
# arctic-inference is installed) and specscale's sam/trie/hybrid, single and Best-of-4 as one n=4 batch, on
# a random-weight Qwen3-8B-shaped target (load_format=dummy: nothing downloaded; the Qwen2 tokenizer of
# ../shared); then the proposer's time per engine step at batch 64 (8 prompts x n=8) against the step.
# Random weights give real step times and real proposer costs, not a real model's acceptance.
if python -c "import vllm, torch; assert torch.cuda.is_available()" 2>/dev/null; then
    python benches/vllm_bench.py --random-model qwen3-8b --dtype bfloat16 --limit 5 --max-new-tokens 512 \
        --max-model-len 4096 --out "$OUT/vllm" | tee "$OUT/vllm.md"
    python benches/vllm_overhead.py --engine --random-model qwen3-8b --dtype bfloat16 --max-new-tokens 512 \
        --out "$OUT/vllm-overhead" | tee "$OUT/vllm-overhead.txt"
elif [[ -n "${SMALL:-}" ]] && python -c "import vllm" 2>/dev/null; then
    python benches/vllm_bench.py --limit 1 --max-new-tokens 32 --methods ar,sam+ --out "$OUT/vllm" | tee "$OUT/vllm.md"
else
    echo "vLLM checks skipped: vllm is not importable or CUDA is not available" | tee "$OUT/vllm.md"
fi
