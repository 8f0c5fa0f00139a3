"""The rig from the fitted body: real reconstructions (the backend's ``fast`` mode, the
default, and its ``prior`` mode, run in their own process) imported, rigged from their
skeleton, posed, measured and exported.

Tearing: raise each arm 90 degrees (about the front-back axis, at the shoulder) and
bend each knee 90 degrees (the foot goes back), one at a time and all four together;
a splat *tears* when the distance to its rest-pose nearest neighbour grows more than
3x. The share of torn splats stays under 1 % with the fitted skeleton's smooth weights,
for the astronaut (bundled) and a short-sleeved man (``hc_novel_29``, shared samples),
in both modes;
the part-based rig's figure on the same splats is printed beside it (run this file with
``HC_BPY_CHILD=1 python -m pytest -s`` to see them).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from humancrafter.portable import splatfile

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = {
    "astronaut": ROOT / "backend" / "humancrafter" / "assets" / "astronaut.jpg",
    "short_sleeves": ROOT.parent / "shared" / "samples" / "hc_novel_29.png",
}
RECONSTRUCT = """
import sys
from humancrafter.modes.base import ReconstructOptions
from humancrafter.photo import load_image
from humancrafter.pipeline import Pipeline
from humancrafter.portable import splatfile
pipeline = Pipeline("cpu")
for mode, photo, out in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    result = pipeline.run([load_image(photo)], ReconstructOptions(mode=mode, seed=0))
    splatfile.save(out, result.splats)
"""
TEAR_RATIO = 3.0


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


MODES = ("fast", "prior")


@pytest.fixture(scope="module")
def reconstructions(tmp_root) -> dict[str, Path]:
    """Key ``name`` (mode ``fast``) and ``name prior`` -> splat file of that mode's reconstruction
    (about 40,000 splats) of that photo. Made once per test run when the parent gives a
    folder (``HC_RECONSTRUCTIONS``) that the Blender versions share."""
    have = {k: p for k, p in PHOTOS.items() if p.is_file()}
    folder = Path(os.environ.get("HC_RECONSTRUCTIONS") or tmp_root)
    out = {}
    args = []
    for mode in MODES:
        for k, photo in have.items():
            key = k if mode == "fast" else f"{k} prior"
            out[key] = folder / f"{k}_{mode}.ply"
            args += [mode, str(photo), str(out[key])]
    done = folder / "reconstructions.done"
    if done.is_file() and done.read_text() == repr(args):
        return out
    env = dict(os.environ, PYTHONPATH=str(ROOT / "backend"))
    python = os.environ.get("HC_BACKEND_PYTHON", sys.executable)  # a Python with torch
    proc = subprocess.run([python, "-c", RECONSTRUCT, *args], env=env,
                          capture_output=True, text=True, timeout=400)  # fmt: skip
    if "No module named 'mediapipe'" in proc.stderr:
        pytest.skip("the backend's photo extra (mediapipe) is not installed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    done.write_text(repr(args))
    return out


def _import(bpy, path: Path):
    assert bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=1.8) == {"FINISHED"}
    return bpy.context.view_layer.objects.active


def _nearest(points: np.ndarray) -> np.ndarray:
    """(N,) index of each point's nearest other point."""
    from scipy.spatial import cKDTree

    return cKDTree(points).query(points, k=2)[1][:, 1]


def _tearing(rest: np.ndarray, posed: np.ndarray, nearest: np.ndarray) -> float:
    """Share of points whose distance to their rest-pose nearest neighbour grows more
    than :data:`TEAR_RATIO` times."""
    d0 = np.linalg.norm(rest - rest[nearest], axis=1)
    d1 = np.linalg.norm(posed - posed[nearest], axis=1)
    return float((d1 > TEAR_RATIO * np.maximum(d0, 1e-9)).mean())


