"""What the mannequin wears and carries: socks, shoes, bottoms, tops, an open jacket or long
coat, hair, hats, and a bag or object in the hand, mostly as covers over the skin of
:mod:`.anatomy` (see :meth:`.builder.Builder.cover`), chosen by an
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
from .builder import Builder, Plane, across, frame_along, keep_above, keep_below, keep_side, vec


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
    """Add the sock, shoe, bottom, top, jacket (or coat), hair, hat and carried things of
    ``app``, in that order."""
    _socks_and_shoes(b, J, app, p)
    _bottom(b, J, app, p)
    _top(b, J, app, p)
    if app.jacket:
        _jacket(b, J, p)
        if app.coat > 0:
            _coat_skirt(b, J, app, p)
    _hair(b, J, app, p)
    _hat(b, J, app, p)
    _held(b, J, app, p)


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
    if "bump" in b.specs:
        bottom.cover("bump", 0.008, [waist])
    if app.bottom == "skirt":
        length = app.bottom_length * (hip_y - J["left_ankle"][1])
        r_top = 0.108 * (J["left_hip"][0] / 0.052) * sc
        r_bot = r_top + (0.03 + 0.09 * app.bottom_length) * sc
        bottom_y = hip_y - length
        b.cone(
            "skirt", "pelvis", "Lower_Clothing", "bottom",
            vec(0, waist_y + 0.02, -0.01), vec(0, bottom_y - 0.05, -0.01), r_top, r_bot, ez=0.8,
            planes=[waist, keep_above(bottom_y)],
        )  # fmt: skip
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
    if "bump" in b.specs:
        top.cover("bump", 0.01, [hem])
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
    skin = ("torso", "belly", "bump", "pelvis", "left_glute", "right_glute")
    for src in (s for s in skin if s in b.specs):
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


COAT_FLARE = (0.02, 0.04)
"""A long coat's hem is wider than its top by ``a + b * coat`` (x the body scale): it
flares a little (at 0.05 + 0.12 * coat its hem was half again as wide as the shoulders, and
dressing the real photos' coats so made their side views 0.08-0.11 IoU worse)."""
COAT_DEPTH = 0.6
"""Depth of a long coat's skirt as a share of its width (from the side a coat is about as
deep as the hips)."""


def _coat_skirt(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions):
    """The part of a long coat below the hips (Apparel): a flared cone around both legs from
    the hips to ``app.coat`` of the way to the ankles, open at the front."""
    sc = p.scale
    hip_y = J["left_hip"][1]
    waist_y = J["pelvis"][1] + 0.05 * sc
    bottom_y = hip_y - app.coat * (hip_y - J["left_ankle"][1])
    # wider and more flared than any skirt (see _bottom), so a skirt stays inside
    r_top = 0.115 * (J["left_hip"][0] / 0.052) * sc
    r_bot = r_top + (COAT_FLARE[0] + COAT_FLARE[1] * app.coat) * sc
    a, e = vec(0, waist_y + 0.01, -0.012), vec(0, bottom_y - 0.05, -0.012)
    hem = keep_above(bottom_y)
    for name, planes in (
        ("back", [hem, keep_side((0.0, 0.0, 1.0), vec(0, 0, 0.003))]),
        *(
            (side, [hem, keep_side((0.0, 0.0, -1.0), vec(0, 0, 0.0)),
                    keep_side((-sg, 0.0, 0.0), vec(sg * 0.018 * sc, 0, 0))])
            for side, sg in SIDES
        ),
    ):  # fmt: skip
        b.cone(f"jacket:coat:{name}", "pelvis", "Apparel", "jacket", a, e, r_top, r_bot,
               ez=COAT_DEPTH, planes=planes)  # fmt: skip


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
            planes=[keep_side((0.0, 0.0, 1.0), H + hs * vec(0, 0, 0.018)),
                    keep_above(H[1] + hs * low)],
        )  # fmt: skip
    elif app.hair == "ponytail":
        b.cone(
            "hair:ponytail", "head", "Hair", "hair",
            H + hs * vec(0, 0.045, -0.062), H + hs * vec(0, -0.09, -0.085), 0.018 * hs, 0.009 * hs,
        )  # fmt: skip
    elif app.hair == "afro":  # a big rounded volume, open over the face
        b.ellipsoid(
            "hair:afro", "head", "Hair", "hair",
            H + hs * vec(0, 0.045, -0.018), hs * vec(0.085, 0.078, 0.08),
            planes=[keep_side((0.0, -0.55, 0.85), H + hs * vec(0, 0.03, 0.02))],
        )  # fmt: skip
    elif app.hair == "bun":
        b.ellipsoid(
            "hair:bun", "head", "Hair", "hair",
            H + hs * vec(0, 0.075, -0.055), hs * vec(0.03, 0.028, 0.03),
        )  # fmt: skip


