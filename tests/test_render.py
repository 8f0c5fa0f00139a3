"""The Gaussian renderer: analytic footprint, compositing order, gradients, channels,
degenerate scenes, tile-vs-dense equality and CPU-vs-gsplat parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from humancrafter import cli
from humancrafter.cameras import Cameras, intrinsics, look_at, orbit_cameras
from humancrafter.portable import splatfile
from humancrafter.portable.parts import PALETTE, part_id
from humancrafter.portable.splatfile import Splats
from humancrafter.preview import contact_sheet, subsample
from humancrafter.render import cpu, rasterize, render_splats


def random_scene(n: int, seed: int = 0, spread: float = 0.4, size: float = 0.03):
    """n random Gaussians in a box around the origin: means, quats, scales, opacities, rgb."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) - 0.5) * 2 * spread
    quats = torch.randn(n, 4, generator=g)
    scales = torch.rand(n, 3, generator=g) * size + 0.002
    opacities = torch.rand(n, generator=g) * 0.9 + 0.05
    colors = torch.rand(n, 3, generator=g)
    return means, quats, scales, opacities, colors


def front_camera(width: int, height: int, distance: float = 2.0) -> Cameras:
    """One camera on +z looking at the origin."""
    eye = torch.tensor([[0.0, 0.0, distance]])
    K = intrinsics(40.0, width, height)
    return Cameras(look_at(eye, torch.zeros(3)), K[None], width, height)


