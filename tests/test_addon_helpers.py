"""The add-on's Blender-free helpers, tested without Blender: colour conversions and
recolouring (``addon/colour.py``), bones and weights from part labels (``addon/bones.py``).

The modules are loaded as submodules of a stand-in package, so the add-on's ``__init__``
(which needs bpy) does not run; ``tests/blender`` covers the same code inside Blender."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))

from synth_body import body  # noqa: E402

from humancrafter.portable.parts import PART_IDS  # noqa: E402
from humancrafter.portable.splatfile import SH_C0  # noqa: E402


def _addon_module(name: str) -> types.ModuleType:
    if "hc_addon_helpers" not in sys.modules:
        package = types.ModuleType("hc_addon_helpers")
        package.__path__ = [str(ROOT / "addon")]
        sys.modules["hc_addon_helpers"] = package
    return importlib.import_module(f"hc_addon_helpers.{name}")


colour = _addon_module("colour")
bones = _addon_module("bones")
axes = _addon_module("axes")


def test_srgb_round_trip_and_known_values() -> None:
    x = np.linspace(0.0, 1.0, 101, dtype=np.float32)
    np.testing.assert_allclose(colour.linear_to_srgb(colour.srgb_to_linear(x)), x, atol=1e-6)
    known = colour.srgb_to_linear([0.0, 0.5, 1.0])
    np.testing.assert_allclose(known, [0.0, 0.2140, 1.0], atol=1e-4)
    assert colour.srgb_to_linear(x).dtype == np.float32


def test_display_colours_are_linear_rgb_with_opacity_as_alpha() -> None:
    rng = np.random.default_rng(0)
    sh = rng.normal(0, 1, (50, 3)).astype(np.float32)
    opacity = rng.uniform(0, 1, 50).astype(np.float32)
    col = colour.display_colours(sh, opacity)
    assert col.shape == (50, 4) and col.dtype == np.float32
    np.testing.assert_array_equal(col[:, 3], opacity)
    srgb = np.clip(0.5 + SH_C0 * sh, 0, 1)
    np.testing.assert_allclose(colour.linear_to_srgb(col[:, :3]), srgb, atol=1e-5)


def test_recolouring_keeps_the_shading() -> None:
    rgb = np.array([[0.2, 0.2, 0.2], [0.4, 0.4, 0.4], [0.6, 0.6, 0.6]], np.float32)
    sh = (rgb - 0.5) / SH_C0
    target = (0.2, 0.05, 0.02)  # linear; x 1.5 stays below 1 in sRGB
    new = np.clip(0.5 + SH_C0 * colour.recoloured_sh_dc(sh, target), 0, 1)
    lum = new @ colour.LUMINANCE
    np.testing.assert_allclose(lum / lum[1], [0.5, 1.0, 1.5], rtol=1e-4)  # shading kept
    np.testing.assert_allclose(new[1], colour.linear_to_srgb(np.array(target)), atol=1e-5)


@pytest.fixture(scope="module")
def person() -> tuple[np.ndarray, np.ndarray]:
    """Points in Blender's frame (metres, z up) and labels of the stick-figure body."""
    s = body(15_000, seed=2)
    placement = axes.Placement.fit(s.means, 1.8)
    return placement.points_to_blender(s.means), s.part.astype(np.int32)


def test_bones_follow_the_parts(person) -> None:
    pos, lab = person
    planned, skipped = bones.plan_bones(pos, lab)
    assert skipped == []
    by_name = {b.name: b for b in planned}
    assert len(by_name) == 14 and by_name["Torso"].parent is None
    torso, head = by_name["Torso"], by_name["Face_Neck"]
    assert torso.head[2] < torso.tail[2] <= head.tail[2]  # pelvis, neck, head top upwards
    # each side's arm lies on its own side (the person's left is +X)
    assert by_name["Left_Hand"].tail[0] > 0.3 > -0.3 > by_name["Right_Hand"].tail[0]
    assert by_name["Left_Lower_Leg"].parent == "Left_Upper_Leg"


def test_weights_are_one_bone_per_point_without_smoothing(person) -> None:
    pos, lab = person
    planned, _ = bones.plan_bones(pos, lab)
    names = [b.name for b in planned]
    hard = bones.bone_weights(pos, lab, planned, 0.0)
    np.testing.assert_array_equal(hard.sum(1), 1.0)
    assert set(np.unique(hard)) == {0.0, 1.0}
    own = np.array(names)[hard.argmax(1)]
    hair = lab == PART_IDS["Hair"]
    assert (own[hair] == "Face_Neck").all()  # hair rides on the head's bone
    smooth = bones.bone_weights(pos, lab, planned, 0.05)
    np.testing.assert_allclose(smooth.sum(1), 1.0, atol=1e-5)
    assert ((smooth > 0.05).sum(1) > 1).any()
