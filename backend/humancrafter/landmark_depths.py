"""Corrections of mediapipe's landmark depths before the body is fitted to them.

mediapipe's depth (z) is its least certain coordinate, and on the sample photos it is
biased in two ways this module undoes:

- :func:`standing_depths`: the shins of people standing straight lean 15-29 degrees and
  the shoulders 1-15 degrees in front of the hips, so the body leans and steps from the
  side;
- :func:`hands_at_head`: a hand at the ear or the chin (on the phone, thinking) is put
  10-15 % of the body's height in front of the face, so from the side the arm reaches
  forward into the air.

Landmarks are mediapipe's 33 (:data:`humancrafter.photo.LANDMARK_NAMES`) in the model
frame (y up, facing +z, about one unit tall, pelvis at the origin).
"""

from __future__ import annotations

import math

import numpy as np

from .photo import LANDMARK_NAMES, REGIONS

LEG_DEPTH_KEEP = 0.15
"""Share kept of a standing person's legs' common depth in front of the hips (the mean
of each left and right landmark): mediapipe's lean, mostly removed."""
LEG_STRIDE_KEEP = 0.5
"""Share kept of the depth between the left and the right leg (a step, which the
published side views show; keeping it at 0.3 like the lean gave 0.003 lower IoU, 1.0 0.005
lower, ``docs/results.md``)."""
TORSO_DEPTH_KEEP = 0.0
"""Share of the shoulders' depth (relative to the hips) kept for a standing person: none,
the shoulders stand straight above the hips (0.5 matched the published side views worse,
``docs/results.md``)."""
STANDING_THIGH = 0.8
"""A person stands when both thighs point down at least this much (cosine to -y)."""
BENDING_DEG = 20.0
"""A torso leaning more than this from upright (in depth) is a bend, not a bias: then
nothing is changed."""
_L = {name: i for i, name in enumerate(LANDMARK_NAMES)}
_SHOULDERS = list(REGIONS["shoulders"])
_HIPS = list(REGIONS["hips"])
_KNEES = list(REGIONS["knees"])
_LEGS = REGIONS["knees"] + REGIONS["feet"]  # knees, ankles, heels, toes: left, right
_FEET = {
    _L[f"{side}_{end}"]: _L[f"{side}_ankle"]
    for side in ("left", "right")
    for end in ("heel", "foot_index")
}  # heel / toe landmark -> its ankle
_UPPER_BODY = slice(0, _HIPS[0])  # head, shoulders, arms and hands: everything above the hips


