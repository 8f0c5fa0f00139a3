"""The body's outline fitted to a person mask (``body/girth.py``) and the standing-depth
correction of the landmarks (``prior.standing_depths``), on shapes whose answer is known."""

from __future__ import annotations

import math

import numpy as np

from humancrafter.body.girth import DEPTH_SHARE, fit_girth, snap_to_mask
from humancrafter.landmark_depths import standing_depths
from humancrafter.prior import depth_buffer

RES, FOCAL, EYE_Z = 128, 300.0, 3.0


def project(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A pinhole camera at (0, 0, 3) looking down -z: u right, v down."""
    depth = EYE_Z - p[:, 2]
    uv = np.stack([FOCAL * p[:, 0] / depth + RES / 2, -FOCAL * p[:, 1] / depth + RES / 2], 1)
    return uv, depth


def cylinder(radius: float, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    """Points and normals of a vertical cylinder from y = -0.4 to 0.4 around the y axis."""
    rng = np.random.default_rng(0)
    a, y = rng.uniform(0, 2 * math.pi, n), rng.uniform(-0.4, 0.4, n)
    normals = np.stack([np.cos(a), np.zeros(n), np.sin(a)], 1)
    return np.stack([radius * np.cos(a), y, radius * np.sin(a)], 1), normals


def body_map(points: np.ndarray, bone: np.ndarray) -> np.ndarray:
    uv, depth = project(points)
    return depth_buffer(uv, depth, bone, RES)[1]


def fit(points, normals, mask):
    bone = np.zeros(len(points), np.int64)
    joints = np.array([[0.0, -0.4, 0.0]])
    tails = np.array([[0.0, 0.4, 0.0]])
    inside = np.ones((RES, RES), bool)
    return fit_girth(points, normals, bone, joints, tails, body_map(points, bone), mask,
                     inside, project)  # fmt: skip


def test_a_limb_thinner_than_the_person_is_widened_to_the_mask_and_deepened_less():
    points, normals = cylinder(0.1)
    wide, _ = cylinder(0.13)
    mask = body_map(wide, np.zeros(len(wide), np.int64)) >= 0
    out = fit(points, normals, mask)
    assert out.measured[0].all()
    assert np.allclose(out.k[0], 1.3, atol=0.08)
    width = np.percentile(np.abs(out.points[:, 0]), 99.5)
    depth = np.percentile(np.abs(out.points[:, 2]), 99.5)
    assert abs(width - 0.13) < 0.008
    assert abs(depth - 0.1 * (1 + DEPTH_SHARE * 0.3)) < 0.008
    assert np.allclose(np.linalg.norm(out.normals, axis=1), 1.0, atol=1e-5)
    assert (out.area_scale > 1).all()


def test_a_limb_broader_than_a_slim_person_is_narrowed_and_unchanged_where_it_fits():
    points, normals = cylinder(0.1)
    slim, _ = cylinder(0.08)
    mask = body_map(slim, np.zeros(len(slim), np.int64)) >= 0
    out = fit(points, normals, mask)
    assert np.allclose(out.k[0], 0.8, atol=0.08)
    same = fit(points, normals, body_map(points, np.zeros(len(points), np.int64)) >= 0)
    assert np.allclose(same.k[0], 1.0, atol=0.08)
    assert np.abs(same.points - points).max() < 0.01


def test_what_the_photo_does_not_show_keeps_its_girth():
    points, normals = cylinder(0.1)
    wide, _ = cylinder(0.13)
    mask = body_map(wide, np.zeros(len(wide), np.int64)) >= 0
    bone = np.zeros(len(points), np.int64)
    out = fit_girth(points, normals, bone, np.array([[0.0, -0.4, 0.0]]),
                    np.array([[0.0, 0.4, 0.0]]), body_map(points, bone), mask,
                    np.zeros((RES, RES), bool), project)  # fmt: skip
    assert not out.measured.any()
    assert np.allclose(out.points, points, atol=1e-6)


def test_snap_moves_what_sticks_out_onto_the_mask_and_leaves_far_points_alone():
    mask = np.zeros((RES, RES), bool)
    mask[40:90, 50:80] = True
    inside = np.ones_like(mask)
    depth = EYE_Z
    # One point 3 px right of the mask, one 20 px right, one inside.
    u = np.array([82.5, 99.5, 60.5])
    pts = np.stack([(u - RES / 2) * depth / FOCAL, np.zeros(3), np.zeros(3)], 1)
    out = snap_to_mask(pts, project, FOCAL, mask, inside, max_share=6 / RES)
    uv, _ = project(out.astype(np.float64))
    assert 79 <= uv[0, 0] < 80  # onto the last mask column
    assert np.allclose(out[1:], pts[1:].astype(np.float32))


def standing(shin_tilt_deg: float, torso_tilt_deg: float) -> np.ndarray:
    """33 landmarks of a person standing with legs apart, shins and torso tilted in depth."""
    lm = np.zeros((33, 3))
    t, s = math.radians(shin_tilt_deg), math.radians(torso_tilt_deg)
    for side, x in ((0, 0.1), (1, -0.1)):
        hip, knee, ankle = 23 + side, 25 + side, 27 + side
        lm[hip] = (x, 0.0, 0.0)
        lm[knee] = (x, -0.4, 0.0)
        lm[ankle] = lm[knee] + (0, -0.4 * math.cos(t), -0.4 * math.sin(t))
        lm[29 + side] = lm[ankle] + (0, -0.05, -0.05)  # heel
        lm[31 + side] = lm[ankle] + (0, -0.05, 0.15)  # toes
    up = np.array([0, 0.5 * math.cos(s), 0.5 * math.sin(s)])
    lm[:23] = up + np.array([0, 0.1, 0])  # head and arms around the shoulders
    lm[11], lm[12] = up + (0.18, 0, 0), up + (-0.18, 0, 0)
    return lm.astype(np.float32)


def test_a_standing_person_is_pulled_upright_with_feet_kept():
    lm, vis = standing(25, 10), np.ones(33)
    out = standing_depths(lm, vis)
    shin = out[27] - out[25]
    assert abs(math.degrees(math.atan2(shin[2], -shin[1]))) < 25 * 0.4
    assert np.allclose(out[31] - out[27], lm[31] - lm[27], atol=1e-6)  # the foot's direction
    assert abs(out[[11, 12], 2].mean()) < abs(lm[[11, 12], 2].mean())
    assert np.allclose(out[:, :2], lm[:, :2])  # only depth changes


def test_a_step_forward_keeps_more_of_its_depth_than_the_lean_of_both_legs():
    from humancrafter.landmark_depths import LEG_DEPTH_KEEP, LEG_STRIDE_KEEP

    lm, vis = standing(0, 0), np.ones(33)
    left, right = [25, 27, 29, 31], [26, 28, 30, 32]
    lm[left, 2] += 0.1  # the left leg 0.05 in front of the legs' mean, the right behind
    lm[[*left, *right], 2] += 0.05  # and both 0.05 in front of the hips (mediapipe's lean)
    out = standing_depths(lm, vis)
    assert np.allclose(out[left, 2] - out[right, 2], LEG_STRIDE_KEEP * 0.1, atol=1e-6)
    common = 0.5 * (out[[25, 27], 2] + out[[26, 28], 2])  # knees and ankles (the hips at 0)
    assert np.allclose(common, LEG_DEPTH_KEEP * 0.1, atol=1e-6)
    assert LEG_STRIDE_KEEP > LEG_DEPTH_KEEP


def test_a_bending_or_sitting_person_is_left_as_measured():
    vis = np.ones(33)
    bend = standing(25, 35)
    assert np.array_equal(standing_depths(bend, vis), bend)
    sitting = standing(0, 0)
    sitting[[25, 26], 1], sitting[[25, 26], 2] = -0.05, 0.4  # thighs forward
    assert np.array_equal(standing_depths(sitting, vis), sitting)
    one_knee = np.ones(33)
    one_knee[25] = 0.1
    lm = standing(25, 10)
    assert np.array_equal(standing_depths(lm, one_knee), lm)


def test_a_waist_up_photo_gets_its_upper_body_stood_up_and_its_legs_left_alone():
    lm, waist_up = standing(25, 10), np.ones(33)
    waist_up[25:] = 0.0  # knees and feet out of the frame
    out = standing_depths(lm, waist_up)
    assert abs(out[[11, 12], 2].mean()) < 1e-6  # the shoulders above the hips
    assert np.array_equal(out[23:], lm[23:])  # hips and legs as measured (settled later)
    assert np.allclose(out[:, :2], lm[:, :2])
    assert np.array_equal(standing_depths(standing(25, 35), waist_up), standing(25, 35))


def test_mask_pixels_without_body_get_a_front_and_a_back_sample():
    from humancrafter.body.girth import fill_uncovered

    front = np.full((RES, RES), np.inf)
    back = np.full((RES, RES), -np.inf)
    front[40:90, 50:70], back[40:90, 50:70] = 2.9, 3.1
    parts = np.where(np.isfinite(front), 21, -1)
    bones = np.where(np.isfinite(front), 3, -1)
    mask = np.zeros((RES, RES), bool)
    mask[40:90, 50:74] = True  # four columns of "coat" beyond the body
    eye = np.array([0.0, 0.0, EYE_Z])
    fill = fill_uncovered(front, back, parts, bones, mask, np.ones_like(mask), eye, FOCAL)
    assert len(fill.points) == 2 * 50 * 4
    assert (fill.part == 21).all() and (fill.bone == 3).all()
    uv, depth = project(fill.points.astype(np.float64))
    assert (uv[:, 0] >= 70).all() and (uv[:, 0] < 74).all()
    assert np.allclose(np.sort(np.unique(depth.round(4))), [2.9, 3.1])
    assert set(fill.normals[:, 2].tolist()) == {1.0, -1.0}
    none = fill_uncovered(front, back, parts, bones, mask, np.zeros_like(mask), eye, FOCAL)
    assert len(none.points) == 0  # outside the photo nothing is added


def at_the_phone(hand_z: float, hand_xy=(0.09, 0.38)) -> tuple[np.ndarray, np.ndarray]:
    """33 landmarks of a standing person with the left hand at the head at depth hand_z."""
    lm = standing(0, 0)
    lm[0], lm[7], lm[8] = (0, 0.85, 0.1), (0.07, 0.86, 0.0), (-0.07, 0.86, 0.0)
    lm[13] = (0.2, 0.6, 0.05)  # left elbow raised
    for i in (15, 17, 19, 21):
        lm[i] = (*hand_xy, hand_z)
    lm[[15, 17, 19, 21], 1] += 0.5 - 0.38 + 0.35  # the hand at the ear's height
    return lm, np.ones(33)


def test_a_hand_at_the_head_is_moved_back_onto_it():
    from humancrafter.landmark_depths import HAND_THICKNESS, hands_at_head

    lm, vis = at_the_phone(0.25)  # mediapipe: far in front of the face
    out = hands_at_head(lm, vis)
    assert np.allclose(out[:, :2], lm[:, :2])  # only depth changes
    hand = out[[15, 17, 19, 21], 2]
    assert np.all(hand < 0.1 + HAND_THICKNESS + 1e-6)  # at most the head's front
    assert np.all(hand > 0.0)  # not inside the head
    assert 0.0 < lm[13, 2] - out[13, 2] < 0.25 - hand.max()  # the elbow half as far
    unchanged = np.setdiff1d(np.arange(33), [13, 15, 17, 19, 21])
    assert np.array_equal(out[unchanged], lm[unchanged])


def test_hands_away_from_the_head_or_behind_it_are_left_alone():
    from humancrafter.landmark_depths import hands_at_head

    far, vis = at_the_phone(0.25, hand_xy=(0.35, 0.2))  # out to the side
    assert np.array_equal(hands_at_head(far, vis), far)
    behind, vis = at_the_phone(-0.1)  # behind the head's surface
    assert np.array_equal(hands_at_head(behind, vis), behind)
    unseen, vis = at_the_phone(0.25)
    vis[[0, 7, 8]] = 0.1  # the head is not seen
    assert np.array_equal(hands_at_head(unseen, vis), unseen)
