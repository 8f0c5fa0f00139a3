"""The semantic splat file: Inria 3DGS binary PLY plus per-splat body-part labels.

One reader and one writer, pure numpy, shared by the backend and the Blender add-on.
The layout is described for users in ``docs/format.md``. In short, one ``vertex``
element with, in this order::

    x y z                 float  centre, model frame (y up, person ~1 unit tall)
    nx ny nz              float  unused by 3DGS, zeros unless read from a file
    f_dc_0..2             float  SH degree-0 coefficients (rgb = 0.5 + SH_C0 * f_dc)
    f_rest_0..M-1         float  higher SH bands, channel-major (all R, then G, then B)
    opacity               float  logit of the opacity
    scale_0..2            float  log of the per-axis standard deviation
    rot_0..3              float  rotation quaternion w x y z (need not be unit length)
    part                  uchar  Sapiens class id (only in labelled files)
    part_conf             float  confidence of that label in [0, 1] (only in labelled files)
    skin_joint_0..3       uchar  the 4 joints each splat follows (only in rigged files)
    skin_weight_0..3      float  their weights, in [0, 1], summing to 1 (only in rigged files)

and header comments carrying the format version, the class names and colours and, in
rigged files (version 2), the skeleton: one ``comment joint <i> <name> <parent> <x> <y>
<z>`` line per joint, its rest position in the model frame (the pose the splats are
in). Comments and unknown vertex properties are ignored by every PLY reader, so any
3DGS viewer, and this reader before version 2, still opens the file. The reader also
takes plain Inria files and the 14-float LGM layout (no normals, no f_rest) that the
published HumanCrafter outputs use.

Every problem with a file raises :class:`SplatFileError` with one sentence naming it;
the reader never reads more than the header plus what the header promises, and it
checks that promise against the file size before reading. Every number in a header is
bounded before it sizes anything (:data:`MAX_HEADER_DIGITS`, :data:`MAX_SPLATS`, class
indices below :data:`~.parts.NUM_PARTS`).

One rule for the values, applied by :func:`check_values` to every file read, every file
written and every SPZ conversion: a value a Gaussian cannot have is refused with one
sentence naming the property (NaN or infinity anywhere; a centre farther than
:data:`MAX_COORD` from the origin; a log-scale outside :data:`LOG_SCALE_RANGE`; a part
confidence outside 0..1; a skin weight outside 0..1, a weight row not summing to 1
within :data:`SKIN_SUM_TOLERANCE`, a skin joint that is not a joint of the skeleton).
Quaternions need not be unit length; a zero-length one (also all-zero) means "no
rotation" and is read as the identity by :meth:`Splats.unit_quats`, the one place that
normalises.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from .parts import NUM_PARTS, PALETTE, PART_NAMES

FORMAT_VERSION = 2
"""Version 1: the Inria layout plus part labels; 2 adds the optional skeleton and skin."""
SH_C0 = 0.28209479177387814
"""Degree-0 real spherical harmonic; rgb = 0.5 + SH_C0 * f_dc."""

MAX_SPLATS = 50_000_000
"""Largest vertex count the reader accepts (about 12 GB of degree-3 splats)."""
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADER_DIGITS = 12
"""Longest number accepted in a header (element counts, class indices)."""
MAX_COORD = 1.0e4
"""Largest distance of a centre from the origin along any axis, in model units (the
person is about one unit tall; SPZ itself holds at most 2048)."""
LOG_SCALE_RANGE = (-30.0, 9.5)
"""Accepted log standard deviations: from 1e-13 to about 13,000 model units."""
SKIN_SLOTS = 4
"""Joints per splat in a rigged file (``skin_joint_0..3``, ``skin_weight_0..3``)."""
MAX_JOINTS = 256
"""Most joints a skeleton may have (a joint index is one byte)."""
MAX_JOINT_NAME = 64
SKIN_SUM_TOLERANCE = 1e-3
"""How far a splat's skin weights may sum from 1."""

_REST_COUNTS = {0: 0, 9: 1, 24: 2, 45: 3}  # number of f_rest_* -> SH degree
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip


class SplatFileError(ValueError):
    """A splat file that cannot be read or written; the message names the problem."""


def _all_finite(value: np.ndarray) -> bool:
    """Whether every value is finite: two vectorised reductions and no temporary (a NaN
    makes the min and max NaN, an infinity is the min or the max)."""
    return value.size == 0 or bool(np.isfinite(value.min()) and np.isfinite(value.max()))


