"""Fitting the mannequin's pose and proportions to mediapipe-style 3D landmarks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humancrafter.body.fit import MARKER_LANDMARKS, fit_to_landmarks, markers
from humancrafter.body.mannequin import BodyParams, joints
from humancrafter.body.poses import POSE_KINDS, sample_pose
from humancrafter.body.skeleton import JOINT_IDS, limit_violation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _landmarks(
    p: BodyParams, noise: float = 0.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmarks as the photo front-end delivers them: model frame, hips' midpoint at 0."""
    lm = torch.zeros(33, 3)
    vis = torch.zeros(33)
    with torch.no_grad():
        m = markers(p)
    for i, k in enumerate(MARKER_LANDMARKS):
        lm[k] = m[i]
        vis[k] = 1.0
    lm = lm + torch.tensor(
        np.random.default_rng(seed).normal(0, noise, (33, 3)), dtype=torch.float32
    )
    return lm - (lm[23] + lm[24]) / 2, vis


def _joint_error(fit: BodyParams, true: BodyParams) -> torch.Tensor:
    """(24,) joint distances after lining up the hips' midpoints."""
    jf, jt = joints(fit), joints(true)
    hips = [JOINT_IDS["left_hip"], JOINT_IDS["right_hip"]]
    return (jf - jf[hips].mean(0) - (jt - jt[hips].mean(0))).norm(dim=-1)


@pytest.mark.parametrize("kind", POSE_KINDS)
def test_recovers_sampled_poses(kind):
    rng = np.random.default_rng(1)
    pose, _ = sample_pose(rng, kind)
    pose[0] = torch.tensor(rng.normal(0, 0.3, 3), dtype=torch.float32)  # turned and tilted
    shape = torch.tensor(np.clip(rng.normal(0, 0.8, 10), -2, 2), dtype=torch.float32)
    true = BodyParams(shape, pose, torch.zeros(3))
    lm, vis = _landmarks(true, noise=0.004, seed=2)
    r = fit_to_landmarks(lm, vis)
    err = _joint_error(r.params, true)
    assert float(err.mean()) < 0.02 and float(err.max()) < 0.045, err
    assert r.residual_m < 0.012
    assert float(limit_violation(r.params.pose).abs().max()) < 0.05


def test_fit_recovers_proportions():
    """(Its time is a benchmark's business: benchmarks/bench_fast.py times every stage of
    the fast mode, the body fit among them.)"""
    true = BodyParams.neutral()
    true.shape[2], true.shape[3] = 1.5, -1.2  # long legs, short arms
    true.pose[JOINT_IDS["left_shoulder"], 2] = -1.2
    true.pose[JOINT_IDS["right_shoulder"], 2] = 1.2
    lm, vis = _landmarks(true)
    r = fit_to_landmarks(lm, vis)
    assert float(r.params.shape[2]) > 0.8 and float(r.params.shape[3]) < -0.6
    assert r.residual_m < 0.006


def test_facing_away_is_recovered():
    true = BodyParams.neutral()
    true.pose[0, 1] = np.pi * 0.9  # back to the camera
    lm, vis = _landmarks(true)
    r = fit_to_landmarks(lm, vis)
    assert float(_joint_error(r.params, true).max()) < 0.03
    nose = markers(r.params)[MARKER_LANDMARKS.index(0)]
    assert float(nose[2]) < 0  # the face points to -z


def test_invisible_landmarks_do_not_pull():
    true = BodyParams.neutral()
    true.pose[JOINT_IDS["left_knee"], 0] = 1.0
    true.pose[JOINT_IDS["left_hip"], 0] = -0.8
    lm, vis = _landmarks(true)
    legs = [25, 27, 29, 31]  # left knee, ankle, heel, toe: garbage and invisible
    lm[legs] = torch.tensor([5.0, -3.0, 2.0])
    vis[legs] = 0.0
    r = fit_to_landmarks(lm, vis)
    err = _joint_error(r.params, true)
    seen = [JOINT_IDS[n] for n in ("left_shoulder", "right_wrist", "right_knee", "right_ankle")]
    assert float(err[seen].max()) < 0.02
    # The unseen leg stays a plausible leg near the body (not dragged to the garbage points).
    ankle = joints(r.params)[JOINT_IDS["left_ankle"]]
    assert float(ankle.abs().max()) < 0.6


def test_visibility_weights_noisy_points():
    true = BodyParams.neutral()
    lm, vis = _landmarks(true)
    lm[15] += torch.tensor([0.0, 0.3, 0.0])  # a wrong left wrist, barely visible
    vis[15] = 0.02
    r = fit_to_landmarks(lm, vis)
    assert float(_joint_error(r.params, true)[JOINT_IDS["left_wrist"]]) < 0.05


def test_start_from_given_parameters():
    true = BodyParams.neutral()
    true.pose[JOINT_IDS["right_elbow"], 1] = 1.2
    lm, vis = _landmarks(true)
    init = BodyParams.neutral()
    r = fit_to_landmarks(lm, vis, init=init, iters=60)
    assert float(_joint_error(r.params, true).max()) < 0.02
    assert torch.equal(init.pose, torch.zeros(24, 3))  # the caller's params are untouched


@pytest.mark.parametrize(
    ("lm", "vis", "message"),
    [
        (torch.zeros(32, 3), torch.ones(32), "expected landmarks"),
        (torch.full((33, 3), float("nan")), torch.ones(33), "NaN"),
        (torch.zeros(33, 3), torch.zeros(33), "too few torso landmarks"),
    ],
)
def test_bad_input(lm, vis, message):
    with pytest.raises(ValueError, match=message):
        fit_to_landmarks(lm, vis)
