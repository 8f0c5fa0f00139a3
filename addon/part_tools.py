"""Part tools on splat objects: list, select, hide, isolate, separate, materials, recolour.

All work on whole numpy arrays of the ``part`` attribute. Part materials are kept per
scene (custom property ``hc_part_materials``: part name -> material name), so a material
given to "Hair" is given again to the hair of every later import into that scene.
"""

from __future__ import annotations

import bpy
import numpy as np

from . import display, meshdata
from .colour import recoloured_sh_dc, srgb_to_linear
from .importer import SKELETON_PROP, SPLAT_PROP, make_part_groups, write_display_colour
from .portable.parts import NUM_PARTS, PALETTE, PART_NAMES, part_id

SCENE_MATERIALS = "hc_part_materials"


def labels(obj: bpy.types.Object) -> np.ndarray:
    """(N,) int32 part labels; raises ValueError for an unlabelled object."""
    if "part" not in obj.data.attributes:
        raise ValueError(
            f"'{obj.name}' has no part labels (it was imported from an unlabelled file)"
        )
    return meshdata.read(obj.data, "part")


def hidden(obj: bpy.types.Object) -> np.ndarray:
    """(N,) bool: points hidden by part visibility."""
    if "hc_hidden" in obj.data.attributes:
        return meshdata.read(obj.data, "hc_hidden")
    return np.zeros(len(obj.data.vertices), bool)


def refresh_part_list(obj: bpy.types.Object) -> None:
    """Rebuild the object's part list (``obj.hc_parts``) shown in the sidebar."""
    if not hasattr(obj, "hc_parts") or "part" not in obj.data.attributes:
        return
    lab = labels(obj)
    counts = np.bincount(lab, minlength=NUM_PARTS)
    hid = np.bincount(lab, weights=hidden(obj), minlength=NUM_PARTS)
    obj.hc_parts.clear()
    for k in np.flatnonzero(counts):
        item = obj.hc_parts.add()
        item.name = PART_NAMES[k]
        item.part_id = int(k)
        item.count = int(counts[k])
        item.color = tuple(float(c) for c in srgb_to_linear(PALETTE[k] / 255.0))
        item["visible"] = bool(hid[k] < counts[k])  # no update callback while filling


def set_visible(obj: bpy.types.Object, ids: list[int], visible: bool) -> None:
    """Show or hide (in the display and renders) the points of parts ``ids``."""
    mask = np.isin(labels(obj), ids)
    hid = hidden(obj)
    hid[mask] = not visible
    meshdata.write(obj.data, "hc_hidden", "BOOLEAN", hid)
    obj.data.update()
    refresh_part_list(obj)


def isolate(obj: bpy.types.Object, pid: int) -> None:
    """Show only part ``pid``."""
    meshdata.write(obj.data, "hc_hidden", "BOOLEAN", labels(obj) != pid)
    obj.data.update()
    refresh_part_list(obj)


def show_all(obj: bpy.types.Object) -> None:
    meshdata.write(obj.data, "hc_hidden", "BOOLEAN", np.zeros(len(obj.data.vertices), bool))
    obj.data.update()
    refresh_part_list(obj)


def select(obj: bpy.types.Object, pid: int, extend: bool = False) -> int:
    """Select the points of part ``pid`` (for edit mode); returns how many."""
    mask = labels(obj) == pid
    if extend:
        current = np.empty(len(mask), bool)
        obj.data.vertices.foreach_get("select", current)
        mask |= current
    obj.data.vertices.foreach_set("select", mask)
    obj.data.update()
    return int(mask.sum())


def separate(obj: bpy.types.Object, pid: int, keep: bool = False) -> bpy.types.Object:
    """Move (or copy, ``keep``) the points of part ``pid`` into a new splat object with
    every attribute, its part group, the same placement and its own display."""
    lab = labels(obj)
    mask = lab == pid
    if not mask.any():
        raise ValueError(f"'{obj.name}' has no points labelled {PART_NAMES[pid]}")
    name = f"{obj.name}.{PART_NAMES[pid]}"
    mesh = bpy.data.meshes.new(name)
    meshdata.copy_points(obj.data, mesh, np.flatnonzero(mask))
    new = bpy.data.objects.new(name, mesh)
    for key in (SPLAT_PROP, "hc_scale", "hc_offset", SKELETON_PROP):
        if key in obj:
            new[key] = obj[key]
    new.matrix_world = obj.matrix_world
    for coll in obj.users_collection:
        coll.objects.link(new)
    make_part_groups(new, lab[mask])
    pose = mesh.attributes.get(display.POSE_ATTRIBUTE)
    if pose is not None:  # the new object is not rigged: drawn at rest
        mesh.attributes.remove(pose)
    if not keep:
        meshdata.copy_points(obj.data, obj.data, np.flatnonzero(~mask))
        make_part_groups(obj, lab[~mask])
        refresh_part_list(obj)
    _restore_colour_attribute(obj.data)
    _restore_colour_attribute(new.data)
    display.ensure_display(new)
    new.hc_show_part_colours = obj.hc_show_part_colours  # its update sets the material
    apply_scene_materials(new, bpy.context.scene)
    refresh_part_list(new)
    return new