def _check_finite(name: str, value: np.ndarray) -> None:
    if _all_finite(value):  # the common case; the per-splat search below names the first
        return
    bad = ~np.isfinite(value)
    if bad.ndim > 1:
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise SplatFileError(
            f"{name} has {int(bad.sum())} splats with NaN/inf values (first at splat {first})"
        )


def _check_range(name: str, value: np.ndarray, low: float, high: float) -> None:
    if value.size == 0 or (low <= value.min() and value.max() <= high):
        return
    bad = (value < low) | (value > high)
    if bad.ndim > 1:
        bad = bad.any(axis=tuple(range(1, bad.ndim)))
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise SplatFileError(
            f"{name} has {int(bad.sum())} splats with values outside {low:g}..{high:g} "
            f"(first at splat {first})"
        )


def check_values(s: Splats) -> None:
    """Refuse values no Gaussian can have (the module's one rule, see its docstring).

    Raises:
        SplatFileError: naming the property and the first splat at fault.
    """
    for name in ("means", "sh0", "opacities", "log_scales", "quats", "sh_rest", "normals"):
        _check_finite(name, getattr(s, name))
    _check_range("means", s.means, -MAX_COORD, MAX_COORD)
    _check_range("log_scales", s.log_scales, *LOG_SCALE_RANGE)
    if s.part_conf is not None:
        _check_finite("part_conf", s.part_conf)
        _check_range("part_conf", s.part_conf, 0.0, 1.0)
    if s.skeleton is not None:
        joints = s.skeleton.joints
        if not np.isfinite(joints).all() or np.abs(joints).max(initial=0.0) > MAX_COORD:
            raise SplatFileError(
                f"the skeleton has joint positions that are not finite or beyond {MAX_COORD:g}"
            )
    if s.skin_weights is not None:
        _check_finite("skin_weights", s.skin_weights)
        _check_range("skin_weights", s.skin_weights, 0.0, 1.0)
        total = s.skin_weights.astype(np.float64).sum(axis=1)
        _check_range("skin weight sums", total, 1.0 - SKIN_SUM_TOLERANCE, 1.0 + SKIN_SUM_TOLERANCE)
        top = int(s.skin_joints.max(initial=0))
        if top >= len(s.skeleton.names):
            raise SplatFileError(
                f"skin joint {top} is not a joint of the skeleton (0..{len(s.skeleton.names) - 1})"
            )


def _valid_joint_name(name: str) -> bool:
    return (
        0 < len(name) <= MAX_JOINT_NAME
        and name.isascii()
        and name.replace("_", "a").replace(".", "a").replace("-", "a").isalnum()
    )


