"""The HumanCrafter network: attention, pixel-aligned aggregation, shapes, the step-0
prior skip, checkpoints."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from humancrafter.cameras import orbit_cameras, unproject
from humancrafter.model.attention import (
    GQAttention,
    attend,
    attention_probabilities,
    pixel_aligned_aggregation,
)
from humancrafter.model.checkpoint import CheckpointError, load_model, read_metadata, save_model
from humancrafter.model.gaussians import PixelGaussians, person_colours
from humancrafter.model.inputs import ViewInputs, fill_prior, fill_prior_dense, input_channels
from humancrafter.model.network import HumanCrafterNet
from humancrafter.model.options import PRESETS, ModelOptions, preset
from humancrafter.model.predict import carve, predict_splats

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = ModelOptions(
    image_size=32, patch_size=8, dim=32, depth=2, heads=4, kv_heads=2, semantic_dim=16,
    decoder_channels=8, embed_dim=8,
)  # fmt: skip


def views(B: int, V: int, size: int = 32, seed: int = 0) -> ViewInputs:
    """Random but well-formed input views around a person-sized blob."""
    g = torch.Generator().manual_seed(seed)
    cams = orbit_cameras(torch.arange(V) * 360.0 / V, width=size, height=size)
    mask = torch.zeros(B, V, 1, size, size)
    mask[..., size // 4 : 3 * size // 4, size // 3 : 2 * size // 3] = 1
    depth = torch.full((B, V, 2, size, size), 2.3)
    depth[:, :, 1] = 2.5
    return ViewInputs(
        rgb=torch.rand(B, V, 3, size, size, generator=g),
        mask=mask,
        viewmats=cams.viewmats[None].repeat(B, 1, 1, 1),
        Ks=cams.Ks[None].repeat(B, 1, 1, 1),
        prior_depth=depth,
        prior_normal=torch.nn.functional.normalize(
            torch.randn(B, V, 3, size, size, generator=g), dim=2
        ),
        prior_part=torch.randint(0, 28, (B, V, size, size), generator=g),
        prior_hit=mask.clone(),
    )


def test_fused_attention_equals_the_reference_with_grouped_kv_and_bias():
    g = torch.Generator().manual_seed(1)
    q = torch.randn(2, 4, 10, 8, generator=g)
    k = torch.randn(2, 2, 10, 8, generator=g)
    v = torch.randn(2, 2, 10, 8, generator=g)
    bias = torch.randn(4, 10, 10, generator=g)
    probs = attention_probabilities(q, k, bias)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 4, 10), atol=1e-5)
    expected = probs @ v.repeat_interleave(2, dim=1)
    assert torch.allclose(attend(q, k, v, bias), expected, atol=1e-5)


def test_pixel_aligned_aggregation_re_uses_the_attention_and_has_no_parameters():
    """softmax(QK^T/sqrt(d) + B) of the block itself, with f as values, per head slice."""
    torch.manual_seed(0)
    attn = GQAttention(dim=32, heads=4, kv_heads=2)
    x = torch.randn(1, 12, 32)
    bias = torch.randn(4, 12, 12)
    _, (q, k) = attn(x, bias)
    f = torch.randn(1, 12, 16)
    got = pixel_aligned_aggregation(q, k, bias, f)
    # Explicit recomputation from the block's own projections.
    q2, k2, _ = attn.queries_keys(x)
    probs = attention_probabilities(q2, k2, bias)  # (1, 4, 12, 12)
    want = torch.cat([probs[:, h] @ f[..., 4 * h : 4 * h + 4] for h in range(4)], dim=-1)
    assert torch.allclose(got, want, atol=1e-5)
    # It adds no parameters: the networks with and without it differ only in the input
    # width of the one convolution that reads the aggregated features.
    with_agg = HumanCrafterNet(SMALL)
    without = HumanCrafterNet(dataclasses.replace(SMALL, pixel_aligned_aggregation=False))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    extra = SMALL.semantic_dim * SMALL.decoder_channels * SMALL.patch_size**2
    assert count(with_agg) - count(without) == extra


@pytest.mark.parametrize(("V", "L"), [(1, 2), (2, 2), (3, 3)])
def test_any_number_of_views_and_layers(V, L):
    opt = dataclasses.replace(SMALL, layers_per_pixel=L)
    net = HumanCrafterNet(opt)
    g = net(views(2, V))
    assert g.means.shape == (2, V, L, 32, 32, 3)
    assert g.quats.shape == (2, V, L, 32, 32, 4) and g.embed.shape[-1] == opt.embed_dim
    assert torch.allclose(g.quats.norm(dim=-1), torch.ones(()), atol=1e-5)
    assert (g.scales > 0).all() and ((g.opacities > 0) & (g.opacities < 1)).all()
    # Gaussians only on the (dilated) person mask, the same pixels in every layer.
    keep = g.keep[0, 0, 0]
    assert keep[16, 16] and not keep[0, 0] and bool((g.keep[:, :, :1] == g.keep).all())


def test_step_zero_is_the_prior_and_the_photo():
    """With the head at its zero initialisation, layer 0 sits on the prior's front surface
    at each pixel's ray, layer 1 on its back, colours are the photo's and the decoded parts
    the prior's."""
    net = HumanCrafterNet(SMALL)
    vi = views(1, 2)
    g = net(vi)
    cams = vi.cameras(0)
    v, u = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    uv = torch.stack([u, v], -1).reshape(1, -1, 2).expand(2, -1, -1)
    front = unproject(uv, vi.prior_depth[0, :, 0].reshape(2, -1), cams).view(2, 32, 32, 3)
    back = unproject(uv, vi.prior_depth[0, :, 1].reshape(2, -1), cams).view(2, 32, 32, 3)
    assert torch.allclose(g.means[0, :, 0], front, atol=1e-4)
    assert torch.allclose(g.means[0, :, 1], back, atol=1e-4)
    person = vi.mask[0, :, 0] > 0.5
    rgb = vi.rgb[0].permute(0, 2, 3, 1).clamp(0.02, 0.98)
    assert torch.allclose(g.rgb[0, :, 0][person], rgb[person], atol=1e-4)
    labels = net.part_logits(g.embed[0, :, 0]).argmax(-1)
    assert torch.equal(labels, vi.prior_part[0])


