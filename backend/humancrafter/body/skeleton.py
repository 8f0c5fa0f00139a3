"""The mannequin's skeleton: 24 joints in SMPL order, rest positions from shape, joint limits
and forward kinematics in torch.

Frames and conventions:

- Model frame: y up, person centred at the origin, about one unit tall, facing +z, the
  person's own left = +x (see :mod:`humancrafter.cameras`).
- Rest pose: the T-pose (arms straight out along +-x, palms down, legs straight down), as in
  SMPL. A zero pose vector is the T-pose.
- Pose: (24, 3) axis-angle rotation of each joint in its parent's frame, with all local frames
  aligned with the model frame in the rest pose (SMPL's convention). Joint 0 (pelvis) carries
  the global orientation.
- Forward kinematics: ``G_j = G_parent(j) R_j`` (global rotations) and
  ``J_j = J_parent + G_parent(j) (rest_j - rest_parent)`` (posed joint positions). A rest
  point ``p`` rigidly attached to bone ``j`` goes to ``G_j (p - rest_j) + J_j``.

Useful signs (left side; the right side mirrors y and z):

- hip x < 0 swings the leg forward; knee x > 0 bends the knee; spine x > 0 leans forward.
- shoulder z < 0 lowers the arm towards the side (-1.5 is about "arms down");
  shoulder y < 0 swings the arm forward; elbow y < 0 bends the elbow forward.
"""

from __future__ import annotations

import math

import torch

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
"""The 24 joints in SMPL's order."""

PARENTS: tuple[int, ...] = (
    -1,
    0,
    0,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    9,
    9,
    12,
    13,
    14,
    16,
    17,
    18,
    19,
    20,
    21,
)
"""Parent index of each joint (-1 for the root), SMPL's kinematic tree."""

NUM_JOINTS: int = len(JOINT_NAMES)
JOINT_IDS: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

MIRROR_JOINTS: tuple[int, ...] = tuple(
    JOINT_IDS[n.replace("left_", "RIGHT_").replace("right_", "left_").replace("RIGHT_", "right_")]
    for n in JOINT_NAMES
)
"""Index of each joint's left/right mirror partner (itself for centre joints)."""

_PI = math.pi
# Joint limits of the LEFT side and the centre joints, per axis-angle component (radians),
# as (low_x, high_x, low_y, high_y, low_z, high_z). Right-side joints mirror them
# (x kept, y and z negated). They are box limits on the axis-angle vector: exact for
# single-axis rotations and a reasonable envelope for combined ones.
_LIMITS_LEFT: dict[str, tuple[float, float, float, float, float, float]] = {
    "pelvis": (-_PI, _PI, -_PI, _PI, -_PI, _PI),
    "left_hip": (-2.3, 0.6, -0.8, 0.8, -0.4, 1.2),
    "spine1": (-0.4, 0.6, -0.45, 0.45, -0.35, 0.35),
    "left_knee": (0.0, 2.6, -0.25, 0.25, -0.12, 0.12),
    "spine2": (-0.35, 0.5, -0.4, 0.4, -0.3, 0.3),
    "left_ankle": (-0.7, 0.8, -0.45, 0.45, -0.35, 0.35),
    "spine3": (-0.3, 0.45, -0.4, 0.4, -0.3, 0.3),
    "left_foot": (-0.6, 0.5, -0.12, 0.12, -0.12, 0.12),
    "neck": (-0.6, 0.7, -0.9, 0.9, -0.5, 0.5),
    "left_collar": (-0.3, 0.3, -0.4, 0.35, -0.3, 0.55),
    "head": (-0.5, 0.55, -0.6, 0.6, -0.4, 0.4),
    "left_shoulder": (-1.6, 1.6, -2.1, 0.9, -1.65, 1.45),
    "left_elbow": (-1.2, 1.2, -2.6, 0.05, -0.15, 0.15),
    "left_wrist": (-1.0, 1.0, -0.5, 0.5, -1.2, 1.0),
    "left_hand": (-0.3, 0.3, -0.3, 0.3, -0.5, 0.3),
}


def _limit_table() -> torch.Tensor:
    rows = []
    for name in JOINT_NAMES:
        if name.startswith("right_"):
            lx, hx, ly, hy, lz, hz = _LIMITS_LEFT["left_" + name[6:]]
            rows.append((lx, hx, -hy, -ly, -hz, -lz))
        else:
            rows.append(_LIMITS_LEFT[name])
    t = torch.tensor(rows, dtype=torch.float32).view(NUM_JOINTS, 3, 2)
    return t


JOINT_LIMITS: torch.Tensor = _limit_table()
"""(24, 3, 2) float32 [low, high] of each axis-angle component of each joint, radians."""


def limit_violation(pose: torch.Tensor) -> torch.Tensor:
    """(..., 24, 3) pose -> (..., 24, 3) how far each component lies outside its limits
    (0 inside), radians. Differentiable; square and sum it for a penalty."""
    lo, hi = JOINT_LIMITS[..., 0].to(pose), JOINT_LIMITS[..., 1].to(pose)
    return torch.relu(lo - pose) + torch.relu(pose - hi)


