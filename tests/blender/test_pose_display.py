"""The display turns posed splats: raise an arm and the arm's splats, as the viewport
draws them, turn with it (pose rotation ∘ rest rotation), the torso's stay as they were;
back at rest every splat is back at its rest rotation. For the part-based rig here (a
synthetic person); the fitted skeleton's rig is checked in ``test_rig_fitted.py``.

What is inspected is the display's own output: in the viewport its instances are
realised, each carrying the rows of (R S)^-1 (``hcM0..2``), whose directions are the
columns of the splat's drawn rotation R.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth_body import body

from humancrafter.portable import splatfile
from humancrafter.portable.parts import PART_IDS

ICO_VERTS = 12  # vertices of the proxy at the default Detail (an icosahedron)


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


@pytest.fixture
def person(scene, addon, tmp_path):
    import bpy

    s = body(6_000, seed=3)
    path = tmp_path / "body.ply"
    splatfile.save(path, s)
    assert bpy.ops.humancrafter.import_splats(filepath=str(path), target_height=1.8) == {"FINISHED"}
    obj = bpy.context.view_layer.objects.active
    mod = obj.modifiers["HumanCrafter Display"]
    set_input = _mod(addon, "display").set_input
    set_input(mod, "Opacity Cut-off", 0.0)  # draw every splat, in point order
    set_input(mod, "Viewport Budget", 10_000_000)
    obj.update_tag()
    return obj, s


def quat_matrices(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float64)
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], 1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], 1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], 1),
    ], 1)  # fmt: skip


def drawn_rotations(obj, n: int) -> np.ndarray:
    """(n, 3, 3) the rotation each splat is drawn with (viewport, realised instances)."""
    import bpy

    dg = bpy.context.evaluated_depsgraph_get()
    dg.update()
    mesh = obj.evaluated_get(dg).data
    real = np.empty(len(mesh.vertices), np.float32)
    mesh.attributes["hcReal"].data.foreach_get("value", real)
    real = real > 0.5  # the splats' proxies, not the colour stub
    assert real.sum() == n * ICO_VERTS  # every splat, in point order
    cols = []
    for i in range(3):
        m = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.attributes[f"hcM{i}"].data.foreach_get("vector", m)
        m = m.reshape(-1, 3)[real].reshape(n, ICO_VERTS, 3)
        assert np.abs(m - m[:, :1]).max() < 1e-5 * np.abs(m).max()  # one value per splat
        cols.append(m[:, 0] / np.linalg.norm(m[:, 0], axis=1, keepdims=True))
    return np.stack(cols, axis=2).astype(np.float64)


def turn(bpy, arm, bone: str, axis: str, angle: float) -> None:
    """Turn pose bone ``bone`` by ``angle`` about the armature's ``axis``, around its head."""
    from mathutils import Matrix

    pb = arm.pose.bones[bone]
    head = pb.head.copy()
    move = Matrix.Translation(head) @ Matrix.Rotation(angle, 4, axis) @ Matrix.Translation(-head)
    pb.matrix = move @ pb.matrix
    bpy.context.view_layer.update()


def rest(bpy, arm) -> None:
    from mathutils import Matrix

    for pb in arm.pose.bones:
        pb.matrix_basis = Matrix.Identity(4)
    bpy.context.view_layer.update()


def check_posed(obj, rigging, rest_r, arm_splats, still_splats, raise_r=None) -> np.ndarray:
    """The drawn rotations are the pose's ∘ the rest ones, the pose's as the exporters
    measure it; the arm's turned by ``raise_r`` when given; the still splats at rest."""
    n = len(rest_r)
    drawn = drawn_rotations(obj, n)
    _, measured = rigging.posed_frames(obj)
    np.testing.assert_allclose(drawn, measured @ rest_r, atol=2e-4)
    if raise_r is not None:
        np.testing.assert_allclose(drawn[arm_splats], raise_r @ rest_r[arm_splats], atol=2e-4)
    np.testing.assert_allclose(drawn[still_splats], rest_r[still_splats], atol=1e-5)
    return drawn


