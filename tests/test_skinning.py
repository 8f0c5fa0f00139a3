"""Skin weights from the fitted body (``humancrafter.body.skinning``) and the skeleton's
bone convention (``Skeleton.tail_children`` / ``bone_tails``)."""

from __future__ import annotations

import numpy as np
import torch

from humancrafter.body import mannequin, skinning
from humancrafter.body.appearance import Appearance
from humancrafter.body.params import BodyParams
from humancrafter.body.skeleton import JOINT_IDS
from humancrafter.portable import splatfile
from humancrafter.portable.splatfile import Skeleton, Splats


def _body(n: int = 8000) -> tuple[BodyParams, mannequin.SurfaceSamples, Skeleton]:
    params = BodyParams.neutral()
    samples = mannequin.sample_surface(params, Appearance.plain(), n, seed=1)
    return params, samples, skinning.smpl_skeleton(mannequin.joints(params).numpy())


def test_bones_point_along_the_body():
    _, _, sk = _body(100)
    tails = sk.tail_children()
    name = lambda i: sk.names[i]  # noqa: E731
    assert name(tails[JOINT_IDS["pelvis"]]) == "spine1"  # the biggest subtree
    assert name(tails[JOINT_IDS["spine3"]]) == "neck"  # straight on, not a collar
    assert name(tails[JOINT_IDS["left_shoulder"]]) == "left_elbow"
    assert tails[JOINT_IDS["head"]] == -1 and tails[JOINT_IDS["left_hand"]] == -1
    ends = sk.bone_tails()
    head, neck = sk.joints[JOINT_IDS["head"]], sk.joints[JOINT_IDS["neck"]]
    np.testing.assert_allclose(ends[JOINT_IDS["head"]], head + 0.5 * (head - neck), atol=1e-6)


def test_weights_blend_across_the_elbow_whichever_bone_hosts_the_point():
    _, _, sk = _body(100)
    sh, el, wr = (sk.joints[JOINT_IDS[n]].astype(np.float64) for n in
                  ("left_shoulder", "left_elbow", "left_wrist"))  # fmt: skip
    t = np.linspace(0.0, 1.0, 201)[:, None]
    line = np.concatenate([sh + t * (el - sh), el + t[1:] * (wr - el)])  # along the arm
    upper, lower = JOINT_IDS["left_shoulder"], JOINT_IDS["left_elbow"]
    by_upper = skinning.joint_weights(line, np.full(len(line), upper), sk)
    by_lower = skinning.joint_weights(line, np.full(len(line), lower), sk)
    np.testing.assert_allclose(by_upper.sum(1), 1.0, atol=1e-6)
    near_elbow = np.linalg.norm(line - el, axis=1) < 0.2 * np.linalg.norm(el - sh)
    np.testing.assert_allclose(by_upper[near_elbow], by_lower[near_elbow], atol=1e-6)
    at = int(np.argmin(np.linalg.norm(line - el, axis=1)))
    assert abs(by_upper[at, upper] - 0.5) < 0.05 and abs(by_upper[at, lower] - 0.5) < 0.05
    mid_upper = len(t) // 2  # the middle of the upper arm follows the shoulder alone
    assert by_upper[mid_upper, upper] > 0.99
    w = by_upper[:, lower]  # the elbow's share rises smoothly, without a step
    assert (np.diff(w[: len(t)]) >= -1e-6).all() and np.abs(np.diff(w)).max() < 0.05


def test_surface_samples_move_with_their_primitive_joint():
    _, samples, sk = _body()
    bone = samples.bone.numpy()
    part = samples.part.numpy()
    from humancrafter.portable.parts import PART_IDS

    assert set(np.unique(bone[part == PART_IDS["Left_Lower_Leg"]])) == {JOINT_IDS["left_knee"]}
    assert JOINT_IDS["head"] in bone[part == PART_IDS["Face_Neck"]]


def test_rigged_splats_round_trip_and_follow_their_limb():
    params, samples, sk = _body()
    pts = samples.points.detach().numpy()
    n = len(pts)
    s = Splats.from_activated(
        pts, np.full((n, 3), 0.5), np.full(n, 0.9), np.full((n, 3), 0.01),
        np.tile([1.0, 0, 0, 0], (n, 1)), samples.part.numpy(), np.ones(n),
    )  # fmt: skip
    hosts = skinning.nearest_hosts(pts, pts, samples.bone.numpy())
    np.testing.assert_array_equal(hosts, samples.bone.numpy())  # each sample's own joint
    near = skinning.nearest_hosts(pts + np.float32(0.002), pts, samples.bone.numpy())
    assert (near == hosts).mean() > 0.95
    rigged = skinning.rig(s, sk.joints, hosts)
    assert rigged.rigged and rigged.means is s.means and not s.rigged
    np.testing.assert_allclose(rigged.skin_weights.sum(1), 1.0, atol=1e-6)
    back = splatfile.loads(splatfile.dumps(rigged))
    assert back.skeleton.same_as(rigged.skeleton)
    np.testing.assert_array_equal(back.skin_joints, rigged.skin_joints)
    # A shin splat in the middle of the shin follows the knee alone; one at the knee, both.
    dense = np.zeros((n, 24))
    np.put_along_axis(dense, rigged.skin_joints.astype(np.int64), rigged.skin_weights, 1)
    knee, ankle = (sk.joints[JOINT_IDS[k]] for k in ("left_knee", "left_ankle"))
    shin = samples.bone.numpy() == JOINT_IDS["left_knee"]
    along = (pts - knee) @ (ankle - knee) / np.linalg.norm(ankle - knee) ** 2
    middle = shin & (along > 0.45) & (along < 0.55)
    assert middle.sum() > 10 and (dense[middle, JOINT_IDS["left_knee"]] > 0.99).all()
    at_knee = shin & (np.abs(along) < 0.03)
    assert at_knee.sum() > 5
    assert (dense[at_knee, JOINT_IDS["left_hip"]] > 0.2).all()


def test_rig_to_body_uses_the_fitted_pose():
    params = BodyParams.neutral()
    params.pose[JOINT_IDS["left_knee"]] = torch.tensor([1.2, 0.0, 0.0])
    samples = mannequin.sample_surface(params, Appearance.plain(), 4000, seed=2)
    pts = samples.points.detach().numpy()
    n = len(pts)
    s = Splats.from_activated(pts, np.full((n, 3), 0.5), np.full(n, 0.9), np.full((n, 3), 0.01),
                              np.tile([1.0, 0, 0, 0], (n, 1)))  # fmt: skip
    rigged = skinning.rig_to_body(s, params)
    np.testing.assert_allclose(rigged.skeleton.joints, mannequin.joints(params).numpy(), atol=1e-6)
    shin = samples.bone.numpy() == JOINT_IDS["left_knee"]
    top = rigged.skin_joints[np.arange(len(s)), rigged.skin_weights.argmax(1)]
    assert (top[shin] == JOINT_IDS["left_knee"]).mean() > 0.8
