"""The parameters of one mannequin body (shape, pose, translation) and its posed joints.
Pose and shape conventions are in :mod:`.skeleton` (zero pose = T-pose)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .skeleton import NUM_JOINTS, NUM_SHAPE, forward_kinematics, rest_joints


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
