"""Splats -> a game character mesh without Blender: ``humancrafter mesh`` and the
service's ``GET /v1/jobs/{id}/mesh``, as GLB, OBJ or PLY.

The surface is the add-on's *Convert to Mesh*, from the one shared implementation
(:mod:`humancrafter.portable.mesh_convert`: density, fill, marching tetrahedra, Taubin
smoothing, values carried to the vertices, 4 skin influences), so the backend and the
add-on make the same closed mesh from the same splats. :func:`build` makes a
:class:`CharacterMesh`; :func:`encode` writes it.

Frame and size. The model frame (y up, facing +z, the person's left on +x, about one
unit tall, ``docs/format.md``) is already glTF's frame (y up, the front of an asset
faces +z, -x is its right), so the axes stay; only the size changes. Like the add-on's
import (``addon/axes.py``), the splats are scaled uniformly so the person is
``height`` metres tall (default :data:`DEFAULT_HEIGHT`, the add-on's default, measured
between the 0.1 and 99.9 percentiles of the splat centres' y) and moved so the feet are
at y = 0 and the person is centred on the y axis. ``voxel`` (the grid spacing of the
surface) is in those metres, :data:`DEFAULT_VOXEL` as in the add-on. OBJ and PLY use the
same frame (y up, metres).

What each file holds:

- every format: the closed surface, smooth vertex normals, vertex colours (the mean of
  the nearby splats' colours, averaged in linear light) and, for a labelled file, one
  group per body part (a face belongs to the part most of its three vertices belong to;
  a vertex to the part with the most weight among the splats near it);
- GLB: one node and mesh per part, named by its Sapiens class (``Hair``, ``Torso`` ...),
  each with its own vertices (the vertices on a border between two parts appear in both,
  at the same position with the same normal, so welding by position gives back the
  closed surface), ``COLOR_0`` linear (glTF's definition) and one material
  (``HumanCrafter Vertex Colour``, white base colour times ``COLOR_0``). A rigged splat
  file (format 2) adds its skeleton and skin: one node per joint (SMPL's 24), named as in
  the file, each joint's local +Y along its bone (towards
  :meth:`~humancrafter.portable.splatfile.Skeleton.tail_children`, as
  :meth:`~humancrafter.portable.splatfile.Skeleton.bone_tails` places it) and +Z towards
  the person's front (up for bones that point forward or back, the feet), the same
  orientation as the add-on's bones; a ``skin`` with ``inverseBindMatrices`` (the rest
  pose is the pose of the splats), used by every part's node; ``JOINTS_0`` /
  ``WEIGHTS_0`` with 4 influences per vertex (the splats' skin carried over and cut to
  the 4 largest, in steps of 1/255 summing to exactly 1, stored as normalised bytes);
- OBJ (trimesh): one ``o`` object per part (vertices on part borders repeated, as
  above), ``v x y z r g b`` sRGB colours and ``vn`` normals;
- PLY (trimesh): one binary mesh, vertex normals, sRGB ``red green blue alpha`` and a
  ``part`` vertex property (the class index), with the class names and colours as
  header comments in the splat file's form (``comment part 3 Hair 255 0 85``).

Why the GLB is written here (numpy + json) and not by trimesh: trimesh writes no skins
(no ``JOINTS_0`` / ``WEIGHTS_0``, ``skins`` or inverse bind matrices) and no joint
hierarchy, so it would be writing half of the file and we the other half inside its
packed buffer. The whole document is a dozen accessors and a node list, and written
here every accessor, alignment and name is ours to check; the tests read it back with
trimesh and run the Khronos glTF-Validator on it. OBJ and PLY have nothing trimesh
lacks, so trimesh writes them.
"""

from __future__ import annotations

import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .portable import splatfile
from .portable.mesh_convert import Neighbours, Surface, splat_surface, top_influences, topology
from .portable.parts import NUM_PARTS, PALETTE, PART_NAMES
from .portable.placement import standing_fit
from .portable.splatfile import Skeleton, Splats

