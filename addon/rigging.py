"""Create an armature for a splat object (bpy + numpy), and read its deformation back.

The bones and weights are planned by :mod:`.bones` (no bpy): from the file's skeleton and
skin when it has them (a reconstruction rigged to the fitted body), else from the part
labels. This module builds the armature, writes the weights as bone-named vertex groups
(the ``part`` attribute keeps the labels) and adds the Armature modifier.
:func:`posed_frames` reads back where the pose puts each splat and how it turns it, for
the exporters.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import meshdata
from .bones import Bone, bone_weights, plan_bones, skeleton_bones, skin_matrix
from .display import MODIFIER
from .importer import placement_of, skeleton_of
from .portable.splatfile import SKIN_SLOTS

__all__ = [
    "ARMATURE_MODIFIER",
    "bone_weights",
    "create_armature",
    "deformed_positions",
    "plan_bones",
    "posed_frames",
    "remove_rig",
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
    _write_groups(obj, bones, weights)
    mod = obj.modifiers.get(ARMATURE_MODIFIER) or obj.modifiers.new(ARMATURE_MODIFIER, "ARMATURE")
    mod.object = arm
    mod.use_vertex_groups = True
    mod.use_bone_envelopes = False
    obj.modifiers.move(obj.modifiers.find(mod.name), 0)
    obj["hc_rig"] = arm.name
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


def _write_groups(obj: bpy.types.Object, bones: list[Bone], weights: np.ndarray) -> None:
    """Bone-named vertex groups holding ``weights`` (N, B), quantised to :data:`LEVELS`."""
    for j, b in enumerate(bones):
        vg = obj.vertex_groups.get(b.name)
        if vg is not None:
            obj.vertex_groups.remove(vg)
        vg = obj.vertex_groups.new(name=b.name)
        level = np.rint(weights[:, j] * (LEVELS - 1)).astype(np.int64)
        for q in np.unique(level[level > 0]):
            vg.add(np.flatnonzero(level == q).tolist(), float(q) / (LEVELS - 1), "REPLACE")


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
    u, _, vt = np.linalg.svd(jac)
    flip = np.linalg.det(u @ vt) < 0
    u[flip, :, 2] *= -1
    return moved.astype(np.float32), u @ vt
