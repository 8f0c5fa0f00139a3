"""Create an armature for a splat object (bpy + numpy), and read its deformation back.

The bones and weights are planned by :mod:`.bones` (no bpy): from the file's skeleton and
skin when it has them (a reconstruction rigged to the fitted body), else from the part
labels. This module builds the armature, writes the weights as bone-named vertex groups
(the ``part`` attribute keeps the labels) and adds the Armature modifier.
:func:`posed_frames` reads back where the pose puts each splat and how it turns it, for
the exporters.

The viewport and renders turn the splats too: :func:`update_pose_rotation` computes each
splat's pose rotation from the pose bones and the splat's bone weights (the Armature
modifier's own blend of bone matrices, whose nearest rotation :func:`nearest_rotation`
gives, the same as the exporters take of their measurement) and writes it to the
``hc_pose_rotation`` attribute, which the display composes with ``rotation``. The
handler :func:`pose_changed` (depsgraph updates and frame changes) calls it for every
rigged splat object whose pose changed; it costs a few bone matrices when nothing did.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import meshdata
from .axes import matrix_to_quat
from .bones import Bone, bone_weights, plan_bones, skeleton_bones, skin_matrix
from .display import MODIFIER, POSE_ATTRIBUTE
from .importer import placement_of, skeleton_of
from .portable.splatfile import SKIN_SLOTS

__all__ = [
    "ARMATURE_MODIFIER",
    "bone_weights",
    "create_armature",
    "deformed_positions",
    "nearest_rotation",
    "plan_bones",
    "pose_changed",
    "posed_frames",
    "remove_rig",
    "update_pose_rotation",
]
ARMATURE_MODIFIER = "HumanCrafter Armature"
LEVELS = 256  # weights are quantised to this many steps (one vertex_group.add per step)
PROBE = 0.01
"""Step (metres) by which :func:`posed_frames` moves the points to measure the pose's
rotation at each one (exact for armatures, which move each point affinely)."""


def has_skin(obj: bpy.types.Object) -> bool:
    """Whether ``obj`` holds a skeleton and skin weights from its file."""
    names = obj.data.attributes
    return skeleton_of(obj) is not None and f"skin_joint_{SKIN_SLOTS - 1}" in names


def _skin_plan(obj: bpy.types.Object) -> tuple[list[Bone], np.ndarray]:
    skeleton = skeleton_of(obj)
    joints = np.stack(
        [meshdata.read(obj.data, f"skin_joint_{k}") for k in range(SKIN_SLOTS)], axis=1
    )
    weights = np.stack(
        [meshdata.read(obj.data, f"skin_weight_{k}") for k in range(SKIN_SLOTS)], axis=1
    )
    joints = np.clip(joints, 0, len(skeleton.names) - 1)
    return skeleton_bones(skeleton, placement_of(obj)), skin_matrix(
        joints, weights, len(skeleton.names)
    )


def create_armature(
    obj: bpy.types.Object, smooth: float = 0.0, min_points: int = 20
) -> tuple[bpy.types.Object, list[str]]:
    """Build ``<obj> Rig`` for splat object ``obj``, weight it and add the Armature
    modifier first in the stack. With the file's skeleton and skin (:func:`has_skin`)
    the bones are its joints and the weights its skin; otherwise the bones come from the
    part labels and ``smooth`` is the blending radius in metres (0 = each point follows
    one bone). Returns (armature object, names of bones not placed)."""
    if has_skin(obj):
        bones, weights = _skin_plan(obj)
        skipped: list[str] = []
    else:
        if "part" not in obj.data.attributes:
            raise ValueError(
                f"'{obj.name}' has no skeleton and no part labels, so there is nothing to rig by"
            )
        pos = meshdata.positions(obj.data)
        lab = meshdata.read(obj.data, "part")
        bones, skipped = plan_bones(pos, lab, min_points)
        if not bones:
            raise ValueError("cannot place a rig: " + "; ".join(skipped))
        weights = bone_weights(pos, lab, bones, smooth)
    remove_rig(obj)
    arm = _build_armature(obj, bones)
    meshdata.write_groups(obj, [b.name for b in bones], weights, LEVELS - 1)
    mod = obj.modifiers.get(ARMATURE_MODIFIER) or obj.modifiers.new(ARMATURE_MODIFIER, "ARMATURE")
    mod.object = arm
    mod.use_vertex_groups = True
    mod.use_bone_envelopes = False
    obj.modifiers.move(obj.modifiers.find(mod.name), 0)
    obj["hc_rig"] = arm.name
    level = np.rint(np.asarray(weights) * (LEVELS - 1)) / (LEVELS - 1)  # as the groups hold
    _WEIGHTS[obj.session_uid] = (_weights_key(obj), *_sparse([b.name for b in bones], level))
    update_pose_rotation(obj)
    return arm, skipped


def _build_armature(obj: bpy.types.Object, bones: list[Bone]) -> bpy.types.Object:
    arm_data = bpy.data.armatures.new(f"{obj.name} Rig")
    arm = bpy.data.objects.new(f"{obj.name} Rig", arm_data)
    for coll in obj.users_collection:
        coll.objects.link(arm)
    arm.matrix_world = obj.matrix_world
    arm.show_in_front = True
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for b in bones:
        eb = arm_data.edit_bones.new(b.name)
        eb.head, eb.tail = b.head.tolist(), b.tail.tolist()
        if float(np.linalg.norm(b.tail - b.head)) < 1e-4:
            eb.tail = (b.head + np.array([0.0, 0.0, 0.05])).tolist()
        if b.roll_towards is not None:
            eb.align_roll(b.roll_towards.tolist())
    for b in bones:
        if b.parent:
            eb = arm_data.edit_bones[b.name]
            eb.parent = arm_data.edit_bones[b.parent]
            eb.use_connect = bool(np.allclose(eb.parent.tail, eb.head, atol=1e-6))
    bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous
    return arm


def remove_rig(obj: bpy.types.Object) -> None:
    """Delete the armature an earlier :func:`create_armature` made for ``obj`` (object
    and data) and its Armature modifier, so rigging again replaces it (the bone-named
    groups are rebuilt by :func:`create_armature`)."""
    old = bpy.data.objects.get(obj.get("hc_rig", ""))
    if old is not None and old.type == "ARMATURE":
        data = old.data
        bpy.data.objects.remove(old)
        if data.users == 0:
            bpy.data.armatures.remove(data)
    mod = obj.modifiers.get(ARMATURE_MODIFIER)
    if mod is not None:
        obj.modifiers.remove(mod)
    if "hc_rig" in obj:
        del obj["hc_rig"]
    _WEIGHTS.pop(obj.session_uid, None)
    _POSES.pop(obj.session_uid, None)
    pose = obj.data.attributes.get(POSE_ATTRIBUTE)
    if pose is not None:
        obj.data.attributes.remove(pose)


def deformed_positions(obj: bpy.types.Object) -> np.ndarray:
    """(N, 3) float32 point positions after the modifiers before the display (the
    armature), evaluated with the current pose; mesh space."""
    mod = obj.modifiers.get(MODIFIER)
    was = None if mod is None else (mod.show_viewport, mod.show_render)
    if mod is not None:
        mod.show_viewport = mod.show_render = False
    try:
        dg = bpy.context.evaluated_depsgraph_get()
        dg.update()
        ev = obj.evaluated_get(dg)
        mesh = ev.to_mesh()
        try:
            out = meshdata.positions(mesh)
        finally:
            ev.to_mesh_clear()
    finally:
        if mod is not None:
            mod.show_viewport, mod.show_render = was
    return out


def _write_positions(mesh: bpy.types.Mesh, pos: np.ndarray) -> None:
    mesh.attributes["position"].data.foreach_set("vector", np.ascontiguousarray(pos).reshape(-1))
    mesh.update()


def posed_frames(obj: bpy.types.Object) -> tuple[np.ndarray, np.ndarray]:
    """Where the current pose puts each point and how it turns it, mesh space.

    The rotation is that of the modifiers' local deformation (the Armature modifier's
    blend of bone transforms) at each point, measured by moving every point by
    :data:`PROBE` along each axis and re-evaluating; the points are put back exactly.
    Its nearest rotation (polar decomposition) is returned, so a splat turns with the
    bones it follows and keeps its own shape.

    Returns:
        positions: (N, 3) float32 deformed positions. rotations: (N, 3, 3) float64
        rotation matrices (identity for points the pose does not move).
    """
    mesh = obj.data
    base = meshdata.positions(mesh)
    moved = deformed_positions(obj).astype(np.float64)
    jac = np.empty((len(base), 3, 3))
    try:
        for axis in range(3):
            shifted = base.copy()
            shifted[:, axis] += np.float32(PROBE)
            step = (shifted[:, axis].astype(np.float64) - base[:, axis])[:, None]
            _write_positions(mesh, shifted)
            jac[:, :, axis] = (deformed_positions(obj) - moved) / step
    finally:
        _write_positions(mesh, base)
    return moved.astype(np.float32), nearest_rotation(jac)


def nearest_rotation(m: np.ndarray, iterations: int = 12) -> np.ndarray:
    """(N, 3, 3) float64 nearest rotations (polar decomposition) of (N, 3, 3) matrices.

    Newton's iteration X <- (X + X^-T) / 2 (the inverse by cofactors), vectorised over
    the points, converges in a few steps for the near-rotations a pose gives (exact ones
    in one); rows it does not settle (mirrored or degenerate) go through the SVD."""
    x = np.array(m, np.float64)
    bad = np.zeros(len(x), bool)
    for _ in range(iterations):
        c0, c1, c2 = x[:, :, 0], x[:, :, 1], x[:, :, 2]
        cof = np.stack([_cross(c1, c2), _cross(c2, c0), _cross(c0, c1)], axis=2)
        det = (c0 * cof[:, :, 0]).sum(axis=1)
        bad |= ~(det > 1e-12)
        det[bad] = 1.0
        step = 0.5 * (cof / det[:, None, None] - x)
        x += step
        if np.abs(step[~bad]).max(initial=0.0) < 1e-10:
            break
    else:
        bad |= np.abs(step).max(axis=(1, 2)) >= 1e-10
    if bad.any():
        u, _, vt = np.linalg.svd(np.asarray(m, np.float64)[bad])
        flip = np.linalg.det(u @ vt) < 0
        u[flip, :, 2] *= -1
        x[bad] = u @ vt
    return x


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack(
        [
            a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
            a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
            a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
        ],
        axis=1,
    )


# ----------------------------------------------------------------------------- the pose's
# rotation per splat for the display

_WEIGHTS: dict[int, tuple] = {}
"""object session id -> (key, group names, (N, K) group columns, (N, K) weights): each
splat's nonzero bone weights (read once; ``create_armature`` fills it from its plan)."""
_POSES: dict[int, np.ndarray] = {}
"""object session id -> (bone turns, weights) last written to its ``hc_pose_rotation``."""
_BUSY = False


