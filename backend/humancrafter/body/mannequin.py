"""The part-labelled parametric body ("mannequin"): shape, pose and a surface of analytic
primitives, each labelled with a Sapiens class.

Every primitive is a convex solid: a *round cone* (the convex hull of two spheres; an
ellipsoid is the special case of one sphere) under an affine map, optionally cut by up to
:data:`MAX_PLANES` half-spaces (to end a sleeve, a hem, a hairline, a jacket's front opening).
Clothing, hair, socks and shoes are slightly inflated copies ("covers") of the skin primitives
they lie on, cut where the garment ends, so the body surface is simply the boundary of the
UNION of all primitives: whatever is outermost is what shows, and a layer hides what is
beneath it. :func:`sample_surface` and the ray caster (:mod:`.raycast`) both return that
outermost surface, each point carrying the label of the primitive it lies on.

Frames: the model frame of :mod:`humancrafter.cameras` (y up, ~1 unit tall, facing +z,
person's left = +x). Pose and shape conventions are in :mod:`.skeleton` (zero pose = T-pose).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..portable.parts import PART_IDS
from .appearance import MATERIAL_IDS, Appearance, MaterialTable, albedo
from .skeleton import (
    JOINT_IDS,
    NUM_JOINTS,
    NUM_SHAPE,
    SHAPE_NAMES,
    forward_kinematics,
    rest_joints,
)

__all__ = [
    "Appearance",
    "BodyParams",
    "MAX_PLANES",
    "Primitives",
    "SHAPE_NAMES",
    "SurfaceSamples",
    "build_primitives",
    "centred",
    "joints",
    "sample_surface",
]

MAX_PLANES = 3
"""Most cutting half-spaces one primitive may carry."""


@dataclass
class BodyParams:
    """Parameters of one body (float32 torch tensors, differentiable).

    Attributes:
        shape: (10,) shape parameters, each roughly in [-2, 2]; see
            :data:`humancrafter.body.skeleton.SHAPE_NAMES` for what each one does.
        pose: (24, 3) axis-angle per joint in local frames (SMPL convention); zeros = T-pose.
        transl: (3,) translation added to every posed point, model frame.
    """

    shape: torch.Tensor
    pose: torch.Tensor
    transl: torch.Tensor

    @staticmethod
    def neutral() -> BodyParams:
        """The average body in the T-pose, centred at the origin (soles at y = -0.5)."""
        return BodyParams(torch.zeros(NUM_SHAPE), torch.zeros(NUM_JOINTS, 3), torch.zeros(3))

    def detach(self) -> BodyParams:
        return BodyParams(self.shape.detach(), self.pose.detach(), self.transl.detach())

    def to_json(self) -> dict:
        """Plain lists for json (shape, pose, transl)."""
        return {
            "shape": [round(float(v), 6) for v in self.shape],
            "pose": [[round(float(v), 6) for v in row] for row in self.pose],
            "transl": [round(float(v), 6) for v in self.transl],
        }

    @staticmethod
    def from_json(d: dict) -> BodyParams:
        f = torch.float32
        return BodyParams(
            torch.tensor(d["shape"], dtype=f),
            torch.tensor(d["pose"], dtype=f),
            torch.tensor(d["transl"], dtype=f),
        )


def posed_skeleton(params: BodyParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rest joints, global bone rotations and posed joints of ``params``.

    Returns:
        rest: (24, 3) rest joints (before translation). rots: (24, 3, 3).
        posed: (24, 3) posed joints including ``transl``.
    """
    rest = rest_joints(params.shape)
    rots, posed = forward_kinematics(params.pose, rest)
    return rest, rots, posed + params.transl


def joints(params: BodyParams) -> torch.Tensor:
    """(24, 3) posed joint positions in the model frame (differentiable)."""
    return posed_skeleton(params)[2]