def _turn(bpy, arm, bone: str, axis: str, towards: tuple[int, float]) -> None:
    """Turn pose bone ``bone`` by 90 degrees about the armature's ``axis`` ("X"/"Y"),
    around its head, in the sense that moves its tail along armature axis ``towards[0]``
    in the direction of the sign of ``towards[1]``."""
    from mathutils import Matrix

    pb = arm.pose.bones[bone]
    head = pb.head.copy()
    tail = pb.tail - head
    for angle in (math.pi / 2, -math.pi / 2):
        turn = Matrix.Rotation(angle, 3, axis)
        if ((turn @ tail)[towards[0]] - tail[towards[0]]) * towards[1] > 0:
            break
    move = Matrix.Translation(head) @ turn.to_4x4() @ Matrix.Translation(-head)
    pb.matrix = move @ pb.matrix
    bpy.context.view_layer.update()


def _rest(bpy, arm) -> None:
    from mathutils import Matrix

    for pb in arm.pose.bones:
        pb.matrix_basis = Matrix.Identity(4)
    bpy.context.view_layer.update()


POSES = {  # name -> [(bone of the fitted skeleton, bone of the part rig, axis, towards)]
    "left arm up": [("left_shoulder", "Left_Upper_Arm", "Y", (2, 1.0))],
    "right arm up": [("right_shoulder", "Right_Upper_Arm", "Y", (2, 1.0))],
    "left knee bent": [("left_knee", "Left_Lower_Leg", "X", (1, 1.0))],
    "right knee bent": [("right_knee", "Right_Lower_Leg", "X", (1, 1.0))],
}
POSES["all four"] = [turn for turns in list(POSES.values()) for turn in turns]


def _measure(bpy, rigging, obj, arm, which: int) -> dict[str, float | None]:
    """Pose name -> share of torn splats; None when the rig lacks one of its bones (a
    part rig of a waist-up ``fast`` result has no legs)."""
    rest = rigging.deformed_positions(obj).astype(np.float64)
    nearest = _nearest(rest)
    out: dict[str, float | None] = {}
    for name, turns in POSES.items():
        if any(turn[which] not in arm.pose.bones for turn in turns):
            out[name] = None
            continue
        for turn in turns:
            _turn(bpy, arm, turn[which], turn[2], turn[3])
        out[name] = _tearing(rest, rigging.deformed_positions(obj).astype(np.float64), nearest)
        _rest(bpy, arm)
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("subject", sorted(PHOTOS))
def test_posing_the_fitted_rig_tears_under_one_percent(
    scene, addon, reconstructions, subject, mode
):
    import bpy

    key = subject if mode == "fast" else f"{subject} prior"
    if key not in reconstructions:
        pytest.skip(f"{PHOTOS[subject]} is absent")
    rigging = _mod(addon, "rigging")
    obj = _import(bpy, reconstructions[key])
    arm, skipped = rigging.create_armature(obj)
    assert skipped == [] and len(arm.data.bones) == 24
    fitted = _measure(bpy, rigging, obj, arm, 0)
    # the same splats on the part-based rig (the rig of files without a skeleton)
    del obj["hc_skeleton"]
    part_arm, _ = rigging.create_armature(obj, smooth=0.03)  # the operator's default
    parts = _measure(bpy, rigging, obj, part_arm, 1)
    for name in POSES:
        part = "no such bones" if parts[name] is None else f"{parts[name]:.3%}"
        print(f"{subject:14s} {mode:6s} {name:16s} torn: fitted rig {fitted[name]:.3%}, "
              f"part rig {part}")  # fmt: skip
    assert None not in fitted.values() and max(fitted.values()) < 0.01, fitted


