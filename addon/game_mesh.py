"""A splat object -> a game character: a closed, vertex-coloured, skinned triangle mesh
(bpy; the geometry and the value transfer are numpy, in :mod:`.portable.mesh_convert`,
shared with the backend's ``humancrafter mesh``), and its
export as GLB or FBX through Blender's own exporters.

The mesh object, ``<splat object> Mesh``:

- its surface from :func:`.portable.mesh_convert.splat_surface` around the splats' rest
  positions (mesh space of the splat object, metres) and the same object transform;
- ``Col`` (point colour, linear, alpha 1): the mean of the splats' ``Col`` near each
  vertex (opacity- and distance-weighted), shown by the material
  ``HumanCrafter Vertex Colour`` (Principled BSDF base colour from ``Col``), which is
  also what makes the glTF exporter write ``COLOR_0``;
- ``part`` (point int) and one vertex group per part: the part with the most weight
  among the splats near each vertex;
- when the splat object is rigged (:mod:`.rigging`): parented to its armature with an
  Armature modifier, and one deform group per bone holding the splats' bone weights
  carried over the same way, cut to the 4 largest per vertex (what game engines take)
  and summing to 1. As on the rigged splat object, a bone-named group holds deform
  weights, so parts that share a bone's name have no part group there (the ``part``
  attribute keeps them).

Converting again replaces the splat object's earlier mesh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import meshdata
from .portable import mesh_convert
from .portable.parts import NUM_PARTS, PART_NAMES

MESH_OF = "hc_mesh_of"  # on a converted mesh object: the name of its splat object
MESH_PROP = "hc_mesh"  # on a splat object: the name of its converted mesh object
MATERIAL = "HumanCrafter Vertex Colour"
ARMATURE_MODIFIER = "HumanCrafter Armature"
INFLUENCES = 4
FORMATS = {".glb": "GLB", ".fbx": "FBX"}


@dataclass
class ConvertReport:
    """What a conversion made, for the status bar and the docs."""

    vertices: int
    faces: int
    closed: bool
    seconds: float
    bones: int = 0
    notes: list[str] = field(default_factory=list)

    def message(self, name: str) -> str:
        text = f"Made '{name}': {self.vertices:,} vertices, {self.faces:,} triangles"
        text += ", closed" if self.closed else ", NOT closed"
        text += f", skinned to {self.bones} bones" if self.bones else ", not rigged"
        return "; ".join([text + f" in {self.seconds:.1f} s", *self.notes]) + "."


def is_game_mesh(obj: bpy.types.Object | None) -> bool:
    return obj is not None and obj.type == "MESH" and MESH_OF in obj


def armature_of(obj: bpy.types.Object) -> bpy.types.Object | None:
    """The armature :mod:`.rigging` made for splat object ``obj``, if any."""
    arm = bpy.data.objects.get(obj.get("hc_rig", ""))
    return arm if arm is not None and arm.type == "ARMATURE" else None


def _material() -> bpy.types.Material:
    mat = bpy.data.materials.get(MATERIAL)
    if mat is None:
        mat = bpy.data.materials.new(MATERIAL)
        if bpy.app.version < (5, 0, 0):  # always node-based from 5.0 on
            mat.use_nodes = True
        nodes = mat.node_tree.nodes
        colour = nodes.new("ShaderNodeVertexColor")
        colour.layer_name = "Col"
        colour.location = (-300, 300)
        bsdf = nodes["Principled BSDF"]
        bsdf.inputs["Roughness"].default_value = 0.8
        mat.node_tree.links.new(colour.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def _build_mesh(name: str, surface: mesh_convert.Surface) -> bpy.types.Mesh:
    """A Blender mesh of ``surface``'s triangles, built in bulk, smooth shaded."""
    mesh = bpy.data.meshes.new(name)
    v, f = surface.vertices, surface.faces
    mesh.vertices.add(len(v))
    mesh.vertices.foreach_set("co", np.ascontiguousarray(v, np.float32).reshape(-1))
    mesh.loops.add(f.size)
    mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(f, np.int32).reshape(-1))
    mesh.polygons.add(len(f))
    mesh.polygons.foreach_set("loop_start", np.arange(0, f.size, 3, dtype=np.int32))
    mesh.update(calc_edges=True)
    mesh.shade_smooth()
    return mesh


def remove_mesh(obj: bpy.types.Object) -> None:
    """Delete the mesh object an earlier :func:`convert` made from splat object ``obj``."""
    old = bpy.data.objects.get(obj.get(MESH_PROP, ""))
    if old is not None and is_game_mesh(old):
        data = old.data
        bpy.data.objects.remove(old)
        if data.users == 0:
            bpy.data.meshes.remove(data)
    if MESH_PROP in obj:
        del obj[MESH_PROP]