@dataclass
class Primitives:
    """P posed primitives of one body, the input of sampling and ray casting.

    Local solid of primitive i: the round cone along the local +y axis from the origin to
    (0, length_i, 0) with end radii r0_i, r1_i (length 0: the sphere of radius r0_i), cut by
    the half-spaces ``planes[i, k, :3] . x <= planes[i, k, 3]`` (unused rows are 0 <= 1).
    World point x = to_world_i @ x_local + origin_i.

    Attributes:
        origin: (P, 3). to_world: (P, 3, 3). to_local: (P, 3, 3) its inverse.
        length, r0, r1: (P,) local units.
        planes: (P, MAX_PLANES, 4) local half-spaces, unit normals.
        part: (P,) int64 Sapiens class. material: (P,) int64 index into MATERIAL_SLOTS.
        bone: (P,) int64 joint the primitive moves with.
        tex_rot: (P, 3, 3), tex_off: (P, 3): rest-pose position of a posed world point,
            ``p_rest = tex_rot @ p + tex_off`` (where textures are evaluated).
        names: P names ("left_upper_arm", "top:chest", ...).
    """

    origin: torch.Tensor
    to_world: torch.Tensor
    to_local: torch.Tensor
    length: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    planes: torch.Tensor
    part: torch.Tensor
    material: torch.Tensor
    bone: torch.Tensor
    tex_rot: torch.Tensor
    tex_off: torch.Tensor
    names: list[str]
    materials: MaterialTable

    def __len__(self) -> int:
        return len(self.names)

    def world_aabb(self) -> torch.Tensor:
        """(P, 2, 3) exact world axis-aligned bounds (min, max) of each uncut primitive."""
        ext = self.to_world.norm(dim=-1)  # (P, 3) world extent of a unit local sphere
        a = self.origin
        b = self.origin + self.to_world[:, :, 1] * self.length[:, None]
        lo = torch.minimum(a - ext * self.r0[:, None], b - ext * self.r1[:, None])
        hi = torch.maximum(a + ext * self.r0[:, None], b + ext * self.r1[:, None])
        return torch.stack([lo, hi], dim=1)

    def to_local_points(self, p: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(M, 3) world points -> (M, 3) local coordinates of primitives ``idx`` (M,)."""
        return (self.to_local[idx] @ (p - self.origin[idx])[:, :, None])[:, :, 0]

    def inside(self, p: torch.Tensor, idx: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
        """(M,) bool: world points ``p`` (M, 3) lie inside primitives ``idx`` (M,) by more
        than ``margin`` local units."""
        q = self.to_local_points(p, idx)
        d = round_cone_sdf(q, self.length[idx], self.r0[idx], self.r1[idx])
        pl = self.planes[idx]
        inside_planes = ((pl[:, :, :3] * q[:, None, :]).sum(-1) - pl[:, :, 3] < -margin).all(-1)
        return (d < -margin) & inside_planes


def round_cone_sdf(
    p: torch.Tensor, length: torch.Tensor, r0: torch.Tensor, r1: torch.Tensor
) -> torch.Tensor:
    """Signed distance (local units) from (M, 3) local points to round cones along +y from
    the origin to (0, length, 0) with end radii r0, r1 (each (M,)); after Inigo Quilez."""
    l2 = length * length
    safe_l2 = torch.where(l2 > 1e-12, l2, torch.ones_like(l2))
    rr = r0 - r1
    a2 = l2 - rr * rr
    y = length * p[:, 1]
    z = y - l2
    x2 = safe_l2 * safe_l2 * (p[:, 0] ** 2 + p[:, 2] ** 2)
    y2 = y * y * l2
    z2 = z * z * l2
    k = torch.sign(rr) * rr * rr * x2
    d_b = torch.sqrt(x2 + z2) / safe_l2 - r1
    d_a = torch.sqrt(x2 + y2) / safe_l2 - r0
    d_body = (torch.sqrt((x2 * a2 / safe_l2).clamp_min(0)) + y * rr) / safe_l2 - r0
    d = torch.where(
        torch.sign(z) * a2 * z2 > k, d_b, torch.where(torch.sign(y) * a2 * y2 < k, d_a, d_body)
    )
    return torch.where(l2 > 1e-12, d, p.norm(dim=-1) - r0)


# ----------------------------------------------------------------------------------------
# Building the primitives of a body


@dataclass
class _Spec:
    name: str
    bone: int
    part: int
    material: int
    frame: torch.Tensor  # (3, 3) orthonormal columns, rest pose
    scale: torch.Tensor  # (3,) local -> world scale per local axis
    origin: torch.Tensor  # (3,) rest pose
    length: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    planes: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # world, rest
    hidden: bool = False
    root: str = ""  # the skin primitive a cover (transitively) inflates; "" for skin itself
    offset: float = 0.0  # total inflation over the root, world units


def _vec(*xs) -> torch.Tensor:
    return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in xs])


def _frame_along(direction: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
    """(3, 3) orthonormal columns (x, y, z) with y along ``direction`` and z towards ``hint``."""
    y = direction / direction.norm()
    z = hint - (hint @ y) * y
    z = z / z.norm()
    x = torch.linalg.cross(y, z)
    return torch.stack([x, y, z], dim=1)


class _Builder:
    """Collects rest-pose primitive specs by name."""

    def __init__(self) -> None:
        self.specs: dict[str, _Spec] = {}

    def ellipsoid(self, name, bone, part, mat, centre, radii, frame=None) -> None:
        self.specs[name] = _Spec(
            name,
            JOINT_IDS[bone],
            PART_IDS[part],
            MATERIAL_IDS[mat],
            torch.eye(3) if frame is None else frame,
            radii,
            centre,
            torch.tensor(0.0),
            torch.tensor(1.0),
            torch.tensor(1.0),
        )

    def cone(self, name, bone, part, mat, a, b, ra, rb, hint=(0.0, 0.0, 1.0), ex=1.0, ez=1.0):
        d = b - a
        frame = _frame_along(d, torch.tensor(hint, dtype=torch.float32))
        self.specs[name] = _Spec(
            name,
            JOINT_IDS[bone],
            PART_IDS[part],
            MATERIAL_IDS[mat],
            frame,
            _vec(ex, 1.0, ez),
            a,
            d.norm(),
            torch.as_tensor(ra),
            torch.as_tensor(rb),
        )

    def cover(self, src, name, part, mat, offset, planes=(), hide=False) -> None:
        """An inflated copy of ``src`` (by ``offset`` world units), cut by ``planes`` (and by
        the source's own). Primitives the cover entirely contains are dropped (with
        ``hide``, the source is known to be inside the cover)."""
        s = self.specs[src]
        if s.length > 0:
            grow = offset / torch.sqrt(s.scale[0] * s.scale[2])
            spec = _Spec(
                name,
                s.bone,
                PART_IDS[part],
                MATERIAL_IDS[mat],
                s.frame,
                s.scale,
                s.origin,
                s.length,
                s.r0 + grow,
                s.r1 + grow,
            )
        else:
            spec = _Spec(
                name,
                s.bone,
                PART_IDS[part],
                MATERIAL_IDS[mat],
                s.frame,
                s.scale + offset,
                s.origin,
                s.length,
                s.r0,
                s.r1,
            )
        spec.planes = list(s.planes) + list(planes)
        spec.root = s.root or src
        spec.offset = s.offset + offset
        self.specs[name] = spec
        if hide:
            s.hidden = True
        elif not planes:
            # Everything inflating the same root less, cut by at least the same planes, lies
            # inside the new cover: drop it.
            for other in self.specs.values():
                same_root = other.name == spec.root or other.root == spec.root
                if (
                    other is not spec
                    and same_root
                    and other.offset <= spec.offset
                    and all(any(p is q for q in other.planes) for p in spec.planes)
                ):
                    other.hidden = True


def _keep_below(y) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([0.0, 1.0, 0.0]), torch.as_tensor(y, dtype=torch.float32)


def _keep_above(y) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([0.0, -1.0, 0.0]), -torch.as_tensor(y, dtype=torch.float32)


def _keep_side(normal, point) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the half-space ``normal . (x - point) <= 0``."""
    n = torch.as_tensor(normal, dtype=torch.float32)
    n = n / n.norm()
    return n, n @ point


def _across(a, b, frac) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut perpendicular to segment a->b at ``a + frac (b - a)``, keeping the ``a`` side."""
    d = (b - a) / (b - a).norm()
    return d, d @ (a + frac * (b - a))


def _rest_specs(shape: torch.Tensor, app: Appearance) -> tuple[list[_Spec], torch.Tensor]:
    """Rest-pose primitive specs of a body in an outfit, and the (24, 3) rest joints."""
    J0 = rest_joints(shape)
    s = shape
    sc = 1 + 0.05 * s[0]
    gt = (1 + 0.11 * s[1]) * sc  # torso girth
    gl = (1 + 0.06 * s[1]) * (1 + 0.09 * s[9]) * sc  # limb girth
    cd = 1 + 0.10 * s[8]  # chest depth
    hs = (1 + 0.06 * s[6]) * sc  # head size
    hw = 1 + 0.09 * s[5]  # hip width
    J = {n: J0[i] for n, i in JOINT_IDS.items()}
    b = _Builder()
    sole = J0[:, 1].min() - 0.012 * sc

    # Head (bone "head"): cranium, face, features.
    H = J["head"]
    b.ellipsoid(
        "cranium",
        "head",
        "Face_Neck",
        "skin",
        H + hs * _vec(0, 0.035, -0.008),
        hs * _vec(0.046, 0.06, 0.056),
    )
    b.ellipsoid(
        "face",
        "head",
        "Face_Neck",
        "skin",
        H + hs * _vec(0, -0.005, 0.008),
        hs * _vec(0.04, 0.05, 0.046),
    )
    b.ellipsoid(
        "nose",
        "head",
        "Face_Neck",
        "skin",
        H + hs * _vec(0, 0.012, 0.054),
        hs * _vec(0.008, 0.016, 0.011),
    )
    b.ellipsoid(
        "upper_lip",
        "head",
        "Upper_Lip",
        "lips",
        H + hs * _vec(0, -0.0145, 0.0485),
        hs * _vec(0.0145, 0.0048, 0.0068),
    )
    drop = 0.008 if app.mouth_open else 0.0  # an open mouth lowers the lower lip
    b.ellipsoid(
        "lower_lip",
        "head",
        "Lower_Lip",
        "lips",
        H + hs * _vec(0, -0.0235 - drop, 0.0475),
        hs * _vec(0.0135, 0.0055, 0.0068),
    )
    if app.mouth_open:  # teeth and tongue show between the lips, just proud of the face
        b.ellipsoid(
            "upper_teeth",
            "head",
            "Upper_Teeth",
            "teeth",
            H + hs * _vec(0, -0.0205, 0.0472),
            hs * _vec(0.0115, 0.0024, 0.0064),
        )
        b.ellipsoid(
            "tongue",
            "head",
            "Tongue",
            "tongue",
            H + hs * _vec(0, -0.0245, 0.0465),
            hs * _vec(0.0095, 0.0024, 0.0064),
        )
        b.ellipsoid(
            "lower_teeth",
            "head",
            "Lower_Teeth",
            "teeth",
            H + hs * _vec(0, -0.0283, 0.0468),
            hs * _vec(0.011, 0.0022, 0.0062),
        )
    for side, sg in (("left", 1.0), ("right", -1.0)):
        b.ellipsoid(
            f"{side}_eye",
            "head",
            "Face_Neck",
            "eye",
            H + hs * _vec(sg * 0.017, 0.03, 0.041),
            hs * _vec(0.0085, 0.0075, 0.0085),
        )
        b.ellipsoid(
            f"{side}_brow",
            "head",
            "Face_Neck",
            "hair",
            H + hs * _vec(sg * 0.018, 0.043, 0.047),
            hs * _vec(0.012, 0.0028, 0.004),
        )
        b.ellipsoid(
            f"{side}_ear",
            "head",
            "Face_Neck",
            "skin",
            H + hs * _vec(sg * 0.046, 0.02, -0.006),
            hs * _vec(0.008, 0.015, 0.011),
        )
    neck_r = 0.031 * torch.sqrt(gt)
    b.cone(
        "neck",
        "neck",
        "Face_Neck",
        "skin",
        J["neck"] + _vec(0, -0.05, 0.0),
        H + _vec(0, 0.0, -0.012),
        neck_r,
        neck_r * 0.95,
        ex=1.05,
    )

    # Torso.
    sw = 1 + 0.5 * (J["left_shoulder"][0] / 0.10 - 1)
    b.cone(
        "torso",
        "spine2",
        "Torso",
        "skin",
        J["spine1"] + _vec(0, -0.01, 0.0) * sc,
        J["spine3"] + _vec(0, 0.02, -0.004) * sc,
        0.06 * cd * gt,
        0.064 * cd * gt,
        ex=1.36 * sw,
        ez=1.0,
    )
    b.ellipsoid(
        "belly",
        "spine1",
        "Torso",
        "skin",
        J["spine1"] + _vec(0, 0.015, 0.008) * sc,
        _vec(0.07 * gt, 0.07 * sc, 0.052 * cd * gt**1.5),
    )
    hip_y = J["left_hip"][1]
    b.ellipsoid(
        "pelvis",
        "pelvis",
        "Torso",
        "skin",
        _vec(0, hip_y + 0.03 * sc, -0.008),
        _vec(0.087 * hw * gt, 0.075 * sc, 0.068 * gt),
    )
    for side, sg in (("left", 1.0), ("right", -1.0)):
        b.ellipsoid(
            f"{side}_glute",
            "pelvis",
            "Torso",
            "skin",
            _vec(sg * 0.04 * hw, hip_y - 0.005 * sc, -0.028 * gt),
            _vec(0.045 * hw * gt, 0.055 * sc, 0.047 * gt),
        )
        b.cone(
            f"{side}_shoulder_top",
            f"{side}_collar",
            "Torso",
            "skin",
            _vec(sg * 0.025, J[f"{side}_collar"][1] + 0.005, -0.015),
            J[f"{side}_shoulder"],
            0.034 * gt,
            0.033 * gl,
            hint=(0.0, 0.0, 1.0),
        )

    # Arms and hands.
    for side, sg in (("left", 1.0), ("right", -1.0)):
        Sh, El, Wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        Up, Lo = f"{side.capitalize()}_Upper_Arm", f"{side.capitalize()}_Lower_Arm"
        Hand = f"{side.capitalize()}_Hand"
        b.ellipsoid(
            f"{side}_deltoid",
            f"{side}_shoulder",
            Up,
            "skin",
            Sh + _vec(sg * 0.01, 0.002, 0),
            gl * _vec(0.038, 0.034, 0.036),
        )
        b.cone(f"{side}_upper_arm", f"{side}_shoulder", Up, "skin", Sh, El, 0.033 * gl, 0.026 * gl)
        b.cone(
            f"{side}_lower_arm",
            f"{side}_elbow",
            Lo,
            "skin",
            El,
            Wr,
            0.026 * gl,
            0.0175 * gl,
            ex=0.85,
        )
        b.ellipsoid(
            f"{side}_palm",
            f"{side}_wrist",
            Hand,
            "skin",
            Wr + sc * _vec(sg * 0.035, -0.002, 0),
            sc * _vec(0.036, 0.011, 0.026),
        )
        b.ellipsoid(
            f"{side}_fingers",
            f"{side}_hand",
            Hand,
            "skin",
            Wr + sc * _vec(sg * 0.078, -0.004, -0.002),
            sc * _vec(0.035, 0.0085, 0.024),
        )
        b.cone(
            f"{side}_thumb",
            f"{side}_wrist",
            Hand,
            "skin",
            Wr + sc * _vec(sg * 0.012, -0.005, 0.02),
            Wr + sc * _vec(sg * 0.05, -0.011, 0.04),
            0.009 * sc,
            0.007 * sc,
        )

    # Legs and feet.
    for side, sg in (("left", 1.0), ("right", -1.0)):
        Hp, Kn, An = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
        Up, Lo = f"{side.capitalize()}_Upper_Leg", f"{side.capitalize()}_Lower_Leg"
        Foot = f"{side.capitalize()}_Foot"
        b.cone(
            f"{side}_thigh",
            f"{side}_hip",
            Up,
            "skin",
            Hp + _vec(0.0, 0.01, 0),
            Kn,
            0.056 * gl * torch.sqrt(hw),
            0.037 * gl,
        )
        b.cone(f"{side}_shin", f"{side}_knee", Lo, "skin", Kn, An, 0.036 * gl, 0.022 * gl)
        b.ellipsoid(
            f"{side}_calf",
            f"{side}_knee",
            Lo,
            "skin",
            Kn + _vec(0, -0.075, -0.012) * sc,
            gl * _vec(0.032, 0.07, 0.032),
        )
        b.ellipsoid(
            f"{side}_foot",
            f"{side}_ankle",
            Foot,
            "skin",
            _vec(An[0] + sg * 0.002, sole + 0.022 * sc, An[2] + 0.045 * sc),
            sc * _vec(0.03, 0.024, 0.076),
        )
        b.ellipsoid(
            f"{side}_toes",
            f"{side}_foot",
            Foot,
            "skin",
            J[f"{side}_foot"] + sc * _vec(0, 0, 0.012),
            sc * _vec(0.029, 0.014, 0.035),
        )

    _dress(b, J, app, sc, sole)
    return [sp for sp in b.specs.values() if not sp.hidden], J0


def _dress(b: _Builder, J: dict, app: Appearance, sc: torch.Tensor, sole: torch.Tensor) -> None:
    """Add the clothing, hair, sock and shoe covers of ``app`` to the builder."""
    hip_y = J["left_hip"][1]
    waist_y = J["pelvis"][1] + 0.05 * sc
    sides = (("left", 1.0), ("right", -1.0))
    neckline = _keep_side((0.0, 1.0, 0.6), J["spine3"] + _vec(0, 0.085, 0.0) * sc)

    # Socks, then shoes over them.
    if app.socks != "none":
        for side, _ in sides:
            An, Kn = J[f"{side}_ankle"], J[f"{side}_knee"]
            top = {"ankle": An[1] + 0.03 * sc, "crew": An[1] + 0.1 * sc, "knee": Kn[1] - 0.035 * sc}
            cut = _keep_below(top[app.socks])
            part = f"{side.capitalize()}_Sock"
            b.cover(f"{side}_foot", f"sock:{side}_foot", part, "sock", 0.003)
            b.cover(f"{side}_toes", f"sock:{side}_toes", part, "sock", 0.003)
            b.cover(f"{side}_shin", f"sock:{side}_shin", part, "sock", 0.003, [cut])
            b.cover(f"{side}_calf", f"sock:{side}_calf", part, "sock", 0.003, [cut])
    if app.shoes != "none":
        for side, _ in sides:
            An = J[f"{side}_ankle"]
            part = f"{side.capitalize()}_Shoe"
            src = "sock:" if app.socks != "none" else ""
            b.cover(
                f"{src}{side}_foot",
                f"shoe:{side}_foot",
                part,
                "shoe",
                0.009,
                [_keep_below(An[1] + 0.004 * sc)],
                hide=True,
            )
            b.cover(f"{src}{side}_toes", f"shoe:{side}_toes", part, "shoe", 0.009)
            top = An[1] + (0.14 if app.shoes == "boots" else 0.012) * sc
            b.cover(f"{side}_shin", f"shoe:{side}_shin", part, "shoe", 0.012, [_keep_below(top)])
            if app.shoes == "boots":
                b.cover(
                    f"{side}_calf", f"shoe:{side}_calf", part, "shoe", 0.012, [_keep_below(top)]
                )

    # Bottoms.
    waist = _keep_below(waist_y)
    b.cover("pelvis", "bottom:pelvis", "Lower_Clothing", "bottom", 0.008, [waist])
    for src in ("left_glute", "right_glute"):
        b.cover(src, f"bottom:{src}", "Lower_Clothing", "bottom", 0.008)
    b.cover("belly", "bottom:belly", "Lower_Clothing", "bottom", 0.008, [waist])
    if app.bottom == "skirt":
        length = app.bottom_length * (hip_y - J["left_ankle"][1])
        r_top = 0.108 * (J["left_hip"][0] / 0.052) * sc
        r_bot = r_top + (0.03 + 0.09 * app.bottom_length) * sc
        bottom_y = hip_y - length
        b.cone(
            "skirt",
            "pelvis",
            "Lower_Clothing",
            "bottom",
            _vec(0, waist_y + 0.02, -0.01),
            _vec(0, bottom_y - 0.05, -0.01),
            r_top,
            r_bot,
            ez=0.8,
        )
        b.specs["skirt"].planes = [waist, _keep_above(bottom_y)]
    else:
        for side, _ in sides:
            Hp, Kn, An = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
            if app.bottom == "shorts":
                cut = _across(Hp, Kn, app.bottom_length)
                b.cover(
                    f"{side}_thigh",
                    f"bottom:{side}_thigh",
                    "Lower_Clothing",
                    "bottom",
                    0.009,
                    [cut],
                )
            else:
                hem = _across(Kn, An, 0.93)
                b.cover(f"{side}_thigh", f"bottom:{side}_thigh", "Lower_Clothing", "bottom", 0.01)
                for src in ("shin", "calf"):
                    b.cover(
                        f"{side}_{src}",
                        f"bottom:{side}_{src}",
                        "Lower_Clothing",
                        "bottom",
                        0.014,
                        [hem],
                    )

    # Tops.
    if app.top != "none":
        hem = _keep_above(hip_y + app.hem * sc)
        b.cover("torso", "top:torso", "Upper_Clothing", "top", 0.008, [neckline, hem])
        b.cover("belly", "top:belly", "Upper_Clothing", "top", 0.01, [hem])
        for src in ("pelvis", "left_glute", "right_glute"):
            b.cover(src, f"top:{src}", "Upper_Clothing", "top", 0.012, [hem])
        for side, sg in sides:
            Sh, El, Wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
            collar = _keep_side((-sg, 0.0, 0.0), _vec(sg * 0.032, 0, 0) * sc)
            if app.top == "tank":
                strap = _keep_side((sg, 0.0, 0.0), _vec(sg * 0.068, 0, 0))
                b.cover(
                    f"{side}_shoulder_top",
                    f"top:{side}_shoulder_top",
                    "Upper_Clothing",
                    "top",
                    0.006,
                    [collar, strap],
                )
                continue
            b.cover(
                f"{side}_shoulder_top",
                f"top:{side}_shoulder_top",
                "Upper_Clothing",
                "top",
                0.008,
                [collar],
            )
            if app.top == "tshirt":
                cut = [_across(Sh, El, app.sleeve)]
                b.cover(
                    f"{side}_deltoid", f"top:{side}_deltoid", "Upper_Clothing", "top", 0.008, cut
                )
                b.cover(
                    f"{side}_upper_arm",
                    f"top:{side}_upper_arm",
                    "Upper_Clothing",
                    "top",
                    0.011,
                    cut,
                )
            else:
                b.cover(f"{side}_deltoid", f"top:{side}_deltoid", "Upper_Clothing", "top", 0.008)
                b.cover(
                    f"{side}_upper_arm", f"top:{side}_upper_arm", "Upper_Clothing", "top", 0.009
                )
                b.cover(
                    f"{side}_lower_arm",
                    f"top:{side}_lower_arm",
                    "Upper_Clothing",
                    "top",
                    0.008,
                    [_across(El, Wr, 0.94)],
                )

    # An open jacket (Apparel): back half, two front panels, long sleeves.
    if app.jacket:
        hem = _keep_above(hip_y - 0.03 * sc)
        gap = 0.022 * sc
        back = _keep_side((0.0, 0.0, 1.0), _vec(0, 0, 0.003))  # overlaps the front panels
        front = _keep_side((0.0, 0.0, -1.0), _vec(0, 0, 0.0))
        collar = _keep_below(J["neck"][1] + 0.0 * sc)
        for src in ("torso", "belly", "pelvis", "left_glute", "right_glute"):
            extra = [collar] if src == "torso" else [hem]
            b.cover(src, f"jacket:{src}:back", "Apparel", "jacket", 0.022, [back, *extra])
            for side, sg in sides:
                opening = _keep_side((-sg, 0.0, 0.0), _vec(sg * gap, 0, 0))
                # A V-neck: each panel's upper edge rises from the opening to the shoulder.
                lapel = _keep_side(
                    (-sg * 2.0, 1.0, 0.3), J["spine2"] + _vec(sg * gap, 0.03, 0) * sc
                )
                cuts = [front, opening, lapel if src == "torso" else hem]
                b.cover(src, f"jacket:{src}:{side}", "Apparel", "jacket", 0.022, cuts)
        for side, sg in sides:
            El, Wr = J[f"{side}_elbow"], J[f"{side}_wrist"]
            inner = _keep_side((-sg, 0.0, 0.0), _vec(sg * 0.03, 0, 0) * sc)
            b.cover(
                f"{side}_shoulder_top",
                f"jacket:{side}_shoulder_top",
                "Apparel",
                "jacket",
                0.018,
                [inner],
            )
            b.cover(f"{side}_deltoid", f"jacket:{side}_deltoid", "Apparel", "jacket", 0.018)
            b.cover(f"{side}_upper_arm", f"jacket:{side}_upper_arm", "Apparel", "jacket", 0.019)
            b.cover(
                f"{side}_lower_arm",
                f"jacket:{side}_lower_arm",
                "Apparel",
                "jacket",
                0.017,
                [_across(El, Wr, 0.9)],
            )

    _hair(b, J, app, sc)


def _hair(b: _Builder, J: dict, app: Appearance, sc: torch.Tensor) -> None:
    if app.hair == "bald":
        return
    H = J["head"]
    hs = b.specs["cranium"].scale[1] / 0.06  # head size factor incl. overall scale
    hairline = _keep_side((0.0, -1.0, 0.565), H + hs * _vec(0, 0.0268, 0.0))
    thick = {"buzz": 0.003, "short": 0.008}.get(app.hair, 0.01)
    b.cover("cranium", "hair:cap", "Hair", "hair", thick * sc, [hairline])
    if app.hair in ("bob", "long"):
        low = -0.045 if app.hair == "bob" else -0.17
        b.cone(
            "hair:volume",
            "head",
            "Hair",
            "hair",
            H + hs * _vec(0, low + 0.01, -0.02 if app.hair == "long" else -0.012),
            H + hs * _vec(0, 0.033, -0.008),
            hs * 0.054,
            hs * 0.062,
            ez=1.1,
        )
        b.specs["hair:volume"].planes = [
            _keep_side((0.0, 0.0, 1.0), H + hs * _vec(0, 0, 0.018)),
            _keep_above(H[1] + hs * low),
        ]
    elif app.hair == "ponytail":
        b.cone(
            "hair:ponytail",
            "head",
            "Hair",
            "hair",
            H + hs * _vec(0, 0.045, -0.062),
            H + hs * _vec(0, -0.09, -0.085),
            0.018 * hs,
            0.009 * hs,
        )
    elif app.hair == "bun":
        b.ellipsoid(
            "hair:bun",
            "head",
            "Hair",
            "hair",
            H + hs * _vec(0, 0.075, -0.055),
            hs * _vec(0.03, 0.028, 0.03),
        )


def build_primitives(params: BodyParams, appearance: Appearance) -> Primitives:
    """The posed, dressed primitives of a body (differentiable in shape, pose, transl)."""
    specs, rest = _rest_specs(params.shape, appearance)
    rots, posed = forward_kinematics(params.pose, rest)
    posed = posed + params.transl
    bone = torch.tensor([sp.bone for sp in specs], dtype=torch.int64)
    A_rest = torch.stack([sp.frame * sp.scale[None, :] for sp in specs])  # (P, 3, 3)
    c_rest = torch.stack([sp.origin for sp in specs])
    planes = torch.zeros(len(specs), MAX_PLANES, 4)
    planes[:, :, 3] = 1.0
    rows = []
    for i, sp in enumerate(specs):
        if len(sp.planes) > MAX_PLANES:
            raise ValueError(f"primitive {sp.name} has more than {MAX_PLANES} cutting planes")
        for k, (n, d) in enumerate(sp.planes):
            # n . (A x + c) <= d  <=>  (A^T n) . x <= d - n . c   (then normalised)
            nl = A_rest[i].T @ n
            dl = d - n @ c_rest[i]
            norm = nl.norm()
            rows.append((i, k, torch.cat([nl / norm, (dl / norm)[None]])))
    if rows:
        idx_i = torch.tensor([r[0] for r in rows])
        idx_k = torch.tensor([r[1] for r in rows])
        planes = planes.index_put((idx_i, idx_k), torch.stack([r[2] for r in rows]))
    R = rots[bone]  # (P, 3, 3)
    to_world = R @ A_rest
    origin = (R @ (c_rest - rest[bone])[:, :, None])[:, :, 0] + posed[bone]
    tex_rot = R.transpose(1, 2)
    tex_off = rest[bone] - (tex_rot @ posed[bone][:, :, None])[:, :, 0]
    return Primitives(
        origin=origin,
        to_world=to_world,
        to_local=torch.linalg.inv(to_world),
        length=torch.stack([sp.length for sp in specs]).float(),
        r0=torch.stack([torch.as_tensor(sp.r0) for sp in specs]).float(),
        r1=torch.stack([torch.as_tensor(sp.r1) for sp in specs]).float(),
        planes=planes,
        part=torch.tensor([sp.part for sp in specs], dtype=torch.int64),
        material=torch.tensor([sp.material for sp in specs], dtype=torch.int64),
        bone=bone,
        tex_rot=tex_rot,
        tex_off=tex_off,
        names=[sp.name for sp in specs],
        materials=MaterialTable.of(appearance),
    )


def centred(params: BodyParams, appearance: Appearance) -> BodyParams:
    """A copy of ``params`` whose translation puts the dressed body's vertical extent
    (bounding box of its primitives) centred on y = 0; x and z are left as they are."""
    with torch.no_grad():
        box = build_primitives(params, appearance).world_aabb()
        mid = float(box[:, 0, 1].min() + box[:, 1, 1].max()) / 2
    transl = params.transl.detach().clone()
    transl[1] -= mid
    return BodyParams(params.shape.detach().clone(), params.pose.detach().clone(), transl)


# ----------------------------------------------------------------------------------------
# Sampling the outermost surface


@dataclass
class SurfaceSamples:
    """Points on the outermost surface of a dressed body (model frame).

    Attributes:
        points: (N, 3) positions (differentiable in the body parameters).
        normals: (N, 3) unit outward normals.
        part: (N,) int64 Sapiens class of the primitive each point lies on.
        rgb: (N, 3) albedo in [0, 1] from the appearance's textures.
        area: (N,) surface area each sample stands for (model units squared); they sum to
            the visible surface area.
    """

    points: torch.Tensor
    normals: torch.Tensor
    part: torch.Tensor
    rgb: torch.Tensor
    area: torch.Tensor

    def __len__(self) -> int:
        return self.points.shape[0]


def _unit_vectors(m: int, gen: torch.Generator) -> torch.Tensor:
    v = torch.randn(m, 3, generator=gen)
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _candidates(
    prims: Primitives, total: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Proposal points on every primitive's boundary, in local coordinates.

    Each primitive's boundary is covered by proposals on its two end spheres, its lateral
    cone and its cutting planes (a square around the solid); proposals off the boundary are
    dropped. Returns prim (M,), local points (M, 3), local normals (M, 3) and the local
    area each proposal stands for (M,).
    """
    P = len(prims)
    L, r0, r1 = prims.length.detach(), prims.r0.detach(), prims.r1.detach()
    is_cone = L > 1e-9
    safe_L = torch.where(is_cone, L, torch.ones_like(L))
    sin_a = torch.where(is_cone, (r0 - r1) / safe_L, torch.zeros_like(L))
    cos_a = torch.sqrt((1 - sin_a**2).clamp_min(0))
    ya, yb = r0 * sin_a, L + r1 * sin_a
    ra, rb = r0 * cos_a, r1 * cos_a
    lateral = torch.where(is_cone, math.pi * (ra + rb) * torch.hypot(yb - ya, rb - ra), 0 * L)
    half = L / 2 + torch.maximum(r0, r1)  # half-size of a square that covers any cut
    active = prims.planes[:, :, :3].detach().norm(dim=-1) > 0.5  # (P, K)
    areas = torch.cat(
        [
            (4 * math.pi * r0**2)[:, None],
            torch.where(is_cone, 4 * math.pi * r1**2, 0 * L)[:, None],
            lateral[:, None],
            torch.where(active, (2 * half[:, None]) ** 2, torch.zeros_like(active, dtype=L.dtype)),
        ],
        dim=1,
    )  # (P, 3 + K) local proposal areas
    s = prims.to_world.detach().norm(dim=1)  # (P, 3) scale of each local axis
    world_factor = (s[:, 0] * s[:, 1] + s[:, 1] * s[:, 2] + s[:, 0] * s[:, 2]) / 3
    w = areas * world_factor[:, None]
    counts = torch.round(w / w.sum() * total).long().clamp_min(0)
    counts = torch.where(areas > 0, counts.clamp_min(8), counts)
    prim_of = torch.arange(P)[:, None].expand_as(counts)
    comp_of = torch.arange(counts.shape[1])[None, :].expand_as(counts)
    prim = torch.repeat_interleave(prim_of.reshape(-1), counts.reshape(-1))
    comp = torch.repeat_interleave(comp_of.reshape(-1), counts.reshape(-1))
    area = torch.repeat_interleave((areas / counts.clamp_min(1)).reshape(-1), counts.reshape(-1))
    M = prim.shape[0]
    pts = torch.zeros(M, 3)
    nrm = torch.zeros(M, 3)
    # End spheres.
    for c, centre_y, radius in ((0, 0 * L, r0), (1, L, r1)):
        sel = comp == c
        u = _unit_vectors(int(sel.sum()), gen)
        nrm[sel] = u
        pts[sel] = (
            u * radius[prim[sel], None]
            + torch.stack([0 * centre_y, centre_y, 0 * centre_y], -1)[prim[sel]]
        )
    # Lateral cone: radius linear in t, so t ~ inverse CDF of a linear density.
    sel = comp == 2
    pi = prim[sel]
    u = torch.rand(pi.shape[0], generator=gen)
    phi = torch.rand(pi.shape[0], generator=gen) * 2 * math.pi
    a_, b_ = ra[pi], rb[pi]
    diff = b_ - a_
    t = torch.where(
        diff.abs() > 1e-9,
        (torch.sqrt(a_**2 + u * (b_**2 - a_**2)) - a_) / torch.where(diff.abs() > 1e-9, diff, 1.0),
        u,
    )
    rho = a_ + t * diff
    y = ya[pi] + t * (yb[pi] - ya[pi])
    pts[sel] = torch.stack([rho * torch.cos(phi), y, rho * torch.sin(phi)], -1)
    nrm[sel] = torch.stack(
        [cos_a[pi] * torch.cos(phi), sin_a[pi].expand_as(phi), cos_a[pi] * torch.sin(phi)], -1
    )
    # Cutting planes: a square around the projection of the axis midpoint onto the plane.
    planes = prims.planes.detach()
    for k in range(planes.shape[1]):
        sel = comp == 3 + k
        pi = prim[sel]
        if pi.numel() == 0:
            continue
        n, d = planes[pi, k, :3], planes[pi, k, 3]
        mid = torch.stack([0 * L[pi], L[pi] / 2, 0 * L[pi]], -1)
        centre = mid - ((n * mid).sum(-1) - d)[:, None] * n
        helper = torch.where(
            n[:, :1].abs() < 0.9, torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 1.0, 0]])
        )
        e1 = torch.nn.functional.normalize(torch.linalg.cross(n, helper, dim=-1), dim=-1)
        e2 = torch.linalg.cross(n, e1, dim=-1)
        ab = (torch.rand(pi.shape[0], 2, generator=gen) * 2 - 1) * half[pi, None]
        pts[sel] = centre + ab[:, :1] * e1 + ab[:, 1:] * e2
        nrm[sel] = n
    # Keep proposals on the boundary of their own (cut) solid.
    sdf = round_cone_sdf(pts, L[prim], r0[prim], r1[prim])
    side = (planes[prim, :, :3] * pts[:, None, :]).sum(-1) - planes[prim, :, 3]  # (M, K)
    on_cap = comp >= 3
    k_cap = (comp - 3).clamp_min(0)
    own = torch.nn.functional.one_hot(k_cap, planes.shape[1]).bool() & on_cap[:, None]
    inside_planes = ((side <= 1e-6) | own).all(-1)
    keep = inside_planes & torch.where(on_cap, sdf < 0, sdf > -1e-5)
    return prim[keep], pts[keep], nrm[keep], area[keep]


