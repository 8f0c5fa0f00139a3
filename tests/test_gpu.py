"""CUDA checks (skipped without a GPU): a bf16 training step through gsplat, and the
full pipeline with tiny weights. The gsplat vs CPU rasterizer parity test is
``tests/test_render.py::test_cpu_matches_gsplat``. ``tools/gpu_checks.sh`` runs them all
with the GPU benchmarks in one go."""

from __future__ import annotations

import csv

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def test_a_bf16_training_step_on_cuda_with_gsplat(tmp_path):
    from humancrafter.synth import write_dataset
    from humancrafter.training.config import load_config
    from humancrafter.training.train import train

    data = tmp_path / "synth"
    write_dataset(data, 2, views=3, res=64, seed=3, workers=1, progress=False)
    cfg = tmp_path / "gpu.toml"
    cfg.write_text(
        '[model]\npreset = "tiny"\nimage_size = 64\n'
        f'[data]\nroot = "{data}"\nsupervise_views = 2\nworkers = 0\n'
        f'[train]\nout = "{tmp_path / "run"}"\nsteps = 3\nwarmup = 1\nlog_every = 1\n'
        'device = "cuda"\nbf16 = true\nrender_backend = "gsplat"\n'
    )
    train(load_config(cfg), log=lambda s: None)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == 3 and all(0 < float(r["total"]) < 10 for r in rows)


def test_full_mode_on_cuda_with_tiny_weights(tmp_path):
    from tiny_weights import write_tiny_weights

    from humancrafter.photo import load_image
    from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions

    root = write_tiny_weights(tmp_path / "weights")
    pipe = Pipeline("cuda", preview_views=2, preview_size=64, weights=str(root))
    result = pipe.run([load_image(DEMO_PHOTO)], ReconstructOptions(mode="full"))
    assert result.splats.labelled and len(result.splats) > 10_000
