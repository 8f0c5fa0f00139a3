"""What the mannequin wears: socks, shoes, bottoms, tops, an open jacket and hair, as covers
over the skin of :mod:`.anatomy` (see :meth:`.builder.Builder.cover`), chosen by an
:class:`~.appearance.Appearance`.

A cover is named ``<layer>:<skin primitive>`` and inflates that primitive by an offset
(model units; a later layer lies further out), cut by half-spaces where the garment ends.
The order of the layers matters: a cover hides the covers under it that it contains.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .anatomy import SIDES, Proportions
from .appearance import Appearance
from .builder import Builder, Plane, across, keep_above, keep_below, keep_side, vec


@dataclass
class _Layer:
    """Covers of one garment: material ``mat`` (also the name prefix), Sapiens ``part``."""

    b: Builder
    mat: str
    part: str

    def cover(self, src: str, offset, planes=(), hide=False, name: str | None = None) -> None:
        name = name or f"{self.mat}:{src}"
        self.b.cover(src, name, self.part, self.mat, offset, planes, hide)


def dress(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions) -> None:
    """Add the sock, shoe, bottom, top, jacket and hair covers of ``app``, in that order."""
    _socks_and_shoes(b, J, app, p)
    _bottom(b, J, app, p)
    _top(b, J, app, p)
    if app.jacket:
        _jacket(b, J, p)
    _hair(b, J, app, p)


def _socks_and_shoes(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions):
    sc = p.scale
    if app.socks != "none":
        for side, _ in SIDES:
            An, Kn = J[f"{side}_ankle"], J[f"{side}_knee"]
            top = {"ankle": An[1] + 0.03 * sc, "crew": An[1] + 0.1 * sc, "knee": Kn[1] - 0.035 * sc}
            cut = keep_below(top[app.socks])
            sock = _Layer(b, "sock", f"{side.capitalize()}_Sock")
            sock.cover(f"{side}_foot", 0.003)
            sock.cover(f"{side}_toes", 0.003)
            sock.cover(f"{side}_shin", 0.003, [cut])
            sock.cover(f"{side}_calf", 0.003, [cut])
    if app.shoes != "none":
        for side, _ in SIDES:
            An = J[f"{side}_ankle"]
            shoe = _Layer(b, "shoe", f"{side.capitalize()}_Shoe")
            src = "sock:" if app.socks != "none" else ""
            foot, toes = f"{side}_foot", f"{side}_toes"
            instep = [keep_below(An[1] + 0.004 * sc)]
            shoe.cover(src + foot, 0.009, instep, hide=True, name=f"shoe:{foot}")
            shoe.cover(src + toes, 0.009, name=f"shoe:{toes}")
            top = An[1] + (0.14 if app.shoes == "boots" else 0.012) * sc
            shoe.cover(f"{side}_shin", 0.012, [keep_below(top)])
            if app.shoes == "boots":
                shoe.cover(f"{side}_calf", 0.012, [keep_below(top)])


def _bottom(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions) -> None:
    sc = p.scale
    hip_y = J["left_hip"][1]
    waist_y = J["pelvis"][1] + 0.05 * sc
    waist = keep_below(waist_y)
    bottom = _Layer(b, "bottom", "Lower_Clothing")
    bottom.cover("pelvis", 0.008, [waist])
    for src in ("left_glute", "right_glute"):
        bottom.cover(src, 0.008)
    bottom.cover("belly", 0.008, [waist])
    if app.bottom == "skirt":
        length = app.bottom_length * (hip_y - J["left_ankle"][1])
        r_top = 0.108 * (J["left_hip"][0] / 0.052) * sc
        r_bot = r_top + (0.03 + 0.09 * app.bottom_length) * sc
        bottom_y = hip_y - length
        b.cone(
            "skirt", "pelvis", "Lower_Clothing", "bottom",
            vec(0, waist_y + 0.02, -0.01), vec(0, bottom_y - 0.05, -0.01), r_top, r_bot, ez=0.8,
        )  # fmt: skip
        b.specs["skirt"].planes = [waist, keep_above(bottom_y)]
        return
    for side, _ in SIDES:
        Hp, Kn, An = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
        if app.bottom == "shorts":
            bottom.cover(f"{side}_thigh", 0.009, [across(Hp, Kn, app.bottom_length)])
        else:
            hem = across(Kn, An, 0.93)
            bottom.cover(f"{side}_thigh", 0.01)
            for src in ("shin", "calf"):
                bottom.cover(f"{side}_{src}", 0.014, [hem])


def _top(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions) -> None:
    if app.top == "none":
        return
    sc = p.scale
    hip_y = J["left_hip"][1]
    neckline = keep_side((0.0, 1.0, 0.6), J["spine3"] + vec(0, 0.085, 0.0) * sc)
    hem = keep_above(hip_y + app.hem * sc)
    top = _Layer(b, "top", "Upper_Clothing")
    top.cover("torso", 0.008, [neckline, hem])
    top.cover("belly", 0.01, [hem])
    for src in ("pelvis", "left_glute", "right_glute"):
        top.cover(src, 0.012, [hem])
    for side, sg in SIDES:
        Sh, El, Wr = J[f"{side}_shoulder"], J[f"{side}_elbow"], J[f"{side}_wrist"]
        collar = keep_side((-sg, 0.0, 0.0), vec(sg * 0.032, 0, 0) * sc)
        if app.top == "tank":
            strap = keep_side((sg, 0.0, 0.0), vec(sg * 0.068, 0, 0))
            top.cover(f"{side}_shoulder_top", 0.006, [collar, strap])
            continue
        top.cover(f"{side}_shoulder_top", 0.008, [collar])
        if app.top == "tshirt":
            sleeve = [across(Sh, El, app.sleeve)]
            top.cover(f"{side}_deltoid", 0.008, sleeve)
            top.cover(f"{side}_upper_arm", 0.011, sleeve)
        else:
            top.cover(f"{side}_deltoid", 0.008)
            top.cover(f"{side}_upper_arm", 0.009)
            top.cover(f"{side}_lower_arm", 0.008, [across(El, Wr, 0.94)])


def _jacket(b: Builder, J: dict[str, torch.Tensor], p: Proportions) -> None:
    """An open jacket (Apparel): back half, two front panels, long sleeves."""
    sc = p.scale
    hem = keep_above(J["left_hip"][1] - 0.03 * sc)
    gap = 0.022 * sc
    back = keep_side((0.0, 0.0, 1.0), vec(0, 0, 0.003))  # overlaps the front panels
    front = keep_side((0.0, 0.0, -1.0), vec(0, 0, 0.0))
    collar = keep_below(J["neck"][1] + 0.0 * sc)
    jacket = _Layer(b, "jacket", "Apparel")
    for src in ("torso", "belly", "pelvis", "left_glute", "right_glute"):
        extra: list[Plane] = [collar] if src == "torso" else [hem]
        jacket.cover(src, 0.022, [back, *extra], name=f"jacket:{src}:back")
        for side, sg in SIDES:
            opening = keep_side((-sg, 0.0, 0.0), vec(sg * gap, 0, 0))
            # A V-neck: each panel's upper edge rises from the opening to the shoulder.
            lapel = keep_side((-sg * 2.0, 1.0, 0.3), J["spine2"] + vec(sg * gap, 0.03, 0) * sc)
            cuts = [front, opening, lapel if src == "torso" else hem]
            jacket.cover(src, 0.022, cuts, name=f"jacket:{src}:{side}")
    for side, sg in SIDES:
        El, Wr = J[f"{side}_elbow"], J[f"{side}_wrist"]
        inner = keep_side((-sg, 0.0, 0.0), vec(sg * 0.03, 0, 0) * sc)
        jacket.cover(f"{side}_shoulder_top", 0.018, [inner])
        jacket.cover(f"{side}_deltoid", 0.018)
        jacket.cover(f"{side}_upper_arm", 0.019)
        jacket.cover(f"{side}_lower_arm", 0.017, [across(El, Wr, 0.9)])


HAIR_THICKNESS = {"buzz": 0.003, "short": 0.008}
"""Thickness of the hair cap over the cranium per style (others: 0.01), x the body scale."""


def _hair(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions) -> None:
    if app.hair == "bald":
        return
    sc = p.scale
    H = J["head"]
    hs = b.specs["cranium"].scale[1] / 0.06  # head size factor incl. overall scale
    hairline = keep_side((0.0, -1.0, 0.565), H + hs * vec(0, 0.0268, 0.0))
    thick = HAIR_THICKNESS.get(app.hair, 0.01)
    b.cover("cranium", "hair:cap", "Hair", "hair", thick * sc, [hairline])
    if app.hair in ("bob", "long"):
        low = -0.045 if app.hair == "bob" else -0.17
        b.cone(
            "hair:volume", "head", "Hair", "hair",
            H + hs * vec(0, low + 0.01, -0.02 if app.hair == "long" else -0.012),
            H + hs * vec(0, 0.033, -0.008), hs * 0.054, hs * 0.062, ez=1.1,
        )  # fmt: skip
        b.specs["hair:volume"].planes = [
            keep_side((0.0, 0.0, 1.0), H + hs * vec(0, 0, 0.018)),
            keep_above(H[1] + hs * low),
        ]
    elif app.hair == "ponytail":
        b.cone(
            "hair:ponytail", "head", "Hair", "hair",
            H + hs * vec(0, 0.045, -0.062), H + hs * vec(0, -0.09, -0.085), 0.018 * hs, 0.009 * hs,
        )  # fmt: skip
    elif app.hair == "bun":
        b.ellipsoid(
            "hair:bun", "head", "Hair", "hair",
            H + hs * vec(0, 0.075, -0.055), hs * vec(0.03, 0.028, 0.03),
        )  # fmt: skip