def test_raised_arm_splats_turn_in_the_viewport(person, addon):
    import bpy

    obj, s = person
    rigging, meshdata = _mod(addon, "rigging"), _mod(addon, "meshdata")
    n = len(s)
    rest_r = quat_matrices(meshdata.read(obj.data, "rotation"))
    np.testing.assert_allclose(drawn_rotations(obj, n), rest_r, atol=1e-5)  # unrigged
    arm, _ = rigging.create_armature(obj, smooth=0.0)
    np.testing.assert_allclose(drawn_rotations(obj, n), rest_r, atol=1e-5)  # rigged, at rest
    arm_splats = np.isin(s.part, [PART_IDS[p] for p in ("Left_Upper_Arm", "Left_Lower_Arm",
                                                        "Left_Hand")])  # fmt: skip
    still = np.isin(s.part, [PART_IDS[p] for p in ("Torso", "Right_Upper_Arm", "Face_Neck")])
    assert arm_splats.sum() > 200 and still.sum() > 500

    turn(bpy, arm, "Left_Upper_Arm", "Y", math.pi / 2)  # the handler runs on this update
    raise_r = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # 90° about Blender's Y
    drawn = check_posed(obj, rigging, rest_r, arm_splats, still, raise_r)
    assert np.abs(drawn[arm_splats] - rest_r[arm_splats]).max() > 0.5  # really turned
    pose_q = meshdata.read(obj.data, "hc_pose_rotation")
    np.testing.assert_allclose(quat_matrices(pose_q[arm_splats]),
                               np.broadcast_to(raise_r, (int(arm_splats.sum()), 3, 3)),
                               atol=1e-5)  # fmt: skip

    rest(bpy, arm)
    np.testing.assert_allclose(drawn_rotations(obj, n), rest_r, atol=1e-5)
    np.testing.assert_array_equal(
        meshdata.read(obj.data, "hc_pose_rotation"), np.tile([1, 0, 0, 0], (n, 1))
    )

    # an animated pose: frame changes turn them too
    scene = bpy.context.scene
    pb = arm.pose.bones["Left_Lower_Arm"]
    pb.rotation_mode = "XYZ"
    pb.keyframe_insert("rotation_euler", frame=1)
    pb.rotation_euler = (0.0, 0.0, math.pi / 3)
    pb.keyframe_insert("rotation_euler", frame=10)
    lower = s.part == PART_IDS["Left_Lower_Arm"]
    scene.frame_set(10)
    drawn = check_posed(obj, rigging, rest_r, lower, still)
    assert np.abs(drawn[lower] - rest_r[lower]).max() > 0.3
    scene.frame_set(1)
    np.testing.assert_allclose(drawn_rotations(obj, n), rest_r, atol=1e-5)


def test_blended_weights_and_removing_the_rig(person, addon):
    """Smoothed weights (splats between two bones) are drawn with the nearest rotation
    of the bones' blend, as the exporters measure it; a rig removed leaves rest."""
    import bpy

    obj, s = person
    rigging, meshdata = _mod(addon, "rigging"), _mod(addon, "meshdata")
    rest_r = quat_matrices(meshdata.read(obj.data, "rotation"))
    arm, _ = rigging.create_armature(obj, smooth=0.05)
    turn(bpy, arm, "Left_Lower_Arm", "Y", math.pi / 2)
    torso = s.part == PART_IDS["Torso"]
    drawn = check_posed(obj, rigging, rest_r, None, torso)
    between = np.abs(drawn - rest_r).max(axis=(1, 2))
    assert ((between > 0.05) & (between < 1.0)).sum() > 20  # partly turned: blended
    part = _mod(addon, "part_tools").separate(obj, PART_IDS["Left_Hand"], keep=True)
    assert "hc_pose_rotation" not in part.data.attributes  # not rigged: drawn at rest
    rigging.remove_rig(obj)
    assert "hc_pose_rotation" not in obj.data.attributes
    np.testing.assert_allclose(drawn_rotations(obj, len(s)), rest_r, atol=1e-5)
