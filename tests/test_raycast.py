"""The analytic ray caster: exact intersections, agreement with the camera convention and with
the surface sampler, and consistency of its outputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from humancrafter.body.appearance import Appearance, MaterialTable
from humancrafter.body.mannequin import (
    MAX_PLANES,
    BodyParams,
    Primitives,
    build_primitives,
    round_cone_sdf,
    sample_surface,
)
from humancrafter.body.poses import sample_pose
from humancrafter.body.raycast import raycast, raycast_primitives
from humancrafter.cameras import orbit_cameras, pixel_rays, project
from humancrafter.portable.parts import PART_IDS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _single(
    length: float, r0: float, r1: float, to_world: torch.Tensor | None = None,
    origin=(0.0, 0.0, 0.0), planes: list[tuple[float, float, float, float]] = (),
) -> Primitives:  # fmt: skip
    A = torch.eye(3) if to_world is None else to_world
    pl = torch.zeros(1, MAX_PLANES, 4)
    pl[0, :, 3] = 1.0
    for k, row in enumerate(planes):
        pl[0, k] = torch.tensor(row)
    return Primitives(
        origin=torch.tensor([origin], dtype=torch.float32),
        to_world=A[None],
        to_local=torch.linalg.inv(A)[None],
        length=torch.tensor([length]),
        r0=torch.tensor([r0]),
        r1=torch.tensor([r1]),
        planes=pl,
        part=torch.tensor([PART_IDS["Torso"]]),
        material=torch.tensor([0]),
        bone=torch.tensor([0]),
        tex_rot=torch.eye(3)[None],
        tex_off=torch.zeros(1, 3),
        names=["test"],
        materials=MaterialTable.of(Appearance.plain()),
    )


def test_sphere_depth_is_exact():
    cams = orbit_cameras([0.0, 90.0], radius=2.0, width=65, height=65)
    out = raycast_primitives(_single(0.0, 0.3, 0.3), cams)
    c = 32  # the centre pixel looks straight at the origin
    assert out.depth[:, c, c].tolist() == pytest.approx([1.7, 1.7], abs=1e-5)
    assert out.back_depth[:, c, c].tolist() == pytest.approx([2.3, 2.3], abs=1e-5)
    # Every hit point lies on the sphere, and the mask is its exact projected disc.
    pts = out.points[out.mask]
    assert torch.allclose(pts.norm(dim=-1), torch.full((len(pts),), 0.3), atol=1e-5)
    f = float(cams.Ks[0, 0, 0])
    r_px = f * math.tan(math.asin(0.3 / 2.0))
    assert int(out.mask[0].sum()) == pytest.approx(math.pi * r_px**2, rel=0.03)


def test_ellipsoid_and_round_cone_and_cut():
    cams = orbit_cameras([0.0], radius=2.0, width=81, height=81)
    # An ellipsoid 0.1 x 0.4 x 0.2: at the centre pixel the depth is 2 - 0.2.
    ell = _single(0.0, 1.0, 1.0, torch.diag(torch.tensor([0.1, 0.4, 0.2])))
    out = raycast_primitives(ell, cams)
    assert float(out.depth[0, 40, 40]) == pytest.approx(1.8, abs=1e-5)
    assert float(out.back_depth[0, 40, 40]) == pytest.approx(2.2, abs=1e-5)
    hit = out.points[0][out.mask[0]]
    on = ((hit / torch.tensor([0.1, 0.4, 0.2])) ** 2).sum(-1)
    assert torch.allclose(on, torch.ones_like(on), atol=1e-4)
    # A round cone from y = -0.3 (r 0.2) to y = 0.3 (r 0.1); every hit on its surface.
    cone = _single(0.6, 0.2, 0.1, origin=(0.0, -0.3, 0.0))
    out = raycast_primitives(cone, cams)
    local = out.points[0][out.mask[0]] - torch.tensor([0.0, -0.3, 0.0])
    n = len(local)
    d = round_cone_sdf(local, torch.full((n,), 0.6), torch.full((n,), 0.2), torch.full((n,), 0.1))
    assert d.abs().max() < 1e-4
    # Cutting it at z <= 0.05 makes a flat face there, seen from the front.
    cut = _single(0.6, 0.2, 0.1, origin=(0.0, -0.3, 0.0), planes=[(0.0, 0.0, 1.0, 0.05)])
    out = raycast_primitives(cut, cams)
    assert float(out.depth[0, 40, 40]) == pytest.approx(2.0 - 0.05, abs=1e-5)
    assert torch.allclose(out.normal[0, 40, 40], torch.tensor([0.0, 0.0, 1.0]), atol=1e-5)


def test_hit_points_project_to_their_pixel():
    """A point found by the ray caster projects through cameras.project (the Gaussian
    renderer's camera path) to the centre of the pixel that found it, at its depth."""
    pose, _ = sample_pose(np.random.default_rng(3), "walking")
    p = BodyParams(torch.zeros(10), pose, torch.zeros(3))
    cams = orbit_cameras([0.0, 70.0, 200.0], [5.0, 15.0, -5.0], width=96, height=80)
    out = raycast(p, Appearance.sample(np.random.default_rng(3)), cams)
    for c in range(len(cams)):
        v, u = out.mask[c].nonzero(as_tuple=True)
        uv, z = project(out.points[c][v, u], cams[c])
        centre = torch.stack([u.float() + 0.5, v.float() + 0.5], -1)
        assert (uv[0] - centre).abs().max() < 2e-3
        assert torch.allclose(z[0], out.depth[c][v, u], atol=1e-5)
        # The same point lies on the ray of cameras.pixel_rays.
        o, d = pixel_rays(cams[c])
        t = (out.points[c][v, u] - o[0][v, u]).norm(dim=-1)
        assert torch.allclose(o[0][v, u] + t[:, None] * d[0][v, u], out.points[c][v, u], atol=1e-5)


def test_raycast_agrees_with_surface_samples():
    """Sample points that the ray caster sees carry the same label it reports."""
    pose, _ = sample_pose(np.random.default_rng(5), "standing")
    p = BodyParams(torch.zeros(10), pose, torch.zeros(3))
    app = Appearance.sample(np.random.default_rng(5))
    cams = orbit_cameras([30.0], width=192, height=192)
    out = raycast(p, app, cams)
    s = sample_surface(p, app, 20000, seed=1)
    uv, z = project(s.points.detach(), cams)
    u, v = uv[0, :, 0].long(), uv[0, :, 1].long()
    seen = out.mask[0][v, u] & ((out.depth[0][v, u] - z[0]).abs() < 1.5e-3)
    assert int(seen.sum()) > 3000
    agree = (out.part[0][v, u][seen] == s.part[seen]).float().mean()
    assert float(agree) > 0.97
    # The caster shades the pixel centre, the sample its own point: sharp patterns (fine
    # stripes, prints) differ across an edge within the pixel, so compare the typical point.
    colour = (out.albedo[0][v, u][seen] - s.rgb[seen]).abs().mean(-1)
    assert float(colour.median()) < 0.03 and float(colour.mean()) < 0.08


def test_output_consistency():
    app = Appearance.sample(np.random.default_rng(7))
    pose, _ = sample_pose(np.random.default_rng(7), "arms_raised")
    cams = orbit_cameras([0.0, 90.0, 180.0, 270.0], width=64, height=64)
    out = raycast(BodyParams(torch.zeros(10), pose, torch.zeros(3)), app, cams)
    assert out.rgb.shape == (4, 64, 64, 3) and out.part.dtype == torch.int64
    assert torch.equal(out.mask, out.part > 0)
    assert torch.equal(out.mask, out.depth > 0) and torch.equal(out.mask, out.back_depth > 0)
    assert (out.back_depth[out.mask] >= out.depth[out.mask]).all()
    assert (out.rgb[~out.mask] == 0).all() and (out.normal[~out.mask] == 0).all()
    n = out.normal[out.mask]
    assert torch.allclose(n.norm(dim=-1), torch.ones(len(n)), atol=1e-4)
    # Visible normals face the camera.
    _, d = pixel_rays(cams)
    facing = (out.normal * d).sum(-1)[out.mask]
    assert float((facing < 0.05).float().mean()) > 0.995
    assert 1.9 < float(out.depth[out.mask].min()) and float(out.depth.max()) < 2.9
    # The depth of the whole silhouette from the front ~ the distance to the body.
    assert 0.04 < float(out.mask.float().mean()) < 0.4


def test_sides_and_layers_in_images():
    p = BodyParams.neutral()
    p.pose[16, 2], p.pose[17, 2] = -1.3, 1.3
    app = Appearance(top="tshirt", bottom="shorts", shoes="none")
    cams = orbit_cameras([90.0, 270.0], width=96, height=96)  # from the left, the right
    out = raycast(p, app, cams)
    from_left = out.part[0]
    assert (from_left == PART_IDS["Left_Upper_Leg"]).sum() > 5 * (
        from_left == PART_IDS["Right_Upper_Leg"]
    ).sum()
    from_right = out.part[1]
    assert (from_right == PART_IDS["Right_Lower_Arm"]).sum() > 5 * (
        from_right == PART_IDS["Left_Lower_Arm"]
    ).sum()
    # Clothing hides skin: with trousers no thigh pixel is left.
    dressed = raycast(p, Appearance(bottom="trousers"), cams)
    assert int((dressed.part == PART_IDS["Left_Upper_Leg"]).sum()) == 0
    assert int((dressed.part == PART_IDS["Lower_Clothing"]).sum()) > 200


def test_front_and_back_depth_bracket_the_body():
    """For a thin primitive seen edge-on, back - front equals its chord."""
    cams = orbit_cameras([0.0], radius=2.0, width=41, height=41)
    slab = _single(0.0, 1.0, 1.0, torch.diag(torch.tensor([0.3, 0.3, 0.05])))
    out = raycast_primitives(slab, cams)
    thick = out.back_depth[0, 20, 20] - out.depth[0, 20, 20]
    assert float(thick) == pytest.approx(0.1, abs=1e-4)


def test_primitives_build_for_many_outfits_and_render_quickly():
    rng = np.random.default_rng(11)
    cams = orbit_cameras([0.0, 120.0, 240.0], width=128, height=128)
    for _ in range(4):
        app = Appearance.sample(rng)
        pose, _ = sample_pose(rng)
        params = BodyParams(torch.tensor(rng.normal(0, 1, 10), dtype=torch.float32), pose,
                            torch.zeros(3))  # fmt: skip
        prims = build_primitives(params, app)
        assert len(prims) > 40
        assert torch.isfinite(prims.to_local).all()
        out = raycast_primitives(prims, cams)
        assert out.mask.any(dim=(1, 2)).all()
