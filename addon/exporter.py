"""Splat objects -> files: 3DGS PLY, one PLY per part, glTF/GLB, SPZ (bpy for reading
the object; the formats are written by ``portable.splatfile`` and :mod:`.gltf_splat`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import bpy
import numpy as np

from . import gltf_splat, meshdata, rigging
from .axes import blender_to_model_axes, rotate_model_quats
from .client import Client
from .importer import object_splats, placement_of
from .portable import splatfile
from .portable.parts import PART_NAMES
from .portable.splatfile import Skeleton, Splats


def splats_for_export(obj: bpy.types.Object, posed: bool = False) -> Splats:
    """The object's splats in the model frame; ``posed``: as the armature poses them,
    each splat moved and turned by the bones it follows (:func:`rigging.posed_frames`;
    scales, opacities and colours unchanged, higher SH bands not rotated), and a rigged
    file's skeleton moved to the pose (each joint where its pose bone's head is)."""
    return _export_state(obj, posed)[0]


def _export_state(obj: bpy.types.Object, posed: bool) -> tuple[Splats, np.ndarray]:
    """:func:`splats_for_export` and the (N, 3) Blender positions it comes from."""
    if not posed:
        return object_splats(obj), meshdata.positions(obj.data)
    positions, rotations = rigging.posed_frames(obj)
    s = object_splats(obj, positions)
    turned = np.abs(rotations - np.eye(3)).max(axis=(1, 2)) > 0
    s.quats = np.where(turned[:, None], rotate_model_quats(s.quats, rotations), s.quats)
    if s.rigged:
        s.skeleton = _posed_skeleton(obj, s.skeleton)
    return s, positions


def _posed_skeleton(obj: bpy.types.Object, skeleton: Skeleton) -> Skeleton:
    """``skeleton`` with each joint moved to the head of its pose bone in the object's
    armature (joints without one, or whose bone's head has not moved, stay exactly)."""
    arm = bpy.data.objects.get(obj.get("hc_rig", ""))
    if arm is None or arm.type != "ARMATURE":
        return skeleton
    to_mesh = np.array(obj.matrix_world.inverted() @ arm.matrix_world)
    placement = placement_of(obj)
    joints = skeleton.joints.copy()
    for i, name in enumerate(skeleton.names):
        pb = arm.pose.bones.get(name)
        if pb is not None and (pb.head - pb.bone.head_local).length > 1e-6:
            head = to_mesh @ np.append(np.array(pb.head), 1.0)
            joints[i] = placement.points_to_model(head[None, :3])[0]
    return dataclasses.replace(skeleton, joints=joints)


def export_ply(obj: bpy.types.Object, path: str | Path, posed: bool = False) -> int:
    """Write a semantic 3DGS PLY; returns the number of splats."""
    s = splats_for_export(obj, posed)
    splatfile.save(path, s)
    return len(s)


def export_parts(obj: bpy.types.Object, folder: str | Path, posed: bool = False) -> list[Path]:
    """One PLY per part present, named ``<object>_<Part>.ply``, in ``folder``."""
    s = splats_for_export(obj, posed)
    if not s.labelled:
        raise ValueError(f"'{obj.name}' has no part labels, so it cannot be split by part")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in np.unique(s.part):
        path = folder / f"{bpy.path.clean_name(obj.name)}_{PART_NAMES[k]}.ply"
        splatfile.save(path, s.subset(s.part == k))
        out.append(path)
    return out


def gltf_splats(obj: bpy.types.Object, posed: bool = False) -> Splats:
    """The splats in the glTF frame: metres, y up, facing +z, feet at y = 0 (the model
    frame's axes, so rotations and SH pass unchanged; log-scales gain log(scale))."""
    s, pos = _export_state(obj, posed)
    placement = placement_of(obj)
    s.means = blender_to_model_axes(pos.astype(np.float64)).astype(np.float32)
    s.log_scales = (s.log_scales + np.float32(placement.log_scale_offset())).astype(np.float32)
    return s


def export_gltf(obj: bpy.types.Object, path: str | Path, posed: bool = False) -> int:
    """Write ``.glb`` or ``.gltf`` with KHR_gaussian_splatting; returns the splat count."""
    s = gltf_splats(obj, posed)
    gltf_splat.write(path, s, name=obj.name)
    return len(s)


def export_spz(obj: bpy.types.Object, path: str | Path, client: Client, posed: bool = False) -> int:
    """Convert through the backend's ``/v1/convert/spz`` (main thread; the request is
    bounded by the client's transfer timeout) and write the bytes."""
    s = splats_for_export(obj, posed)
    data = client.convert_spz(splatfile.dumps(s))
    Path(path).write_bytes(data)
    return len(s)
