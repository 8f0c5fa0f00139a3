"""Sleeves and hems from the photo's colours (``part_evidence.py``)."""

from __future__ import annotations

import numpy as np

from humancrafter.body.skeleton import JOINT_IDS
from humancrafter.outfit import skin_like
from humancrafter.part_evidence import BINS, relabel_limbs
from humancrafter.portable.parts import PART_IDS

SKIN = np.array([0.85, 0.62, 0.5])
SHIRT = np.array([0.1, 0.2, 0.7])


def arm(n_per_band: int = 20):
    """A left forearm labelled Upper_Clothing (a long sleeve by the prior), its samples
    spread along the bone, every other one seen; the photo shows skin in the lower half."""
    along = np.repeat((np.arange(BINS) + 0.5) / BINS, n_per_band)
    n = len(along)
    part = np.full(n, PART_IDS["Upper_Clothing"])
    bone = np.full(n, JOINT_IDS["left_elbow"])
    seen = np.arange(n) % 2 == 0
    rgb = np.where((along > 0.5)[:, None], SKIN, SHIRT)
    return part, bone, along, seen, rgb


def test_a_sleeve_ends_where_the_photo_shows_skin_front_and_back():
    part, bone, along, seen, rgb = arm()
    out = relabel_limbs(part, bone, along, seen, rgb, lambda c: skin_like(c, SKIN))
    bare = out == PART_IDS["Left_Lower_Arm"]
    assert (bare == (along > 0.5)).all()  # seen or not: the back of a bare arm is bare
    assert (out[~bare] == PART_IDS["Upper_Clothing"]).all()


def test_a_bare_arm_in_a_sleeve_becomes_clothing_and_other_parts_stay():
    part, bone, along, seen, rgb = arm()
    part[:] = PART_IDS["Left_Lower_Arm"]
    rgb[:] = SHIRT
    part, bone = np.append(part, [PART_IDS["Left_Hand"]] * 5), np.append(bone, bone[:5])
    along, seen = np.append(along, along[:5]), np.append(seen, [True] * 5)
    rgb = np.concatenate([rgb, rgb[:5]])
    hand = part == PART_IDS["Left_Hand"]
    out = relabel_limbs(part, bone, along, seen, rgb, lambda c: skin_like(c, SKIN))
    assert (out[~hand] == PART_IDS["Upper_Clothing"]).all()
    assert (out[hand] == PART_IDS["Left_Hand"]).all()


def test_unseen_or_unclear_bands_keep_the_prior_label():
    part, bone, along, seen, rgb = arm()
    seen[:] = False
    out = relabel_limbs(part, bone, along, seen, rgb, lambda c: skin_like(c, SKIN))
    assert np.array_equal(out, part)
    part, bone, along, seen, rgb = arm()
    rgb[::4] = SKIN  # half the seen samples of every band look like skin
    rgb[2::4] = SHIRT
    out = relabel_limbs(part, bone, along, seen, rgb, lambda c: skin_like(c, SKIN))
    assert np.array_equal(out, part)


def test_a_skin_coloured_top_leaves_the_arms_alone():
    part, bone, along, seen, rgb = arm()
    chest = 40
    part = np.concatenate([part, np.full(chest, PART_IDS["Upper_Clothing"])])
    bone = np.concatenate([bone, np.full(chest, JOINT_IDS["spine2"])])
    along = np.concatenate([along, np.full(chest, 0.5)])
    seen = np.concatenate([seen, np.ones(chest, bool)])
    rgb = np.concatenate([rgb, np.tile(SKIN, (chest, 1))])  # a beige jumper
    out = relabel_limbs(part, bone, along, seen, rgb, lambda c: skin_like(c, SKIN))
    assert np.array_equal(out, part)