def _restore_colour_attribute(mesh: bpy.types.Mesh) -> None:
    if "Col" in mesh.attributes:
        mesh.color_attributes.active_color_name = "Col"
        mesh.color_attributes.render_color_index = mesh.color_attributes.find("Col")


def scene_materials(scene: bpy.types.Scene) -> dict[str, str]:
    """Part name -> material name assigned in ``scene``."""
    return {str(k): str(v) for k, v in dict(scene.get(SCENE_MATERIALS, {})).items()}


def assign_material(
    scene: bpy.types.Scene, part_name: str, material: bpy.types.Material | None
) -> list[str]:
    """Give ``material`` to part ``part_name`` (None removes it) in ``scene`` and apply
    it to every splat object there; returns the names of the objects updated."""
    part_id(part_name)  # validates the name
    mapping = scene_materials(scene)
    if material is None:
        mapping.pop(part_name, None)
    else:
        mapping[part_name] = material.name
    scene[SCENE_MATERIALS] = mapping
    updated = []
    for obj in scene.objects:
        if obj.type == "MESH" and SPLAT_PROP in obj and "part" in obj.data.attributes:
            apply_scene_materials(obj, scene)
            updated.append(obj.name)
    return updated


def apply_scene_materials(obj: bpy.types.Object, scene: bpy.types.Scene) -> list[str]:
    """Write ``hc_material`` from the scene's part materials and rebuild the display;
    returns the names of the parts present that got a material."""
    if "part" not in obj.data.attributes:
        display.ensure_display(obj)
        return []
    mapping = {
        part: bpy.data.materials[mat]
        for part, mat in scene_materials(scene).items()
        if mat in bpy.data.materials
    }
    lab = labels(obj)
    present = set(np.unique(lab).tolist())
    used = [p for p in mapping if part_id(p) in present]
    slot_of_part = np.zeros(NUM_PARTS, np.int32)
    mats: list[bpy.types.Material] = []
    for p in used:
        mat = mapping[p]
        if mat not in mats:
            mats.append(mat)
        slot_of_part[part_id(p)] = mats.index(mat) + 1
    if used or "hc_material" in obj.data.attributes:
        meshdata.write(obj.data, "hc_material", "INT", slot_of_part[lab])
    for mat in mats:
        if mat.name not in obj.data.materials:
            obj.data.materials.append(mat)
    display.ensure_display(obj, mats)
    return used


def recolour(obj: bpy.types.Object, pid: int, colour: tuple[float, float, float]) -> int:
    """Recolour part ``pid`` to the (linear) ``colour``, keeping each point's shading.

    Each point's new sRGB colour is ``colour`` x (its luminance / the part's mean
    luminance) (:func:`.colour.recoloured_sh_dc`); the view-dependent SH bands of those
    points are cleared so the new colour looks the same from every side. Returns the
    number of points changed.
    """
    mesh = obj.data
    mask = labels(obj) == pid
    if not mask.any():
        raise ValueError(f"'{obj.name}' has no points labelled {PART_NAMES[pid]}")
    sh = meshdata.read(mesh, "sh_dc")
    sh[mask] = recoloured_sh_dc(sh[mask], colour)
    meshdata.write(mesh, "sh_dc", "FLOAT_VECTOR", sh)
    k = 0
    while f"sh_rest_{k:02d}" in mesh.attributes:
        rest = meshdata.read(mesh, f"sh_rest_{k:02d}")
        rest[mask] = 0.0
        meshdata.write(mesh, f"sh_rest_{k:02d}", "FLOAT_VECTOR", rest)
        k += 1
    write_display_colour(mesh, sh, meshdata.read(mesh, "opacity"))
    mesh.update()
    return int(mask.sum())