def clamp_to_limits(pose: torch.Tensor) -> torch.Tensor:
    """(..., 24, 3) pose clamped into :data:`JOINT_LIMITS` component-wise."""
    lo, hi = JOINT_LIMITS[..., 0].to(pose), JOINT_LIMITS[..., 1].to(pose)
    return torch.maximum(torch.minimum(pose, hi), lo)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: (..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices.

    Smooth at zero (gradients stay finite for the zero rotation)."""
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2 + 1e-12)
    small = theta2 < 1e-8
    # sin(t)/t and (1-cos(t))/t^2 with Taylor expansions near zero.
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta2 + 1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).view(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(K)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


def matrix_to_axis_angle(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle in [0, pi] radians (not for
    gradients near pi)."""
    cos = ((R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2] - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    v = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]],
        dim=-1,
    )
    sin = torch.sin(angle)
    axis = v / (2 * sin[..., None]).clamp_min(1e-8)
    # Near pi the antisymmetric part vanishes: take the axis from the symmetric part.
    near_pi = angle > _PI - 1e-3
    if bool(near_pi.any()):
        S = (R + R.transpose(-1, -2)) / 2 - cos[..., None, None] * torch.eye(3, dtype=R.dtype)
        col = S.diagonal(dim1=-2, dim2=-1).argmax(-1)
        alt = torch.gather(S, -1, col[..., None, None].expand(*S.shape[:-1], 1))[..., 0]
        alt = torch.nn.functional.normalize(alt, dim=-1)
        axis = torch.where(near_pi[..., None], alt, axis)
    small = angle < 1e-6
    out = axis * angle[..., None]
    return torch.where(small[..., None], v / 2, out)


def _levels() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Joints grouped by depth in the tree: [(joint ids, their parents)] from the root down."""
    depth = [0] * NUM_JOINTS
    for j in range(1, NUM_JOINTS):
        depth[j] = depth[PARENTS[j]] + 1
    out = []
    for d in range(1, max(depth) + 1):
        ids = [j for j in range(NUM_JOINTS) if depth[j] == d]
        out.append((torch.tensor(ids), torch.tensor([PARENTS[j] for j in ids])))
    return out


_LEVELS = _levels()


def forward_kinematics(
    pose: torch.Tensor, rest_joints: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose a skeleton (one batched step per depth level of the tree).

    Args:
        pose: (..., 24, 3) local axis-angle rotations.
        rest_joints: (..., 24, 3) rest (T-pose) joint positions, model frame.
    Returns:
        rots: (..., 24, 3, 3) global rotation of each bone (rest -> posed).
        joints: (..., 24, 3) posed joint positions (root stays at its rest position).
    """
    local = axis_angle_to_matrix(pose)
    root = torch.tensor([0])
    rots = torch.zeros_like(local).index_copy(-3, root, local[..., :1, :, :])
    pos = torch.zeros_like(rest_joints).index_copy(-2, root, rest_joints[..., :1, :])
    for ids, parents in _LEVELS:
        parent_rots = rots[..., parents, :, :]
        offset = rest_joints[..., ids, :] - rest_joints[..., parents, :]
        moved = pos[..., parents, :] + (parent_rots @ offset[..., None])[..., 0]
        pos = pos.index_copy(-2, ids, moved)
        rots = rots.index_copy(-3, ids, parent_rots @ local[..., ids, :, :])
    return rots, pos


NUM_SHAPE: int = 10
SHAPE_NAMES: tuple[str, ...] = (
    "height",
    "weight",
    "leg_length",
    "arm_length",
    "shoulder_width",
    "hip_width",
    "head_size",
    "torso_length",
    "chest_depth",
    "limb_thickness",
)
"""Meaning of the 10 shape parameters (each roughly in [-2, 2], 0 = the average body):

0 ``height``: overall scale, +5 % per unit (the model frame keeps the person about 1 unit
  tall only for shape 0 = 0).
1 ``weight``: girth of torso and limbs, +11 % per unit (surface only).
2 ``leg_length``: thigh, shin and ankle height, +6 % per unit.
3 ``arm_length``: upper arm, forearm and hand, +6 % per unit.
4 ``shoulder_width``: collar and shoulder spacing, +8 % per unit.
5 ``hip_width``: hip joint spacing and pelvis width, +9 % per unit.
6 ``head_size``: head dimensions, +6 % per unit.
7 ``torso_length``: spine and neck segments, +6 % per unit.
8 ``chest_depth``: chest and belly depth (front-back), +10 % per unit (surface only).
9 ``limb_thickness``: arm and leg radii (muscle), +9 % per unit (surface only).
"""