def test_rim_pixels_take_the_person_colour_not_the_background():
    rgb = torch.zeros(1, 1, 3, 8, 8)
    rgb[..., :4] = 1.0  # person white, background black
    mask = torch.zeros(1, 1, 1, 8, 8)
    mask[..., :4] = 1
    out = person_colours(rgb, mask)
    assert torch.allclose(out[..., 4], torch.ones(())) and float(out[..., 7].max()) == 0.0


def test_fill_prior_grows_from_the_nearest_body_pixels():
    depth = torch.zeros(1, 2, 9, 9)
    depth[0, :, :, :3] = torch.tensor([2.0, 2.4])[:, None, None]
    normal = torch.zeros(1, 3, 9, 9)
    normal[0, 2, :, :3] = 1
    part = torch.zeros(1, 9, 9, dtype=torch.long)
    part[0, :, :3] = 21
    d, n, p, hit = fill_prior(depth, normal, part)
    assert torch.allclose(d[0, 0], torch.full((9, 9), 2.0)) and torch.allclose(
        d[0, 1], torch.full((9, 9), 2.4)
    )
    assert bool((p == 21).all()) and torch.allclose(n[0, 2], torch.ones(9, 9))
    assert hit[0, 0, :, :3].all() and not hit[0, 0, :, 3:].any()


