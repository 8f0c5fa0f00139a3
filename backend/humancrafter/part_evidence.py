"""Body-part labels changed on the photo's evidence: sleeves and trouser legs as long as
the photo shows them.

The outfit read off the photo (:func:`humancrafter.outfit.infer_outfit`) chooses whole
garments (a t-shirt, shorts); real sleeves and hems end anywhere. Here each arm and leg
bone is cut into :data:`BINS` bands along its length; in each band the samples the photo
sees vote, by their photo colour against the skin colour measured on the face, whether
the band is bare (the limb's own class: ``Left_Lower_Arm``, ...) or clothed
(``Upper_Clothing`` on arms, ``Lower_Clothing`` on legs). A clear vote relabels every
sample of that band between those two classes, seen or not, so the back of a sleeve is a
sleeve; an unclear or unseen band keeps the prior's label. Nothing else changes: hair,
face, shoes, socks and apparel keep their labels.

A garment the colour of skin is the known trap: when the torso's own clothing looks
like skin, the arms are left alone, and when the pelvis's clothing does, the legs are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .body.skeleton import JOINT_IDS
from .portable.parts import PART_IDS

BINS = 6
"""Bands along each limb bone."""
MIN_SEEN = 8
"""A band votes only with at least this many seen samples."""
BARE_SHARE, CLOTHED_SHARE = 0.65, 0.35
"""A band is bare above this share of skin-coloured samples, clothed below the other."""

_LIMBS: dict[str, tuple[str, str]] = {
    "left_shoulder": ("Left_Upper_Arm", "Upper_Clothing"),
    "left_elbow": ("Left_Lower_Arm", "Upper_Clothing"),
    "right_shoulder": ("Right_Upper_Arm", "Upper_Clothing"),
    "right_elbow": ("Right_Lower_Arm", "Upper_Clothing"),
    "left_hip": ("Left_Upper_Leg", "Lower_Clothing"),
    "left_knee": ("Left_Lower_Leg", "Lower_Clothing"),
    "right_hip": ("Right_Upper_Leg", "Lower_Clothing"),
    "right_knee": ("Right_Lower_Leg", "Lower_Clothing"),
}
"""Bone -> (its bare class, its clothing class)."""

SkinTest = Callable[[np.ndarray], np.ndarray]
"""(M, 3) RGB in [0, 1] -> (M,) bool: could be this person's skin."""


def _skin_share(sel: np.ndarray, seen: np.ndarray, is_skin: np.ndarray) -> float | None:
    s = sel & seen
    return None if s.sum() < MIN_SEEN else float(is_skin[s].mean())


def relabel_limbs(
    part: np.ndarray,
    bone: np.ndarray,
    along: np.ndarray,
    seen: np.ndarray,
    rgb: np.ndarray,
    skin: SkinTest,
) -> np.ndarray:
    """Each limb band bare or clothed as the photo shows it (see the module docstring).

    Args:
        part: (N,) int64 Sapiens ids from the body prior. bone: (N,) int64 joints.
        along: (N,) position of each sample along its bone, 0 at the joint, 1 at the tail.
        seen: (N,) bool samples the photo shows. rgb: (N, 3) their colours in [0, 1]
            (used where ``seen``).
        skin: the skin test of this person (e.g. :func:`humancrafter.outfit.skin_like`
            with the face's colour).
    Returns:
        (N,) int64 new part ids.
    """
    out = part.copy()
    is_skin = np.zeros(len(part), bool)
    is_skin[seen] = skin(rgb[seen])
    upper, lower = PART_IDS["Upper_Clothing"], PART_IDS["Lower_Clothing"]
    torso_bones = np.isin(bone, [JOINT_IDS[n] for n in ("spine1", "spine2", "spine3")])
    beige_top = _skin_share(torso_bones & (part == upper), seen, is_skin)
    beige_bottom = _skin_share((bone == JOINT_IDS["pelvis"]) & (part == lower), seen, is_skin)
    band = np.clip((along * BINS).astype(np.int64), 0, BINS - 1)
    for name, (bare_name, cloth_name) in _LIMBS.items():
        bare, cloth = PART_IDS[bare_name], PART_IDS[cloth_name]
        beige = beige_top if cloth == upper else beige_bottom
        if beige is not None and beige > 0.5:
            continue
        limb = (bone == JOINT_IDS[name]) & np.isin(part, (bare, cloth))
        for b in range(BINS):
            sel = limb & (band == b)
            share = _skin_share(sel, seen, is_skin)
            if share is None:
                continue
            if share > BARE_SHARE:
                out[sel] = bare
            elif share < CLOTHED_SHARE:
                out[sel] = cloth
    return out