def rest_joints_reference(shape: torch.Tensor) -> torch.Tensor:
    """Rest (T-pose) joint positions of a body shape, written out joint by joint (the
    definition; :func:`rest_joints` evaluates the same function faster).

    Args:
        shape: (..., 10) shape parameters (see :data:`SHAPE_NAMES`).
    Returns:
        (..., 24, 3) joint positions in the model frame, the body's vertical extent (soles to
        head top) centred on y = 0; 1 unit tall for ``shape = 0``.
    """
    s = shape.unbind(-1)
    leg = 1 + 0.06 * s[2]
    arm = 1 + 0.06 * s[3]
    shoulder = 1 + 0.08 * s[4]
    hip = 1 + 0.09 * s[5]
    head = 1 + 0.06 * s[6]
    torso = 1 + 0.06 * s[7]
    scale = 1 + 0.05 * s[0]

    def v(x, y, z):
        x, y, z = (torch.as_tensor(c, dtype=shape.dtype).expand_as(s[0]) for c in (x, y, z))
        return torch.stack(torch.broadcast_tensors(x, y, z), dim=-1)

    # Heights above the soles.
    ankle_h = 0.045 * leg
    knee_h = ankle_h + 0.24 * leg
    hip_h = knee_h + 0.23 * leg
    pelvis_h = hip_h + 0.03 * torso
    spine1_h = pelvis_h + 0.075 * torso
    spine2_h = spine1_h + 0.07 * torso
    spine3_h = spine2_h + 0.055 * torso
    collar_h = spine3_h + 0.075 * torso
    shoulder_h = collar_h - 0.005 * torso
    neck_h = spine3_h + 0.11 * torso
    head_h = neck_h + 0.05 * head
    top_h = head_h + 0.095 * head
    sx = 0.10 * shoulder
    cx = 0.035 * shoulder
    ex = sx + 0.165 * arm
    wx = ex + 0.145 * arm
    hx = wx + 0.045 * arm
    hipx = 0.052 * hip
    kneex = 0.052 + 0.5 * (hipx - 0.052)
    joints = {
        "pelvis": v(0.0, pelvis_h, 0.0),
        "left_hip": v(hipx, hip_h, 0.0),
        "right_hip": v(-hipx, hip_h, 0.0),
        "spine1": v(0.0, spine1_h, -0.005),
        "left_knee": v(kneex, knee_h, 0.005),
        "right_knee": v(-kneex, knee_h, 0.005),
        "spine2": v(0.0, spine2_h, -0.008),
        "left_ankle": v(0.054, ankle_h, -0.012),
        "right_ankle": v(-0.054, ankle_h, -0.012),
        "spine3": v(0.0, spine3_h, -0.008),
        "left_foot": v(0.058, 0.012 * leg, 0.085),
        "right_foot": v(-0.058, 0.012 * leg, 0.085),
        "neck": v(0.0, neck_h, -0.012),
        "left_collar": v(cx, collar_h, -0.012),
        "right_collar": v(-cx, collar_h, -0.012),
        "head": v(0.0, head_h, 0.0),
        "left_shoulder": v(sx, shoulder_h, -0.012),
        "right_shoulder": v(-sx, shoulder_h, -0.012),
        "left_elbow": v(ex, shoulder_h, -0.015),
        "right_elbow": v(-ex, shoulder_h, -0.015),
        "left_wrist": v(wx, shoulder_h, -0.01),
        "right_wrist": v(-wx, shoulder_h, -0.01),
        "left_hand": v(hx, shoulder_h - 0.003, -0.005),
        "right_hand": v(-hx, shoulder_h - 0.003, -0.005),
    }
    J = torch.stack([joints[n] for n in JOINT_NAMES], dim=-2)
    centre = torch.stack([torch.zeros_like(top_h), top_h / 2, torch.zeros_like(top_h)], dim=-1)
    return (J - centre[..., None, :]) * scale[..., None, None]


def _rest_basis() -> tuple[torch.Tensor, torch.Tensor]:
    # Before the overall scale, rest joints are linear in shape[1:]: J = C + sum_i B_i s_i.
    zero = torch.zeros(NUM_SHAPE)
    C = rest_joints_reference(zero)
    B = torch.stack([rest_joints_reference(torch.eye(NUM_SHAPE)[i]) - C for i in range(1, 10)])
    return C, B


_REST_C, _REST_B = _rest_basis()


def rest_joints(shape: torch.Tensor) -> torch.Tensor:
    """Rest (T-pose) joint positions of a body shape.

    Args:
        shape: (..., 10) shape parameters (see :data:`SHAPE_NAMES`).
    Returns:
        (..., 24, 3) joint positions in the model frame, the body's vertical extent (soles to
        head top) centred on y = 0; 1 unit tall for ``shape = 0``. Equal to
        :func:`rest_joints_reference` (exactly linear in shape[1:], times the height scale).
    """
    C, B = _REST_C.to(shape), _REST_B.to(shape)
    J = C + torch.einsum("...i,ijk->...jk", shape[..., 1:], B)
    return J * (1 + 0.05 * shape[..., 0])[..., None, None]
