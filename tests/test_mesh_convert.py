"""``portable/mesh_convert.py`` (shared by the add-on and the backend) without Blender:
marching tetrahedra on known fields, the splat surface (closed, filled, in the right
place), the value transfer and the skin weight limit. ``tests/blender/test_game_mesh.py``
covers the Blender side, ``tests/test_mesh_export.py`` the backend's files."""

from __future__ import annotations

import importlib
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))

from synth_body import body  # noqa: E402

from humancrafter.portable import mesh_convert as mc  # noqa: E402


def _addon_module(name: str) -> types.ModuleType:
    if "hc_addon_mesh" not in sys.modules:
        package = types.ModuleType("hc_addon_mesh")
        package.__path__ = [str(ROOT / "addon")]
        sys.modules["hc_addon_mesh"] = package
    return importlib.import_module(f"hc_addon_mesh.{name}")


axes = _addon_module("axes")


def _field(fn, n: int, h: float) -> object:
    """``fn`` (M, 3) -> (M,) sampled on an n³ grid of spacing h centred on the origin."""
    origin = np.full(3, -(n - 1) * h / 2)
    ijk = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3)
    values = fn(origin + h * ijk).reshape(n, n, n).astype(np.float32)
    return mc.Grid(values, origin, h)


def _in_blender(s) -> tuple[np.ndarray, np.ndarray]:
    """Splats ``s`` placed 1.75 m tall in Blender's frame as the importer does: (N, 3)
    centres and (N,) largest standard deviations, metres."""
    placement = axes.Placement.fit(s.means, 1.75)
    return placement.points_to_blender(s.means), np.exp(s.log_scales).max(1) * placement.scale


def test_marching_tetrahedra_sphere_is_closed_outward_and_on_the_sphere() -> None:
    grid = _field(lambda p: 1.0 - np.linalg.norm(p, axis=1), 41, 0.06)  # level 0: r = 1
    s = mc.marching_tetrahedra(grid, 0.0)
    top = mc.topology(s)
    assert top.closed and top.components == 1 and top.euler == 2
    r = np.linalg.norm(s.vertices, axis=1)
    assert np.abs(r - 1).max() < 0.01  # the field is linear in r: vertices on the sphere
    assert abs(top.volume - 4 / 3 * np.pi) < 0.03 * 4 / 3 * np.pi  # > 0: faces point out
    centroid = s.vertices[s.faces].mean(1)
    normal = np.cross(*(s.vertices[s.faces[:, k]] - s.vertices[s.faces[:, 0]] for k in (1, 2)))
    assert ((normal * centroid).sum(1) > 0).mean() > 0.999


def test_marching_tetrahedra_torus_has_one_handle() -> None:
    def torus(p):
        q = np.linalg.norm(p[:, :2], axis=1) - 0.6
        return 0.25 - np.sqrt(q**2 + p[:, 2] ** 2)

    top = mc.topology(mc.marching_tetrahedra(_field(torus, 41, 0.05), 0.0))
    assert top.closed and top.components == 1 and top.euler == 0


def _shell(n: int, radius: float, seed: int = 0, hole: float = 0.0):
    """``n`` splats on a sphere of ``radius`` (metres), minus a cap of angular radius
    ``hole`` (radians) around +z."""
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d = d[np.arccos(np.clip(d[:, 2], -1, 1)) > hole]
    return radius * d, np.full(len(d), 0.004), np.full(len(d), 0.8)


def test_hollow_shell_becomes_one_filled_solid_near_the_splats() -> None:
    centres, sig, alpha = _shell(20_000, 0.3)
    s = mc.splat_surface(centres, sig, alpha, voxel=0.02)
    top = mc.topology(s)
    assert top.closed and top.components == 1 and top.euler == 2  # no inner surface
    r = np.linalg.norm(s.vertices, axis=1)
    # just outside the splat centres: where the shell is seen half opaque, about 1.2
    # kernel widths (s = voxel / 2 here) beyond them
    assert 0.3 < np.median(r) < 0.3 + 0.03
    assert r.min() > 0.28
    assert top.volume > 0.9 * 4 / 3 * np.pi * 0.3**3  # filled, not a thin skin


def test_small_gaps_are_sealed_and_large_ones_stay_open() -> None:
    # a 3 cm wide hole (angular radius 0.05 on r = 0.3 m) at 2 cm voxels: sealed
    sealed = mc.topology(mc.splat_surface(*_shell(20_000, 0.3, hole=0.05), voxel=0.02))
    assert sealed.closed and sealed.euler == 2 and sealed.volume > 0.1
    # a 36 cm wide opening: the inside is seen through it from above, so the surface
    # dents down through the opening to the far wall (still closed), with less volume
    cup = mc.splat_surface(*_shell(20_000, 0.3, hole=0.6), voxel=0.02)
    top = mc.topology(cup)
    assert top.closed and top.volume < 0.85 * sealed.volume
    on_axis = cup.vertices[np.linalg.norm(cup.vertices[:, :2], axis=1) < 0.1]
    assert len(on_axis) and on_axis[:, 2].min() < -0.2


def test_faint_splats_count_as_their_combined_opacity() -> None:
    # one hemisphere of opaque splats, the other of five times as many faint ones (a
    # network's way): both are seen about as opaque, so both make the surface
    opaque, faint = _shell(10_000, 0.3)[0], _shell(50_000, 0.3, seed=1)[0]
    centres = np.concatenate([opaque[opaque[:, 0] > 0], faint[faint[:, 0] <= 0]])
    alpha = np.where(centres[:, 0] > 0, 0.8, 0.06)
    s = mc.splat_surface(centres, np.full(len(centres), 0.004), alpha, voxel=0.02)
    top = mc.topology(s)
    assert top.closed and top.components == 1 and top.euler == 2
    r = np.linalg.norm(s.vertices, axis=1)
    left, right = np.median(r[s.vertices[:, 0] < -0.1]), np.median(r[s.vertices[:, 0] > 0.1])
    assert 0.3 < left < 0.33 and 0.3 < right < 0.33
    assert top.volume > 0.9 * 4 / 3 * np.pi * 0.3**3


