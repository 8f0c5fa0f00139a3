"""Splats -> a Blender object, and back (bpy; the file I/O lives in ``portable.splatfile``).

The object is a mesh of loose vertices, one per splat, in Blender's frame (see
:mod:`.axes`). Point attributes, all float32 unless noted:

==================  =============  =====================================================
name                type           meaning
==================  =============  =====================================================
``position``        FLOAT_VECTOR   centre, Blender frame, metres
``model_position``  FLOAT_VECTOR   centre as read from the file (model frame), exact
``sh_dc``           FLOAT_VECTOR   SH degree-0 coefficients f_dc (r, g, b), exact
``sh_rest_KK``      FLOAT_VECTOR   higher SH coefficient KK (r, g, b), model frame, exact
``opacity_logit``   FLOAT          opacity before the sigmoid, exact
``log_scale``       FLOAT_VECTOR   log standard deviations, model units, exact
``rot_wxyz``        QUATERNION     rotation w x y z, model frame, exact (not normalised)
``normal``          FLOAT_VECTOR   the file's nx ny nz (kept for round trips)
``opacity``         FLOAT          opacity in [0, 1] (display)
``scale``           FLOAT_VECTOR   standard deviations in metres (display)
``rotation``        QUATERNION     unit rotation in Blender's frame (display)
``Col``             FLOAT_COLOR    linear colour 0.5 + SH_C0 * f_dc, alpha = opacity
``part``            INT            Sapiens class id (labelled files only)
``part_conf``       FLOAT          confidence of that label (labelled files only)
``skin_joint_K``    INT            K = 0..3: the joints the splat follows (rigged files)
``skin_weight_K``   FLOAT          their weights, exact (rigged files)
==================  =============  =====================================================

plus one vertex group per part present, named by class, weight 1. The object's custom
properties ``hc_scale`` and ``hc_offset`` hold the :class:`~.axes.Placement`, and in
rigged files ``hc_skeleton`` the skeleton (``names``, ``parents``, ``joints``: the model
frame positions, flattened), which :mod:`.rigging` builds the armature from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from . import meshdata
from .axes import Placement
from .colour import display_colours
from .portable.parts import NUM_PARTS, PART_NAMES
from .portable.splatfile import SKIN_SLOTS, Skeleton, Splats

SPLAT_PROP = "hc_splats"  # marks objects made by this module


@dataclass
class ImportReport:
    """What an import did, in words for the status bar."""

    count: int
    parts: dict[str, int] = field(default_factory=dict)
    labelled: bool = False
    notes: list[str] = field(default_factory=list)

    def message(self, name: str) -> str:
        text = f"Imported {self.count:,} splats as '{name}'"
        if self.labelled:
            text += f" with {len(self.parts)} part groups"
        else:
            text += "; the file has no part labels, so no part groups were made"
        return "; ".join([text, *self.notes]) + "."


def write_display_colour(mesh: bpy.types.Mesh, sh_dc: np.ndarray, opacity: np.ndarray) -> None:
    """Fill the ``Col`` colour attribute from f_dc (N, 3) and opacity (N,)."""
    meshdata.write(mesh, "Col", "FLOAT_COLOR", display_colours(sh_dc, opacity))
    mesh.color_attributes.active_color_name = "Col"
    mesh.color_attributes.render_color_index = mesh.color_attributes.find("Col")


def build_mesh(mesh: bpy.types.Mesh, s: Splats, placement: Placement) -> None:
    """Fill an empty mesh with one loose vertex per splat and every attribute above."""
    n = len(s)
    mesh.vertices.add(n)
    meshdata.write(mesh, "position", "FLOAT_VECTOR", placement.points_to_blender(s.means))
    meshdata.write(mesh, "model_position", "FLOAT_VECTOR", s.means)
    meshdata.write(mesh, "sh_dc", "FLOAT_VECTOR", s.sh0)
    for k in range(s.sh_rest.shape[1]):
        meshdata.write(mesh, f"sh_rest_{k:02d}", "FLOAT_VECTOR", s.sh_rest[:, k, :])
    meshdata.write(mesh, "opacity_logit", "FLOAT", s.opacities)
    meshdata.write(mesh, "log_scale", "FLOAT_VECTOR", s.log_scales)
    meshdata.write(mesh, "rot_wxyz", "QUATERNION", s.quats)
    if s.normals.any():
        meshdata.write(mesh, "normal", "FLOAT_VECTOR", s.normals)
    opacity = s.opacity()
    meshdata.write(mesh, "opacity", "FLOAT", opacity)
    meshdata.write(mesh, "scale", "FLOAT_VECTOR", placement.scales_to_blender(s.log_scales))
    meshdata.write(mesh, "rotation", "QUATERNION", placement.quats_to_blender(s.quats))
    write_display_colour(mesh, s.sh0, opacity)
    if s.labelled:
        meshdata.write(mesh, "part", "INT", s.part.astype(np.int32))
        meshdata.write(mesh, "part_conf", "FLOAT", s.part_conf)
    if s.rigged:
        for k in range(SKIN_SLOTS):
            meshdata.write(mesh, f"skin_joint_{k}", "INT", s.skin_joints[:, k].astype(np.int32))
            meshdata.write(mesh, f"skin_weight_{k}", "FLOAT", s.skin_weights[:, k])
    mesh.update()


SKELETON_PROP = "hc_skeleton"


def store_skeleton(obj: bpy.types.Object, skeleton: Skeleton) -> None:
    """Keep ``skeleton`` on ``obj`` (custom property :data:`SKELETON_PROP`; floats are
    stored as doubles, so the float32 positions come back exactly)."""
    obj[SKELETON_PROP] = {
        "names": list(skeleton.names),
        "parents": [int(p) for p in skeleton.parents],
        "joints": [float(v) for v in skeleton.joints.reshape(-1)],
    }


def skeleton_of(obj: bpy.types.Object) -> Skeleton | None:
    """The skeleton stored by :func:`store_skeleton`, or None."""
    data = obj.get(SKELETON_PROP)
    if data is None:
        return None
    names = tuple(str(n) for n in data["names"])
    joints = np.array(list(data["joints"]), np.float32).reshape(len(names), 3)
    return Skeleton(names, np.array(list(data["parents"]), np.int32), joints)


def make_part_groups(obj: bpy.types.Object, labels: np.ndarray) -> dict[str, int]:
    """Replace the part vertex groups of ``obj``: one group per class present in
    ``labels`` (N,), holding exactly those points with weight 1. Returns name -> count."""
    for name in PART_NAMES:
        vg = obj.vertex_groups.get(name)
        if vg is not None:
            obj.vertex_groups.remove(vg)
    labels = np.asarray(labels)
    small = labels.size == 0 or (0 <= labels.min() and labels.max() < NUM_PARTS)
    labels = labels.astype(np.uint8 if small else np.int64, copy=False)  # bytes: radix sort
    counts = np.bincount(labels, minlength=NUM_PARTS)
    order = np.argsort(labels, kind="stable").tolist()
    starts = np.concatenate([[0], np.cumsum(counts)]).tolist()
    made = {}
    for k in np.flatnonzero(counts).tolist():
        vg = obj.vertex_groups.new(name=PART_NAMES[k])
        vg.add(order[starts[k] : starts[k + 1]], 1.0, "REPLACE")
        made[PART_NAMES[k]] = int(counts[k])
    return made


def create_object(
    s: Splats,
    name: str,
    target_height: float = 1.75,
    collection: bpy.types.Collection | None = None,
) -> tuple[bpy.types.Object, ImportReport]:
    """A new splat object for ``s`` (model frame), ``target_height`` metres tall, linked
    to ``collection`` (default: the scene's active collection), with every attribute and
    the part groups. The display, the scene's part materials and the part list are the
    caller's next step (``operators.present_import``)."""
    placement = Placement.fit(s.means, target_height)
    mesh = bpy.data.meshes.new(name)
    build_mesh(mesh, s, placement)
    obj = bpy.data.objects.new(name, mesh)
    obj[SPLAT_PROP] = True
    obj["hc_scale"] = placement.scale
    obj["hc_offset"] = list(placement.offset)
    (collection or bpy.context.collection).objects.link(obj)
    if s.rigged:
        store_skeleton(obj, s.skeleton)
    report = ImportReport(count=len(s), labelled=s.labelled)
    if s.labelled:
        report.parts = make_part_groups(obj, s.part)
    return obj, report


def placement_of(obj: bpy.types.Object) -> Placement:
    """The placement stored on a splat object by :func:`create_object`."""
    if SPLAT_PROP not in obj:
        raise ValueError(f"'{obj.name}' is not a HumanCrafter splat object")
    offset = obj["hc_offset"]
    return Placement(float(obj["hc_scale"]), (float(offset[0]), float(offset[1]), float(offset[2])))


def is_splat_object(obj: bpy.types.Object | None) -> bool:
    return obj is not None and obj.type == "MESH" and SPLAT_PROP in obj


def object_splats(obj: bpy.types.Object, positions: np.ndarray | None = None) -> Splats:
    """The splats of ``obj`` in the model frame, as edited.

    Points whose Blender position still equals the import's own conversion of their
    stored ``model_position`` give back that stored value bit for bit; moved or new points
    are converted back from their Blender position. Deleted points are simply absent.
    A rigged object gives back its skeleton and skin as imported.
    ``positions`` (N, 3) overrides the mesh positions (e.g. evaluated, posed ones).
    """
    mesh = obj.data
    placement = placement_of(obj)
    pos = meshdata.positions(mesh) if positions is None else np.asarray(positions, np.float32)
    stored = meshdata.read(mesh, "model_position")
    same = (placement.points_to_blender(stored).view(np.uint32) == pos.view(np.uint32)).all(1)
    means = np.where(same[:, None], stored, placement.points_to_model(pos))
    names = set(meshdata.point_attribute_names(mesh))
    bands = 0
    while f"sh_rest_{bands:02d}" in names:
        bands += 1
    bands = max(b for b in (0, 3, 8, 15) if b <= bands)
    n = len(pos)
    sh_rest = np.empty((n, bands, 3), np.float32)
    for k in range(bands):
        sh_rest[:, k, :] = meshdata.read(mesh, f"sh_rest_{k:02d}")
    part = part_conf = None
    if "part" in names:
        part = np.clip(meshdata.read(mesh, "part"), 0, NUM_PARTS - 1).astype(np.uint8)
        part_conf = (
            meshdata.read(mesh, "part_conf") if "part_conf" in names else np.ones(n, np.float32)
        )
    skeleton = skeleton_of(obj)
    skin_joints = skin_weights = None
    if skeleton is not None and f"skin_joint_{SKIN_SLOTS - 1}" in names:
        top = len(skeleton.names) - 1
        skin_joints = np.stack(
            [meshdata.read(mesh, f"skin_joint_{k}") for k in range(SKIN_SLOTS)], axis=1
        )
        skin_joints = np.clip(skin_joints, 0, top).astype(np.uint8)
        skin_weights = np.stack(
            [meshdata.read(mesh, f"skin_weight_{k}") for k in range(SKIN_SLOTS)], axis=1
        )
    else:
        skeleton = None
    return Splats(
        means=np.ascontiguousarray(means, np.float32),
        sh0=meshdata.read(mesh, "sh_dc"),
        opacities=meshdata.read(mesh, "opacity_logit"),
        log_scales=meshdata.read(mesh, "log_scale"),
        quats=meshdata.read(mesh, "rot_wxyz"),
        sh_rest=sh_rest,
        normals=meshdata.read(mesh, "normal")
        if "normal" in names
        else np.zeros((n, 3), np.float32),
        part=part,
        part_conf=part_conf,
        skin_joints=skin_joints,
        skin_weights=skin_weights,
        skeleton=skeleton,
    )
