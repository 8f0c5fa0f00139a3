"""Fit the mannequin's pose and proportions to 3D body landmarks (mediapipe's 33).

The landmarks arrive in the MODEL frame (y up, facing +z, person's left = +x, ~1 unit tall,
pelvis near the origin). Each landmark used here corresponds to a *marker* on the body: a
joint, or a point rigidly attached to a bone (nose, ears, eyes, mouth corners, hand and foot
points). The fit has two stages:

1. An analytic initialisation: the root orientation from the hip and shoulder lines, then
   each limb bone swung onto its landmark direction (shoulders and hips also twisted so that
   the elbow and knee bend in their hinge plane), and the head turned by nose and ears.
2. L-BFGS on pose, limb proportions and translation, minimising the visibility-weighted
   squared marker error plus joint-limit, pose and shape regularisers.

Unseen landmarks (low visibility) barely pull; their joints stay near the prior.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .params import BodyParams
from .skeleton import (
    JOINT_IDS,
    NUM_JOINTS,
    NUM_SHAPE,
    axis_angle_to_matrix,
    clamp_to_limits,
    forward_kinematics,
    limit_violation,
    matrix_to_axis_angle,
    rest_joints,
)

NUM_LANDMARKS = 33

# mediapipe landmark index -> (bone, offset from that bone's joint in the rest pose, weight).
# Offsets are in model units for the neutral body (x mirrored for the right side).
_MARKERS: dict[int, tuple[str, tuple[float, float, float], float]] = {
    0: ("head", (0.0, 0.012, 0.066), 0.5),  # nose
    2: ("head", (0.017, 0.03, 0.048), 0.3),  # left eye
    5: ("head", (-0.017, 0.03, 0.048), 0.3),  # right eye
    7: ("head", (0.048, 0.02, -0.006), 0.5),  # left ear
    8: ("head", (-0.048, 0.02, -0.006), 0.5),  # right ear
    9: ("head", (0.012, -0.019, 0.05), 0.2),  # mouth left
    10: ("head", (-0.012, -0.019, 0.05), 0.2),  # mouth right
    11: ("left_shoulder", (0.0, 0.0, 0.0), 1.0),
    12: ("right_shoulder", (0.0, 0.0, 0.0), 1.0),
    13: ("left_elbow", (0.0, 0.0, 0.0), 1.0),
    14: ("right_elbow", (0.0, 0.0, 0.0), 1.0),
    15: ("left_wrist", (0.0, 0.0, 0.0), 1.0),
    16: ("right_wrist", (0.0, 0.0, 0.0), 1.0),
    17: ("left_wrist", (0.07, -0.004, -0.02), 0.3),  # pinky
    18: ("right_wrist", (-0.07, -0.004, -0.02), 0.3),
    19: ("left_wrist", (0.075, -0.004, 0.018), 0.3),  # index
    20: ("right_wrist", (-0.075, -0.004, 0.018), 0.3),
    21: ("left_wrist", (0.045, -0.01, 0.04), 0.2),  # thumb
    22: ("right_wrist", (-0.045, -0.01, 0.04), 0.2),
    23: ("left_hip", (0.012, 0.0, 0.0), 1.0),
    24: ("right_hip", (-0.012, 0.0, 0.0), 1.0),
    25: ("left_knee", (0.0, 0.0, 0.0), 1.0),
    26: ("right_knee", (0.0, 0.0, 0.0), 1.0),
    27: ("left_ankle", (0.0, 0.0, 0.0), 1.0),
    28: ("right_ankle", (0.0, 0.0, 0.0), 1.0),
    29: ("left_ankle", (0.0, -0.035, -0.035), 0.5),  # heel
    30: ("right_ankle", (0.0, -0.035, -0.035), 0.5),
    31: ("left_foot", (0.0, -0.005, 0.045), 0.5),  # foot index (toe tip)
    32: ("right_foot", (0.0, -0.005, 0.045), 0.5),
}
MARKER_LANDMARKS: tuple[int, ...] = tuple(sorted(_MARKERS))
"""The mediapipe landmark indices the fit uses."""
_MARKER_BONE = torch.tensor([JOINT_IDS[_MARKERS[i][0]] for i in MARKER_LANDMARKS])
_MARKER_OFFSET = torch.tensor([_MARKERS[i][1] for i in MARKER_LANDMARKS], dtype=torch.float32)
_MARKER_WEIGHT = torch.tensor([_MARKERS[i][2] for i in MARKER_LANDMARKS], dtype=torch.float32)

# Shape parameters the fit may change (proportions visible in landmarks).
_FIT_SHAPE = torch.tensor([0, 2, 3, 4, 5, 7])

# (joint, child joint, landmark of the joint, landmark of the child) for the swing init.
_LIMBS: tuple[tuple[str, str, int, int], ...] = (
    ("left_hip", "left_knee", 23, 25),
    ("right_hip", "right_knee", 24, 26),
    ("left_knee", "left_ankle", 25, 27),
    ("right_knee", "right_ankle", 26, 28),
    ("left_shoulder", "left_elbow", 11, 13),
    ("right_shoulder", "right_elbow", 12, 14),
    ("left_elbow", "left_wrist", 13, 15),
    ("right_elbow", "right_wrist", 14, 16),
)
# Hinge plane of the next joint, in the bone's local frame: (bone axis, bend direction).
_HINGE: dict[str, tuple[tuple[float, float, float], tuple[float, float, float], int]] = {
    "left_shoulder": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), 15),
    "right_shoulder": ((-1.0, 0.0, 0.0), (0.0, 0.0, 1.0), 16),
    "left_hip": ((0.0, -1.0, 0.0), (0.0, 0.0, -1.0), 27),
    "right_hip": ((0.0, -1.0, 0.0), (0.0, 0.0, -1.0), 28),
}


@dataclass
class FitResult:
    """Result of :func:`fit_to_landmarks`.

    Attributes:
        params: fitted body (detached tensors).
        residual_m: visibility-weighted mean marker error, model units.
        seconds: wall time of the fit.
    """

    params: BodyParams
    residual_m: float
    seconds: float


def markers(params: BodyParams) -> torch.Tensor:
    """(len(MARKER_LANDMARKS), 3) model-frame positions of the body points that correspond
    to the landmarks in :data:`MARKER_LANDMARKS` (differentiable)."""
    rest = rest_joints(params.shape)
    rots, posed = forward_kinematics(params.pose, rest)
    return _markers(rots, posed + params.transl, params.shape)


def _markers(rots: torch.Tensor, posed: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    scale = 1 + 0.05 * shape[0]
    off = _MARKER_OFFSET * scale
    return posed[_MARKER_BONE] + (rots[_MARKER_BONE] @ off[:, :, None])[:, :, 0]


def _rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(3,) unit vectors -> (3,) axis-angle of the smallest rotation taking a onto b."""
    axis = torch.linalg.cross(a, b)
    s, c = axis.norm(), (a @ b).clamp(-1, 1)
    if s < 1e-8:
        if c > 0:
            return torch.zeros(3)
        perp = torch.linalg.cross(a, torch.tensor([0.0, 0.0, 1.0]))
        if perp.norm() < 1e-6:
            perp = torch.linalg.cross(a, torch.tensor([1.0, 0.0, 0.0]))
        return perp / perp.norm() * torch.pi
    return axis / s * torch.atan2(s, c)


