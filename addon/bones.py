"""Bones and deform weights planned from a file's skeleton or from the part labels of
points (numpy only, no bpy, so it is testable without Blender); :mod:`.rigging` turns the
plan into an armature.

From a skeleton (rigged files, :func:`skeleton_bones`): one bone per joint, named after
it, head at the joint, tail at :meth:`~.portable.splatfile.Skeleton.bone_tails` (the
child in line with the bone), parented as the skeleton is; the weights are the file's
skin (:func:`skin_matrix`).

From part labels (files without a skeleton, :func:`plan_bones`), joints come from part
centroids and part ends (Blender frame, metres):

- the end of a part toward a point is the mean of its 10 % of points that lie furthest
  in that direction from its centroid;
- a joint between two chained parts is the midpoint of their facing ends (elbow =
  upper arm <-> lower arm, wrist, knee, ankle, neck = torso <-> head);
- shoulders and hips are the upper arm's / upper leg's end away from the elbow / knee;
  the head top, hand tips and toes are the far ends of the head, hands and feet.

Bones are named after the parts they carry (``Torso``, ``Face_Neck``,
``Left_Upper_Arm`` ...). Parts without a bone of their own ride on one: hair, lips,
teeth and tongue on ``Face_Neck``; shoes and socks on the foot (or lower leg); clothing,
apparel and background on the nearest allowed bone. With a smoothing radius > 0 each
point is shared with the neighbouring bones of its own bone by a Gaussian of its
distance to each bone, which softens the bend at joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .axes import Placement
from .portable.parts import NUM_PARTS, PART_IDS, PART_NAMES
from .portable.splatfile import Skeleton


@dataclass
class Bone:
    """One planned bone, Blender frame (metres). ``roll_towards``: a direction the bone's
    Z axis should point to (None keeps Blender's default roll)."""

    name: str
    parent: str | None
    head: np.ndarray
    tail: np.ndarray
    roll_towards: np.ndarray | None = None


FORWARD = np.array([0.0, -1.0, 0.0])
"""The person's front in Blender's frame (:mod:`.axes`)."""


def skeleton_bones(skeleton: Skeleton, placement: Placement) -> list[Bone]:
    """One bone per joint of ``skeleton`` (model frame), placed in Blender by
    ``placement``. Rolls: each bone's Z axis points to the person's front (-Y), or up
    (+Z) for bones that themselves point forward or back (feet)."""
    heads = placement.points_to_blender(skeleton.joints).astype(np.float64)
    tails = placement.points_to_blender(skeleton.bone_tails()).astype(np.float64)
    bones = []
    for i, name in enumerate(skeleton.names):
        d = tails[i] - heads[i]
        along = abs(float(d @ FORWARD)) / max(float(np.linalg.norm(d)), 1e-12)
        roll = FORWARD if along < 0.9 else np.array([0.0, 0.0, 1.0])
        p = int(skeleton.parents[i])
        bones.append(Bone(name, None if p < 0 else skeleton.names[p], heads[i], tails[i], roll))
    return bones


def skin_matrix(joints: np.ndarray, weights: np.ndarray, count: int) -> np.ndarray:
    """(N, count) float32 dense weights from the file's (N, 4) skin joints and weights
    (a joint named twice in a row adds up)."""
    out = np.zeros((len(joints), count), np.float32)
    rows = np.repeat(np.arange(len(joints)), joints.shape[1])
    np.add.at(out, (rows, joints.reshape(-1).astype(np.int64)), weights.reshape(-1))
    return out


def _ids(*names: str) -> list[int]:
    return [PART_IDS[n] for n in names]


HEAD_PARTS = _ids(
    "Face_Neck", "Hair", "Lower_Lip", "Upper_Lip", "Lower_Teeth", "Upper_Teeth", "Tongue"
)
TORSO_PARTS = _ids("Torso", "Upper_Clothing")


def _end(points: np.ndarray, toward: np.ndarray) -> np.ndarray:
    """Mean of the 10 % of ``points`` (M, 3) furthest from their centroid toward
    ``toward`` (3,)."""
    c = points.mean(0)
    d = toward - c
    d = d / max(float(np.linalg.norm(d)), 1e-9)
    t = (points - c) @ d
    return points[t >= np.quantile(t, 0.9)].mean(0)


def _joint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Joint between chained parts with points ``a`` and ``b``."""
    return (_end(a, b.mean(0)) + _end(b, a.mean(0))) / 2


def _middle(points: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """Middle joint of a limb from ``a`` to ``b`` hidden under clothing: the mean of the
    ``points`` (M, 3) within ``radius`` of the line a-b around its middle (a bent limb
    pulls it toward the elbow or knee); the midpoint when too few points are there."""
    seg = b - a
    t = ((points - a) @ seg) / max(float(seg @ seg), 1e-12)
    d = np.linalg.norm(points - (a + t[:, None] * seg), axis=1)
    near = points[(t > 0.3) & (t < 0.7) & (d < radius)]
    return near.mean(0) if len(near) >= 10 else (a + b) / 2


def plan_bones(
    pos: np.ndarray, lab: np.ndarray, min_points: int = 20
) -> tuple[list[Bone], list[str]]:
    """Bones for points ``pos`` (N, 3) with labels ``lab`` (N,); also the names of the
    bones that could not be placed (their parts are missing or too small).

    Joints come from skin labels where they exist; under clothing (long sleeves,
    trousers) shoulders and hips are placed from the spine and the left-right axis, and
    elbows and knees from the clothing points around the middle of the limb.
    """

    def pts(ids: list[int]) -> np.ndarray | None:
        p = pos[np.isin(lab, ids)]
        return p if len(p) >= min_points else None

    skipped: list[str] = []
    torso, head = pts(TORSO_PARTS), pts(HEAD_PARTS)
    if torso is None:
        return [], ["Torso (no torso or upper-clothing points)"]
    z_up = np.array([0.0, 0.0, 1.0])
    neck = _joint(torso, head) if head is not None else _end(torso, torso.mean(0) + z_up)
    lower = pts(_ids("Lower_Clothing"))
    thighs = {s: pts(_ids(f"{s}_Upper_Leg")) for s in ("Left", "Right")}
    shins = {s: pts(_ids(f"{s}_Lower_Leg")) for s in ("Left", "Right")}
    if all(t is not None for t in thighs.values()):
        hips = {}
        for s, thigh in thighs.items():
            away = (
                thigh.mean(0) + z_up if shins[s] is None else 2 * thigh.mean(0) - shins[s].mean(0)
            )
            hips[s] = _end(thigh, away)
        pelvis = (hips["Left"] + hips["Right"]) / 2
    else:
        hips = {}
        pelvis = _joint(torso, lower) if lower is not None else _end(torso, torso.mean(0) - z_up)
    up = neck - pelvis
    up = up / max(float(np.linalg.norm(up)), 1e-9)
    extent = pos @ up
    height = float(extent.max() - extent.min())
    names = np.array(PART_NAMES)
    is_left = np.char.startswith(names, "Left_")[lab]
    is_right = np.char.startswith(names, "Right_")[lab]
    side = np.array([1.0, 0.0, 0.0])  # the person's left; Blender +X by default
    if is_left.sum() >= min_points and is_right.sum() >= min_points:
        d = pos[is_left].mean(0) - pos[is_right].mean(0)
        d -= (d @ up) * up
        if np.linalg.norm(d) > 1e-6:
            side = d / np.linalg.norm(d)
    bones = [Bone("Torso", None, pelvis, neck)]
    if head is not None:
        bones.append(Bone("Face_Neck", "Torso", neck, _end(head, head.mean(0) + up)))
    else:
        skipped.append("Face_Neck")
    sleeve = pts(_ids("Upper_Clothing", "Apparel"))
    trousers = pts(_ids("Lower_Clothing", "Apparel"))
    for s, sign in (("Left", 1.0), ("Right", -1.0)):
        shoulder = neck - 0.05 * height * up + sign * 0.11 * height * side
        hip = hips.get(s, pelvis - 0.03 * height * up + sign * 0.055 * height * side)
        bones += _limb(pts, s, ("Upper_Arm", "Lower_Arm", "Hand"), shoulder, sleeve,
                       0.06 * height, skipped, foot=False)  # fmt: skip
        bones += _limb(pts, s, ("Upper_Leg", "Lower_Leg", "Foot"), hip, trousers,
                       0.08 * height, skipped, foot=True)  # fmt: skip
    return bones, skipped


def _limb(pts, side, segs, root, cloth, radius, skipped, foot) -> list[Bone]:
    """Upper, lower and end bones of one limb, starting near ``root`` (estimated)."""
    names = [f"{side}_{s}" for s in segs]
    upper, lower = pts(_ids(names[0])), pts(_ids(names[1]))
    end_ids = _ids(f"{side}_Foot", f"{side}_Shoe", f"{side}_Sock") if foot else _ids(names[2])
    end = pts(end_ids)
    if end is None and lower is None:
        skipped += names
        return []
    if upper is not None:  # bare upper limb: its far end is the shoulder / hip
        toward = lower.mean(0) if lower is not None else end.mean(0)
        root = _end(upper, 2 * upper.mean(0) - toward)
    # the joint before the end part (wrist / ankle)
    if end is not None:
        if lower is not None:
            low = _joint(lower, end)
        elif foot:
            low = _end(end, end.mean(0) + np.array([0.0, 0.0, 1.0]))
        else:
            low = _end(end, root)
    else:
        low = _end(lower, 2 * lower.mean(0) - root)
    if upper is not None and lower is not None:
        mid = _joint(upper, lower)
    else:
        parts = [p for p in (cloth, upper, lower) if p is not None]
        mid = _middle(np.concatenate(parts), root, low, radius) if parts else (root + low) / 2
    out = [Bone(names[0], "Torso", root, mid), Bone(names[1], names[0], mid, low)]
    if end is None:
        skipped.append(names[2])
        return out
    if foot:  # toe: the far end of the foot, forward (-Y), at the foot's height
        c = end.mean(0)
        tip = _end(end, c + np.array([0.0, -1.0, 0.0]))
        tip[2] = c[2]
    else:
        tip = _end(end, 2 * end.mean(0) - low)
    out.append(Bone(names[2], names[1], low, tip))
    return out


def _host_bones(bone_names: list[str]) -> list[list[str]]:
    """For each class id, the bones its points may follow (first = preferred)."""
    have = set(bone_names)
    hosts: list[list[str]] = []
    for k, name in enumerate(PART_NAMES):
        if name in have:
            cand = [name]
        elif k in HEAD_PARTS:
            cand = ["Face_Neck", "Torso"]
        elif name.endswith(("_Shoe", "_Sock", "_Foot")):
            side = name.split("_")[0]
            cand = [f"{side}_Foot", f"{side}_Lower_Leg"]
        elif name == "Upper_Clothing":
            cand = ["Torso"] + [
                f"{s}_{p}" for s in ("Left", "Right") for p in ("Upper_Arm", "Lower_Arm")
            ]
        elif name == "Lower_Clothing":
            cand = ["Torso"] + [
                f"{s}_{p}" for s in ("Left", "Right") for p in ("Upper_Leg", "Lower_Leg")
            ]
        elif name.startswith(("Left_", "Right_")):
            side = name.split("_")[0]
            limb = "Arm" if "Arm" in name or "Hand" in name else "Leg"
            cand = [f"{side}_Upper_{limb}", f"{side}_Lower_{limb}", "Torso"]
        else:
            cand = list(bone_names)
        hosts.append([c for c in cand if c in have] or list(bone_names))
    return hosts


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def bone_weights(pos: np.ndarray, lab: np.ndarray, bones: list[Bone], smooth: float) -> np.ndarray:
    """(N, B) float32 deform weights (rows sum to 1) of points ``pos`` with labels ``lab``."""
    names = [b.name for b in bones]
    dist = np.stack([_segment_distance(pos, b.head, b.tail) for b in bones], axis=1)
    hosts = _host_bones(names)
    allowed = np.zeros((NUM_PARTS, len(bones)), bool)
    for k, cand in enumerate(hosts):
        allowed[k, [names.index(c) for c in cand]] = True
    d = np.where(allowed[lab], dist, np.inf)
    own = np.argmin(d, axis=1)
    w = np.zeros((len(pos), len(bones)), np.float32)
    w[np.arange(len(pos)), own] = 1.0
    if smooth > 0:
        adj = np.eye(len(bones), dtype=bool)
        for i, b in enumerate(bones):
            if b.parent in names:
                j = names.index(b.parent)
                adj[i, j] = adj[j, i] = True
        near = adj[own]
        g = np.exp(-0.5 * (dist / smooth) ** 2) * near
        g /= np.maximum(g.sum(1, keepdims=True), 1e-12)
        w = g.astype(np.float32)
    return w
