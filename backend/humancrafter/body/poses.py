"""Plausible random poses for the mannequin: standing, walking, arms raised, crouching,
sitting-like (thighs forward, no chair), the T/A reference poses, and the hand poses of
real photos — hands on the hips or in the pockets, clasped in front, a hand at the face,
arms crossed, bending forward — placed by goal (:mod:`.reach`).

Every pose is built from a few physically meaningful angles per family, jittered, mirrored
for the right side and clamped into the joint limits of :mod:`.skeleton`. Angles follow the
signs listed in :mod:`.skeleton` (zero pose = T-pose).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .reach import ArmGoal, reach
from .skeleton import JOINT_IDS, NUM_JOINTS, clamp_to_limits

POSE_KINDS: tuple[str, ...] = (
    "standing",
    "walking",
    "arms_raised",
    "crouching",
    "sitting",
    "a_pose",
    "hands_on_hips",
    "hands_in_pockets",
    "hands_clasped",
    "hand_to_face",
    "arms_crossed",
    "bending",
)
POSE_WEIGHTS: tuple[float, ...] = (
    0.2, 0.17, 0.1, 0.06, 0.06, 0.06, 0.08, 0.06, 0.06, 0.05, 0.05, 0.05,
)  # fmt: skip
"""Sampling probability of each kind in :func:`sample_pose`."""

HAND_POSES: tuple[str, ...] = POSE_KINDS[6:]
"""The kinds whose arms are placed by goal (:func:`_hand_goals`)."""


def _set(pose: np.ndarray, side: str, joint: str, x: float, y: float = 0.0, z: float = 0.0) -> None:
    """Set a left/right joint from its LEFT-side angles (the right side mirrors y and z)."""
    if side == "left":
        pose[JOINT_IDS[f"left_{joint}"]] = (x, y, z)
    else:
        pose[JOINT_IDS[f"right_{joint}"]] = (x, -y, -z)


def _arms_down(pose: np.ndarray, rng: np.random.Generator) -> None:
    for side in ("left", "right"):
        _set(
            pose,
            side,
            "shoulder",
            rng.uniform(-0.3, 0.3),
            rng.uniform(-0.25, 0.2),
            rng.uniform(-1.4, -1.05),
        )
        _set(pose, side, "elbow", rng.uniform(-0.3, 0.3), rng.uniform(-0.6, 0.0))
        _set(pose, side, "wrist", rng.uniform(-0.3, 0.3), 0.0, rng.uniform(-0.3, 0.2))


def _legs_standing(pose: np.ndarray, rng: np.random.Generator) -> None:
    for side in ("left", "right"):
        _set(
            pose,
            side,
            "hip",
            rng.uniform(-0.15, 0.08),
            rng.uniform(-0.15, 0.15),
            rng.uniform(-0.05, 0.15),
        )
        _set(pose, side, "knee", rng.uniform(0.0, 0.15))
        _set(pose, side, "ankle", rng.uniform(-0.1, 0.1), 0.0, rng.uniform(-0.05, 0.05))


def sample_pose(rng: np.random.Generator, kind: str | None = None) -> tuple[torch.Tensor, str]:
    """A random plausible pose.

    Args:
        rng: numpy random generator (all draws come from it).
        kind: one of :data:`POSE_KINDS`, or None to draw one by :data:`POSE_WEIGHTS`.
    Returns:
        (24, 3) float32 axis-angle pose within the joint limits, and its kind.
    """
    if kind is None:
        kind = str(rng.choice(POSE_KINDS, p=POSE_WEIGHTS))
    if kind not in POSE_KINDS:
        raise ValueError(f"unknown pose kind {kind!r}; one of {POSE_KINDS}")
    pose = np.zeros((NUM_JOINTS, 3))
    spine = [JOINT_IDS[j] for j in ("spine1", "spine2", "spine3")]
    if kind == "a_pose":
        for side in ("left", "right"):
            _set(pose, side, "shoulder", 0.0, 0.0, rng.uniform(-0.9, -0.6))
    elif kind == "standing":
        _arms_down(pose, rng)
        _legs_standing(pose, rng)
        if rng.random() < 0.3:  # a hand on the hip
            side = str(rng.choice(["left", "right"]))
            _set(pose, side, "shoulder", 0.0, rng.uniform(0.1, 0.4), -1.0)
            _set(pose, side, "elbow", rng.uniform(-0.8, -0.4), rng.uniform(-1.9, -1.5))
    elif kind == "walking":
        phase = rng.uniform(0, 2 * math.pi)
        stride = rng.uniform(0.25, 0.5)
        swing = math.sin(phase)
        for side, sgn in (("left", 1.0), ("right", -1.0)):
            hip = -sgn * stride * swing
            _set(pose, side, "hip", hip, 0.0, rng.uniform(0.0, 0.08))
            back = max(0.0, hip)  # the trailing leg bends more
            _set(pose, side, "knee", 0.1 + 1.2 * back + rng.uniform(0.0, 0.2))
            _set(pose, side, "ankle", rng.uniform(-0.15, 0.15) - 0.3 * back)
            _set(
                pose,
                side,
                "shoulder",
                rng.uniform(-0.2, 0.2),
                -hip * rng.uniform(0.6, 1.0),
                rng.uniform(-1.35, -1.15),
            )
            _set(pose, side, "elbow", 0.0, rng.uniform(-0.7, -0.15))
        for j in spine:
            pose[j, 1] = 0.05 * swing
    elif kind == "arms_raised":
        _legs_standing(pose, rng)
        both = rng.random() < 0.6
        up_sides = ("left", "right") if both else (str(rng.choice(["left", "right"])),)
        for side in ("left", "right"):
            if side in up_sides:
                _set(
                    pose,
                    side,
                    "shoulder",
                    rng.uniform(-0.5, 0.5),
                    rng.uniform(-0.6, 0.2),
                    rng.uniform(0.2, 1.3),
                )
                _set(pose, side, "elbow", rng.uniform(-0.4, 0.4), rng.uniform(-1.6, 0.0))
            else:
                _set(pose, side, "shoulder", 0.0, rng.uniform(-0.3, 0.2), rng.uniform(-1.4, -1.0))
                _set(pose, side, "elbow", 0.0, rng.uniform(-0.5, 0.0))
    elif kind == "crouching":
        hip = rng.uniform(-2.0, -1.3)
        knee = rng.uniform(1.7, 2.4)
        lean = rng.uniform(0.2, 0.5)
        for side in ("left", "right"):
            _set(pose, side, "hip", hip + rng.uniform(-0.1, 0.1), 0.0, rng.uniform(0.1, 0.35))
            _set(pose, side, "knee", knee + rng.uniform(-0.1, 0.1))
            _set(pose, side, "ankle", -(hip + knee) * 0.8)
            _set(pose, side, "shoulder", 0.0, rng.uniform(-1.3, -0.6), rng.uniform(-1.2, -0.7))
            _set(pose, side, "elbow", 0.0, rng.uniform(-1.2, -0.2))
        for j in spine:
            pose[j, 0] = lean / 3
        pose[JOINT_IDS["neck"], 0] = -lean * 0.6
    elif kind == "sitting":
        for side in ("left", "right"):
            _set(
                pose,
                side,
                "hip",
                rng.uniform(-1.6, -1.3),
                rng.uniform(-0.1, 0.1),
                rng.uniform(0.0, 0.25),
            )
            _set(pose, side, "knee", rng.uniform(1.3, 1.7))
            _set(pose, side, "ankle", rng.uniform(-0.2, 0.2))
            _set(pose, side, "shoulder", 0.0, rng.uniform(-0.7, -0.3), rng.uniform(-1.35, -1.1))
            _set(pose, side, "elbow", 0.0, rng.uniform(-1.3, -0.6))
    elif kind in HAND_POSES:
        _arms_down(pose, rng)
        _legs_standing(pose, rng)
        if kind == "bending":  # the whole body tips forward at the hips, knees give a little
            lean = rng.uniform(0.35, 0.75)
            pose[0, 0] += lean
            knee = rng.uniform(0.1, 0.5)
            for side in ("left", "right"):
                _set(pose, side, "hip", -lean - knee * 0.5 + rng.uniform(-0.1, 0.1))
                _set(pose, side, "knee", knee)
                _set(pose, side, "ankle", -knee * 0.5)
    # Everyone: a little torso, head and root variation.
    if kind != "a_pose":
        for j in spine:
            pose[j] += rng.normal(0, [0.04, 0.06, 0.04])
        pose[JOINT_IDS["neck"]] += rng.normal(0, [0.08, 0.2, 0.06])
        pose[JOINT_IDS["head"]] += rng.normal(0, [0.06, 0.1, 0.05])
        pose[0, 1] += rng.normal(0, 0.15)
    out = clamp_to_limits(torch.tensor(pose, dtype=torch.float32))
    if kind in HAND_POSES:
        out = reach(out, _hand_goals(kind, rng))
    return out, kind


def _jitter(rng: np.random.Generator, xyz: tuple[float, float, float], sd: float = 0.015):
    return tuple(float(v) for v in np.asarray(xyz) + rng.normal(0, sd, 3))


def _hand_goals(kind: str, rng: np.random.Generator) -> list[ArmGoal]:
    """Wrist goals (and elbow hints) of a hand pose, jittered; see :class:`.reach.ArmGoal`
    (positions relative to the reference joint, model units, LEFT side mirrored in x)."""
    sides = (("left", 1.0), ("right", -1.0))

    def both(ref, wrist, elbow, sd=0.015) -> list[ArmGoal]:
        return [
            ArmGoal(
                side,
                ref,
                _jitter(rng, (sg * wrist[0], wrist[1], wrist[2]), sd),
                _jitter(rng, (sg * elbow[0], elbow[1], elbow[2]), sd),
            )
            for side, sg in sides
        ]

    if kind == "hands_on_hips":
        goals = both("pelvis", (0.115, 0.035, 0.0), (0.23, 0.13, -0.04))
        if rng.random() < 0.5:  # often just one hand on the hip
            goals = [goals[int(rng.integers(2))]]
        return goals
    if kind == "hands_in_pockets":
        return both("pelvis", (0.1, -0.045, 0.045), (0.17, 0.13, -0.02))
    if kind == "hands_clasped":
        height = rng.uniform(-0.06, 0.2)  # from below the belly to the chest
        return both("pelvis", (0.018, height, 0.13), (0.14, 0.12 + height * 0.3, 0.03), 0.01)
    if kind == "bending":  # arms hang forward, hands together
        return both("spine3", (0.02, -0.3, 0.12), (0.1, -0.16, 0.06), 0.02)
    if kind == "hand_to_face":
        side, sg = sides[int(rng.integers(2))]
        chin = ArmGoal(
            side,
            "head",
            _jitter(rng, (sg * 0.03, -0.06, 0.085), 0.01),
            _jitter(rng, (sg * 0.12, -0.27, 0.09)),
        )
        return [chin]
    # arms crossed over the chest: each wrist by the other elbow
    return both("spine3", (-0.06, -0.05, 0.1), (0.13, -0.11, 0.07), 0.01)
