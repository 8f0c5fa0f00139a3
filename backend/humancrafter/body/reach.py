"""Arm poses by goal: put the wrists (and, loosely, the elbows) where a pose wants them —
hands on the hips, clasped in front, at the face, arms crossed — and let a few steps of
gradient descent on the shoulder and elbow angles find joint angles that do it (inverse
kinematics on the mannequin's own skeleton, within its joint limits).

Goals are points in the frame of a reference joint of the already posed body (pelvis,
spine3, head), so they follow a leaning or turning torso. Positions are model units for the
average body (shape 0); other shapes land within a few centimetres, which is all a
synthetic pose needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .skeleton import JOINT_IDS, NUM_SHAPE, clamp_to_limits, forward_kinematics, limit_violation
from .skeleton import rest_joints as _rest_joints


@dataclass(frozen=True)
class ArmGoal:
    """Where one arm should go.

    Attributes:
        side: "left" or "right" (the person's own).
        ref: the joint whose posed frame ``wrist`` and ``elbow`` are given in.
        wrist: (3,) wanted wrist position in ``ref``'s frame (model units; for the rest pose
            that frame is the model frame: y up, facing +z, the person's left = +x).
        elbow: (3,) a loose hint for the elbow in the same frame (weight :data:`ELBOW_WEIGHT`).
    """

    side: str
    ref: str
    wrist: tuple[float, float, float]
    elbow: tuple[float, float, float]


ELBOW_WEIGHT = 0.15
"""Weight of the elbow hint against the wrist goal (squared distances)."""


def reach(pose: torch.Tensor, goals: list[ArmGoal], steps: int = 80) -> torch.Tensor:
    """``pose`` with the shoulder and elbow angles of each goal's arm changed to meet it.

    Args:
        pose: (24, 3) axis-angle pose (SMPL convention); its other joints stay as they are.
        goals: one :class:`ArmGoal` per arm to move (at most one per side).
        steps: Adam steps (80 reach a goal within about 1 cm from the arms-down start).
    Returns:
        (24, 3) float32 pose within the joint limits.
    """
    if not goals:
        return pose
    rest = _rest_joints(torch.zeros(NUM_SHAPE))
    joints = [JOINT_IDS[f"{g.side}_{j}"] for g in goals for j in ("shoulder", "elbow")]
    idx = torch.tensor(joints)
    angles = pose[idx].clone().requires_grad_(True)
    refs = torch.tensor([JOINT_IDS[g.ref] for g in goals])
    wrists = torch.tensor([JOINT_IDS[f"{g.side}_wrist"] for g in goals])
    elbows = torch.tensor([JOINT_IDS[f"{g.side}_elbow"] for g in goals])
    wrist_goal = torch.tensor([g.wrist for g in goals], dtype=torch.float32)  # (G, 3)
    elbow_goal = torch.tensor([g.elbow for g in goals], dtype=torch.float32)
    with torch.no_grad():  # the reference frames do not depend on the arm angles
        rots, posed = forward_kinematics(pose, rest)
        R, o = rots[refs], posed[refs]  # (G, 3, 3), (G, 3)
        wrist_world = o + (R @ wrist_goal[:, :, None])[:, :, 0]
        elbow_world = o + (R @ elbow_goal[:, :, None])[:, :, 0]
    optim = torch.optim.Adam([angles], lr=0.06)
    for _ in range(steps):
        full = pose.index_put((idx,), angles)
        _, posed = forward_kinematics(full, rest)
        loss = (
            (posed[wrists] - wrist_world).square().sum()
            + ELBOW_WEIGHT * (posed[elbows] - elbow_world).square().sum()
            + limit_violation(full).square().sum()
        )
        optim.zero_grad()
        loss.backward()
        optim.step()
    return clamp_to_limits(pose.index_put((idx,), angles.detach()))