def test_a_fast_mode_reconstruction_becomes_one_whole_surface(one_torch_thread) -> None:
    # the network's splats: many faint ones on the torso, fewer opaque ones on the legs
    from humancrafter.photo import load_image
    from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions

    s = Pipeline("cpu").run([load_image(DEMO_PHOTO)], ReconstructOptions(mode="fast")).splats
    pos, sigma = _in_blender(s)
    alpha = s.opacity()
    surf = mc.splat_surface(pos, sigma, alpha, voxel=0.015)
    top = mc.topology(surf)
    assert top.closed and top.components <= 2
    # At every height the surface spans the visible splats (opacity > 0.2; the median
    # splat of the network is at 0.09) from side to side and from front to back: at least
    # 85 % of their 5th-95th percentile extent, no side more than 10 cm short. Above the
    # photo's cut at the waist, whose faint rim of splats is not seen half opaque. (With
    # the previous checkpoint the old shell threshold made only the legs here; the
    # faint-splat test above holds that mechanism. Per-slice extremes of the few most
    # opaque splats differ between CPUs, so the test holds the bulk, not the extremes.)
    seen, v = pos[alpha > 0.2], surf.vertices
    bottom, top = np.percentile(seen[:, 2], [15, 95])
    checked = 0
    for z in np.arange(bottom, top, 0.05):
        here = seen[(seen[:, 2] >= z) & (seen[:, 2] < z + 0.05)]
        mesh = v[(v[:, 2] >= z) & (v[:, 2] < z + 0.05)]
        if len(here) < 100:
            continue
        checked += 1
        assert len(mesh), f"no surface at height {z:.2f} m"
        lo, hi = np.percentile(here[:, :2], [5, 95], axis=0)
        m_lo, m_hi = mesh[:, :2].min(0), mesh[:, :2].max(0)
        assert ((m_hi - m_lo) > 0.85 * (hi - lo)).all(), (z, m_lo, m_hi, lo, hi)
        assert (m_lo < lo + 0.1).all() and (m_hi > hi - 0.1).all(), (z, m_lo, m_hi, lo, hi)
    assert checked >= 10


def test_person_surface_is_closed_and_fast() -> None:
    s = body(40_000, seed=4)
    pos, sigma = _in_blender(s)
    start = time.perf_counter()
    surf = mc.splat_surface(pos, sigma, s.opacity(), voxel=0.015)
    seconds = time.perf_counter() - start
    top = mc.topology(surf)
    assert top.closed and top.components == 1
    assert 20_000 < len(surf.vertices) < 150_000
    assert seconds < 30  # a few seconds on an idle 2-core machine
    lo, hi = surf.vertices.min(0), surf.vertices.max(0)
    np.testing.assert_allclose(lo, pos.min(0), atol=0.04)
    np.testing.assert_allclose(hi, pos.max(0), atol=0.04)


def test_too_few_opaque_splats_are_refused() -> None:
    with pytest.raises(ValueError, match="fewer than 4 splats"):
        mc.splat_surface(np.zeros((10, 3)), np.full(10, 0.01), np.full(10, 0.005), 0.02)


def test_neighbours_blend_vote_and_widen() -> None:
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, (5_000, 3))
    alpha = rng.uniform(0.2, 1.0, 5_000)
    label = (points[:, 0] > 0).astype(np.int64)
    queries = np.concatenate([rng.uniform(-0.9, 0.9, (300, 3)), [[5.0, 5.0, 5.0]]])
    near = mc.Neighbours(queries, points, alpha, radius=0.15)
    np.testing.assert_allclose(np.bincount(near.rows, near.w, len(queries)), 1.0, atol=1e-12)
    np.testing.assert_allclose(near.mean(np.full((5_000, 2), 3.0)), 3.0)  # a constant stays
    local = np.linalg.norm(near.mean(points)[:-1] - queries[:-1], axis=1)
    assert local.max() <= 0.15 and np.median(local) < 0.06  # a mean of nearby points only
    vote = near.vote(label, 2)[:-1]
    clear = np.abs(queries[:-1, 0]) > 0.1
    np.testing.assert_array_equal(vote[clear], (queries[:-1, 0] > 0)[clear])
    far = near.cols[near.rows == len(queries) - 1]  # found only by widening the radius
    dist = np.linalg.norm(points[far] - 5.0, axis=1)
    assert len(far) and dist.min() > 0.15 * 2**5  # nothing within 0.15 * 32 of (5, 5, 5)


def test_top_influences_keep_four_and_sum_to_one() -> None:
    rng = np.random.default_rng(2)
    w = rng.random((1_000, 9)) ** 3
    w[0] = 0.0
    out = mc.top_influences(w, 4, 255)
    assert ((out > 0).sum(1) <= 4).all()
    np.testing.assert_array_equal(out[0], 0.0)
    np.testing.assert_allclose(out[1:].sum(1), 1.0, atol=1e-12)
    np.testing.assert_allclose(out * 255, np.rint(out * 255), atol=1e-9)  # steps of 1/255
    kept = np.argsort(-w[1:], axis=1)[:, :4]
    np.testing.assert_allclose(np.take_along_axis(out[1:], kept, 1).sum(1), 1.0, atol=1e-12)