def _frame(x: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """Rotation whose columns are (x, y, z) built from a left-pointing and an up vector."""
    y = up / up.norm()
    z = torch.linalg.cross(x, y)
    z = z / z.norm()
    x = torch.linalg.cross(y, z)
    return torch.stack([x, y, z], dim=1)


def initial_pose(lm: torch.Tensor, vis: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """Analytic (24, 3) pose from landmarks (model frame): root from hips and shoulders,
    limbs swung onto their landmark directions, head from nose and ears."""
    pose = torch.zeros(NUM_JOINTS, 3)
    rest = rest_joints(shape)
    hip_x = lm[23] - lm[24]
    sh_x = lm[11] - lm[12]
    up = (lm[11] + lm[12]) / 2 - (lm[23] + lm[24]) / 2
    pose[0] = matrix_to_axis_angle(_frame(hip_x + 0.3 * sh_x, up))
    # Spine twist: the shoulder line's yaw against the hips, shared by the three spine joints.
    R0 = axis_angle_to_matrix(pose[0])
    s = R0.T @ sh_x
    twist = torch.atan2(-s[2], s[0]).clamp(-0.9, 0.9)
    for j in ("spine1", "spine2", "spine3"):
        pose[JOINT_IDS[j], 1] = twist / 3
    for joint, child, lj, lc in _LIMBS:
        if min(float(vis[lj]), float(vis[lc])) < 0.3:
            continue
        j, c = JOINT_IDS[joint], JOINT_IDS[child]
        rots, _ = forward_kinematics(pose, rest)
        parent_rot = rots[j] @ axis_angle_to_matrix(pose[j]).T
        target = parent_rot.T @ (lm[lc] - lm[lj])
        if target.norm() < 1e-6:
            continue
        bone = rest[c] - rest[j]
        R = axis_angle_to_matrix(_rotation_between(bone / bone.norm(), target / target.norm()))
        hinge = _HINGE.get(joint)
        if hinge is not None and float(vis[hinge[2]]) >= 0.3:
            a, bend = torch.tensor(hinge[0]), torch.tensor(hinge[1])
            f = (parent_rot @ R).T @ (lm[hinge[2]] - lm[lc])
            f_perp = f - (f @ a) * a
            if f_perp.norm() > 0.25 * f.norm():  # clearly bent: turn the hinge plane onto it
                alpha = torch.atan2(torch.linalg.cross(bend, f_perp) @ a, bend @ f_perp)
                R = R @ axis_angle_to_matrix(a * alpha)
        pose[j] = matrix_to_axis_angle(R)
    # Head: ears give the left direction, the nose the forward one; split over neck and head.
    if min(float(vis[0]), float(vis[7]), float(vis[8])) >= 0.3:
        ear_mid = (lm[7] + lm[8]) / 2
        x = lm[7] - lm[8]
        fwd = lm[0] - ear_mid
        up_h = torch.linalg.cross(fwd, x)
        rots, _ = forward_kinematics(pose, rest)
        local = rots[JOINT_IDS["spine3"]].T @ _frame(x, up_h)
        aa = matrix_to_axis_angle(local) / 2
        pose[JOINT_IDS["neck"]] = aa
        pose[JOINT_IDS["head"]] = aa
    # Degenerate landmarks (coincident points) leave NaNs: fall back to the rest pose there.
    return clamp_to_limits(torch.nan_to_num(pose, nan=0.0))


def fit_to_landmarks(
    landmarks: torch.Tensor,
    visibility: torch.Tensor,
    *,
    iters: int = 50,
    init: BodyParams | None = None,
    fit_shape: bool = True,
) -> FitResult:
    """Fit pose, limb proportions and translation to mediapipe's 33 landmarks.

    Args:
        landmarks: (33, 3) landmarks in the model frame (see module docstring).
        visibility: (33,) confidence in [0, 1] of each landmark; weights its pull.
        iters: L-BFGS iterations after the analytic initialisation.
        init: start from these parameters instead of the analytic initialisation.
        fit_shape: also fit height, leg/arm length, shoulder/hip width and torso length.
    Returns:
        :class:`FitResult` (the fit takes well under a second on a CPU).
    Raises:
        ValueError: wrong shapes, non-finite values, or too few visible landmarks.
    """
    t0 = time.perf_counter()
    lm = torch.as_tensor(landmarks, dtype=torch.float32)
    vis = torch.as_tensor(visibility, dtype=torch.float32)
    if lm.shape != (NUM_LANDMARKS, 3) or vis.shape != (NUM_LANDMARKS,):
        raise ValueError(
            f"expected landmarks (33, 3) and visibility (33,), got {tuple(lm.shape)} and "
            f"{tuple(vis.shape)}"
        )
    if not torch.isfinite(lm).all() or not torch.isfinite(vis).all():
        raise ValueError("landmarks or visibility contain NaN or infinite values")
    vis = vis.clamp(0, 1)
    torso = [11, 12, 23, 24]
    if int((vis[torso] >= 0.3).sum()) < 3:
        raise ValueError("too few torso landmarks are visible (need 3 of shoulders and hips)")
    target = lm[list(MARKER_LANDMARKS)]
    w = _MARKER_WEIGHT * vis[list(MARKER_LANDMARKS)]
    with torch.no_grad():
        if init is None:
            shape0 = torch.zeros(NUM_SHAPE)
            pose0 = initial_pose(lm, vis, shape0)
            transl0 = torch.zeros(3)
        else:
            shape0, pose0, transl0 = (
                t.detach().clone() for t in (init.shape, init.pose, init.transl)
            )
        # Translation: line the hips' midpoint up (or the shoulders' when hips are unseen).
        m = markers(BodyParams(shape0, pose0, transl0))
        idx = {k: i for i, k in enumerate(MARKER_LANDMARKS)}
        ref = (23, 24) if float(vis[23] + vis[24]) > 0.6 else (11, 12)
        a, b = idx[ref[0]], idx[ref[1]]
        transl0 = transl0 + (target[a] + target[b]) / 2 - (m[a] + m[b]) / 2
    pose = pose0.clone().requires_grad_(True)
    transl = transl0.clone().requires_grad_(True)
    shape_sub = shape0[_FIT_SHAPE].clone().requires_grad_(fit_shape)
    variables = [pose, transl] + ([shape_sub] if fit_shape else [])
    opt = torch.optim.LBFGS(
        variables,
        lr=1.0,
        max_iter=iters,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_change=1e-10,
        tolerance_grad=1e-9,
    )
    pose_w = torch.ones(NUM_JOINTS, 1) * 2e-5
    pose_w[0] = 0.0

    def full_shape() -> torch.Tensor:
        return shape0.index_put((_FIT_SHAPE,), shape_sub)

    def loss_fn() -> tuple[torch.Tensor, torch.Tensor]:
        shape = full_shape()
        rest = rest_joints(shape)
        rots, posed = forward_kinematics(pose, rest)
        m = _markers(rots, posed + transl, shape)
        err2 = ((m - target) ** 2).sum(-1)
        data = (w * err2).sum() / w.sum().clamp_min(1e-6)
        reg = (
            0.1 * (limit_violation(pose) ** 2).sum()
            + (pose_w * (pose - pose0.detach()) ** 2).sum() * 0.5
            + (pose_w * pose**2).sum() * 0.5
            + 1e-6 * (shape_sub**2).sum()
        )
        return data + reg, err2

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss, _ = loss_fn()
        loss.backward()
        return loss

    if iters > 0:
        opt.step(closure)
    with torch.no_grad():
        shape_sub.clamp_(-2.5, 2.5)
    with torch.no_grad():
        _, err2 = loss_fn()
        residual = float((w * err2.sqrt()).sum() / w.sum().clamp_min(1e-6))
    params = BodyParams(full_shape().detach(), pose.detach(), transl.detach())
    return FitResult(params, residual, time.perf_counter() - t0)