def _weights_key(obj: bpy.types.Object) -> tuple:
    return (len(obj.data.vertices), tuple(g.name for g in obj.vertex_groups))


def _sparse(names: list[str], dense: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``dense`` (N, G) weights as each point's K largest: (names, (N, K), (N, K))."""
    dense = np.asarray(dense, np.float32)
    k = max(1, int((dense > 0).sum(axis=1).max(initial=0)))
    cols = np.argsort(-dense, axis=1, kind="stable")[:, :k].astype(np.int32)
    return names, cols, np.take_along_axis(dense, cols, axis=1)


def _point_weights(
    obj: bpy.types.Object, reread: bool = False
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The splats' bone weights: cached, else (or with ``reread``) read from the vertex
    groups (about 0.25 s per 100,000 splats)."""
    key = _weights_key(obj)
    cached = _WEIGHTS.get(obj.session_uid)
    if cached is None or cached[0] != key or reread:
        names = [g.name for g in obj.vertex_groups]
        cached = (key, *_sparse(names, meshdata.group_weights(obj, names)))
        _WEIGHTS[obj.session_uid] = cached
    return cached[1:]


def _rig_of(obj: bpy.types.Object) -> tuple[bpy.types.Object | None, bpy.types.Modifier | None]:
    mod = obj.modifiers.get(ARMATURE_MODIFIER)
    arm = None if mod is None else mod.object
    return (arm, mod) if arm is not None and arm.type == "ARMATURE" else (None, mod)


def _bone_turns(obj: bpy.types.Object, names: list[str], depsgraph=None) -> np.ndarray:
    """(G + 1, 3, 3) the linear part of each group's bone deformation in mesh space, as
    the Armature modifier applies it (pose matrix @ rest matrix^-1, conjugated by the
    mesh -> armature transform); identity for groups without a deforming bone and in
    the last row (points with no weight)."""
    out = np.tile(np.eye(3), (len(names) + 1, 1, 1))
    arm, mod = _rig_of(obj)
    if arm is None or not mod.show_viewport:
        return out
    if depsgraph is not None:
        arm = arm.evaluated_get(depsgraph)
        ob = obj.evaluated_get(depsgraph)
    else:
        ob = obj
    to_arm = np.array(arm.matrix_world.inverted() @ ob.matrix_world)[:3, :3]
    back = np.linalg.inv(to_arm)
    bones = arm.pose.bones
    for j, name in enumerate(names):
        pb = bones.get(name)
        if pb is None or not pb.bone.use_deform:
            continue
        turn = (pb.matrix @ pb.bone.matrix_local.inverted()).to_3x3()
        out[j] = back @ np.array(turn) @ to_arm
    return out


def _pose_quats(turns: np.ndarray, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(N, 4) float32 the pose's rotation (w x y z, mesh space) at each splat: the nearest
    rotation of its weights' normalised blend of its bones' ``turns`` (the Armature
    modifier's blend); exactly identity for splats whose bones are all at rest. Splats
    with the same bones and weights share one polar decomposition."""
    q = np.zeros((len(cols), 4), np.float32)
    q[:, 0] = 1.0
    rest = np.abs(turns - np.eye(3)).max(axis=(1, 2)) < 1e-6
    cols = np.where(w > 0, cols, len(turns) - 1)  # the last turn: identity
    idx = np.flatnonzero(~rest[cols].all(axis=1))
    if not len(idx):
        return q
    k = cols.shape[1]
    key = np.concatenate([cols[idx], np.ascontiguousarray(w[idx], np.float32).view(np.int32)], 1)
    whole = key.view(np.dtype((np.void, key.itemsize * key.shape[1]))).ravel()  # one per row
    _, first, back = np.unique(whole, return_index=True, return_inverse=True)
    rows = key[first]  # few: the weights are quantised
    c, ww = rows[:, :k], np.ascontiguousarray(rows[:, k:]).view(np.float32).astype(np.float64)
    total = np.maximum(ww.sum(axis=1), 1e-12)[:, None, None]
    jac = np.einsum("nk,nkij->nij", ww, turns[c]) / total
    q[idx] = matrix_to_quat(nearest_rotation(jac))[back.reshape(-1)]
    return q


def update_pose_rotation(
    obj: bpy.types.Object, depsgraph=None, force: bool = False, reread: bool = False
) -> bool:
    """Write the pose's rotation of each splat (w x y z) to ``hc_pose_rotation`` when the
    pose (or the weights, read again with ``reread``) changed since the last write, or
    with ``force``; returns whether it wrote."""
    global _BUSY
    names, cols, w = _point_weights(obj, reread)
    turns = _bone_turns(obj, names, depsgraph)
    last = _POSES.get(obj.session_uid)
    attr = obj.data.attributes.get(POSE_ATTRIBUTE)
    if (
        not force
        and attr is not None
        and last is not None
        and last[1] is w
        and last[0].shape == turns.shape
        and np.array_equal(last[0], turns)
    ):
        return False
    quats = _pose_quats(turns, cols, w)
    _BUSY = True
    try:
        meshdata.write(obj.data, POSE_ATTRIBUTE, "QUATERNION", quats)
        obj.data.update_tag()
    finally:
        _BUSY = False
    _POSES[obj.session_uid] = (turns, w)
    return True


@bpy.app.handlers.persistent
def pose_changed(scene, depsgraph=None) -> None:
    """Handler (``depsgraph_update_post``, ``frame_change_post``): keep the display's
    pose rotations of ``scene``'s rigged splat objects up to date."""
    if _BUSY or scene is None:
        return
    painted = set()  # objects whose weights may have been painted in this update
    if depsgraph is not None:
        painted = {
            u.id.original.name
            for u in depsgraph.updates
            if u.is_updated_geometry and isinstance(u.id, bpy.types.Object)
        }
    for obj in scene.objects:
        if obj.type != "MESH" or "hc_rig" not in obj or MODIFIER not in obj.modifiers:
            continue
        if obj.mode == "EDIT":
            continue
        reread = obj.mode == "WEIGHT_PAINT" and obj.name in painted
        try:
            update_pose_rotation(obj, depsgraph, reread=reread)
        except (ReferenceError, RuntimeError, ValueError):
            continue