def test_single_gaussian_matches_analytic_footprint_and_peak():
    W = H = 65  # odd: the principal point (32.5, 32.5) is a pixel centre
    cams = front_camera(W, H, distance=2.0)
    f = float(cams.Ks[0, 0, 0])
    s, op = 0.02, 0.8
    colors, alphas, depth = rasterize(
        torch.zeros(1, 3),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]]),
        torch.full((1, 3), s),
        torch.tensor([op]),
        torch.tensor([[1.0, 0.5, 0.25]]),
        cams,
        backend="cpu",
    )
    var2d = (f * s / 2.0) ** 2 + 0.3  # EWA at the image centre plus gsplat's 0.3 px² dilation
    v, u = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    r2 = (u - W / 2) ** 2 + (v - H / 2) ** 2
    expected = op * torch.exp(-0.5 * r2 / var2d)
    expected = torch.where(expected >= 1 / 255, expected, torch.zeros(()))
    assert alphas[0, H // 2, W // 2, 0].item() == pytest.approx(op, abs=1e-6)
    assert torch.allclose(alphas[0, ..., 0], expected, atol=1e-6)
    assert torch.equal(alphas[0, ..., 0] > 0, expected > 0)  # same footprint, pixel for pixel
    assert torch.allclose(colors[0, ..., 1], 0.5 * expected, atol=1e-6)
    covered = alphas[0, ..., 0] > 0
    assert torch.allclose(depth[0, ..., 0][covered], torch.tensor(2.0), atol=1e-5)
    # The footprint radius is sqrt(2 var ln(255 op)) pixels.
    radius = math.sqrt(2 * var2d * math.log(255 * op))
    assert abs(int(covered[H // 2].sum()) - 2 * radius) <= 2


@pytest.mark.parametrize("swap_inputs", [False, True])
def test_compositing_is_front_to_back(swap_inputs: bool):
    means = torch.tensor([[0.0, 0.0, 0.3], [0.0, 0.0, -0.3]])  # red nearer the +z camera
    colors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    order = [1, 0] if swap_inputs else [0, 1]
    args = (
        means[order],
        torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(2, 1),
        torch.full((2, 3), 0.2),
        torch.full((2,), 0.99),
        colors[order],
    )
    cams = orbit_cameras([0.0, 180.0], width=32, height=32)
    out, alpha, depth = rasterize(*args, cams, backend="cpu")
    centre = out[:, 16, 16]
    assert centre[0, 0] > 0.97 and centre[0, 2] < 0.03  # from the front: red
    assert centre[1, 2] > 0.97 and centre[1, 0] < 0.03  # from behind: blue
    assert alpha[:, 16, 16, 0].min() > 0.999
    assert torch.allclose(depth[:, 16, 16, 0], torch.tensor(2.4 - 0.3), atol=2e-2)  # the front one


def test_tile_renderer_equals_dense_reference():
    means, quats, scales, opacities, colors = random_scene(400, seed=1, size=0.08)
    cams = orbit_cameras([0.0, 75.0, 200.0], elevation_deg=[0.0, 20.0, -30.0], width=70, height=45)
    args = (means, quats, scales, opacities, colors, cams.viewmats, cams.Ks, 70, 45)
    bg = torch.tensor([0.2, 0.3, 0.4])
    tiled = cpu.rasterize(*args, backgrounds=bg)
    dense = cpu.rasterize_dense(*args, backgrounds=bg)
    # Small chunks split the work at many tile boundaries; the result must not change.
    chunked = cpu.rasterize(*args, backgrounds=bg, chunk_elements=2000)
    band = cpu.rasterize_dense(*args, backgrounds=bg, rows=(10, 30))
    assert tiled[1].max() > 0.99  # the scene saturates some pixels: early stop is exercised
    for a, b, c in zip(tiled, dense, chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
        assert torch.allclose(a, c, atol=1e-6)
    for a, b in zip(dense, band, strict=True):
        assert torch.equal(a[:, 10:30], b)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    means, quats, scales, opacities, colors = (
        t.double() for t in random_scene(4, seed=3, spread=0.15, size=0.1)
    )
    cams = orbit_cameras([20.0], width=12, height=12, fov_y_deg=25.0)
    vm, Ks = cams.viewmats.double(), cams.Ks.double()
    weights = torch.rand(12, 12, 5, dtype=torch.float64)

    def loss(means, quats, scales, opacities, colors):
        out, alpha, depth = cpu.rasterize(
            means, quats, scales, opacities, colors, vm, Ks, 12, 12, tile_size=4
        )
        return (torch.cat([out, alpha, depth], dim=-1)[0] * weights).sum()

    inputs = tuple(
        t.clone().requires_grad_(True) for t in (means, quats, scales, opacities, colors)
    )
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_feature_channels_render_like_separate_passes():
    means, quats, scales, opacities, colors = random_scene(300, seed=2)
    feats = torch.cat([colors, torch.randn(300, 13)], dim=-1)  # 16 channels
    cams = orbit_cameras([0.0, 120.0], width=40, height=40)
    together, alpha, depth = rasterize(means, quats, scales, opacities, feats, cams, backend="cpu")
    for i in range(0, 16, 5):
        part, alpha_i, depth_i = rasterize(
            means, quats, scales, opacities, feats[:, i : i + 5], cams, backend="cpu"
        )
        assert torch.allclose(together[..., i : i + 5], part, atol=1e-6)
        assert torch.equal(alpha, alpha_i) and torch.equal(depth, depth_i)


def test_empty_scene_and_everything_behind_the_camera():
    cams = orbit_cameras([0.0, 90.0], width=24, height=16)
    bg = torch.tensor([1.0, 0.5, 0.0, 2.0])
    empty = rasterize(
        torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0),
        torch.zeros(0, 4), cams, backend="cpu", background=bg,
    )  # fmt: skip
    assert empty[0].shape == (2, 16, 24, 4) and empty[1].shape == (2, 16, 24, 1)
    assert torch.equal(empty[0], bg.expand(2, 16, 24, 4))
    assert not empty[1].any() and not empty[2].any()

    means, quats, scales, opacities, _ = random_scene(50, seed=4, spread=0.2)
    behind = means + torch.tensor([0.0, 0.0, 5.0])  # beyond the +z camera at radius 2.4
    means_req = behind.clone().requires_grad_(True)
    out, alpha, depth = rasterize(
        means_req, quats, scales, opacities, torch.rand(50, 4), cams[0], backend="cpu",
        background=bg,
    )  # fmt: skip
    assert torch.equal(out[0], bg.expand(16, 24, 4)) and not alpha.any() and not depth.any()
    out.sum().backward()
    assert torch.isfinite(means_req.grad).all() and not means_req.grad.any()


def test_render_splats_renders_colour_and_features_in_one_pass():
    means, quats, scales, opacities, colors = random_scene(200, seed=5)
    splats = Splats.from_activated(
        means.numpy(), colors.numpy(), opacities.numpy(), scales.numpy(), quats.numpy()
    )
    cams = orbit_cameras([0.0, 180.0], width=32, height=32)
    feats = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    out = render_splats(splats, cams, feats, background=(1.0, 1.0, 1.0), backend="cpu")
    assert out.rgb.shape == (2, 32, 32, 3) and out.features.shape == (2, 32, 32, 6)
    ref, alpha, _ = rasterize(
        torch.from_numpy(splats.means), torch.from_numpy(splats.unit_quats()),
        torch.from_numpy(splats.scales()), torch.from_numpy(splats.opacity()),
        torch.from_numpy(feats), cams, backend="cpu",
    )  # fmt: skip
    assert torch.allclose(out.features, ref, atol=1e-6)
    assert torch.allclose(out.rgb[alpha[..., 0] == 0], torch.tensor(1.0))  # white background
    with pytest.raises(ValueError, match="features must be"):
        render_splats(splats, cams, feats[:10], backend="cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA for gsplat")
def test_cpu_matches_gsplat():
    means, quats, scales, opacities, colors = random_scene(3000, seed=6)
    feats = torch.cat([colors, torch.rand(3000, 5)], dim=-1)
    cams = orbit_cameras([0.0, 100.0, 250.0], elevation_deg=[0.0, 15.0, -10.0], width=96, height=80)
    bg = torch.rand(8)
    cpu_out = rasterize(means, quats, scales, opacities, feats, cams, backend="cpu", background=bg)
    gpu_in = [t.cuda() for t in (means, quats, scales, opacities, feats)]
    gpu_out = rasterize(*gpu_in, cams.to("cuda"), backend="gsplat", background=bg.cuda())
    gpu_out = [t.cpu() for t in gpu_out]
    for name, a, b in zip(("colors", "alphas"), cpu_out[:2], gpu_out[:2], strict=True):
        diff = (a - b).abs().max().item()
        assert diff <= 1e-3, f"{name} differs by {diff}"
    # Expected depth divides by alpha, so it is only compared where the pixel is covered
    # (a faint splat at the 1/255 threshold may be kept by one back end and not the other).
    covered = (cpu_out[1] > 0.5) & (gpu_out[1] > 0.5)
    diff = (cpu_out[2] - gpu_out[2])[covered].abs().max().item()
    assert covered.sum() > 1000 and diff <= 1e-3, f"depth differs by {diff}"


def two_part_figure(n: int = 4000, labelled: bool = True) -> Splats:
    """A 1-unit tall slab of grey splats; the person's left half (+x) is labelled
    Left_Upper_Arm, the right half Right_Upper_Arm."""
    g = np.random.default_rng(7)
    means = g.uniform([-0.25, -0.5, -0.05], [0.25, 0.5, 0.05], size=(n, 3)).astype(np.float32)
    part = np.where(means[:, 0] > 0, part_id("Left_Upper_Arm"), part_id("Right_Upper_Arm"))
    return Splats.from_activated(
        means, np.full((n, 3), 0.4), np.full(n, 0.9), np.full((n, 3), 0.012),
        np.tile([1.0, 0, 0, 0], (n, 1)),
        part=part if labelled else None, part_conf=np.ones(n) if labelled else None,
    )  # fmt: skip


def test_contact_sheet_rows_framing_and_part_colours():
    sheet = contact_sheet(two_part_figure(), views=4, size=64, backend="cpu")
    assert sheet.size == (4 * 64, 2 * 64)
    img = np.asarray(sheet).astype(int)
    front_rgb, front_parts = img[:64, :64], img[64:, :64]
    person = np.abs(front_rgb - 102).sum(-1) < 30  # 0.4 grey
    rows, _ = np.nonzero(person)
    assert rows.max() - rows.min() > 0.75 * 64  # auto-framing: the figure fills the height
    _, cols = np.nonzero(np.abs(front_parts - 255).sum(-1) > 30)  # the part row has no label
    assert abs((cols.min() + cols.max()) / 2 - 32) < 3  # and is centred
    # From the front, the person's left (+x) is on the image's right.
    left, right = PALETTE[part_id("Left_Upper_Arm")], PALETTE[part_id("Right_Upper_Arm")]
    assert np.abs(front_parts[32, 40] - left).sum() < 30
    assert np.abs(front_parts[32, 24] - right).sum() < 30
    assert (img[:4, 60:64] > 250).all()  # white background away from the label
    unlabelled = contact_sheet(two_part_figure(labelled=False), views=3, size=48, backend="cpu")
    assert unlabelled.size == (3 * 48, 48)


def test_render_command_writes_a_sheet(tmp_path, capsys):
    path = tmp_path / "figure.ply"
    splatfile.save(path, two_part_figure(500))
    out = tmp_path / "sheet.png"
    assert cli.main(["render", str(path), "-o", str(out), "--views", "2", "--size", "32"]) == 0
    assert Image.open(out).size == (64, 64)
    assert "RGB and part colours" in capsys.readouterr().out
    assert cli.main(["render", str(path), "-o", str(out), "--views", "0"]) == 2
    assert "at least 1 view" in capsys.readouterr().err


def test_a_large_file_previews_from_a_subsample_that_looks_the_same():
    # A dense, faint shell (80,000 splats of opacity 0.02): each pixel sees many of them.
    rng = np.random.default_rng(0)
    n = 80_000
    directions = rng.normal(size=(n, 3))
    means = 0.3 * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    shell = Splats.from_activated(
        means, rng.uniform(0.2, 0.8, (n, 3)), np.full(n, 0.02), np.full((n, 3), 0.01),
        np.tile([1.0, 0, 0, 0], (n, 1)),
    )  # fmt: skip
    few = subsample(shell, 10_000)
    assert len(few) == 10_000 and subsample(few, 10_000) is few
    a = 1 - (1 - 0.02) ** 8  # one kept splat stands for eight
    np.testing.assert_allclose(few.opacity(), a, rtol=1e-4)

    def alpha(splats: Splats) -> torch.Tensor:
        return render_splats(splats, front_camera(64, 64), backend="cpu").alpha[0, ..., 0]

    full, sampled = alpha(shell), alpha(few)
    naive = alpha(shell.subset(np.arange(0, n, 8)))  # a subsample without the compensation
    inside = full > 0.5
    assert inside.float().mean() > 0.1  # the shell covers its disc in the image
    assert (sampled - full)[inside].abs().mean() < 0.05
    assert (naive - full)[inside].abs().mean() > 0.2
    sheet = contact_sheet(shell, views=2, size=48, backend="cpu", max_splats=10_000)
    assert sheet.size == (2 * 48, 48)