def standing_depths(landmarks: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Landmarks of a standing person with their depths pulled towards upright.

    mediapipe's depth (z) is its least certain coordinate, and on the sample photos it is
    biased: the shins of people standing straight lean 15-29 degrees (knees in front of
    ankles) and the shoulders 1-15 degrees in front of the hips, which makes the body
    lean and step from the side. For a standing person (both thighs pointing down, knees
    seen, torso within :data:`BENDING_DEG` of upright) the legs' common depth in front
    of the hips keeps :data:`LEG_DEPTH_KEEP` and the step between the left and the right
    leg :data:`LEG_STRIDE_KEEP` (the feet keep their own direction), and the upper body
    moves with its shoulders, which keep
    :data:`TORSO_DEPTH_KEEP`. In a photo that does not show the knees (waist-up) only the
    upper body is stood up, when within :data:`BENDING_DEG` (the legs are settled later,
    :func:`humancrafter.prior.settle_unseen_limbs`). Other poses (sitting, crouching,
    bending) are left as measured.

    Args:
        landmarks: (33, 3) model frame (y up, facing +z). visibility: (33,).
    Returns:
        (33, 3) float32 landmarks.
    """
    lm = landmarks.astype(np.float64)
    hips = lm[_HIPS]
    z_hip = float(hips[:, 2].mean())
    torso = lm[_SHOULDERS].mean(axis=0) - hips.mean(axis=0)
    if abs(math.degrees(math.atan2(torso[2], torso[1]))) > BENDING_DEG:
        return landmarks.astype(np.float32)
    if (visibility[_KNEES] >= 0.5).all():
        thighs = lm[_KNEES] - hips
        down = -thighs[:, 1] / np.maximum(np.linalg.norm(thighs, axis=1), 1e-9)
        if (down < STANDING_THIGH).any():  # sitting or crouching
            return landmarks.astype(np.float32)
        feet = {f: lm[f, 2] - lm[a, 2] for f, a in _FEET.items()}
        for i, j in zip(_LEGS[0::2], _LEGS[1::2], strict=True):  # a left landmark, its right
            common = 0.5 * (lm[i, 2] + lm[j, 2]) - z_hip
            half_stride = 0.5 * (lm[i, 2] - lm[j, 2])
            lm[i, 2] = z_hip + LEG_DEPTH_KEEP * common + LEG_STRIDE_KEEP * half_stride
            lm[j, 2] = z_hip + LEG_DEPTH_KEEP * common - LEG_STRIDE_KEEP * half_stride
        for f, a in _FEET.items():
            lm[f, 2] = lm[a, 2] + feet[f]
    elif (visibility[_KNEES] >= 0.5).any():  # one knee: too little to tell the pose
        return landmarks.astype(np.float32)
    z_shoulders = float(lm[_SHOULDERS, 2].mean())
    lm[_UPPER_BODY, 2] += (TORSO_DEPTH_KEEP - 1.0) * (z_shoulders - z_hip)
    return lm.astype(np.float32)


HEAD_REACH = 0.6
"""A hand is at the head when its centre (index and thumb) lies, in the image plane,
within this many shoulder widths of the head's centre (nose and ears)."""
HEAD_HALF = (0.075, 0.1, 0.09)
"""Half width, half height and front depth of the head (model units), the ellipsoid a
hand at the head rests on."""
HAND_THICKNESS = 0.02
"""A hand at the head lies this far in front of the head's surface (model units)."""
_HEAD = [_L["nose"], _L["left_ear"], _L["right_ear"]]
_EARS = _HEAD[1:]
_HANDS = {
    _L[f"{side}_wrist"]: (
        _L[f"{side}_elbow"],
        [_L[f"{side}_{p}"] for p in ("wrist", "pinky", "index", "thumb")],
        [_L[f"{side}_{p}"] for p in ("index", "thumb")],  # the hand's centre
    )
    for side in ("left", "right")
}  # wrist -> elbow, the hand's landmarks, its fingertips


def hands_at_head(landmarks: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """Landmarks with a hand at the head moved back onto it.

    A seen hand whose centre lies over the head in the image (:data:`HEAD_REACH`) touches
    it: when mediapipe puts it further in front than the head's surface at that point
    (an ellipsoid, :data:`HEAD_HALF`, centred at the ears' depth) plus
    :data:`HAND_THICKNESS`, the hand moves back to it and its elbow half as far. A hand
    behind that surface is left alone (it may be behind the head).

    Args:
        landmarks: (33, 3) model frame. visibility: (33,).
    Returns:
        (33, 3) float32 landmarks; only depths change.
    """
    lm = landmarks.astype(np.float64)
    if (visibility[_HEAD] < 0.5).any() or (visibility[_SHOULDERS] < 0.5).any():
        return landmarks.astype(np.float32)
    centre = np.array([*lm[_HEAD, :2].mean(axis=0), lm[_EARS, 2].mean()])
    reach = HEAD_REACH * float(np.linalg.norm(np.subtract(*lm[_SHOULDERS, :2])))
    ax, ay, az = HEAD_HALF
    for wrist, (elbow, hand, tips) in _HANDS.items():
        if visibility[wrist] < 0.5:
            continue
        tip = lm[tips].mean(axis=0)
        d = tip[:2] - centre[:2]
        if float(np.linalg.norm(d)) > reach:
            continue
        inside = max(0.0, 1.0 - (d[0] / ax) ** 2 - (d[1] / ay) ** 2)
        surface = centre[2] + az * math.sqrt(inside) + HAND_THICKNESS
        dz = surface - tip[2]
        if dz < 0:
            lm[hand, 2] += dz
            lm[elbow, 2] += 0.5 * dz
    return lm.astype(np.float32)