def test_the_armature_is_the_fitted_skeleton(scene, addon, reconstructions):
    import bpy

    obj = _import(bpy, reconstructions["astronaut"])
    s = splatfile.load(reconstructions["astronaut"])
    assert bpy.ops.humancrafter.create_armature() == {"FINISHED"}
    arm = bpy.data.objects[obj["hc_rig"]]
    bones = arm.data.bones
    assert sorted(b.name for b in bones) == sorted(s.skeleton.names)
    ordered = [bones[name] for name in s.skeleton.names]
    placement = _mod(addon, "importer").placement_of(obj)
    heads = placement.points_to_blender(s.skeleton.joints)
    np.testing.assert_allclose([b.head_local for b in ordered], heads, atol=1e-5)
    for b, parent in zip(ordered, s.skeleton.parents, strict=True):
        assert (b.parent.name if b.parent else None) == (
            None if parent < 0 else s.skeleton.names[parent]
        )
    assert bones["left_elbow"].parent.name == "left_shoulder"
    np.testing.assert_allclose(bones["left_shoulder"].tail_local, bones["left_elbow"].head_local,
                               atol=1e-5)  # fmt: skip
    for name in ("spine1", "left_knee", "left_shoulder"):  # rolls: Z axis to the front
        z_axis = bones[name].matrix_local.col[2]  # armature space
        assert z_axis.y < -0.9, (name, z_axis)
    # the skin became bone-named vertex groups (and the Armature modifier comes first)
    assert obj.modifiers[0].type == "ARMATURE" and obj.modifiers[0].object == arm
    assert {b.name for b in bones} <= set(obj.vertex_groups.keys())
    knee = obj.vertex_groups["left_knee"].index
    dense = np.zeros((len(s), 24))
    np.put_along_axis(dense, s.skin_joints.astype(np.int64), s.skin_weights, 1)
    some = np.flatnonzero(dense[:, 4] > 0.2)[:50]
    for i in some:
        w = next(g.weight for g in obj.data.vertices[int(i)].groups if g.group == knee)
        assert abs(w - dense[i, 4]) < 1.0 / 255 + 1e-6


def test_posed_exports_turn_the_splats(scene, addon, reconstructions, tmp_path):
    """Raise the left arm: every export path writes the posed centres and rotations
    turned by the bones (an upper-arm splat by the shoulder's 90 degrees), the rest as
    they were; the skeleton's arm joints move with the pose."""
    import bpy

    rigging, exporter, gltf = (_mod(addon, n) for n in ("rigging", "exporter", "gltf_splat"))
    obj = _import(bpy, reconstructions["astronaut"])
    s = splatfile.load(reconstructions["astronaut"])
    arm, _ = rigging.create_armature(obj)
    _turn(bpy, arm, "left_shoulder", "Y", (2, 1.0))
    dense = np.zeros((len(s), 24))
    np.put_along_axis(dense, s.skin_joints.astype(np.int64), s.skin_weights, 1)
    arm_only = dense[:, [16, 18, 20, 22]].sum(1) > 0.999  # the left arm's subtree
    still = dense[:, [16, 18, 20, 22]].sum(1) == 0
    assert arm_only.sum() > 200 and still.mean() > 0.7
    # the shoulder's 90 degrees about Blender's Y axis, in the model frame: about -z
    pb = arm.pose.bones["left_shoulder"]
    rest = arm.data.bones["left_shoulder"].matrix_local.to_3x3()
    turn = np.array(pb.matrix.to_3x3() @ rest.inverted())
    a = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    r_model = a.T @ turn @ a

    def check(back):
        q0 = s.unit_quats().astype(np.float64)
        q1 = back.unit_quats().astype(np.float64)
        # unmoved (their bones' pose is the identity, applied in float32: ~1e-6 of noise)
        np.testing.assert_allclose(q1[still], q0[still], atol=1e-5)
        # turned splats: their rotation matrices are R_model @ the rest ones
        m0, m1 = _matrices(q0[arm_only]), _matrices(q1[arm_only])
        np.testing.assert_allclose(m1, r_model @ m0, atol=2e-4)

    check(exporter.splats_for_export(obj, posed=True))  # what SPZ sends to the backend
    ply = tmp_path / "posed.ply"
    assert exporter.export_ply(obj, ply, posed=True) == len(s)
    back = splatfile.load(ply)
    check(back)
    assert back.rigged and np.abs(back.means[still] - s.means[still]).max() < 1e-5
    assert np.linalg.norm(back.means[arm_only] - s.means[arm_only], axis=1).min() > 1e-3
    wrist = s.skeleton.names.index("left_wrist")
    assert np.linalg.norm(back.skeleton.joints[wrist] - s.skeleton.joints[wrist]) > 0.1
    np.testing.assert_array_equal(back.skeleton.joints[:16], s.skeleton.joints[:16])
    parts = exporter.export_parts(obj, tmp_path / "parts", posed=True)
    torso = next(p for p in parts if p.name.endswith("_Torso.ply"))
    assert splatfile.load(torso).rigged
    glb = tmp_path / "posed.glb"
    exporter.export_gltf(obj, glb, posed=True)
    check(gltf.read_splats(glb))


