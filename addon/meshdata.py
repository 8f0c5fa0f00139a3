"""Bulk reads and writes of mesh point attributes with ``foreach_get``/``foreach_set``.

Every function moves whole numpy arrays; the one per-point loop is the vertex-group read
(:func:`group_weights`), which bpy offers no bulk access for.
"""

from __future__ import annotations

import bmesh
import bpy
import numpy as np

# data type -> (foreach property, components, numpy dtype)
_LAYOUT = {
    "FLOAT": ("value", 1, np.float32),
    "INT": ("value", 1, np.int32),
    "BOOLEAN": ("value", 1, bool),
    "FLOAT_VECTOR": ("vector", 3, np.float32),
    "FLOAT_COLOR": ("color", 4, np.float32),
    "QUATERNION": ("value", 4, np.float32),
    "INT8": ("value", 1, np.int8),
    "FLOAT2": ("vector", 2, np.float32),
}


def read(mesh: bpy.types.Mesh, name: str) -> np.ndarray:
    """(N,) or (N, C) copy of point attribute ``name``; raises KeyError if absent."""
    attr = mesh.attributes[name]
    prop, width, dtype = _LAYOUT[attr.data_type]
    n = len(attr.data)
    out = np.empty(n * width, dtype)
    attr.data.foreach_get(prop, out)
    return out if width == 1 else out.reshape(n, width)


def write(mesh: bpy.types.Mesh, name: str, data_type: str, values: np.ndarray) -> None:
    """Create or replace point attribute ``name`` of ``data_type`` with ``values``."""
    prop, width, dtype = _LAYOUT[data_type]
    attr = mesh.attributes.get(name)
    if attr is not None and (attr.data_type != data_type or attr.domain != "POINT"):
        mesh.attributes.remove(attr)
        attr = None
    if attr is None:
        attr = mesh.attributes.new(name, data_type, "POINT")
    attr.data.foreach_set(prop, np.ascontiguousarray(values, dtype).reshape(-1))


def positions(mesh: bpy.types.Mesh) -> np.ndarray:
    """(N, 3) float32 vertex positions (mesh space)."""
    return read(mesh, "position")


def point_attribute_names(mesh: bpy.types.Mesh) -> list[str]:
    """Names of the user-visible point attributes that :func:`read` can move."""
    return [
        a.name
        for a in mesh.attributes
        if a.domain == "POINT" and not a.name.startswith(".") and a.data_type in _LAYOUT
    ]


def copy_points(src: bpy.types.Mesh, dst: bpy.types.Mesh, index: np.ndarray) -> None:
    """Make ``dst`` a loose-vertex mesh holding the points ``index`` of ``src`` with
    every point attribute (position included); ``dst`` is cleared first."""
    arrays = {
        name: (src.attributes[name].data_type, read(src, name)[index])
        for name in point_attribute_names(src)
    }
    dst.clear_geometry()
    dst.vertices.add(len(index) if index.dtype != bool else int(index.sum()))
    for name, (data_type, values) in arrays.items():
        write(dst, name, data_type, values)
    dst.update()


def group_weights(obj: bpy.types.Object, names: list[str]) -> np.ndarray:
    """(N, G) float32 weights of ``obj``'s vertices in its vertex groups ``names``
    (zero where absent). bpy has no bulk read of vertex-group weights, so this walks
    the vertices once through bmesh's deform layer (about 0.25 s per 100,000 splats
    with 3 groups each)."""
    out = np.zeros((len(obj.data.vertices), len(names)), np.float32)
    column = {obj.vertex_groups[n].index: j for j, n in enumerate(names) if n in obj.vertex_groups}
    bm = bmesh.new()
    try:
        bm.from_mesh(obj.data)
        layer = bm.verts.layers.deform.active
        if layer is None or not column:
            return out
        rows, cols, vals = [], [], []
        for v in bm.verts:
            for g, w in v[layer].items():
                j = column.get(g)
                if j is not None:
                    rows.append(v.index)
                    cols.append(j)
                    vals.append(w)
    finally:
        bm.free()
    out[rows, cols] = vals
    return out


def write_groups(
    obj: bpy.types.Object, names: list[str], weights: np.ndarray, levels: int = 255
) -> None:
    """Vertex groups ``names`` of ``obj`` (replacing groups of those names) from (N, G)
    ``weights`` quantised to multiples of 1/``levels`` (one ``vertex_group.add`` per group
    and weight level)."""
    level = np.rint(np.asarray(weights) * levels).astype(np.int64)
    for j, name in enumerate(names):
        old = obj.vertex_groups.get(name)
        if old is not None:
            obj.vertex_groups.remove(old)
        vg = obj.vertex_groups.new(name=name)
        idx = np.flatnonzero(level[:, j])
        if idx.size == 0:  # a bone no splat depends on (a hand of a sleeve-less file...)
            continue
        idx = idx[np.argsort(level[idx, j], kind="stable")]
        values, starts = np.unique(level[idx, j], return_index=True)
        for q, run in zip(values, np.split(idx, starts[1:]), strict=True):
            vg.add(run.tolist(), float(q) / levels, "REPLACE")
