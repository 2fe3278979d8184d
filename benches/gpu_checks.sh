#!/usr/bin/env bash
# The checks that need a GPU, as one script for a session that is lent one. Everything is written under
# $OUT (default ./gpu-checks): the Qwen3-8B bf16 cost model, the roofline fitted to it and the H200 preset's
# error against it, the replay speedups it predicts, EAGLE-3's
# drafting cost beside an 8B-shaped verification pass, and the engine's end-to-end comparison on CUDA.
# Weights are random (timings do not depend on them); nothing is downloaded.
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
    ENGINE=(--prompts 1 --max-new-tokens 32 --repeats 1)
else
    COST=(--model qwen3-8b --dtype bf16 --context-lengths 256,1024,4096,16384 --repeats 5)
    EAGLE=(--hidden 4096 --layers 32 --vocab 128256 --draft-vocab 32000 --contexts 1024,4096,16384 --dtype bf16)
    ENGINE=(--prompts 4 --max-new-tokens 256 --hidden 1024 --layers 16 --dtype bf16)
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
if [[ -f ../shared/data/traces/bon8_math_qwen25math.jsonl ]]; then
    specscale replay ../shared/data/traces/bon8_math_qwen25math.jsonl --tokenizer ../shared/tokenizers/qwen2 \
        --methods ar,pld,sam,trie,hybrid,sam-freq,sam-freq-path --cost-model "$OUT/cost.json" \
        --json "$OUT/replay.json" --quiet | tee "$OUT/replay.md"
fi
python benches/eagle3_bench.py --device "$DEVICE" "${EAGLE[@]}" | tee "$OUT/eagle3.txt"
python benches/engine_bench.py --device "$DEVICE" --eagle3 random --no-hf-baselines "${ENGINE[@]}" | tee "$OUT/engine.txt"
