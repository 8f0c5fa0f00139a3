"""``tools/gpu_train.py``, the prepared GPU training run: its step arithmetic here, the
whole run (data, timing, training, evaluation) on CUDA only (it takes minutes on a CPU;
``--device cpu`` is its documented dry run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import gpu_train  # noqa: E402


def test_seconds_per_step_skips_the_start_up(tmp_path):
    log = tmp_path / "log.csv"
    rows = ["step,total,seconds", "10,1.0,30.0", "20,1.0,32.0", "30,1.0,34.0"]
    log.write_text("\n".join(rows) + "\n")
    # from the row a third of the way in (step 20) to the last: 2 s for 10 steps
    assert gpu_train.seconds_per_step(log) == pytest.approx(0.2)
    log.write_text("step,total,seconds\n10,1.0,5.0\n")
    with pytest.raises(ValueError, match="too few rows"):
        gpu_train.seconds_per_step(log)


def test_steps_fit_the_budget():
    assert gpu_train.steps_for(300.0, 0.25) == 1200
    assert gpu_train.steps_for(300.0, 0.7) == 420  # 428 rounded down to tens
    assert gpu_train.steps_for(1.0, 5.0) == 10  # never fewer than the minimum


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_whole_run_on_cuda(tmp_path):
    out = tmp_path / "out"
    argv = ["--minutes", "0.2", "--subjects", "12", "--eval-limit", "2", "--out", str(out),
            "--work", str(tmp_path / "work"), "--workers", "2", "--batch-size", "2"]  # fmt: skip
    assert gpu_train.main(argv) == 0
    report = json.loads((out / "gpu_train.json").read_text())
    assert report["cuda"] and report["steps"] >= 10
    assert {"data", "timing", "train", "eval"} <= set(report["seconds"])
    assert (out / "model.safetensors").stat().st_size > 1_000_000
    assert "| 1 view | network |" in (out / "eval.md").read_text()