def test_viewport_turns_the_splats_with_the_fitted_rig(scene, addon, reconstructions):
    """The display draws the raised left arm's splats turned by the shoulder (pose
    rotation ∘ rest rotation, the pose's as the exporters measure it), the body's still
    splats and, back at rest, every splat at its rest rotation."""
    import bpy
    from test_pose_display import check_posed, drawn_rotations, quat_matrices

    rigging, meshdata = _mod(addon, "rigging"), _mod(addon, "meshdata")
    obj = _import(bpy, reconstructions["astronaut"])
    s = splatfile.load(reconstructions["astronaut"])
    mod = obj.modifiers["HumanCrafter Display"]
    _mod(addon, "display").set_input(mod, "Opacity Cut-off", 0.0)  # every splat, in order
    _mod(addon, "display").set_input(mod, "Viewport Budget", 10_000_000)
    arm, _ = rigging.create_armature(obj)
    rest_r = quat_matrices(meshdata.read(obj.data, "rotation"))
    dense = np.zeros((len(s), 24))
    np.put_along_axis(dense, s.skin_joints.astype(np.int64), s.skin_weights, 1)
    arm_only = dense[:, [16, 18, 20, 22]].sum(1) > 0.999  # the left arm's subtree
    still = dense[:, [16, 18, 20, 22]].sum(1) == 0
    _turn(bpy, arm, "left_shoulder", "Y", (2, 1.0))
    pb = arm.pose.bones["left_shoulder"]
    raise_r = np.array(
        pb.matrix.to_3x3() @ arm.data.bones["left_shoulder"].matrix_local.to_3x3().inverted()
    )
    drawn = check_posed(obj, rigging, rest_r, arm_only, still, raise_r)
    blended = ~arm_only & ~still
    assert np.abs(drawn[arm_only] - rest_r[arm_only]).max() > 0.5 and blended.sum() > 100
    _rest(bpy, arm)
    np.testing.assert_allclose(drawn_rotations(obj, len(s)), rest_r, atol=1e-5)


def _matrices(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], 1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], 1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1),
    ], 1)  # fmt: skip


def test_rigged_file_round_trips_and_plain_ply_readers_open_it(
    scene, addon, reconstructions, tmp_path
):
    """Import then export (unposed) gives the file back byte for byte, skeleton and skin
    included; Blender's own PLY importer (an ordinary PLY reader) opens it too."""
    import bpy

    path = reconstructions["astronaut"]
    _import(bpy, path)
    out = tmp_path / "again.ply"
    assert bpy.ops.humancrafter.export_ply(filepath=str(out)) == {"FINISHED"}
    assert out.read_bytes() == path.read_bytes()
    before = set(bpy.data.objects)
    assert bpy.ops.wm.ply_import(filepath=str(path)) == {"FINISHED"}
    (plain,) = set(bpy.data.objects) - before
    s = splatfile.load(path)
    # bpy 5.3 reads it as Gaussian splats: a point cloud, opacity inside "radiance:base"
    assert len(plain.data.attributes["position"].data) == len(s)
    keys = set(plain.data.attributes.keys())
    assert {"skin_weight_0", "part"} <= keys and keys & {"opacity", "radiance:base"}
