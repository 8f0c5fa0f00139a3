"""CUDA checks (skipped without a GPU): a bf16 training step through gsplat and through
the project's pure-PyTorch rasterizer (what a GPU machine without gsplat trains with), that
rasterizer on CUDA against itself on the CPU, and the full pipeline with tiny weights. The
gsplat vs CPU rasterizer parity test is ``tests/test_render.py::test_cpu_matches_gsplat``.
``tools/gpu_checks.sh`` runs them all with the GPU benchmarks in one go."""

from __future__ import annotations

import csv

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("backend", ["gsplat", "cpu"])
def test_a_bf16_training_step_on_cuda(tmp_path, backend):
    if backend == "gsplat":
        pytest.importorskip("gsplat")
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
        f'device = "cuda"\nbf16 = true\nrender_backend = "{backend}"\n'
    )
    train(load_config(cfg), log=lambda s: None)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == 3 and all(0 < float(r["total"]) < 10 for r in rows)


def test_the_pytorch_rasterizer_on_cuda_matches_the_cpu():
    """The pure-PyTorch rasterizer ("cpu" backend) runs on CUDA tensors with the same
    images and gradients as on the CPU."""
    from humancrafter.cameras import orbit_cameras
    from humancrafter.render import rasterize

    g = torch.Generator().manual_seed(0)
    n = 3000
    means = torch.randn(n, 3, generator=g) * 0.3
    quats = torch.randn(n, 4, generator=g)
    scales = torch.rand(n, 3, generator=g) * 0.03 + 0.005
    opac = torch.rand(n, generator=g)
    colors = torch.rand(n, 5, generator=g)
    cams = orbit_cameras([0.0, 120.0, 240.0], width=64, height=64, radius=2.5)
    outs = []
    for device in ("cpu", "cuda"):
        leaf = means.to(device).requires_grad_(True)
        args = [t.to(device) for t in (quats, scales, opac, colors)]
        image, alpha, depth = rasterize(leaf, *args, cams.to(device), backend="cpu")
        (image.sum() + depth.sum()).backward()
        outs.append([t.detach().cpu() for t in (image, alpha, depth, leaf.grad)])
    for a, b in zip(*outs, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-3)


def test_full_mode_on_cuda_with_tiny_weights(tmp_path):
    pytest.importorskip("diffusers")
    from tiny_weights import write_tiny_weights

    from humancrafter.photo import load_image
    from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions

    root = write_tiny_weights(tmp_path / "weights")
    pipe = Pipeline("cuda", preview_views=2, preview_size=64, weights=str(root))
    result = pipe.run([load_image(DEMO_PHOTO)], ReconstructOptions(mode="full"))
    assert result.splats.labelled and len(result.splats) > 10_000
