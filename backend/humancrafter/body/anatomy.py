"""The mannequin's skin: head, torso, arms and legs as primitives placed on the rest-pose
joints and sized by the shape parameters (:class:`Proportions`).

Numbers are model units (the average body is about one unit tall) in the rest pose's world
frame (y up, facing +z, the person's left = +x); a "left" row is mirrored (x negated) for
the right side. :mod:`.clothing` covers this skin.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .builder import Builder, vec

SIDES: tuple[tuple[str, float], ...] = (("left", 1.0), ("right", -1.0))
"""Each side with the sign of its x coordinates."""

Row = tuple[str, str, str, tuple[float, float, float], tuple[float, float, float]]
"""(name, Sapiens part, material, centre, radii) of an ellipsoid."""

HEAD: tuple[Row, ...] = (
    ("cranium", "Face_Neck", "skin", (0, 0.035, -0.008), (0.046, 0.06, 0.056)),
    ("face", "Face_Neck", "skin", (0, -0.005, 0.008), (0.04, 0.05, 0.046)),
    ("nose", "Face_Neck", "skin", (0, 0.012, 0.054), (0.008, 0.016, 0.011)),
    ("upper_lip", "Upper_Lip", "lips", (0, -0.0145, 0.0485), (0.0145, 0.0048, 0.0068)),
)
"""Ellipsoids of the head, centres relative to the head joint, both x the head size."""
LOWER_LIP: Row = ("lower_lip", "Lower_Lip", "lips", (0, -0.0235, 0.0475), (0.0135, 0.0055, 0.0068))
"""The lower lip (as :data:`HEAD`), lowered by :data:`MOUTH_DROP` when the mouth is open."""
MOUTH_DROP = 0.008
OPEN_MOUTH: tuple[Row, ...] = (
    ("upper_teeth", "Upper_Teeth", "teeth", (0, -0.0205, 0.0472), (0.0115, 0.0024, 0.0064)),
    ("tongue", "Tongue", "tongue", (0, -0.0245, 0.0465), (0.0095, 0.0024, 0.0064)),
    ("lower_teeth", "Lower_Teeth", "teeth", (0, -0.0283, 0.0468), (0.011, 0.0022, 0.0062)),
)
"""Teeth and tongue of an open mouth (as :data:`HEAD`), just proud of the face."""
FACE_PAIRS: tuple[Row, ...] = (
    ("eye", "Face_Neck", "eye", (0.017, 0.03, 0.041), (0.0085, 0.0075, 0.0085)),
    ("brow", "Face_Neck", "hair", (0.018, 0.043, 0.047), (0.012, 0.0028, 0.004)),
    ("ear", "Face_Neck", "skin", (0.046, 0.02, -0.006), (0.008, 0.015, 0.011)),
)
"""The left eye, brow and ear (as :data:`HEAD`); each is mirrored for the right side."""


@dataclass(frozen=True)
class Proportions:
    """Size factors of a body from its shape parameters (1 = the average body).

    Attributes:
        scale: overall size. torso_girth, limb_girth, chest_depth, head_size, hip_width:
            (0-d tensors). sole: height (y) of the soles in the rest pose.
    """

    scale: torch.Tensor
    torso_girth: torch.Tensor
    limb_girth: torch.Tensor
    chest_depth: torch.Tensor
    head_size: torch.Tensor
    hip_width: torch.Tensor
    sole: torch.Tensor

    @staticmethod
    def of(shape: torch.Tensor, rest: torch.Tensor) -> Proportions:
        """The proportions of ``shape`` (10,) whose rest joints are ``rest`` (24, 3)."""
        s = shape
        sc = 1 + 0.05 * s[0]
        return Proportions(
            scale=sc,
            torso_girth=(1 + 0.11 * s[1]) * sc,
            limb_girth=(1 + 0.06 * s[1]) * (1 + 0.09 * s[9]) * sc,
            chest_depth=1 + 0.10 * s[8],
            head_size=(1 + 0.06 * s[6]) * sc,
            hip_width=1 + 0.09 * s[5],
            sole=rest[:, 1].min() - 0.012 * sc,
        )


def add_skin(
    b: Builder, J: dict[str, torch.Tensor], p: Proportions, mouth_open: bool, belly: float = 0.0
) -> None:
    """Add the skin primitives of a body with rest joints ``J`` (name -> (3,)); ``belly``
    (0-1) adds a rounded belly ("bump", up to a pregnancy's) in front of the stomach."""
    _head(b, J, p, mouth_open)
    _torso(b, J, p)
    if belly > 0:
        sc, gt = p.scale, p.torso_girth
        b.ellipsoid(
            "bump", "spine1", "Torso", "skin",
            J["spine1"] + vec(0, -0.01, 0.035 + 0.035 * belly) * sc,
            vec(0.068 * gt, 0.075 * sc, (0.035 + 0.035 * belly) * gt),
        )  # fmt: skip
    _arms(b, J, p)
    _legs(b, J, p)


def _head(b: Builder, J: dict[str, torch.Tensor], p: Proportions, mouth_open: bool) -> None:
    H, hs = J["head"], p.head_size

    def feature(name: str, part: str, mat: str, centre, radii) -> None:
        b.ellipsoid(name, "head", part, mat, H + hs * vec(*centre), hs * vec(*radii))

    for row in HEAD:
        feature(*row)
    name, part, mat, (x, y, z), radii = LOWER_LIP
    feature(name, part, mat, (x, y - (MOUTH_DROP if mouth_open else 0.0), z), radii)
    if mouth_open:
        for row in OPEN_MOUTH:
            feature(*row)
    for side, sg in SIDES:
        for name, part, mat, (x, y, z), radii in FACE_PAIRS:
            feature(f"{side}_{name}", part, mat, (sg * x, y, z), radii)
    neck_r = 0.031 * torch.sqrt(p.torso_girth)
    neck_a, neck_b = J["neck"] + vec(0, -0.05, 0.0), H + vec(0, 0.0, -0.012)
    b.cone("neck", "neck", "Face_Neck", "skin", neck_a, neck_b, neck_r, neck_r * 0.95, ex=1.05)


def _torso(b: Builder, J: dict[str, torch.Tensor], p: Proportions) -> None:
    sc, gt, gl, cd, hw = p.scale, p.torso_girth, p.limb_girth, p.chest_depth, p.hip_width
    sw = 1 + 0.5 * (J["left_shoulder"][0] / 0.10 - 1)  # shoulder width
    b.cone(
        "torso", "spine2", "Torso", "skin",
        J["spine1"] + vec(0, -0.01, 0.0) * sc, J["spine3"] + vec(0, 0.02, -0.004) * sc,
        0.06 * cd * gt, 0.064 * cd * gt, ex=1.36 * sw, ez=1.0,
    )  # fmt: skip
    b.ellipsoid(
        "belly", "spine1", "Torso", "skin",
        J["spine1"] + vec(0, 0.015, 0.008) * sc, vec(0.07 * gt, 0.07 * sc, 0.052 * cd * gt**1.5),
    )  # fmt: skip
    hip_y = J["left_hip"][1]
    b.ellipsoid(
        "pelvis", "pelvis", "Torso", "skin",
        vec(0, hip_y + 0.03 * sc, -0.008), vec(0.087 * hw * gt, 0.075 * sc, 0.068 * gt),
    )  # fmt: skip
    for side, sg in SIDES:
        b.ellipsoid(
            f"{side}_glute", "pelvis", "Torso", "skin",
            vec(sg * 0.04 * hw, hip_y - 0.005 * sc, -0.028 * gt),
            vec(0.045 * hw * gt, 0.055 * sc, 0.047 * gt),
        )  # fmt: skip
        b.cone(
            f"{side}_shoulder_top", f"{side}_collar", "Torso", "skin",
            vec(sg * 0.025, J[f"{side}_collar"][1] + 0.005, -0.015), J[f"{side}_shoulder"],
            0.034 * gt, 0.033 * gl, hint=(0.0, 0.0, 1.0),
        )  # fmt: skip


def _arms(b: Builder, J: dict[str, torch.Tensor], p: Proportions) -> None:
    sc, gl = p.scale, p.limb_girth
    for side, sg in SIDES:
        Sh, El, Wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        S = side.capitalize()
        Up, Lo, Hand = f"{S}_Upper_Arm", f"{S}_Lower_Arm", f"{S}_Hand"
        shoulder, elbow, wrist = f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"
        b.ellipsoid(
            f"{side}_deltoid", shoulder, Up, "skin",
            Sh + vec(sg * 0.01, 0.002, 0), gl * vec(0.038, 0.034, 0.036),
        )  # fmt: skip
        b.cone(f"{side}_upper_arm", shoulder, Up, "skin", Sh, El, 0.033 * gl, 0.026 * gl)
        b.cone(f"{side}_lower_arm", elbow, Lo, "skin", El, Wr, 0.026 * gl, 0.0175 * gl, ex=0.85)
        b.ellipsoid(
            f"{side}_palm", wrist, Hand, "skin",
            Wr + sc * vec(sg * 0.035, -0.002, 0), sc * vec(0.036, 0.011, 0.026),
        )  # fmt: skip
        b.ellipsoid(
            f"{side}_fingers", f"{side}_hand", Hand, "skin",
            Wr + sc * vec(sg * 0.078, -0.004, -0.002), sc * vec(0.035, 0.0085, 0.024),
        )  # fmt: skip
        b.cone(
            f"{side}_thumb", wrist, Hand, "skin",
            Wr + sc * vec(sg * 0.012, -0.005, 0.02), Wr + sc * vec(sg * 0.05, -0.011, 0.04),
            0.009 * sc, 0.007 * sc,
        )  # fmt: skip


def _legs(b: Builder, J: dict[str, torch.Tensor], p: Proportions) -> None:
    sc, gl, hw, sole = p.scale, p.limb_girth, p.hip_width, p.sole
    for side, sg in SIDES:
        Hp, Kn, An = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
        S = side.capitalize()
        Up, Lo, Foot = f"{S}_Upper_Leg", f"{S}_Lower_Leg", f"{S}_Foot"
        b.cone(
            f"{side}_thigh", f"{side}_hip", Up, "skin",
            Hp + vec(0.0, 0.01, 0), Kn, 0.056 * gl * torch.sqrt(hw), 0.037 * gl,
        )  # fmt: skip
        b.cone(f"{side}_shin", f"{side}_knee", Lo, "skin", Kn, An, 0.036 * gl, 0.022 * gl)
        b.ellipsoid(
            f"{side}_calf", f"{side}_knee", Lo, "skin",
            Kn + vec(0, -0.075, -0.012) * sc, gl * vec(0.032, 0.07, 0.032),
        )  # fmt: skip
        b.ellipsoid(
            f"{side}_foot", f"{side}_ankle", Foot, "skin",
            vec(An[0] + sg * 0.002, sole + 0.022 * sc, An[2] + 0.045 * sc),
            sc * vec(0.03, 0.024, 0.076),
        )  # fmt: skip
        b.ellipsoid(
            f"{side}_toes", f"{side}_foot", Foot, "skin",
            J[f"{side}_foot"] + sc * vec(0, 0, 0.012), sc * vec(0.029, 0.014, 0.035),
        )  # fmt: skip
