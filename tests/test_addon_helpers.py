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


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about unit ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions w x y z -> (N, 3, 3) rotation matrices."""
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], 1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], 1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1),
    ], 1)  # fmt: skip


def test_a_pose_in_blender_turns_model_quaternions_the_same_way() -> None:
    """rotate_model_quats: a rotation applied in Blender's frame, seen in the model frame,
    turns each splat's axes exactly as the Blender rotation turns the same axes there."""
    rng = np.random.default_rng(5)
    q = rng.normal(size=(200, 4)).astype(np.float32)
    axes_ = rng.normal(size=(200, 3))
    axes_ /= np.linalg.norm(axes_, axis=1, keepdims=True)
    R = np.stack([_rotation(a, t) for a, t in zip(axes_, rng.uniform(-3, 3, 200), strict=True)])
    out = axes.rotate_model_quats(q, R)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(q, axis=1), rtol=1e-5)
    unit = lambda v: v / np.linalg.norm(v, axis=1, keepdims=True)  # noqa: E731
    A = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # model -> Blender
    before = A @ _quat_matrix(unit(q.astype(np.float64)))  # splat axes in Blender
    after = A @ _quat_matrix(unit(out.astype(np.float64)))
    np.testing.assert_allclose(after, R @ before, atol=1e-5)
    same = axes.rotate_model_quats(q, np.tile(np.eye(3), (200, 1, 1)))
    np.testing.assert_allclose(same, q, atol=1e-6)


def test_skeleton_bones_follow_the_file() -> None:
    from humancrafter.portable.splatfile import Skeleton

    joints = np.array([[0, 0, 0], [0.1, -0.05, 0], [0.1, -0.5, 0], [0.1, -0.52, 0.15]], np.float32)
    sk = Skeleton(("pelvis", "hip", "knee", "toe"), np.array([-1, 0, 1, 2], np.int32), joints)
    placement = axes.Placement(2.0, (0.0, 0.0, 1.0))
    plan = bones.skeleton_bones(sk, placement)
    assert [b.name for b in plan] == ["pelvis", "hip", "knee", "toe"]
    assert [b.parent for b in plan] == [None, "pelvis", "hip", "knee"]
    np.testing.assert_allclose(plan[2].head, placement.points_to_blender(joints[2:3])[0])
    np.testing.assert_allclose(plan[1].tail, plan[2].head)  # hip -> knee
    np.testing.assert_allclose(plan[0].roll_towards, [0, -1, 0])  # Z to the front
    np.testing.assert_allclose(plan[3].roll_towards, [0, 0, 1])  # the toe points forward
    w = bones.skin_matrix(np.array([[1, 2, 0, 0]]), np.array([[0.7, 0.3, 0.0, 0.0]]), 4)
    np.testing.assert_allclose(w, [[0.0, 0.7, 0.3, 0.0]])