def convert(
    obj: bpy.types.Object, voxel: float = 0.015, smooth: int = 10
) -> tuple[bpy.types.Object, ConvertReport]:
    """Make ``<obj> Mesh`` from splat object ``obj`` (see the module docstring);
    ``voxel`` is the grid spacing in metres of the splat object's mesh space (vertices
    come about every 0.7 voxel), ``smooth`` the number of Taubin steps. Raises
    ValueError when the splats give no surface."""
    start = time.perf_counter()
    mesh = obj.data
    pos = meshdata.positions(mesh).astype(np.float64)
    sigma = meshdata.read(mesh, "scale").max(1)
    alpha = meshdata.read(mesh, "opacity")
    surface = mesh_convert.splat_surface(pos, sigma, alpha, voxel, smooth=smooth)
    near = mesh_convert.Neighbours(surface.vertices, pos, alpha, 2 * voxel)
    remove_mesh(obj)
    name = f"{obj.name} Mesh"
    data = _build_mesh(name, surface)
    rgb = np.clip(near.mean(meshdata.read(mesh, "Col")[:, :3]), 0.0, None)
    meshdata.write(data, "Col", "FLOAT_COLOR", np.concatenate([rgb, np.ones((len(rgb), 1))], 1))
    data.color_attributes.active_color_name = "Col"
    data.color_attributes.render_color_index = data.color_attributes.find("Col")
    data.materials.append(_material())
    new = bpy.data.objects.new(name, data)
    new[MESH_OF] = obj.name
    obj[MESH_PROP] = new.name
    for coll in obj.users_collection:
        coll.objects.link(new)
    new.matrix_world = obj.matrix_world

    arm = armature_of(obj)
    bones = [b.name for b in arm.data.bones if b.use_deform] if arm is not None else []
    if "part" in mesh.attributes:
        part = near.vote(meshdata.read(mesh, "part"), NUM_PARTS).astype(np.int32)
        meshdata.write(data, "part", "INT", part)
        for k in np.unique(part):
            if PART_NAMES[k] not in bones:
                new.vertex_groups.new(name=PART_NAMES[k]).add(
                    np.flatnonzero(part == k).tolist(), 1.0, "REPLACE"
                )
    report = ConvertReport(len(surface.vertices), len(surface.faces), True, 0.0)
    if arm is not None:
        weights = near.mean(meshdata.group_weights(obj, bones))
        weights = mesh_convert.top_influences(weights, INFLUENCES, 255)
        meshdata.write_groups(new, bones, weights)
        new.parent = arm
        new.matrix_parent_inverse = arm.matrix_world.inverted()
        mod = new.modifiers.new(ARMATURE_MODIFIER, "ARMATURE")
        mod.object = arm
        mod.use_vertex_groups, mod.use_bone_envelopes = True, False
        report.bones = len(bones)
        if not (weights.sum(1) > 0).all():
            report.notes.append("some vertices have no bone weight")
    report.closed = mesh_convert.topology(surface).closed
    report.seconds = time.perf_counter() - start
    return new, report


# ----------------------------------------------------------------------------- export


def _ensure_exporter(module: str, operator: str) -> None:
    """Enable Blender's bundled exporter add-on ``module`` when its operator is absent."""
    if not hasattr(bpy.types, operator):
        import addon_utils

        addon_utils.enable(module, default_set=True)
    if not hasattr(bpy.types, operator):
        raise RuntimeError(f"Blender's exporter '{module}' is not available")


def export(obj: bpy.types.Object, path: str | Path) -> str:
    """Write mesh object ``obj`` (from :func:`convert`) and its armature, if any, to
    ``path``: ``.glb`` through Blender's glTF exporter (skin, vertex colours from the
    material, no animation, +Y up) or ``.fbx`` through its FBX exporter (armature and
    mesh, no leaf bones, no animation). Returns the format name. The selection is
    restored afterwards."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"'{path.name}' does not end in .glb or .fbx")
    objects = [obj] + (
        [obj.parent] if obj.parent is not None and obj.parent.type == "ARMATURE" else []
    )
    view_layer = bpy.context.view_layer
    selected = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    for o in selected:
        o.select_set(False)
    for o in objects:
        o.select_set(True)
    view_layer.objects.active = obj
    try:
        if fmt == "GLB":
            _ensure_exporter("io_scene_gltf2", "EXPORT_SCENE_OT_gltf")
            bpy.ops.export_scene.gltf(
                filepath=str(path), export_format="GLB", use_selection=True,
                export_skins=True, export_animations=False, export_morph=False,
                export_apply=False, export_yup=True, export_vertex_color="MATERIAL",
                export_influence_nb=INFLUENCES, export_extras=False,
            )  # fmt: skip
        else:
            _ensure_exporter("io_scene_fbx", "EXPORT_SCENE_OT_fbx")
            bpy.ops.export_scene.fbx(
                filepath=str(path), use_selection=True, object_types={"ARMATURE", "MESH"},
                add_leaf_bones=False, bake_anim=False, use_armature_deform_only=True,
                mesh_smooth_type="FACE", colors_type="LINEAR", use_mesh_modifiers=False,
            )  # fmt: skip
    finally:
        for o in view_layer.objects:
            o.select_set(o in selected)
        view_layer.objects.active = active
    return fmt
