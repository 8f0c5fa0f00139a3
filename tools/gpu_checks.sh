#!/usr/bin/env bash
# The device checks in one prepared script (docs/benchmarks.md, "GPU"): run on a CUDA
# machine from the repository root, with the venv built (`make install`) or, on a machine
# that only has its own PyTorch (no package index), with its python3 and the package
# imported from backend/ (gsplat's checks then skip). Writes the test log and the
# benchmark table under ${OUT:-out/gpu}.
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
if [ -z "${PY:-}" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="backend${PYTHONPATH:+:$PYTHONPATH}"
for module in torch numpy PIL scipy safetensors tqdm torchmetrics pytest; do
    $PY -c "import $module" 2>/dev/null || { echo "gpu_checks: $PY cannot import $module" >&2; exit 2; }
done
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee "$OUT/torch.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -m pytest -q -m gpu tests/test_render.py tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
$PY benchmarks/bench_gpu.py --out "$OUT/bench_gpu.md" 2>&1 | tee "$OUT/bench_gpu.log"