DEFAULT_HEIGHT = 1.75
"""Height of the person in metres (the add-on's default import height)."""
DEFAULT_VOXEL = 0.015
"""Grid spacing of the surface in metres (the add-on's default): vertices about every
1 cm, some 50,000 of them for a person."""
MIN_VOXEL, MAX_VOXEL = 0.002, 0.2
MAX_GRID_POINTS = 12_000_000
"""Largest density grid a conversion may build: a process peak of about 0.65 GB and
10-25 s on 2 cores (measured with 40,000 splats, voxels of 4-6 mm); the default voxel
needs about 1 million points."""
FORMATS = {".glb": "glb", ".obj": "obj", ".ply": "ply"}
"""File suffix -> format."""
MEDIA_TYPES = {"glb": "model/gltf-binary", "obj": "model/obj", "ply": "application/octet-stream"}
INFLUENCES = 4
MATERIAL = "HumanCrafter Vertex Colour"
WHOLE = "Body"
"""The name of the one group of a file without part labels."""
FRONT = np.array([0.0, 0.0, 1.0])
UP = np.array([0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------- the mesh


@dataclass(frozen=True)
class Placement:
    """Model frame -> metres: ``p * scale + offset`` (no rotation: the axes are glTF's).

    Attributes:
        scale: metres per model unit. offset: (3,) metres.
    """

    scale: float
    offset: tuple[float, float, float]

    @classmethod
    def fit(cls, means: np.ndarray, height: float) -> Placement:
        """``height`` metres tall between the 0.1 and 99.9 percentiles of y, the lower
        one at y = 0, centred on the y axis (:func:`~.portable.placement.standing_fit`,
        the add-on's rule too)."""
        if not height > 0:
            raise ValueError(f"the height must be positive, not {height} m")
        scale, centre = standing_fit(means, height)
        return cls(scale, tuple(float(v) for v in -centre * scale))

    def points(self, p: np.ndarray) -> np.ndarray:
        """(N, 3) model frame -> (N, 3) float64 metres."""
        return np.asarray(p, np.float64) * self.scale + np.asarray(self.offset)


@dataclass
class CharacterMesh:
    """A closed, coloured, part-grouped and (when the splats were rigged) skinned mesh,
    in metres, y up, facing +z.

    Attributes:
        vertices: (V, 3) float32. faces: (F, 3) int32, counter-clockwise from outside.
        normals: (V, 3) float32 unit vertex normals.
        colours: (V, 3) float32 linear RGB in [0, 1].
        part: (V,) int32 class of each vertex, or None (unlabelled splats).
        face_part: (F,) int32 class of each face, or None.
        skeleton: the file's skeleton placed in metres, or None (unrigged splats).
        joints: (V, 4) uint8 joint indices, unused slots 0; or None.
        weights: (V, 4) uint8 weights in 255ths, each row summing to 255; or None.
        closed: every edge has two faces that agree on the orientation.
        placement: how the splats were placed (model frame -> metres).
    """

    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    colours: np.ndarray
    part: np.ndarray | None
    face_part: np.ndarray | None
    skeleton: Skeleton | None
    joints: np.ndarray | None
    weights: np.ndarray | None
    closed: bool
    placement: Placement

    @property
    def skinned(self) -> bool:
        return self.skeleton is not None

    def srgb8(self) -> np.ndarray:
        """(V, 3) uint8 sRGB colours (what OBJ and PLY readers show)."""
        return np.rint(linear_to_srgb(self.colours) * 255).astype(np.uint8)

    def groups(self) -> list[tuple[str, np.ndarray]]:
        """(name, face indices) of each part with faces, in class order; one group named
        :data:`WHOLE` when the mesh has no parts."""
        if self.face_part is None:
            return [(WHOLE, np.arange(len(self.faces)))]
        order = np.argsort(self.face_part, kind="stable")
        ids, starts = np.unique(self.face_part[order], return_index=True)
        pieces = np.split(order, starts[1:])
        return [(PART_NAMES[k], faces) for k, faces in zip(ids, pieces, strict=True)]


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def vertex_normals(surface: Surface) -> np.ndarray:
    """(V, 3) float32 unit area-weighted normals (+y where a vertex has no area)."""
    v = surface.vertices.astype(np.float64)
    f = surface.faces.astype(np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 1e-20, n / np.maximum(length, 1e-300), UP)
    return n.astype(np.float32)


def face_parts(faces: np.ndarray, part: np.ndarray) -> np.ndarray:
    """(F,) the part most of each face's vertices belong to (the first vertex's when all
    three differ)."""
    a, b, c = (part[faces[:, k]] for k in range(3))
    return np.where((a == b) | (a == c), a, np.where(b == c, b, a)).astype(np.int32)


def _check_grid(centres: np.ndarray, voxel: float) -> None:
    """Refuse a grid beyond :data:`MAX_GRID_POINTS` before building it."""
    span = np.ptp(centres, axis=0) / voxel + 2 * 8 + 1  # padding of splat_surface
    points = float(np.prod(span))
    if points > MAX_GRID_POINTS:
        raise ValueError(
            f"a voxel of {voxel:g} m needs a grid of {points / 1e6:.0f} million points around "
            f"these splats (at most {MAX_GRID_POINTS / 1e6:.0f} million); use a larger voxel"
        )


def build(
    splats: Splats, voxel: float = DEFAULT_VOXEL, height: float = DEFAULT_HEIGHT, smooth: int = 10
) -> CharacterMesh:
    """The character mesh of ``splats`` (see the module docstring): ``height`` metres
    tall, ``voxel`` metres between grid points, ``smooth`` Taubin steps. Raises
    ValueError when the splats give no surface or the grid would be too large."""
    if not MIN_VOXEL <= voxel <= MAX_VOXEL:
        raise ValueError(f"the voxel must be {MIN_VOXEL} to {MAX_VOXEL} m, not {voxel:g}")
    if len(splats) < 4:
        raise ValueError(f"the file has {len(splats)} splats; a mesh needs at least 4")
    placement = Placement.fit(splats.means, height)
    pos = placement.points(splats.means)
    alpha = splats.opacity().astype(np.float64)
    sigma = splats.scales().max(1).astype(np.float64) * placement.scale
    _check_grid(pos[alpha >= 0.01] if (alpha >= 0.01).sum() >= 4 else pos, voxel)
    surface = splat_surface(pos, sigma, alpha, voxel, smooth=smooth)
    near = Neighbours(surface.vertices, pos, alpha, 2 * voxel)
    colours = near.mean(srgb_to_linear(splats.rgb())).astype(np.float32)
    part = face_part = None
    if splats.labelled:
        part = near.vote(splats.part, NUM_PARTS).astype(np.int32)
        face_part = face_parts(surface.faces, part)
    skeleton = joints = weights = None
    if splats.rigged:
        sk = splats.skeleton
        skeleton = Skeleton(sk.names, sk.parents, placement.points(sk.joints).astype(np.float32))
        count = len(sk.names)
        dense = np.zeros((len(splats), count), np.float64)
        rows = np.repeat(np.arange(len(splats)), splats.skin_joints.shape[1])
        cols = np.minimum(splats.skin_joints.reshape(-1).astype(np.int64), count - 1)
        np.add.at(dense, (rows, cols), splats.skin_weights.reshape(-1))
        joints, weights = four_influences(top_influences(near.mean(dense), INFLUENCES, 255))
    return CharacterMesh(
        vertices=surface.vertices, faces=surface.faces, normals=vertex_normals(surface),
        colours=colours, part=part, face_part=face_part, skeleton=skeleton, joints=joints,
        weights=weights, closed=topology(surface).closed, placement=placement,
    )  # fmt: skip


def four_influences(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense weights (V, J) with at most 4 non-zero per row, in steps of 1/255 (from
    :func:`~humancrafter.portable.mesh_convert.top_influences`) -> (V, 4) uint8 joints
    (0 where the weight is 0, as glTF asks) and (V, 4) uint8 weights in 255ths."""
    slots = min(INFLUENCES, dense.shape[1])
    idx = np.argsort(-dense, axis=1, kind="stable")[:, :slots]
    w = np.rint(np.take_along_axis(dense, idx, 1) * 255).astype(np.int64)
    joints = np.zeros((len(dense), INFLUENCES), np.uint8)
    weights = np.zeros((len(dense), INFLUENCES), np.uint8)
    joints[:, :slots] = np.where(w > 0, idx, 0)
    weights[:, :slots] = w
    return joints, weights


# ----------------------------------------------------------------------------- GLB


def joint_frames(skeleton: Skeleton) -> np.ndarray:
    """(J, 3, 3) float64 rest rotation of each joint (columns: its X, Y, Z axes in the
    glTF frame): Y along the bone (towards :meth:`Skeleton.bone_tails`), Z towards the
    front (+z), or up (+y) for a bone that points forward or back."""
    heads = skeleton.joints.astype(np.float64)
    tails = skeleton.bone_tails()  # same frame: the placement is a uniform scale + shift
    out = np.empty((len(heads), 3, 3))
    for i, d in enumerate(tails - heads):
        y = d / max(float(np.linalg.norm(d)), 1e-12)
        if float(np.linalg.norm(d)) < 1e-9:
            y = UP
        roll = FRONT if abs(float(y @ FRONT)) < 0.9 else UP
        z = roll - (roll @ y) * y
        z /= np.linalg.norm(z)
        out[i] = np.stack([np.cross(y, z), y, z], axis=1)
    return out


def quat_xyzw(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (x, y, z, w) of rotation matrix ``r`` (3, 3)."""
    m = r
    t = np.trace(m)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return q / np.linalg.norm(q)


def quat_matrix(q_xyzw: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = (float(v) for v in q_xyzw)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip


def joint_nodes(skeleton: Skeleton) -> tuple[list[dict], np.ndarray]:
    """The glTF nodes of the joints (local translation and rotation, children) and
    (J, 4, 4) float32 inverse bind matrices, the inverses of the joints' world matrices
    as a reader composes them from the stored (float32) local values."""
    frames = joint_frames(skeleton)
    pos = skeleton.joints.astype(np.float64)
    parents = np.asarray(skeleton.parents, np.int64)
    nodes, world = [], np.zeros((len(pos), 4, 4))
    for i, name in enumerate(skeleton.names):
        p = int(parents[i])
        if p < 0:
            rot, move = frames[i], pos[i]
        else:
            rot, move = frames[p].T @ frames[i], frames[p].T @ (pos[i] - pos[p])
        q = quat_xyzw(rot).astype(np.float32)
        t = move.astype(np.float32)
        local = np.eye(4)
        local[:3, :3] = quat_matrix(q.astype(np.float64) / np.linalg.norm(q.astype(np.float64)))
        local[:3, 3] = t
        world[i] = local if p < 0 else world[p] @ local
        node = {"name": name, "translation": t.tolist(), "rotation": q.tolist()}
        kids = np.flatnonzero(parents == i).tolist()
        if kids:
            node["children"] = kids
        nodes.append(node)
    ibm = np.linalg.inv(world)
    ibm[:, 3] = [0.0, 0.0, 0.0, 1.0]
    return nodes, ibm.astype(np.float32)


class _Blob:
    """The binary chunk of a GLB and its buffer views and accessors (one view per
    accessor, each 4-byte aligned, no stride)."""

    COMPONENTS = {
        np.dtype(np.uint8): 5121, np.dtype(np.uint16): 5123, np.dtype(np.uint32): 5125,
        np.dtype(np.float32): 5126,
    }  # fmt: skip
    TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(
        self, array: np.ndarray, target: int | None = None, normalized: bool = False,
        bounds: bool = False, width: int | None = None,
    ) -> int:  # fmt: skip
        """Append ``array`` (N, width) or (N,) as one accessor; returns its index."""
        a = np.ascontiguousarray(array)
        width = width or (1 if a.ndim == 1 else int(np.prod(a.shape[1:])))
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        view = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        self.views.append(view)
        pad = -len(data) % 4
        self.parts += [data, b"\x00" * pad]
        self.size += len(data) + pad
        acc = {
            "bufferView": len(self.views) - 1, "componentType": self.COMPONENTS[a.dtype],
            "count": len(a), "type": self.TYPES[width],
        }  # fmt: skip
        if normalized:
            acc["normalized"] = True
        if bounds:
            flat = a.reshape(len(a), width)
            acc["min"], acc["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        self.accessors.append(acc)
        return len(self.accessors) - 1


ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963


def gltf_document(mesh: CharacterMesh, name: str = "HumanCrafter") -> tuple[dict, bytes]:
    """The glTF JSON and its binary buffer (see the module docstring)."""
    blob = _Blob()
    nodes: list[dict] = []
    scene_nodes: list[int] = []
    skin_index = None
    doc: dict = {
        "asset": {"version": "2.0", "generator": f"humancrafter {__version__} (mesh_export)"},
        "scene": 0,
        "materials": [{
            "name": MATERIAL, "pbrMetallicRoughness": {
                "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0,
                "roughnessFactor": 0.8,
            },
        }],
    }  # fmt: skip
    if mesh.skeleton is not None:
        joints, ibm = joint_nodes(mesh.skeleton)
        nodes += joints
        roots = np.flatnonzero(np.asarray(mesh.skeleton.parents) < 0).tolist()
        if len(roots) > 1:  # one common root for the skin
            nodes.append({"name": "Skeleton", "children": roots})
            roots = [len(nodes) - 1]
        scene_nodes += roots
        matrices = np.transpose(ibm, (0, 2, 1)).reshape(len(ibm), 16)  # column-major
        doc["skins"] = [{
            "name": "Skeleton", "joints": list(range(len(joints))),
            "inverseBindMatrices": blob.add(matrices), "skeleton": roots[0],
        }]  # fmt: skip
        skin_index = 0
    meshes = []
    for part_name, face_ids in mesh.groups():
        faces = mesh.faces[face_ids]
        used, local = np.unique(faces, return_inverse=True)
        attrs = {
            "POSITION": blob.add(mesh.vertices[used].astype(np.float32), ARRAY_BUFFER, bounds=True),
            "NORMAL": blob.add(mesh.normals[used].astype(np.float32), ARRAY_BUFFER),
            "COLOR_0": blob.add(mesh.colours[used].astype(np.float32), ARRAY_BUFFER),
        }
        if mesh.joints is not None:
            attrs["JOINTS_0"] = blob.add(mesh.joints[used], ARRAY_BUFFER)
            attrs["WEIGHTS_0"] = blob.add(mesh.weights[used], ARRAY_BUFFER, normalized=True)
        index_type = np.uint16 if len(used) < 65_535 else np.uint32
        indices = blob.add(local.reshape(-1).astype(index_type), ELEMENT_ARRAY_BUFFER)
        meshes.append({
            "name": part_name,
            "primitives": [{"attributes": attrs, "indices": indices, "material": 0, "mode": 4}],
        })  # fmt: skip
        node = {"name": part_name, "mesh": len(meshes) - 1}
        if skin_index is not None:
            node["skin"] = skin_index
        nodes.append(node)
        scene_nodes.append(len(nodes) - 1)
    data = b"".join(blob.parts)
    doc.update(
        scenes=[{"name": name, "nodes": scene_nodes}], nodes=nodes, meshes=meshes,
        accessors=blob.accessors, bufferViews=blob.views, buffers=[{"byteLength": len(data)}],
    )  # fmt: skip
    return doc, data


def glb_bytes(mesh: CharacterMesh) -> bytes:
    """The mesh as one GLB file."""
    doc, data = gltf_document(mesh)
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    return b"".join([
        struct.pack("<4sII", b"glTF", 2, 12 + 8 + len(js) + 8 + len(data)),
        struct.pack("<I4s", len(js), b"JSON"), js,
        struct.pack("<I4s", len(data), b"BIN\x00"), data,
    ])  # fmt: skip


# ----------------------------------------------------------------------------- OBJ, PLY


def obj_bytes(mesh: CharacterMesh) -> bytes:
    """The mesh as an OBJ file (trimesh): one ``o`` object per part, sRGB vertex colours,
    vertex normals."""
    import trimesh

    colours = np.concatenate([mesh.srgb8(), np.full((len(mesh.vertices), 1), 255, np.uint8)], 1)
    scene = trimesh.Scene()
    for part_name, face_ids in mesh.groups():
        used, local = np.unique(mesh.faces[face_ids], return_inverse=True)
        piece = trimesh.Trimesh(
            mesh.vertices[used], local.reshape(-1, 3), vertex_normals=mesh.normals[used],
            vertex_colors=colours[used], process=False, metadata={"name": part_name},
        )  # fmt: skip
        scene.add_geometry(piece, geom_name=part_name, node_name=part_name)
    text = trimesh.exchange.obj.export_obj(
        scene, include_normals=True, include_color=True, include_texture=False, digits=6,
        header=f"humancrafter {__version__}: y up, metres, facing +z",
    )  # fmt: skip
    return text.encode("utf-8")


def ply_bytes(mesh: CharacterMesh) -> bytes:
    """The mesh as one binary PLY (trimesh): vertex normals, sRGB colours and, for a
    labelled mesh, the ``part`` vertex property with the class table as header comments."""
    import trimesh

    colours = np.concatenate([mesh.srgb8(), np.full((len(mesh.vertices), 1), 255, np.uint8)], 1)
    out = trimesh.Trimesh(
        mesh.vertices, mesh.faces, vertex_normals=mesh.normals, vertex_colors=colours,
        process=False,
    )  # fmt: skip
    if mesh.part is not None:
        out.vertex_attributes["part"] = mesh.part.astype(np.uint8)
    data = trimesh.exchange.ply.export_ply(out, encoding="binary", vertex_normal=True)
    comments = [f"comment humancrafter {__version__} mesh: y up, metres, facing +z"]
    if mesh.part is not None:
        comments.append(f"comment part_classes {NUM_PARTS}")
        comments += [f"comment part {i} {n} {c[0]} {c[1]} {c[2]}"
                     for i, (n, c) in enumerate(zip(PART_NAMES, PALETTE, strict=True))]  # fmt: skip
    first = data.index(b"\n", data.index(b"format ")) + 1
    return data[:first] + ("\n".join(comments) + "\n").encode("ascii") + data[first:]


def encode(mesh: CharacterMesh, fmt: str) -> bytes:
    """The bytes of ``mesh`` in format ``fmt`` (``glb``, ``obj`` or ``ply``)."""
    writers = {"glb": glb_bytes, "obj": obj_bytes, "ply": ply_bytes}
    if fmt not in writers:
        raise ValueError(f"unknown mesh format {fmt!r}; use glb, obj or ply")
    return writers[fmt](mesh)


# ----------------------------------------------------------------------------- the command


def format_of(path: str | Path) -> str:
    """The format named by ``path``'s suffix; ValueError for any other suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(
            f"'{Path(path).name}' does not end in .glb, .obj or .ply; the suffix picks the format"
        )
    return FORMATS[suffix]


@dataclass
class MeshReport:
    """What :func:`export_file` wrote."""

    path: Path
    format: str
    vertices: int
    faces: int
    parts: list[str]
    bones: int
    closed: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    def message(self) -> str:
        parts = f"{len(self.parts)} parts" if self.parts != [WHOLE] else "no parts"
        skin = f"skinned to {self.bones} joints" if self.bones else "not skinned"
        text = (
            f"wrote {self.path} ({self.format.upper()}): {self.vertices:,} vertices, "
            f"{self.faces:,} triangles, {parts}, {skin}, "
            f"{'closed' if self.closed else 'NOT closed'}, in {self.seconds:.1f} s"
        )
        return "\n".join([text, *(f"note: {n}" for n in self.notes)])


def notes_for(splats: Splats, fmt: str) -> list[str]:
    """What the user should know about the mesh of ``splats`` in format ``fmt``."""
    notes = []
    if not splats.labelled:
        notes.append("the splat file has no part labels, so the mesh is one group")
    if not splats.rigged:
        notes.append(
            "the splat file has no skeleton (format 1 or another program's), so the mesh "
            "is not skinned"
        )
    elif fmt != "glb":
        notes.append(f"{fmt.upper()} holds no skeleton; write .glb for a skinned mesh")
    return notes


def export_file(
    splats_path: str | Path, out_path: str | Path, voxel: float = DEFAULT_VOXEL,
    height: float = DEFAULT_HEIGHT,
) -> MeshReport:  # fmt: skip
    """``humancrafter mesh``: read a splat file, write its mesh to ``out_path`` in the
    format its suffix names (checked, with the output's folder, before any work)."""
    start = time.perf_counter()
    out_path = Path(out_path)
    fmt = format_of(out_path)
    if out_path.is_dir():
        raise ValueError(f"{out_path} is a folder; give a file name ending in .{fmt}")
    if not out_path.parent.is_dir():
        raise FileNotFoundError(f"the folder {out_path.parent} does not exist")
    splats = splatfile.load(splats_path)
    mesh = build(splats, voxel, height)
    data = encode(mesh, fmt)
    out_path.write_bytes(data)
    return MeshReport(
        path=out_path, format=fmt, vertices=len(mesh.vertices), faces=len(mesh.faces),
        parts=[n for n, _ in mesh.groups()],
        bones=len(mesh.skeleton.names) if mesh.skinned and fmt == "glb" else 0,
        closed=mesh.closed, seconds=time.perf_counter() - start, notes=notes_for(splats, fmt),
    )  # fmt: skip
