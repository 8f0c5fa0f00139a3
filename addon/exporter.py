"""Splat objects -> files: 3DGS PLY, one PLY per part, glTF/GLB, SPZ (bpy for reading
the object; the formats are written by ``portable.splatfile`` and :mod:`.gltf_splat`)."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from . import gltf_splat, rigging
from .axes import blender_to_model_axes
from .client import Client
from .importer import object_splats, placement_of
from .portable import splatfile
from .portable.parts import PART_NAMES
from .portable.splatfile import Splats


def splats_for_export(obj: bpy.types.Object, posed: bool = False) -> Splats:
    """The object's splats in the model frame; ``posed`` uses the armature-deformed
    positions (rotations and scales are not re-oriented by the pose)."""
    positions = rigging.deformed_positions(obj) if posed else None
    return object_splats(obj, positions)


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
    s = splats_for_export(obj, posed)
    placement = placement_of(obj)
    pos = rigging.deformed_positions(obj) if posed else None
    if pos is None:
        from . import meshdata

        pos = meshdata.positions(obj.data)
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
