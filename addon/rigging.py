"""Create an armature from the part labels of a splat object (bpy + numpy).

The bones and weights are planned by :mod:`.bones` (no bpy); this module builds the
armature, rebuilds the bone-named vertex groups as deform weights (the ``part``
attribute keeps the labels) and adds the Armature modifier.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import meshdata
from .bones import bone_weights, plan_bones
from .display import MODIFIER

__all__ = [
    "ARMATURE_MODIFIER",
    "bone_weights",
    "create_armature",
    "deformed_positions",
    "plan_bones",
    "remove_rig",
]
ARMATURE_MODIFIER = "HumanCrafter Armature"
LEVELS = 32  # weights are quantised to this many steps (one vertex_group.add per step)


def create_armature(
    obj: bpy.types.Object, smooth: float = 0.0, min_points: int = 20
) -> tuple[bpy.types.Object, list[str]]:
    """Build ``<obj> Rig`` for splat object ``obj``, weight it and add the Armature
    modifier first in the stack. ``smooth`` is the blending radius in metres (0 = each
    point follows one bone). Returns (armature object, names of bones not placed)."""
    if "part" not in obj.data.attributes:
        raise ValueError(f"'{obj.name}' has no part labels, so there is nothing to rig by")
    pos = meshdata.positions(obj.data)
    lab = meshdata.read(obj.data, "part")
    bones, skipped = plan_bones(pos, lab, min_points)
    if not bones:
        raise ValueError("cannot place a rig: " + "; ".join(skipped))
    remove_rig(obj)
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
    for b in bones:
        if b.parent:
            eb = arm_data.edit_bones[b.name]
            eb.parent = arm_data.edit_bones[b.parent]
            eb.use_connect = bool(np.allclose(eb.parent.tail, eb.head, atol=1e-6))
    bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = previous

    weights = bone_weights(pos, lab, bones, smooth)
    for j, b in enumerate(bones):
        vg = obj.vertex_groups.get(b.name)
        if vg is not None:
            obj.vertex_groups.remove(vg)
        vg = obj.vertex_groups.new(name=b.name)
        level = np.rint(weights[:, j] * (LEVELS - 1)).astype(np.int64)
        for q in np.unique(level[level > 0]):
            vg.add(np.flatnonzero(level == q).tolist(), float(q) / (LEVELS - 1), "REPLACE")
    mod = obj.modifiers.get(ARMATURE_MODIFIER) or obj.modifiers.new(ARMATURE_MODIFIER, "ARMATURE")
    mod.object = arm
    mod.use_vertex_groups = True
    mod.use_bone_envelopes = False
    obj.modifiers.move(obj.modifiers.find(mod.name), 0)
    obj["hc_rig"] = arm.name
    return arm, skipped


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