def _occluded(prims: Primitives, p: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """(M,) bool: world points (M, 3) lie strictly inside a primitive other than their own.

    Each point is only tested against primitives whose bounding box overlaps its owner's and
    contains the point."""
    aabb = prims.world_aabb().detach()
    lo, hi = aabb[:, 0], aabb[:, 1]
    overlap = ((lo[:, None] <= hi[None]) & (hi[:, None] >= lo[None])).all(-1)  # (P, P)
    overlap.fill_diagonal_(False)
    out = torch.zeros(p.shape[0], dtype=torch.bool)
    order = torch.argsort(owner, stable=True)
    bounds = [0, *torch.cumsum(torch.bincount(owner, minlength=len(prims)), 0).tolist()]
    for i in range(len(prims)):
        idx = order[bounds[i] : bounds[i + 1]]
        others = overlap[i].nonzero()[:, 0]
        if idx.numel() == 0 or others.numel() == 0:
            continue
        q = p[idx]
        inbox = ((q[:, None, :] >= lo[others]) & (q[:, None, :] <= hi[others])).all(-1)
        pt, pj = inbox.nonzero(as_tuple=True)
        hit = prims.inside(q[pt], others[pj], margin=1e-5)
        out[idx[pt[hit]]] = True
    return out


def sample_surface(
    params: BodyParams, appearance: Appearance, n: int, seed: int = 0
) -> SurfaceSamples:
    """``n`` points spread uniformly (by area) over the outermost surface of the dressed body.

    Deterministic for a given ``seed``. Points are differentiable in ``params`` (each is a
    fixed local point of its primitive); labels, colours and areas are not.
    """
    if n <= 0:
        raise ValueError(f"the number of surface samples must be positive, got {n}")
    prims = build_primitives(params, appearance)
    gen = torch.Generator().manual_seed(int(seed))
    det_world = torch.linalg.det(prims.to_world.detach()).abs()
    # Proposals come in batches, each covering the whole surface; after the first batch the
    # acceptance rate tells how many more are needed.
    batch = 4 * n
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    have, proposed, area_sum, cap = 0, 0, 0.0, None
    for _ in range(8):
        prim, local, nrm_l, area_l = _candidates(prims, batch, gen)
        with torch.no_grad():
            world = (prims.to_world[prim] @ local[:, :, None])[:, :, 0] + prims.origin[prim]
            # Area element of the affine map: |det A| |A^-T n|.
            nw = (prims.to_local[prim].transpose(1, 2) @ nrm_l[:, :, None])[:, :, 0]
            area = area_l * det_world[prim] * nw.norm(dim=-1)
            visible = ~_occluded(prims, world, prim)
        if not bool(visible.any()):
            raise RuntimeError("the body has no visible surface")
        area_sum += float(area[visible].sum()) * batch  # each batch estimates the total area
        proposed += batch
        # Thin to uniform density (capped at a high quantile so that a few large proposals do
        # not starve the rest).
        if cap is None:
            cap = torch.quantile(area[visible], 0.95)
        accept = visible & (torch.rand(area.shape[0], generator=gen) * cap < area)
        kept.append((prim[accept], local[accept], nrm_l[accept]))
        have += int(accept.sum())
        if have >= n:
            break
        rate = max(have, 1) / proposed
        batch = int((n - have) / rate * 1.2) + 64
    else:
        raise RuntimeError("could not place enough surface samples on the body")
    total_area = area_sum / proposed
    prim, local, nrm_l = (torch.cat(x) for x in zip(*kept, strict=True))
    idx = torch.randperm(prim.shape[0], generator=gen)[:n].sort().values
    pi, ql = prim[idx], local[idx]
    points = (prims.to_world[pi] @ ql[:, :, None])[:, :, 0] + prims.origin[pi]
    normals = torch.nn.functional.normalize(
        (prims.to_local[pi].transpose(1, 2) @ nrm_l[idx][:, :, None])[:, :, 0], dim=-1
    )
    p_rest = (prims.tex_rot[pi] @ points.detach()[:, :, None])[:, :, 0] + prims.tex_off[pi]
    rgb = albedo(prims.materials, prims.material[pi], p_rest.detach())
    return SurfaceSamples(
        points=points,
        normals=normals,
        part=prims.part[pi],
        rgb=rgb,
        area=torch.full((n,), float(total_area) / n),
    )
