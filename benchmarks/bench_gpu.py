"""GPU figures (needs CUDA; run by ``tools/gpu_checks.sh``): the network alone for 2 views
at the ``tiny`` and ``paper`` sizes (the paper: 126 ms per object), the full 1-view pipeline
with tiny weights, and training steps per second (tiny preset, bf16; rendered by gsplat
and by the project's pure-PyTorch rasterizer on the GPU). A figure whose packages are missing
on the machine (gsplat, diffusers) is reported as not measured, saying which.

Network: random weights (time does not depend on them), 2 views, batch 1, bf16 autocast,
median of 20 calls after 5 warm-ups with ``torch.cuda.synchronize``. The ``paper`` preset
takes a stand-in frozen encoder of DINOv2-S/14's size (12 ViT blocks of width 384), so the
figure includes the encoder's cost without its weights.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from machine import describe_machine  # noqa: E402

RUNS, WARM = 20, 5


def _timed(fn) -> float:  # noqa: ANN001
    for _ in range(WARM):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def network_ms(preset: str) -> float:
    from test_model import views
    from transformers import Dinov2WithRegistersConfig, Dinov2WithRegistersModel

    from humancrafter.model.dino import DinoEncoder
    from humancrafter.model.network import HumanCrafterNet
    from humancrafter.model.options import PRESETS

    opt = PRESETS[preset]
    encoder = None
    if opt.semantic_encoder == "external":
        dino = Dinov2WithRegistersModel(
            Dinov2WithRegistersConfig(hidden_size=384, num_attention_heads=6, patch_size=14)
        )
        encoder = DinoEncoder(dino, opt.patch_size)
    net = HumanCrafterNet(opt, semantic_encoder=encoder).cuda().eval()
    inputs = views(1, 2, size=opt.image_size).to("cuda")

    def run() -> None:
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            net(inputs)

    return 1000 * _timed(run)


def full_pipeline_s() -> float:
    from tiny_weights import write_tiny_weights

    from humancrafter.photo import load_image
    from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions

    root = write_tiny_weights(Path(tempfile.mkdtemp()) / "weights")
    pipe = Pipeline("cuda", weights=str(root))
    image = load_image(DEMO_PHOTO)
    pipe.run([image], ReconstructOptions(mode="full"))
    t0 = time.perf_counter()
    pipe.run([image], ReconstructOptions(mode="full"))
    return time.perf_counter() - t0


def _dataset(root: Path) -> Path:
    """16 subjects of 6 views at 128 px under ``root`` (written once per run)."""
    from humancrafter.synth import write_dataset

    data = root / "synth"
    if not data.exists():
        write_dataset(data, 16, views=6, res=128, seed=0, progress=False)
    return data


def train_steps_per_s(root: Path, backend: str, steps: int = 40) -> float:
    from humancrafter.training.config import load_config
    from humancrafter.training.train import train

    data = _dataset(root)
    cfg = root / f"gpu_{backend}.toml"
    cfg.write_text(
        f'[model]\npreset = "tiny"\n[data]\nroot = "{data}"\ninput_views = [1, 2]\n'
        f'workers = 2\n[train]\nout = "{root / backend}"\nsteps = {steps}\nwarmup = 5\n'
        f'device = "cuda"\nrender_backend = "{backend}"\ncheckpoint_every = 1000\n'
    )
    t0 = time.perf_counter()
    train(load_config(cfg), log=lambda s: None)
    return steps / (time.perf_counter() - t0)


def _missing(*packages: str) -> str | None:
    """'not measured (...)' when one of ``packages`` is not installed, else None."""
    gone = [p for p in packages if importlib.util.find_spec(p) is None]
    return f"not measured ({', '.join(gone)} not installed)" if gone else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gpu.md")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: skipped, no CUDA GPU (tools/gpu_checks.sh runs it on one)")
        return
    root = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    figures = [
        ("network, tiny preset, 2 views (ms)", ("transformers",),
         lambda: f"{network_ms('tiny'):.1f}"),
        ("network, paper preset + DINOv2-S size, 2 views (ms)", ("transformers",),
         lambda: f"{network_ms('paper'):.1f}"),
        ("full pipeline, tiny weights, 1 photo (s)", ("diffusers", "transformers"),
         lambda: f"{full_pipeline_s():.2f}"),
        ("training, tiny preset, bf16 + gsplat (steps/s)", ("gsplat",),
         lambda: f"{train_steps_per_s(root, 'gsplat'):.2f}"),
        ("training, tiny preset, bf16 + PyTorch rasterizer (steps/s)", (),
         lambda: f"{train_steps_per_s(root, 'cpu'):.2f}"),
    ]  # fmt: skip
    rows = []
    for label, needs, figure in figures:
        value = _missing(*needs) or figure()
        rows.append((label, value))
        print(f"{label}: {value}", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    lines = [
        "# GPU", "", f"Machine: {describe_machine()}; GPU {torch.cuda.get_device_name(0)}.", "",
        "| what | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), "",
    ]  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
