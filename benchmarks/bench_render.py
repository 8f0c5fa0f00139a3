"""Benchmark of the CPU Gaussian rasterizer; writes ``benchmarks/results/render.md``.

(a) 20k Gaussians at 256x256: the tile renderer against the dense all-Gaussians x
    all-pixels reference (``cpu.rasterize_dense``), forward and forward+backward, and the
    largest difference between their outputs. Target: >= 10x faster, within 1e-4.
(b) 100k Gaussians at 512x512: tile renderer forward (target <= 1 s) and forward+backward.
(c) ``preview.contact_sheet`` of a published sample (8 views, 256 px), when
    ``../shared/samples`` is present.
(d) The contact sheet of a 1M-splat result (``prior`` mode on the bundled photo): every
    splat against the default 200,000-splat subsample (``preview.subsample``), and the
    PSNR between the two sheets on the person's pixels.

Times are wall-clock medians and minima of ``--repeat`` runs (``--dense-repeat`` for the
dense reference). Run: ``.venv/bin/python benchmarks/bench_render.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from machine import describe_machine

from humancrafter.cameras import orbit_cameras
from humancrafter.render import cpu

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "render.md"
SAMPLES = ROOT.parent / "shared" / "samples"
BAND = 32
DENSE_NOTE = f"timed on a {BAND}-row band, scaled to 256 rows"


def random_scene(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """n Gaussians spread over a person-sized box (0.8 x 1.0 x 0.4 units) with splat
    sizes like the published samples' (std-devs 2-10 mm): means, quats, scales,
    opacities, rgb."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) - 0.5) * torch.tensor([0.8, 1.0, 0.4])
    quats = torch.randn(n, 4, generator=g)
    scales = torch.rand(n, 3, generator=g) * 0.008 + 0.002
    opacities = torch.rand(n, generator=g) * 0.9 + 0.05
    colors = torch.rand(n, 3, generator=g)
    return means, quats, scales, opacities, colors


class Timing:
    """Median and fastest wall-clock seconds of several runs, optionally scaled."""

    def __init__(self, times: list[float], scale: float = 1.0) -> None:
        self.median = statistics.median(times) * scale
        self.fastest = min(times) * scale

    def __truediv__(self, other: Timing) -> float:
        return self.median / other.median

    def cells(self, digits: int = 3) -> tuple[str, str]:
        return f"{self.median:.{digits}f} s", f"{self.fastest:.{digits}f} s"


def timed(fn: Callable[[], object], repeat: int, scale: float = 1.0) -> Timing:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(times, scale)


def big_preview_rows() -> list[tuple[str, str, str, str]]:
    """(d): the preview of a 1M-splat result, drawn whole and from the subsample."""
    import numpy as np

    from humancrafter.photo import load_image
    from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions
    from humancrafter.preview import PREVIEW_MAX_SPLATS, contact_sheet

    options = ReconstructOptions(mode="prior", num_gaussians=1_000_000)
    splats = Pipeline("cpu").run([load_image(DEMO_PHOTO)], options).splats
    sheets = {}

    def sheet(max_splats: int | None) -> None:
        sheets[max_splats] = np.asarray(contact_sheet(splats, 8, 256, "cpu", max_splats), float)

    whole, sampled = timed(lambda: sheet(None), 1), timed(lambda: sheet(PREVIEW_MAX_SPLATS), 1)
    a, b = sheets[None], sheets[PREVIEW_MAX_SPLATS]
    person = ((255 - a).sum(-1) > 30) | ((255 - b).sum(-1) > 30)
    psnr = 10 * np.log10(255**2 / np.mean((a - b)[person] ** 2))
    print(f"1M preview: whole {whole.median:.1f}s, subsample {sampled.median:.1f}s")
    label = f"contact sheet, {len(splats):,} splats ({options.mode}), 8 views x 256 px"
    return [
        (f"{label}: every splat", *whole.cells(1), "one run"),
        (
            f"{label}: {PREVIEW_MAX_SPLATS:,}-splat subsample (the default)",
            *sampled.cells(1),
            f"one run; {whole / sampled:.1f}x faster, {psnr:.1f} dB PSNR to the whole sheet",
        ),
    ]