@dataclass(frozen=True)
class Skeleton:
    """The joints a rigged file's splats are skinned to (SMPL's 24 for HumanCrafter).

    Attributes:
        names: J joint names (ASCII letters, digits, ``_ . -``; at most 64 characters).
        parents: (J,) int32 parent of each joint, -1 for a root; a parent always comes
            before its children (``parents[i] < i``).
        joints: (J, 3) float32 rest positions, model frame: where the joints are in the
            pose the splats are stored in.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    joints: np.ndarray

    def __post_init__(self) -> None:
        j = len(self.names)
        if not 1 <= j <= MAX_JOINTS:
            raise SplatFileError(f"a skeleton has 1..{MAX_JOINTS} joints, not {j}")
        if tuple(self.parents.shape) != (j,) or tuple(self.joints.shape) != (j, 3):
            raise SplatFileError(
                f"skeleton parents {tuple(self.parents.shape)} and joints "
                f"{tuple(self.joints.shape)} do not match its {j} names"
            )
        bad = [n for n in self.names if not _valid_joint_name(n)]
        if bad:
            raise SplatFileError(f"joint name {bad[0][:40]!r} is not a plain ASCII name")
        if len(set(self.names)) != j:
            raise SplatFileError("the skeleton names a joint twice")
        parents = np.asarray(self.parents, np.int64)
        if ((parents < -1) | (parents >= np.arange(j))).any():
            first = int(np.flatnonzero((parents < -1) | (parents >= np.arange(j)))[0])
            raise SplatFileError(
                f"joint {first} has parent {int(parents[first])}; a parent must come before "
                "its child (or be -1 for a root)"
            )

    def tail_children(self) -> np.ndarray:
        """(J,) int64 the child each joint's bone points at, -1 for a joint without
        children: the child most in line with the bone coming in (a root: the child with
        the most descendants, e.g. SMPL's pelvis -> spine1). One rule for the add-on's
        bones and the backend's blending at joints."""
        j = len(self.names)
        parents = np.asarray(self.parents, np.int64)
        size = np.ones(j, np.int64)
        for i in range(j - 1, 0, -1):  # parents come first, so children are done first
            if parents[i] >= 0:
                size[parents[i]] += size[i]
        out = np.full(j, -1, np.int64)
        pos = self.joints.astype(np.float64)
        for i in range(j):
            kids = np.flatnonzero(parents == i)
            if len(kids) == 0:
                continue
            if parents[i] < 0:
                out[i] = kids[np.argmax(size[kids])]
                continue
            d_in = pos[i] - pos[parents[i]]
            d_out = pos[kids] - pos[i]
            cos = (d_out @ d_in) / np.maximum(
                np.linalg.norm(d_out, axis=1) * np.linalg.norm(d_in), 1e-12
            )
            out[i] = kids[np.argmax(cos)]
        return out

    def bone_tails(self) -> np.ndarray:
        """(J, 3) float64 where each joint's bone ends, model frame: at its
        :meth:`tail_children` joint; a joint without children continues the bone coming
        in by half its length (a lone root points 0.05 up)."""
        pos = self.joints.astype(np.float64)
        tails = pos + np.array([0.0, 0.05, 0.0])
        for i, c in enumerate(self.tail_children()):
            p = int(self.parents[i])
            if c >= 0:
                tails[i] = pos[c]
            elif p >= 0:
                tails[i] = pos[i] + 0.5 * (pos[i] - pos[p])
        return tails

    def same_as(self, other: Skeleton | None) -> bool:
        """Whether ``other`` holds exactly the same names, parents and positions."""
        return (
            other is not None
            and self.names == other.names
            and np.array_equal(self.parents, other.parents)
            and self.joints.tobytes() == other.joints.tobytes()
        )


@dataclass
class Splats:
    """N Gaussians in the model frame, stored exactly as the file stores them.

    Attributes:
        means: (N, 3) float32 centres.
        sh0: (N, 3) float32 SH degree-0 coefficients (``f_dc``).
        opacities: (N,) float32 opacity logits.
        log_scales: (N, 3) float32 log standard deviations.
        quats: (N, 4) float32 rotations, w x y z, not necessarily unit length.
        sh_rest: (N, K, 3) float32 higher SH coefficients, K in {0, 3, 8, 15}.
        normals: (N, 3) float32, kept only so files round-trip; 3DGS ignores them.
        part: (N,) uint8 Sapiens class ids, or None for an unlabelled file.
        part_conf: (N,) float32 label confidences in [0, 1], or None.
        skin_joints: (N, 4) uint8 indices into ``skeleton`` of the joints each splat
            follows, or None for an unrigged file.
        skin_weights: (N, 4) float32 their weights (rows sum to 1), or None.
        skeleton: the joints (not per splat), or None; given exactly when the skin is.
    """

    means: np.ndarray
    sh0: np.ndarray
    opacities: np.ndarray
    log_scales: np.ndarray
    quats: np.ndarray
    sh_rest: np.ndarray
    normals: np.ndarray
    part: np.ndarray | None = None
    part_conf: np.ndarray | None = None
    skin_joints: np.ndarray | None = None
    skin_weights: np.ndarray | None = None
    skeleton: Skeleton | None = None

    def __post_init__(self) -> None:
        n = len(self.means)
        shapes = {
            "means": (n, 3), "sh0": (n, 3), "opacities": (n,), "log_scales": (n, 3),
            "quats": (n, 4), "normals": (n, 3), "part": (n,), "part_conf": (n,),
            "skin_joints": (n, SKIN_SLOTS), "skin_weights": (n, SKIN_SLOTS),
        }  # fmt: skip
        for name, shape in shapes.items():
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != shape:
                raise SplatFileError(f"{name} has shape {tuple(value.shape)}, expected {shape}")
        if self.sh_rest.ndim != 3 or self.sh_rest.shape[0] != n or self.sh_rest.shape[2] != 3:
            raise SplatFileError(f"sh_rest has shape {self.sh_rest.shape}, expected (N, K, 3)")
        if self.sh_rest.shape[1] not in (0, 3, 8, 15):
            raise SplatFileError(f"sh_rest has {self.sh_rest.shape[1]} bands, expected 0/3/8/15")
        if (self.part is None) != (self.part_conf is None):
            raise SplatFileError("part and part_conf must both be given or both be None")
        if not (self.skin_joints is None) == (self.skin_weights is None) == (self.skeleton is None):
            raise SplatFileError(
                "skin_joints, skin_weights and skeleton must all be given or all be None"
            )
        if self.skin_joints is not None and self.skin_joints.dtype != np.uint8:
            raise SplatFileError(f"skin_joints must be uint8, not {self.skin_joints.dtype}")

    @classmethod
    def from_activated(
        cls,
        means: np.ndarray,
        rgb: np.ndarray,
        opacity: np.ndarray,
        scales: np.ndarray,
        quats: np.ndarray,
        part: np.ndarray | None = None,
        part_conf: np.ndarray | None = None,
    ) -> Splats:
        """Build from activated values: rgb in [0, 1] (N, 3), opacity in (0, 1) (N,),
        scales > 0 (N, 3) in model units, quats wxyz (N, 4)."""
        n = len(means)
        eps = 1e-6
        op = np.clip(np.asarray(opacity, np.float64), eps, 1 - eps)
        return cls(
            means=np.ascontiguousarray(means, np.float32),
            sh0=((np.asarray(rgb, np.float32) - 0.5) / SH_C0).astype(np.float32),
            opacities=np.log(op / (1 - op)).astype(np.float32),
            log_scales=np.log(np.maximum(np.asarray(scales, np.float64), 1e-12)).astype(np.float32),
            quats=np.ascontiguousarray(quats, np.float32),
            sh_rest=np.zeros((n, 0, 3), np.float32),
            normals=np.zeros((n, 3), np.float32),
            part=None if part is None else np.asarray(part, np.uint8),
            part_conf=None if part_conf is None else np.asarray(part_conf, np.float32),
        )

    def __len__(self) -> int:
        return len(self.means)

    @property
    def sh_degree(self) -> int:
        return {0: 0, 3: 1, 8: 2, 15: 3}[self.sh_rest.shape[1]]

    @property
    def labelled(self) -> bool:
        return self.part is not None

    @property
    def rigged(self) -> bool:
        return self.skeleton is not None

    def rgb(self) -> np.ndarray:
        """(N, 3) float32 view-independent colour in [0, 1]."""
        return np.clip(0.5 + SH_C0 * self.sh0, 0.0, 1.0).astype(np.float32)

    def opacity(self) -> np.ndarray:
        """(N,) float32 opacity in (0, 1)."""
        return (1.0 / (1.0 + np.exp(-self.opacities.astype(np.float64)))).astype(np.float32)

    def scales(self) -> np.ndarray:
        """(N, 3) float32 standard deviations in model units."""
        return np.exp(self.log_scales.astype(np.float64)).astype(np.float32)

    def unit_quats(self) -> np.ndarray:
        """(N, 4) float32 unit quaternions, w x y z; zero quaternions become identity."""
        q = self.quats.astype(np.float64)
        norm = np.linalg.norm(q, axis=1, keepdims=True)
        q = np.where(norm > 1e-12, q / np.maximum(norm, 1e-12), [1.0, 0.0, 0.0, 0.0])
        return q.astype(np.float32)

    def subset(self, index: np.ndarray) -> Splats:
        """The splats selected by a boolean mask or an index array (same skeleton)."""
        per_splat = {f.name: _take(getattr(self, f.name), index) for f in fields(self)
                     if f.name != "skeleton"}  # fmt: skip
        return Splats(**per_splat, skeleton=self.skeleton)


def _take(value: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
    return None if value is None else np.ascontiguousarray(value[index])


# ----------------------------------------------------------------------------- writing


def _vertex_dtype(sh_bands: int, labelled: bool, rigged: bool) -> np.dtype:
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(3 * sh_bands)]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    spec = [(n, "<f4") for n in names]
    if labelled:
        spec += [("part", "u1"), ("part_conf", "<f4")]
    if rigged:
        spec += [(f"skin_joint_{k}", "u1") for k in range(SKIN_SLOTS)]
        spec += [(f"skin_weight_{k}", "<f4") for k in range(SKIN_SLOTS)]
    return np.dtype(spec)


def _header(dtype: np.dtype, count: int, labelled: bool, skeleton: Skeleton | None) -> bytes:
    lines = ["ply", "format binary_little_endian 1.0"]
    lines.append(f"comment humancrafter_format {FORMAT_VERSION}")
    if labelled:
        lines.append(f"comment part_classes {NUM_PARTS}")
        for i, (name, rgb) in enumerate(zip(PART_NAMES, PALETTE, strict=True)):
            lines.append(f"comment part {i} {name} {rgb[0]} {rgb[1]} {rgb[2]}")
    if skeleton is not None:
        for i, (name, parent, xyz) in enumerate(
            zip(skeleton.names, skeleton.parents, skeleton.joints, strict=True)
        ):
            coords = " ".join(format(float(v), ".9g") for v in xyz)  # exact for float32
            lines.append(f"comment joint {i} {name} {int(parent)} {coords}")
    lines.append(f"element vertex {count}")
    ply_name = {"<f4": "float", "|u1": "uchar"}
    for name in dtype.names:
        lines.append(f"property {ply_name[dtype[name].str]} {name}")
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def dumps(splats: Splats) -> bytes:
    """The file's bytes for ``splats`` (see the module docstring for the layout)."""
    header, body = _encode(splats)
    return header + body.tobytes()


def save(path: str | os.PathLike, splats: Splats) -> None:
    """Write ``splats`` to ``path``, atomically (a partial file never replaces a good one)."""
    path = Path(path)
    header, body = _encode(splats)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(memoryview(body).cast("B"))
    os.replace(tmp, path)


def _encode(s: Splats) -> tuple[bytes, np.ndarray]:
    """The header and the vertex records (a contiguous array) of the file for ``s``."""
    check_values(s)
    labelled = s.labelled
    if labelled and len(s) and int(s.part.max()) >= NUM_PARTS:
        top = int(s.part.max())
        raise SplatFileError(f"part label {top} is not a class id (0..{NUM_PARTS - 1})")
    n, bands = len(s), s.sh_rest.shape[1]
    dtype = _vertex_dtype(bands, labelled, s.rigged)
    # The float properties in file order; f_rest channel-major, as the Inria code writes it.
    rest = s.sh_rest.transpose(0, 2, 1).reshape(n, 3 * bands)
    columns = [s.means, s.normals, s.sh0, rest, s.opacities[:, None], s.log_scales, s.quats]
    floats = np.concatenate([np.asarray(c, "<f4") for c in columns], axis=1)
    header = _header(dtype, n, labelled, s.skeleton)
    if not labelled and not s.rigged:
        return header, floats
    record = np.empty((n, dtype.itemsize), np.uint8)
    at = floats.shape[1] * 4
    record[:, :at] = floats.view(np.uint8)
    if labelled:
        record[:, at] = s.part
        record[:, at + 1 : at + 5] = np.asarray(s.part_conf, "<f4")[:, None].view(np.uint8)
        at += 5
    if s.rigged:
        record[:, at : at + SKIN_SLOTS] = s.skin_joints
        weights = np.ascontiguousarray(s.skin_weights, "<f4").view(np.uint8)
        record[:, at + SKIN_SLOTS :] = weights
    return header, record


# ----------------------------------------------------------------------------- reading


@dataclass
class _Header:
    size: int  # bytes up to and including "end_header\n"
    endian: str  # "<" or ">"
    count: int
    dtype: np.dtype  # one vertex record
    skip_before: int  # bytes of fixed-size elements stored before the vertex element
    part_names: tuple[str, ...] | None
    skeleton: Skeleton | None


def _header_number(word: str, what: str, number: int) -> int:
    """A non-negative decimal integer of the header, bounded before it is converted."""
    if not word.isdigit() or not word.isascii():
        raise SplatFileError(f"{what} on header line {number} is not a number: {word[:20]!r}")
    if len(word) > MAX_HEADER_DIGITS:
        raise SplatFileError(
            f"{what} on header line {number} has {len(word)} digits; "
            f"at most {MAX_HEADER_DIGITS} are accepted"
        )
    return int(word)


def _joint_line(words: list[str], number: int, joints: dict[int, tuple]) -> None:
    """Record ``comment joint <i> <name> <parent> <x> <y> <z>`` (header line ``number``)."""
    if len(words) != 8:
        raise SplatFileError(f"bad joint line {number}: expected index, name, parent, x, y, z")
    index = _header_number(words[2], "the joint index", number)
    if index >= MAX_JOINTS:
        raise SplatFileError(f"header line {number} names joint {index}; at most {MAX_JOINTS}")
    if index in joints:
        raise SplatFileError(f"header line {number} names joint {index} a second time")
    parent = words[4]
    parent_id = -1 if parent == "-1" else _header_number(parent, "the joint's parent", number)
    try:
        xyz = [float(w) for w in words[5:]]
    except ValueError:
        raise SplatFileError(f"joint {index} on header line {number} has a bad position") from None
    joints[index] = (words[3], parent_id, xyz)


def _skeleton(joints: dict[int, tuple]) -> Skeleton | None:
    """The skeleton of the header's joint lines (indices must be 0..J-1), or None."""
    if not joints:
        return None
    if sorted(joints) != list(range(len(joints))):
        missing = min(set(range(len(joints))) - set(joints))
        raise SplatFileError(f"the skeleton's joints are not numbered 0..N-1 (no joint {missing})")
    rows = [joints[i] for i in range(len(joints))]
    names = tuple(r[0] for r in rows)
    parents = np.array([r[1] for r in rows], np.int64)
    if (parents >= np.arange(len(rows))).any():
        first = int(np.flatnonzero(parents >= np.arange(len(rows)))[0])
        raise SplatFileError(f"joint {first}'s parent does not come before it")
    xyz = np.array([r[2] for r in rows], np.float64)
    if not np.isfinite(xyz).all() or np.abs(xyz).max() > MAX_COORD:
        raise SplatFileError(
            f"the skeleton has joint positions that are not finite or beyond {MAX_COORD:g}"
        )
    return Skeleton(names, parents.astype(np.int32), xyz.astype(np.float32))


def _parse_header(head: bytes) -> _Header:
    if not head.startswith(b"ply\n") and not head.startswith(b"ply\r\n"):
        raise SplatFileError("not a PLY file (it does not start with 'ply')")
    end = head.find(b"end_header")
    if end < 0:
        raise SplatFileError(f"no 'end_header' within the first {MAX_HEADER_BYTES} bytes")
    stop = head.find(b"\n", end)
    if stop < 0:
        raise SplatFileError("the header ends without a newline after 'end_header'")
    try:
        text = head[:end].decode("ascii")
    except UnicodeDecodeError:
        raise SplatFileError("the PLY header is not ASCII text") from None
    endian = None
    elements: list[tuple[str, int, list[tuple[str, str]]]] = []
    part_names: dict[int, str] = {}
    joints: dict[int, tuple] = {}
    for number, raw in enumerate(text.splitlines()[1:], start=2):
        words = raw.split()
        if words[:2] == ["comment", "joint"]:
            _joint_line(words, number, joints)
            continue
        if not words or words[0] in ("comment", "obj_info"):
            if len(words) >= 3 and words[:2] == ["comment", "part"] and words[2].isdigit():
                index = _header_number(words[2], "the part class index", number)
                if index >= NUM_PARTS:
                    raise SplatFileError(
                        f"header line {number} names part class {index}; "
                        f"the classes are 0..{NUM_PARTS - 1}"
                    )
                part_names[index] = words[3] if len(words) > 3 else ""
            continue
        if words[0] == "format":
            kind = words[1] if len(words) > 1 else ""
            if kind == "ascii":
                raise SplatFileError(
                    "ASCII PLY is not supported: splat files are binary_little_endian"
                )
            if kind not in ("binary_little_endian", "binary_big_endian"):
                raise SplatFileError(f"unknown PLY format {kind[:40]!r} on header line {number}")
            endian = "<" if kind == "binary_little_endian" else ">"
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise SplatFileError(f"bad element line {number}: {raw.strip()[:80]!r}")
            count = _header_number(words[2], f"the count of element {words[1][:40]!r}", number)
            if count > MAX_SPLATS:
                raise SplatFileError(
                    f"element {words[1][:40]!r} claims {count} items; "
                    f"this reader accepts at most {MAX_SPLATS}"
                )
            elements.append((words[1], count, []))
        elif words[0] == "property":
            if not elements:
                raise SplatFileError(f"property before any element on header line {number}")
            if len(words) >= 2 and words[1] == "list":
                elements[-1][2].append(("list", words[-1]))
                continue
            if len(words) != 3:
                raise SplatFileError(f"bad property line {number}: {raw.strip()[:80]!r}")
            if words[1] not in _PLY_TYPES:
                raise SplatFileError(
                    f"unknown property type {words[1][:40]!r} for {words[2][:40]!r}"
                )
            elements[-1][2].append((words[1], words[2]))
        else:
            raise SplatFileError(f"unknown header keyword {words[0][:40]!r} on line {number}")
    if endian is None:
        raise SplatFileError("the header has no 'format' line")
    skip = 0
    for name, count, props in elements:
        if any(t == "list" for t, _ in props):
            if name == "vertex":
                raise SplatFileError("list properties in the vertex element are not supported")
            raise SplatFileError(f"element {name[:40]!r} with list properties precedes 'vertex'")
        names = [p for _, p in props]
        if len(set(names)) != len(names):
            raise SplatFileError(f"element {name[:40]!r} names a property twice")
        dtype = np.dtype([(p, endian + _PLY_TYPES[t]) for t, p in props])
        if name == "vertex":
            names_known = None
            if part_names:
                names_known = tuple(part_names.get(i, "") for i in range(max(part_names) + 1))
            return _Header(stop + 1, endian, count, dtype, skip, names_known, _skeleton(joints))
        skip += count * dtype.itemsize
    raise SplatFileError("the file has no 'vertex' element")


def load(path: str | os.PathLike) -> Splats:
    """Read a splat file (ours, plain Inria 3DGS, or the LGM 14-float layout)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = _parse_header(f.read(MAX_HEADER_BYTES))
            _check_size(header, size)
            f.seek(header.size + header.skip_before)
            body = f.read(header.count * header.dtype.itemsize)
    except OSError as e:
        raise SplatFileError(f"cannot read {path}: {e.strerror or e}") from None
    return _decode(header, body)


def loads(data: bytes) -> Splats:
    """Read a splat file from memory (see :func:`load`)."""
    header = _parse_header(bytes(data[:MAX_HEADER_BYTES]))
    _check_size(header, len(data))
    start = header.size + header.skip_before
    return _decode(header, data[start : start + header.count * header.dtype.itemsize])


def _check_size(h: _Header, file_size: int) -> None:
    need = h.size + h.skip_before + h.count * h.dtype.itemsize
    if file_size < need:
        raise SplatFileError(
            f"truncated file: the header promises {h.count} splats ({need} bytes in all) "
            f"but the file has {file_size} bytes"
        )


def _float_columns(h: _Header, body: bytes) -> dict[str, tuple[np.ndarray, int]]:
    """Map each property to (matrix, column) with matrix an (N, k) float32 array.

    Runs of adjacent little-endian float32 properties (all of a 3DGS record, usually) are
    copied out as one block each, which is far faster than gathering column by column.
    """
    size = h.dtype.itemsize
    raw = np.frombuffer(body, np.uint8, count=h.count * size).reshape(h.count, size)
    rec = np.frombuffer(body, h.dtype, count=h.count)
    out: dict[str, tuple[np.ndarray, int]] = {}
    run: list[str] = []

    def close_run() -> None:
        if run:
            start = h.dtype.fields[run[0]][1]
            block = np.ascontiguousarray(raw[:, start : start + 4 * len(run)]).view("<f4")
            out.update({name: (block, j) for j, name in enumerate(run)})
            run.clear()

    for name in h.dtype.names:
        fmt, offset = h.dtype.fields[name][:2]
        if fmt.str == "<f4" and (not run or offset == h.dtype.fields[run[-1]][1] + 4):
            run.append(name)
            continue
        close_run()
        if fmt.str == "<f4":
            run.append(name)
        else:
            out[name] = (rec[name].astype(np.float32)[:, None], 0)
    close_run()
    return out


def _decode(h: _Header, body: bytes) -> Splats:
    names = set(h.dtype.names)
    required = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    required += [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    missing = [n for n in required if n not in names]
    if missing:
        raise SplatFileError(
            "not a Gaussian-splat PLY: missing vertex properties " + ", ".join(missing)
        )
    n_rest = sum(1 for n in names if n.startswith("f_rest_"))
    if n_rest not in _REST_COUNTS or any(f"f_rest_{i}" not in names for i in range(n_rest)):
        raise SplatFileError(f"{n_rest} f_rest_* properties do not form SH degree 1, 2 or 3")
    cols = _float_columns(h, body)

    def stack(wanted: list[str]) -> np.ndarray:
        block, first = cols[wanted[0]]
        if all(cols[c][0] is block and cols[c][1] == first + j for j, c in enumerate(wanted)):
            out = np.ascontiguousarray(block[:, first : first + len(wanted)])
        else:
            out = np.empty((h.count, len(wanted)), np.float32)
            for j, c in enumerate(wanted):
                out[:, j] = cols[c][0][:, cols[c][1]]
        if _all_finite(out):
            return out
        bad = ~np.isfinite(out)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise SplatFileError(
                f"property {wanted[col]!r} has {int(bad[:, col].sum())} NaN/inf values "
                f"(first at splat {row})"
            )
        return out

    bands = n_rest // 3
    rest = stack([f"f_rest_{i}" for i in range(n_rest)]) if n_rest else np.zeros((h.count, 0))
    rest = rest.reshape(h.count, 3, bands).transpose(0, 2, 1)
    has_normals = {"nx", "ny", "nz"} <= names
    part = part_conf = None
    if "part" in names:
        if h.part_names is not None and h.part_names != PART_NAMES[: len(h.part_names)]:
            raise SplatFileError("the file's part classes are not the 28 Sapiens classes")
        if h.dtype["part"].kind not in "iu":
            raise SplatFileError("property 'part' must be an integer type")
        raw = np.frombuffer(body, h.dtype, count=h.count)["part"]
        if h.count and (int(raw.min()) < 0 or int(raw.max()) >= NUM_PARTS):
            raise SplatFileError(f"property 'part' has values outside 0..{NUM_PARTS - 1}")
        part = raw.astype(np.uint8)
        part_conf = (
            stack(["part_conf"])[:, 0] if "part_conf" in names else np.ones(h.count, np.float32)
        )
    skin_joints, skin_weights = _skin(h, body, names, stack)
    splats = Splats(
        means=stack(["x", "y", "z"]),
        sh0=stack(["f_dc_0", "f_dc_1", "f_dc_2"]),
        opacities=stack(["opacity"])[:, 0],
        log_scales=stack(["scale_0", "scale_1", "scale_2"]),
        quats=stack(["rot_0", "rot_1", "rot_2", "rot_3"]),
        sh_rest=np.ascontiguousarray(rest, dtype=np.float32),
        normals=stack(["nx", "ny", "nz"]) if has_normals else np.zeros((h.count, 3), np.float32),
        part=part,
        part_conf=part_conf,
        skin_joints=skin_joints,
        skin_weights=skin_weights,
        skeleton=None if skin_joints is None else h.skeleton,
    )
    check_values(splats)
    return splats


def _skin(
    h: _Header, body: bytes, names: set[str], stack: Callable[[list[str]], np.ndarray]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (N, 4) uint8 skin joints and (N, 4) float32 weights of a rigged file, or
    (None, None); a file with a skin but no skeleton (or the reverse) is refused."""
    joint_names = [f"skin_joint_{k}" for k in range(SKIN_SLOTS)]
    weight_names = [f"skin_weight_{k}" for k in range(SKIN_SLOTS)]
    present = [n for n in joint_names + weight_names if n in names]
    if not present and h.skeleton is None:
        return None, None
    if h.skeleton is None:
        raise SplatFileError("the file has skin weights but no skeleton ('comment joint' lines)")
    if len(present) != 2 * SKIN_SLOTS:
        missing = [n for n in joint_names + weight_names if n not in names]
        raise SplatFileError("the file has a skeleton but lacks " + ", ".join(missing))
    rec = np.frombuffer(body, h.dtype, count=h.count)
    joints = np.empty((h.count, SKIN_SLOTS), np.uint8)
    for k, name in enumerate(joint_names):
        if h.dtype[name].kind not in "iu":
            raise SplatFileError(f"property {name!r} must be an integer type")
        raw = rec[name]
        if h.count and (int(raw.min()) < 0 or int(raw.max()) >= len(h.skeleton.names)):
            raise SplatFileError(
                f"property {name!r} has values outside 0..{len(h.skeleton.names) - 1} "
                "(the skeleton's joints)"
            )
        joints[:, k] = raw
    return joints, stack(weight_names)
