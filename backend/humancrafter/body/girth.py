"""The body's girth fitted to the photo's silhouette: each bone's cross-section stretched
or narrowed until the body's outline matches the person's mask.

The landmark fit (:mod:`.fit`) places the joints; it knows nothing of how broad a person
or their clothes are, so a slim person gets the mannequin's legs and a coat or a dress
gets none of its volume. Here, in the photo's camera:

1. Each pixel of the body's front surface knows its bone (a depth buffer of the bone ids,
   made by the caller); every person pixel of the mask is given to the bone of the
   nearest body pixel (a Voronoi split of the mask by bone, SciPy's exact Euclidean
   distance transform).
2. For each bone, at :data:`BINS` points along its 2D axis and on both sides of it, a ray
   across the axis measures how far the bone's body pixels reach (``w_body``) and how far
   the mask pixels given to that bone reach (``w_mask``). A ray that runs into another
   bone before leaving the body or the mask, or that leaves the photo, tells nothing;
   its bin borrows from the bone's other bins, then keeps its width.
3. Every surface sample of the bone moves across the bone's 3D axis: its offset in the
   image plane (perpendicular to the bone) is scaled by ``k = w_mask / w_body`` of its
   side and height (interpolated between bins), its offset in depth by
   ``1 + DEPTH_SHARE * (k_mean - 1)``: a person broader than the body from the front is
   taken to be deeper too (girth), by less than the width, since the depth is not seen;
   the caller may deepen some bones further (``depth_scale``: clothes).

Normals follow the stretch (inverse transpose of the local scaling), areas grow with it.
All in the model frame (y up, facing +z) and the caller's pixels (u right, v down).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

BINS = 5
"""Measurements along each bone."""
K_RANGE = (0.7, 1.7)
"""Widths are scaled by at most this much (a held bag or an outstretched scarf must not
make a limb huge; a mask eaten by the background must not make it vanish)."""
HEAD_K_MAX = 1.35
"""The head's width follows loose hair by at most this much (the face must stay a face)."""
DEPTH_SHARE = 0.7
"""Share of the width change that the depth follows (see the module docstring)."""
MIN_AXIS_PX = 3.0
"""A bone shorter than this on screen (seen end-on) keeps its girth."""

ProjectFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(N, 3) model points -> ((N, 2) pixels, (N,) depth in front of the camera)."""


@dataclass
class GirthFit:
    """The result of :func:`fit_girth`.

    Attributes:
        points, normals: (N, 3) float32 moved samples and their unit normals.
        area_scale: (N,) float32 how much each sample's surface area grew.
        k: (J, BINS, 2) width scale per bone, bin and side (-1 side first), 1 where unfit.
        measured: (J, BINS, 2) bool, where k was measured rather than borrowed.
    """

    points: np.ndarray
    normals: np.ndarray
    area_scale: np.ndarray
    k: np.ndarray
    measured: np.ndarray


CLOSE_PX = 2
"""Pinholes of the body's bone map up to about this size are closed before measuring."""
STEP_PX = 0.5
"""Step of the rays across the bones, pixels."""