def forward_backward(render: Callable, scene: tuple[torch.Tensor, ...]) -> None:
    """One forward and backward pass of ``render(means, quats, scales, opacities, colors)``
    with a loss that touches every output."""
    params = [t.clone().requires_grad_(True) for t in scene]
    colors, alphas, depths = render(*params)
    (colors.sum() + alphas.sum() + depths.sum()).backward()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other work on the machine slows the runs)."""
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--dense-repeat", type=int, default=3, help="runs of the dense reference")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    load_before = load_average()

    # (a) tile renderer vs dense reference, 20k Gaussians at 256x256. The dense reference
    # costs the same per pixel everywhere, so it is timed on a band of BAND rows through
    # the middle of the image and scaled to the full image.
    scene = random_scene(20_000)
    cams = orbit_cameras([30.0], width=256, height=256)
    band = (128 - BAND // 2, 128 + BAND // 2)
    scale = 256 / BAND

    def dense(*params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return cpu.rasterize_dense(*params, cams.viewmats, cams.Ks, 256, 256, rows=band)

    def tile(*params: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return cpu.rasterize(*params, cams.viewmats, cams.Ks, 256, 256)

    with torch.no_grad():
        tiled = [t[:, band[0] : band[1]] for t in tile(*scene)]
        diff = max((a - b).abs().max().item() for a, b in zip(tiled, dense(*scene), strict=True))
        fwd_tile = timed(lambda: tile(*scene), args.repeat)
        fwd_dense = timed(lambda: dense(*scene), args.dense_repeat, scale)
    fb_tile = timed(lambda: forward_backward(tile, scene), args.repeat)
    fb_dense = timed(lambda: forward_backward(dense, scene), args.dense_repeat, scale)
    print(
        f"20k@256 fwd: tile {fwd_tile.median:.3f}s dense {fwd_dense.median:.3f}s, diff {diff:.2e}"
    )
    print(f"20k@256 fwd+bwd: tile {fb_tile.median:.3f}s dense {fb_dense.median:.3f}s")
    rows += [
        ("20k Gaussians, 256x256, forward: tile", *fwd_tile.cells(), ""),
        ("20k Gaussians, 256x256, forward: dense reference", *fwd_dense.cells(1), DENSE_NOTE),
        ("speed-up, forward (medians)", f"{fwd_dense / fwd_tile:.0f}x", "", "target >= 10x"),
        ("20k Gaussians, 256x256, forward+backward: tile", *fb_tile.cells(), ""),
        ("20k Gaussians, 256x256, forward+backward: dense", *fb_dense.cells(1), DENSE_NOTE),
        ("speed-up, forward+backward (medians)", f"{fb_dense / fb_tile:.0f}x", "", "target >= 10x"),
        (
            f"max abs difference tile vs dense (rgb, alpha, depth; rows {band[0]}-{band[1]})",
            f"{diff:.1e}",
            "",
            "target <= 1e-4",
        ),
    ]

    # (b) 100k Gaussians at 512x512.
    scene = random_scene(100_000, seed=1)
    cams = orbit_cameras([30.0], width=512, height=512)
    with torch.no_grad():
        fwd_big = timed(
            lambda: cpu.rasterize(*scene, cams.viewmats, cams.Ks, 512, 512), args.repeat
        )
    fb_big = timed(
        lambda: forward_backward(
            lambda *p: cpu.rasterize(*p, cams.viewmats, cams.Ks, 512, 512), scene
        ),
        args.repeat,
    )
    print(f"100k@512: fwd {fwd_big.median:.3f}s, fwd+bwd {fb_big.median:.3f}s")
    rows += [
        ("100k Gaussians, 512x512, forward: tile", *fwd_big.cells(), "target <= 1 s"),
        ("100k Gaussians, 512x512, forward+backward: tile", *fb_big.cells(), ""),
    ]

    # (c) Contact sheet of a published sample.
    sample = SAMPLES / "hc_novel_10.ply"
    if sample.exists():
        from humancrafter.portable import splatfile
        from humancrafter.preview import contact_sheet

        splats = splatfile.load(sample)
        sheet = timed(lambda: contact_sheet(splats, 8, 256, backend="cpu"), args.repeat)
        print(f"contact sheet: {sheet.median:.3f}s")
        rows.append((f"contact sheet, {len(splats)} splats, 8 views x 256 px", *sheet.cells(), ""))

    rows += big_preview_rows()

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# CPU Gaussian rasterizer",
        "",
        "Written by `benchmarks/bench_render.py`: wall-clock medians and fastest of",
        f"{args.repeat} runs ({args.dense_repeat} for the dense reference). Scenes: random",
        "Gaussians in a person-sized box with sample-like splat sizes, one orbit camera at",
        "2.4 units. The dense reference evaluates every visible Gaussian at every pixel",
        "(its backward recomputes each pixel chunk, to fit in memory); its cost is the same",
        f"for every pixel row, so it is timed on a {BAND}-row band and scaled by {256 // BAND}.",
        "",
        f"Machine: {describe_machine()}. Load average (1, 5, 15 min) before: {load_before};",
        f"after: {load_average()} (other jobs sharing the cores inflate the medians; the",
        "fastest run is the best estimate of an idle machine).",
        "",
        "| measurement | median | fastest | note |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
