#!/usr/bin/env bash
# The device checks in one prepared script (docs/benchmarks.md, "GPU"): run on a CUDA
# machine from the repository root with the venv built (`make install`). Writes the test
# log and the benchmark table under ${OUT:-out/gpu}.
set -uo pipefail
OUT=${OUT:-out/gpu}
mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -m pytest -q -m gpu tests/test_render.py tests/test_gpu.py 2>&1 | tee "$OUT/gpu_tests.log"
$PY benchmarks/bench_gpu.py --out "$OUT/bench_gpu.md" 2>&1 | tee "$OUT/bench_gpu.log"