@pytest.mark.parametrize("max_iters", [64, 5])
def test_fill_prior_equals_its_dense_reference(max_iters):
    # The mannequin ray cast from two orbit cameras, and a third camera that misses it.
    from humancrafter.body.mannequin import Appearance, BodyParams, build_primitives
    from humancrafter.body.raycast import raycast_primitives
    from humancrafter.cameras import orbit_cameras

    cams = orbit_cameras([20.0, 200.0], width=96, height=96)
    r = raycast_primitives(build_primitives(BodyParams.neutral(), Appearance.plain()), cams)
    depth = torch.stack([r.depth, r.back_depth], 1)
    depth = torch.cat([depth, torch.zeros_like(depth[:1])])
    normal = torch.cat([r.normal, torch.zeros_like(r.normal[:1])]).permute(0, 3, 1, 2)
    part = torch.cat([r.part, torch.zeros_like(r.part[:1])])
    fast = fill_prior(depth, normal, part, max_iters)
    dense = fill_prior_dense(depth, normal, part, max_iters)
    for a, b in zip(fast[:2], dense[:2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert (fast[2] == dense[2]).float().mean() > 0.999  # ties of the part vote may differ
    torch.testing.assert_close(fast[3], dense[3])
    assert bool((fast[0][:2, :, 2:-2, 2:-2] > 0).all())  # grown over the whole view


def test_carving_drops_gaussians_another_view_sees_as_background():
    # Two views, 90 degrees apart, of a 0.3 x 0.4 box at the origin (the mask of ``views``).
    cams = orbit_cameras([0.0, 90.0], width=32, height=32)
    vi = dataclasses.replace(views(1, 2, size=32), viewmats=cams.viewmats[None], Ks=cams.Ks[None])
    B, V, L, H, W = 1, 2, 1, 32, 32
    means = torch.zeros(B, V, L, H, W, 3)
    means[0, 0, 0, 0, 0] = torch.tensor([0.0, 0.0, 0.4])  # in front of the box: view 1
    # sees it far to the side of the person -> carved
    means[0, 0, 0, 0, 1] = torch.tensor([0.0, 0.0, 0.05])  # inside the box -> kept
    means[0, 0, 0, 0, 2] = torch.tensor([0.0, 5.0, 0.0])  # out of view 1's image -> kept
    g = PixelGaussians(
        means, torch.zeros(B, V, L, H, W, 4), torch.ones(B, V, L, H, W, 3),
        torch.ones(B, V, L, H, W), torch.zeros(B, V, L, H, W, 3), torch.zeros(B, V, L, H, W, 2),
        torch.ones(B, V, L, H, W, dtype=torch.bool),
    )  # fmt: skip
    kept = carve(g, vi, dilation=1).keep[0, 0, 0, 0]
    assert kept[:3].tolist() == [False, True, True]
    one = PixelGaussians(*(t[:, :1] for t in (g.means, g.quats, g.scales, g.opacities, g.rgb,
                                              g.embed, g.keep)))  # fmt: skip
    assert carve(one, vi.select_views([0]), 1).keep.all()  # one view: nothing to carve


def test_input_channels_count():
    vi = views(1, 2)
    assert input_channels(vi, True).shape == (2, 44, 32, 32)
    assert input_channels(vi, False).shape == (2, 10, 32, 32)


def test_checkpoint_round_trip_float16_and_refusals(tmp_path):
    torch.manual_seed(3)
    net = HumanCrafterNet(SMALL).eval()
    with torch.no_grad():
        net.head.weight.normal_(0, 0.1)  # a non-trivial head
    vi = views(1, 1)
    path = tmp_path / "m.safetensors"
    save_model(path, net, {"step": 7})
    loaded, info = load_model(path)
    assert info["step"] == 7 and loaded.opt == SMALL
    with torch.no_grad():
        assert torch.equal(net(vi).means, loaded(vi).means)
    save_model(tmp_path / "h.safetensors", net, half=True)
    half, _ = load_model(tmp_path / "h.safetensors")
    with torch.no_grad():
        assert (net(vi).means - half(vi).means).abs().max() < 1e-2
    assert (tmp_path / "h.safetensors").stat().st_size < 0.6 * path.stat().st_size
    assert read_metadata(path)[0] == SMALL
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.safetensors")


def test_predicted_splats_are_labelled():
    net = HumanCrafterNet(SMALL).eval()
    (splats,) = predict_splats(net, views(1, 1))
    assert splats.labelled and len(splats) == 2 * int(net(views(1, 1)).keep[0, 0, 0].sum())
    assert (splats.part_conf > 0).all() and (splats.part_conf <= 1).all()


def test_presets_and_option_checks():
    assert set(PRESETS) == {"tiny", "paper"}
    assert preset("tiny", depth=2).depth == 2
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="kv_heads must divide"):
        ModelOptions(heads=8, kv_heads=3)
    with pytest.raises(ValueError, match="unknown model options: colour"):
        ModelOptions.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="needs the encoder module"):
        HumanCrafterNet(preset("paper"))