def _march(
    starts: np.ndarray, dirs: np.ndarray, labels: np.ndarray, ok: np.ndarray, bones: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Walk R rays at once from ``starts`` (R, 2) pixels along unit ``dirs`` (R, 2).

    Returns:
        (R,) the distance (pixels) at which ``labels`` stops being the ray's bone
        (``bones``, (R,)), and (R,) bool whether it stopped at an ``ok`` pixel that is
        unlabelled (-1), i.e. at the region's outer edge rather than at another bone or at
        the photo's edge.
    """
    h, w = labels.shape
    r = np.arange(0.0, max(h, w) / 2, STEP_PX)
    p = starts[:, None, :] + r[None, :, None] * dirs[:, None, :]  # (R, S, 2)
    u, v = np.floor(p[..., 0]).astype(np.int64), np.floor(p[..., 1]).astype(np.int64)
    on = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    u, v = np.clip(u, 0, w - 1), np.clip(v, 0, h - 1)
    lab = np.where(on & ok[v, u], labels[v, u], -2)  # -2: off the photo
    stop = lab != bones[:, None]
    first = np.where(stop.any(axis=1), stop.argmax(axis=1), len(r) - 1)
    at = lab[np.arange(len(starts)), first]
    return r[first], stop.any(axis=1) & (at == -1)


def measure_widths(
    bone_map: np.ndarray,
    mask: np.ndarray,
    inside: np.ndarray,
    axes: np.ndarray,
    bones: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Width ratios mask / body across each bone's axis (steps 1-2 of the module docstring).

    Args:
        bone_map: (H, W) int64 bone of the body's front surface per pixel, -1 where none.
        mask: (H, W) bool person pixels. inside: (H, W) bool pixels inside the photo.
        axes: (J, 2, 2) each bone's axis as (head, tail) pixels.
        bones: the bones to measure.
    Returns:
        k: (J, BINS, 2) float64 ratios (1 where not measured), measured: (J, BINS, 2) bool.
    """
    # Samples projected to pixels leave pinholes: close them, labelled by the nearest.
    seen = bone_map >= 0
    _, (iy, ix) = ndimage.distance_transform_edt(~seen, return_indices=True)
    body = ndimage.binary_closing(seen, iterations=CLOSE_PX) | seen
    bone_map = np.where(body, bone_map[iy, ix], -1)
    voronoi = np.where(mask, bone_map[iy, ix], -1)
    k = np.ones((len(axes), BINS, 2))
    measured = np.zeros((len(axes), BINS, 2), bool)
    rays = []  # (bone, bin, side, start, direction)
    for b in bones:
        a0, a1 = axes[b]
        length = float(np.linalg.norm(a1 - a0))
        if length < MIN_AXIS_PX:
            continue
        along = (a1 - a0) / length
        normal = np.array([-along[1], along[0]])
        for i in range(BINS):
            centre = a0 + (i + 0.5) / BINS * (a1 - a0)
            for side, sign in enumerate((-1.0, 1.0)):
                rays.append((b, i, side, centre, sign * normal))
    if not rays:
        return k, measured
    b_, i_, s_ = (np.array([r[n] for r in rays]) for n in range(3))
    starts, dirs = np.stack([r[3] for r in rays]), np.stack([r[4] for r in rays])
    w_body, edge_body = _march(starts, dirs, bone_map, inside, b_)
    w_mask, edge_mask = _march(starts, dirs, voronoi, inside, b_)
    good = edge_body & edge_mask & (w_body >= 1)
    k[b_[good], i_[good], s_[good]] = w_mask[good] / w_body[good]
    measured[b_[good], i_[good], s_[good]] = True
    return k, measured


def _fill(k: np.ndarray, measured: np.ndarray, head: int | None) -> np.ndarray:
    """Clip measured ratios to :data:`K_RANGE` and give unmeasured bins the median of
    their side's measured bins, else of the bone's, else 1."""
    out = np.clip(k, *K_RANGE)
    if head is not None:
        out[head] = np.minimum(out[head], HEAD_K_MAX)
    for b in range(len(k)):
        if not measured[b].any():
            out[b] = 1.0
            continue
        for side in (0, 1):
            m = measured[b, :, side]
            ref = out[b, m, side] if m.any() else out[b][measured[b]]
            out[b, ~m, side] = np.median(ref)
    return out


def fit_girth(
    points: np.ndarray,
    normals: np.ndarray,
    sample_bone: np.ndarray,
    joints: np.ndarray,
    tails: np.ndarray,
    bone_map: np.ndarray,
    mask: np.ndarray,
    inside: np.ndarray,
    project: ProjectFn,
    head: int | None = None,
    depth_scale: np.ndarray | None = None,
) -> GirthFit:
    """Stretch each bone's samples across its axis to the photo's silhouette.

    Args:
        points, normals: (N, 3) surface samples, model frame. sample_bone: (N,) int64
            joint each sample moves with.
        joints, tails: (J, 3) where each bone starts and ends (model frame;
            ``Skeleton.bone_tails``).
        bone_map, mask, inside: (H, W) at the pixels of ``project`` (see
            :func:`measure_widths`).
        project: model points -> pixels and depth in the photo's camera.
        head: the head joint (its width is capped at :data:`HEAD_K_MAX`), or None.
        depth_scale: (J,) a factor on each bone's depth on top of the fit (clothing the
            bare body does not have), or None for 1.
    """
    pts = points.astype(np.float64)
    jn = len(joints)
    depth_scale = np.ones(jn) if depth_scale is None else np.asarray(depth_scale, np.float64)
    uv_j, _ = project(np.asarray(joints, np.float64))
    uv_t, _ = project(np.asarray(tails, np.float64))
    axes = np.stack([uv_j, uv_t], axis=1)
    bones = sorted(int(b) for b in np.unique(sample_bone))
    k_raw, measured = measure_widths(bone_map, mask, inside, axes, bones)
    k = _fill(k_raw, measured, head)

    out_p, out_n = pts.copy(), normals.astype(np.float64).copy()
    area = np.ones(len(pts))
    uv_p, _ = project(pts)
    for b in bones:
        sel = np.flatnonzero(sample_bone == b)
        a3 = np.asarray(tails[b], np.float64) - np.asarray(joints[b], np.float64)
        length3 = float(np.linalg.norm(a3))
        a2 = axes[b, 1] - axes[b, 0]
        length2 = float(np.linalg.norm(a2))
        if length3 < 1e-6 or length2 < MIN_AXIS_PX:
            continue
        a3 /= length3
        e3 = np.cross(a3, [0.0, 0.0, 1.0])  # across the bone, in the image plane
        if np.linalg.norm(e3) < 1e-3:
            continue
        e3 /= np.linalg.norm(e3)
        # e3 must point to the image side whose k is k[b, :, 1] (+normal in pixels).
        normal2 = np.array([-a2[1], a2[0]]) / length2
        probe, _ = project(np.stack([joints[b], joints[b] + 0.01 * e3]).astype(np.float64))
        if float((probe[1] - probe[0]) @ normal2) < 0:
            e3 = -e3
        f3 = np.cross(a3, e3)  # across the bone, in depth
        p = pts[sel]
        t = np.clip((p - joints[b]) @ a3 / length3, 0.0, 1.0)
        centre = joints[b] + (t * length3)[:, None] * a3
        off = p - centre
        oe, of = off @ e3, off @ f3
        # Bin position of each sample from its own projection along the 2D axis.
        s = np.clip((uv_p[sel] - axes[b, 0]) @ (a2 / length2) / length2, 0.0, 1.0)
        x = np.clip(s * BINS - 0.5, 0, BINS - 1)
        k_side = np.stack([np.interp(x, np.arange(BINS), k[b, :, side]) for side in (0, 1)], axis=1)
        ke = np.where(oe >= 0, k_side[:, 1], k_side[:, 0])
        kf = depth_scale[b] * (1.0 + DEPTH_SHARE * (k_side.mean(axis=1) - 1.0))
        out_p[sel] = p + ((ke - 1) * oe)[:, None] * e3 + ((kf - 1) * of)[:, None] * f3
        n = out_n[sel]
        ne, nf = n @ e3, n @ f3
        n = n + ((1 / ke - 1) * ne)[:, None] * e3 + ((1 / kf - 1) * nf)[:, None] * f3
        out_n[sel] = n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        area[sel] = 0.5 * (ke + kf)
    return GirthFit(
        points=out_p.astype(np.float32),
        normals=out_n.astype(np.float32),
        area_scale=area.astype(np.float32),
        k=k,
        measured=measured,
    )


def snap_to_mask(
    points: np.ndarray,
    project: ProjectFn,
    focal: float,
    mask: np.ndarray,
    inside: np.ndarray,
    max_share: float,
) -> np.ndarray:
    """Move samples whose projection falls off the person mask onto its nearest pixel.

    The last step of fitting the body's outline: after the girth fit, what still sticks
    out of the person (a limb a little off, a body broader than a slim person at one
    height) is moved across the viewing direction, parallel to the image, to the nearest
    mask pixel's centre: every sample at a pixel moves the same way, so the surface stays
    whole. Pixels outside the photo and moves longer than ``max_share`` of the mask's side
    are left alone.

    Args:
        points: (N, 3) model frame. project: as in :func:`fit_girth`, for a camera that
            looks down -z with pixels u right and v down. focal: its focal length in
            those pixels. mask, inside: (H, W) bool.
    Returns:
        (N, 3) float32 moved points.
    """
    h, w = mask.shape
    if not mask.any():  # nothing to move onto
        return points.astype(np.float32)
    dist, (iy, ix) = ndimage.distance_transform_edt(~mask, return_indices=True)
    uv, depth = project(points.astype(np.float64))
    px = np.floor(uv).astype(np.int64)
    ok = (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    px = np.clip(px, 0, [w - 1, h - 1])
    move = ok & inside[px[:, 1], px[:, 0]] & (dist[px[:, 1], px[:, 0]] > 0)
    move &= dist[px[:, 1], px[:, 0]] <= max_share * max(h, w)
    target = np.stack([ix[px[:, 1], px[:, 0]], iy[px[:, 1], px[:, 0]]], axis=1) + 0.5
    d = np.where(move[:, None], target - uv, 0.0)
    out = points.astype(np.float64).copy()
    out[:, 0] += d[:, 0] * depth / focal
    out[:, 1] -= d[:, 1] * depth / focal
    return out.astype(np.float32)


@dataclass
class RimFill:
    """Samples added where the person mask has no body (loose hair, a coat's flare, a
    bag): a front and a back sample per uncovered pixel (see :func:`fill_uncovered`).

    Attributes:
        points, normals: (M, 3) float32 model frame. area: (M,) float32 model units squared.
        part, bone: (M,) int64 copied from the nearest body pixel.
    """

    points: np.ndarray
    normals: np.ndarray
    area: np.ndarray
    part: np.ndarray
    bone: np.ndarray


def fill_uncovered(
    front: np.ndarray,
    back: np.ndarray,
    part_map: np.ndarray,
    bone_map: np.ndarray,
    mask: np.ndarray,
    inside: np.ndarray,
    eye: np.ndarray,
    focal: float,
) -> RimFill:
    """Close the person's outline where the fitted body still does not reach it.

    Every mask pixel inside the photo that no body sample covers (pinholes between the
    samples closed first, :data:`CLOSE_PX`) gets two samples on the
    camera ray through its centre: one at the front depth and one at the back depth of
    the nearest covered pixel, facing the camera and facing away; they carry that
    pixel's part and bone. The colouring then treats them like any other sample (the
    front one takes the photo's colour, the back one its part's).

    Args:
        front, back: (H, W) float nearest and farthest body depth per pixel (inf / -inf
            where no body). part_map, bone_map: (H, W) int64 at the nearest depth (-1 none).
        mask, inside: (H, W) bool. eye: (3,) the camera centre; it looks down -z with
            pixels u right, v down and ``focal`` pixels of focal length, principal point at
            the image centre.
    """
    h, w = mask.shape
    covered = np.isfinite(front)
    closed = ndimage.binary_closing(covered, iterations=CLOSE_PX) | covered
    todo = mask & inside & ~closed
    if not todo.any() or not covered.any():
        empty = np.zeros((0, 3), np.float32)
        none = np.zeros(0, np.int64)
        return RimFill(empty, empty, np.zeros(0, np.float32), none, none)
    _, (iy, ix) = ndimage.distance_transform_edt(~covered, return_indices=True)
    v, u = np.nonzero(todo)
    ny, nx = iy[v, u], ix[v, u]
    pts, nrm, area = [], [], []
    for depth, facing in ((front[ny, nx], 1.0), (back[ny, nx], -1.0)):
        x = (u + 0.5 - w / 2) * depth / focal
        y = -(v + 0.5 - h / 2) * depth / focal
        p = np.stack([eye[0] + x, eye[1] + y, eye[2] - depth], axis=1)
        pts.append(p)
        nrm.append(np.tile([0.0, 0.0, facing], (len(p), 1)))
        area.append((depth / focal) ** 2)
    part, bone = part_map[ny, nx], bone_map[ny, nx]
    return RimFill(
        points=np.concatenate(pts).astype(np.float32),
        normals=np.concatenate(nrm).astype(np.float32),
        area=np.concatenate(area).astype(np.float32),
        part=np.concatenate([part, part]).astype(np.int64),
        bone=np.concatenate([bone, bone]).astype(np.int64),
    )