def _hat(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions) -> None:
    """A cap, beanie or brimmed hat (Apparel) over the cranium and hair."""
    if app.hat == "none":
        return
    H = J["head"]
    hs = b.specs["cranium"].scale[1] / 0.06
    volume = 0.028 if app.hair == "afro" else 0.0  # a hat sits on top of a big afro
    band = keep_side((0.0, -1.0, 0.25 if app.hat == "cap" else 0.45), H + hs * vec(0, 0.04, 0))
    offset = (0.014 + volume) * hs
    b.cover("cranium", "hat:crown", "Apparel", "hat", offset, [band])
    if app.hat == "beanie":
        b.ellipsoid(
            "hat:top", "head", "Apparel", "hat",
            H + hs * vec(0, 0.06 + volume, -0.01), hs * vec(0.05 + volume, 0.045, 0.055 + volume),
        )  # fmt: skip
    elif app.hat == "cap":  # a visor in front, tipped down a little
        b.ellipsoid(
            "hat:visor", "head", "Apparel", "hat",
            H + hs * vec(0, 0.048 + volume, 0.065 + volume), hs * vec(0.048, 0.005, 0.04),
            frame_along(vec(0, 1.0, 0.25), vec(0, 0, 1.0)),
            planes=[keep_side((0.0, 0.0, -1.0), H + hs * vec(0, 0, 0.02))],
        )  # fmt: skip
    else:  # a wide brim all round
        b.ellipsoid(
            "hat:brim", "head", "Apparel", "hat",
            H + hs * vec(0, 0.04 + volume, -0.008), hs * vec(0.115, 0.006, 0.115),
        )  # fmt: skip


def _held(b: Builder, J: dict[str, torch.Tensor], app: Appearance, p: Proportions) -> None:
    """A bag or object (Apparel) in ``app.held_side``'s hand, or at that hip on a strap.

    Placed in the rest pose, where the arm points along +-x with the palm down (-y): what
    hangs from a hand lies along the arm beyond the fingers and flat in y, so it hangs at
    the side when the arm is down.
    """
    if app.held == "none":
        return
    sc = p.scale
    side = app.held_side
    sg = 1.0 if side == "left" else -1.0
    Wr = J[f"{side}_wrist"]
    if app.held == "handbag":
        b.ellipsoid(
            "held:bag", f"{side}_hand", "Apparel", "held",
            Wr + sc * vec(sg * 0.2, -0.01, 0.0), sc * vec(0.085, 0.03, 0.11),
        )  # fmt: skip
    elif app.held == "shoulder_bag":
        hip = J[f"{side}_hip"]
        b.ellipsoid(
            "held:bag", "pelvis", "Apparel", "held",
            vec(sg * (abs(float(hip[0])) + 0.1 * sc), hip[1] + 0.02 * sc, 0.01),
            sc * vec(0.03, 0.075, 0.1),
        )  # fmt: skip
    elif app.held == "bottle":  # upright in the fist (along z in the rest pose)
        b.cone(
            "held:bottle", f"{side}_hand", "Apparel", "held",
            Wr + sc * vec(sg * 0.07, -0.012, -0.07), Wr + sc * vec(sg * 0.07, -0.012, 0.1),
            0.02 * sc, 0.017 * sc, hint=(0.0, 1.0, 0.0),
        )  # fmt: skip
    else:  # a phone flat in the palm
        b.ellipsoid(
            "held:phone", f"{side}_hand", "Apparel", "held",
            Wr + sc * vec(sg * 0.075, -0.02, 0.0), sc * vec(0.04, 0.005, 0.021),
        )  # fmt: skip
