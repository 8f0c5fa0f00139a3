"""The ``prior`` reconstruction: a body posed from the photo, covered in Gaussians coloured
from the photo. No network; the baseline the learned model must beat and the fallback.

Steps (:func:`reconstruct_prior`):

1. Photo front-end (:mod:`humancrafter.photo`): mask, square crop, 33 landmarks.
2. Outfit (:func:`humancrafter.outfit.infer_outfit`): sleeves, trousers or shorts, bare
   feet and long hair are read off the photo by comparing limb colours with the face's
   skin colour, so the body's part labels (Upper_Clothing vs. bare arms, ...) follow the
   person.
3. Pose fit (:func:`humancrafter.body.fit.fit_to_landmarks`): the mannequin (or an SMPL
   body, :mod:`humancrafter.smpl_adapter`) posed to the landmarks, whose depths are first
   corrected (:mod:`humancrafter.landmark_depths`: a standing person pulled upright, a
   hand at the head put on it); limbs the photo does not show at all hang relaxed
   (:func:`settle_unseen_limbs`).
4. Surface samples with exact part labels, normals and area.
5. Photo camera (:func:`fit_photo_camera`): a pinhole camera in front of the body
   (azimuth 0, looking down -z) placed from the 2D/3D landmarks, then moved and scaled so
   the body's silhouette best overlaps the person mask (IoU).
5b. Outline (:func:`fit_body_girth`, :mod:`humancrafter.body.girth`): each bone's samples
   stretched or narrowed across the bone to the person mask (deeper too: girth), the
   torso, legs and head deepened for clothes and hair (:data:`TORSO_DEPTH`, ...), what
   still sticks out moved onto the mask, and front and back samples added where the mask
   has no body (loose hair, a coat; :func:`fill_outline`), in place of as many body
   samples so the count stays.
6. Colours (:func:`colour_samples`): samples seen by that camera (facing it, in front of the
   depth buffer, inside the person mask) take the photo's colour; hidden ones take the
   photo colour "through" the body, blurred broadly (:data:`THROUGH_BLUR`), where the
   front surface at that pixel is the same part and close to that part's median colour
   (the back of a shirt looks like its
   front, without copying a logo or a bag held in front; never for the head, whose back
   must not get a face), else the median seen colour of their part, of its mirror part,
   of the skin (for skin parts), or the body's own plain colour. Hair samples that land
   on skin in the photo take the hair colour measured above the forehead
   (:func:`humancrafter.outfit.face_colours`). Then sleeves and hems follow the photo
   (:func:`humancrafter.part_evidence.relabel_limbs`: each band of an arm or leg is bare
   or clothed as its seen colours say against the face's skin; mannequin only) and the
   samples are coloured again with their new labels.
7. Gaussians (:func:`splats_from_samples`): one flat Gaussian per sample, lying in the
   surface (thin along the normal), sized from the sample's area, rigged to the fitted
   skeleton with the skin weights of :mod:`humancrafter.body.skinning` (each sample
   follows the joint of its own primitive, blended across joints).

All geometry is in the model frame (y up, facing +z, ~1 unit tall) and the crop's pixels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from .body.girth import GirthFit, RimFill, fill_uncovered, fit_girth, snap_to_mask
from .body.mannequin import BodyParams
from .body.skeleton import JOINT_IDS
from .cameras import Cameras, intrinsics, look_at
from .landmark_depths import hands_at_head, standing_depths
from .outfit import face_colours, infer_outfit, skin_like
from .part_evidence import relabel_limbs
from .photo import PhotoAnalysis
from .portable.parts import MIRROR, PART_IDS
from .portable.splatfile import Splats

PHOTO_FOV_DEG = 50.0
"""Assumed vertical field of view of the photo's crop: the real sample photos match best
at about 50 degrees (``docs/design.md``, facts); the one assumption of every mode (the
network modes' cameras too, :mod:`humancrafter.photo_views`). 30 degrees, used here until
2026-12-07, measured 0.005 lower silhouette IoU against the published results
(``docs/results.md``)."""
DEPTH_RES = 256
"""Resolution of the depth buffer used for visibility (pixels per crop side)."""
SILHOUETTE_RES = 128
"""Resolution at which the body silhouette is matched to the person mask."""
GIRTH_RES = 256
"""Resolution at which the body's outline is fitted to the person mask (pixels per crop
side; :func:`fit_body_girth`)."""
SNAP_MAX = 6.0 / 128
"""What still sticks out of the person after the girth fit is moved onto the mask by at
most this share of the crop's side (:func:`humancrafter.body.girth.snap_to_mask`)."""
DEPTH_TOLERANCE = 0.03
"""A sample counts as unoccluded when it lies at most this far (model units) behind the
front surface of its depth-buffer pixel."""
TANGENT_SIGMA = 1.1
"""Gaussian standard deviation in the surface, as a multiple of sqrt(sample area / pi):
large enough that the random samples' gaps close when rendered at 512 pixels (0.9 left
pinholes there: 90 % of the worst view solid on 4 sample photos, 94 % at 1.1), small
enough to keep the photo's detail (1.5 cost 0.1 dB and the input view's edge)."""
NORMAL_SIGMA = 0.2
"""Standard deviation along the normal, as a fraction of the tangent one (flat-ish)."""
OPACITY = 0.95
THROUGH_BLUR = 24
"""Through colours are the photo blurred by about 1/THROUGH_BLUR of the crop: the broad
colours of a garment reach its back, its buttons and prints do not. Whether a pixel may
give its colour at all is decided on a finer blur (1/64 of the crop), so a tie or a held
bag, far from the garment's colour there, gives none."""
THROUGH_MAX_DISTANCE = 0.25
"""A through colour is used only within this RGB distance of its part's median seen colour."""
HIP_GUESS_WEIGHT = 0.3
"""Visibility given to mediapipe's hip estimates when the hips are out of view."""

SEEN, THROUGH, PART_MEDIAN, GUESSED = 0, 1, 2, 3
"""Colour sources per sample (see :func:`colour_samples`)."""

_SKIN_PARTS = tuple(
    PART_IDS[n]
    for n in (
        "Face_Neck", "Left_Hand", "Right_Hand", "Left_Foot", "Right_Foot", "Left_Lower_Arm",
        "Right_Lower_Arm", "Left_Upper_Arm", "Right_Upper_Arm", "Left_Lower_Leg",
        "Right_Lower_Leg", "Left_Upper_Leg", "Right_Upper_Leg", "Torso",
    )
)  # fmt: skip


_HEAD_PARTS = tuple(
    PART_IDS[n]
    for n in ("Face_Neck", "Hair", "Upper_Lip", "Lower_Lip", "Upper_Teeth", "Lower_Teeth", "Tongue")
)
"""Parts never coloured "through" the body (the back of the head must not get a face)."""


@dataclass
class PhotoCamera:
    """The photo crop's pinhole camera, looking down -z from in front of the body.

    Attributes:
        eye: (3,) camera centre, model frame. focal: focal length in crop pixels.
        size: crop side in pixels (principal point at its centre).
    """

    eye: np.ndarray
    focal: float
    size: int

    def cameras(self, size: int | None = None) -> Cameras:
        """The camera in the project's convention (:mod:`humancrafter.cameras`) at ``size``
        pixels, e.g. to render a result from the photo's viewpoint."""
        s = self.size if size is None else size
        eye = torch.tensor(self.eye, dtype=torch.float32)[None]
        target = eye - torch.tensor([0.0, 0.0, 1.0])
        K = intrinsics(PHOTO_FOV_DEG, s, s)
        K[0, 0] = K[1, 1] = self.focal * s / self.size
        return Cameras(look_at(eye, target), K[None], s, s)

    def project(self, points: np.ndarray, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) model points -> (N, 2) pixels (u right, v down) at ``size`` and (N,) depth
        (distance along the viewing direction, positive in front)."""
        s = self.size if size is None else size
        f = self.focal * s / self.size
        rel = points.astype(np.float64) - self.eye
        depth = -rel[:, 2]
        z = np.maximum(depth, 1e-6)
        uv = np.stack([f * rel[:, 0] / z + s / 2, -f * rel[:, 1] / z + s / 2], axis=1)
        return uv, depth


def _focal(size: int, fov_deg: float = PHOTO_FOV_DEG) -> float:
    return float(intrinsics(fov_deg, size, size)[1, 1])


def camera_from_landmarks(
    landmarks_model: np.ndarray,
    landmarks_px: np.ndarray,
    visibility: np.ndarray,
    size: int,
    fov_deg: float = PHOTO_FOV_DEG,
) -> PhotoCamera:
    """Place the camera so the seen landmarks project onto their pixels.

    Weak perspective (one scale and a 2D shift, least squares over landmarks with
    visibility >= 0.5) gives distance and offset; the focal length is the one of
    ``fov_deg`` (the crop's assumed vertical field of view).

    Args:
        landmarks_model: (33, 3) model frame. landmarks_px: (33, 2) crop pixels.
        visibility: (33,). size: crop side in pixels.
    """
    seen = visibility >= 0.5
    if seen.sum() < 3:
        seen = np.argsort(-visibility)[:3]
    X, uv = landmarks_model[seen].astype(np.float64), landmarks_px[seen].astype(np.float64)
    n = len(X)
    # u = a x + bu, v = -a y + bv
    A = np.zeros((2 * n, 3))
    A[:n, 0], A[:n, 1] = X[:, 0], 1.0
    A[n:, 0], A[n:, 2] = -X[:, 1], 1.0
    rhs = np.concatenate([uv[:, 0], uv[:, 1]])
    (a, bu, bv), *_ = np.linalg.lstsq(A, rhs, rcond=None)
    a = max(float(a), 1e-3)
    f = _focal(size, fov_deg)
    d = f / a
    tx = (size / 2 - bu) / a
    ty = (bv - size / 2) / a
    z_ref = float(np.median(X[:, 2]))
    return PhotoCamera(eye=np.array([tx, ty, z_ref + d]), focal=f, size=size)


def _occupancy(uv: np.ndarray, res: int) -> np.ndarray:
    """(N, 2) pixels at ``res`` -> (res, res) bool, pixels hit by at least one point, with
    one-pixel holes closed."""
    ij = np.floor(uv).astype(np.int64)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < res) & (ij[:, 1] >= 0) & (ij[:, 1] < res)
    occ = np.zeros(res * res, bool)
    occ[ij[ok, 1] * res + ij[ok, 0]] = True
    occ = occ.reshape(res, res)
    pad = np.pad(occ, 1)
    n = sum(
        pad[1 + dy : 1 + dy + res, 1 + dx : 1 + dx + res] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    )
    return occ | (n >= 5)


def _resized(a: np.ndarray, res: int) -> np.ndarray:
    """(H, W) float image in [0, 1] -> (res, res) float32, area-averaged (any H / res)."""
    img = Image.fromarray(np.clip(a * 255, 0, 255).astype(np.uint8))
    return np.asarray(img.resize((res, res), Image.BOX)).astype(np.float32) / 255


def _downsample(a: np.ndarray, res: int) -> np.ndarray:
    k = a.shape[0] // res
    return a[: k * res, : k * res].reshape(res, k, res, k).mean(axis=(1, 3))


def fit_photo_camera(
    points: np.ndarray, analysis: PhotoAnalysis, init: PhotoCamera
) -> tuple[PhotoCamera, float]:
    """Move and scale the camera so the body's silhouette overlaps the person mask best.

    Pattern search (all 26 neighbouring moves, steps halving) over an image-space shift (at
    most 8 % of the crop) and a zoom (at most +-12 %), comparing silhouettes at
    :data:`SILHOUETTE_RES` inside the photo only (a body part outside the photo's frame is
    neither right nor wrong).

    Args:
        points: (N, 3) body surface samples, model frame.
        analysis: the photo (its mask and ``inside``).
        init: camera from :func:`camera_from_landmarks`.
    Returns:
        The camera and the silhouette IoU it reaches.
    """
    res = SILHOUETTE_RES
    mask = _downsample(analysis.mask, res) > 0.5
    inside = _downsample(analysis.inside.astype(np.float32), res) > 0.5
    uv0, _ = init.project(points, res)
    centre = np.median(uv0, axis=0)

    def iou(du: float, dv: float, zoom: float) -> float:
        uv = (uv0 - centre) * zoom + centre + np.array([du, dv])
        occ = _occupancy(uv, res) & inside
        m = mask & inside
        union = (occ | m).sum()
        return float((occ & m).sum()) / max(int(union), 1)

    best = (0.0, 0.0, 1.0)
    best_iou = iou(*best)
    limit = 0.08 * res
    for step in (4.0, 2.0, 1.0, 0.5):
        improved = True
        while improved:
            improved = False
            du, dv, zoom = best
            z = 1 + step / 100
            for cand in (
                (du + a * step, dv + b * step, zoom * z**c)
                for a in (-1, 0, 1)
                for b in (-1, 0, 1)
                for c in (-1, 0, 1)
                if (a, b, c) != (0, 0, 0)
            ):
                if max(abs(cand[0]), abs(cand[1])) > limit or not 0.88 <= cand[2] <= 1.12:
                    continue
                value = iou(*cand)
                if value > best_iou + 1e-6:
                    best, best_iou, improved = cand, value, True
    du, dv, zoom = best
    # Image-space shift and zoom -> camera move: zoom about the body's centre pixel comes
    # from moving closer; a shift moves the camera sideways at the body's depth.
    f = init.focal * res / init.size
    depth = float(np.median(init.project(points, res)[1]))
    c_world_shift = (centre - res / 2) * depth / f  # centre pixel offset in model units
    new_depth = depth / zoom
    eye = init.eye.copy()
    eye[2] += new_depth - depth
    eye[0] += c_world_shift[0] * (1 - 1 / zoom) - du * new_depth / f
    eye[1] += -c_world_shift[1] * (1 - 1 / zoom) + dv * new_depth / f
    return PhotoCamera(eye=eye, focal=init.focal, size=init.size), best_iou


def depth_buffer(
    uv: np.ndarray, depth: np.ndarray, part: np.ndarray, res: int
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest depth and its part per pixel from projected points.

    Args:
        uv: (N, 2) pixels at ``res``. depth: (N,). part: (N,) int64.
    Returns:
        zbuf: (res, res) float64 nearest depth (inf where nothing projects), with
        one-pixel holes filled from the nearest neighbour depth. front_part: (res, res)
        int64 part of that nearest point (-1 where nothing).
    """
    ij = np.floor(uv).astype(np.int64)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < res) & (ij[:, 1] >= 0) & (ij[:, 1] < res) & (depth > 0)
    flat = ij[ok, 1] * res + ij[ok, 0]
    d, p = depth[ok], part[ok]
    order = np.lexsort((d, flat))  # by pixel, then nearest first
    flat, d, p = flat[order], d[order], p[order]
    first = np.ones(len(flat), bool)
    first[1:] = flat[1:] != flat[:-1]
    zbuf = np.full(res * res, np.inf)
    front = np.full(res * res, -1, np.int64)
    zbuf[flat[first]] = d[first]
    front[flat[first]] = p[first]
    zbuf, front = zbuf.reshape(res, res), front.reshape(res, res)
    # Fill isolated holes: a 3x3 minimum over the neighbours where the pixel is empty.
    pz = np.pad(zbuf, 1, constant_values=np.inf)
    pf = np.pad(front, 1, constant_values=-1)
    best_z, best_f = zbuf.copy(), front.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            nz = pz[1 + dy : 1 + dy + res, 1 + dx : 1 + dx + res]
            nf = pf[1 + dy : 1 + dy + res, 1 + dx : 1 + dx + res]
            take = np.isinf(zbuf) & (nz < best_z)
            best_z = np.where(take, nz, best_z)
            best_f = np.where(take, nf, best_f)
    return best_z, best_f


def _bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Sample an (H, W, C) or (H, W) float image at (N, 2) continuous pixels (centres at +0.5)."""
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] - 0.5, 0, w - 1)
    y = np.clip(uv[:, 1] - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    if image.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def _box_blur(a: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2 radius + 1)^2 window (edges clamped) of an (H, W, ...) array."""
    size = (2 * radius + 1, 2 * radius + 1) + (1,) * (a.ndim - 2)
    return ndimage.uniform_filter(a.astype(np.float64), size=size, mode="nearest")


def _soft_photo(photo: np.ndarray, person: np.ndarray, radius: int) -> np.ndarray:
    """The photo blurred within the person (background does not bleed in): three box
    blurs (close to a Gaussian of sigma ~ radius) of photo x mask over those of the mask."""
    w = person.astype(np.float64)
    num, den = photo * w[..., None], w
    for _ in range(3):
        num, den = _box_blur(num, radius), _box_blur(den, radius)
    return (num / np.maximum(den, 1e-6)[..., None]).astype(np.float32)


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    h, w = mask.shape
    pad = np.pad(mask, radius, constant_values=False)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out &= pad[radius + dy : radius + dy + h, radius + dx : radius + dx + w]
    return out


@dataclass
class Colouring:
    """Colours of the surface samples.

    Attributes:
        rgb: (N, 3) float32 in [0, 1].
        source: (N,) int8 :data:`SEEN`, :data:`THROUGH`, :data:`PART_MEDIAN` or :data:`GUESSED`.
        part_conf: (N,) float32 confidence of each sample's part label in [0, 1]: high where
            the body lies inside the person mask, lower outside it or outside the photo.
    """

    rgb: np.ndarray
    source: np.ndarray
    part_conf: np.ndarray


class PhotoBlurs(NamedTuple):
    """The photo blurred within the person (:func:`photo_blurs`), (S, S, 3) float32 each:
    ``soft`` (sigma ~ S/64) to compare a through colour with its part, ``broad`` (sigma ~
    S/:data:`THROUGH_BLUR`) to paint it."""

    soft: np.ndarray
    broad: np.ndarray


def photo_blurs(analysis: PhotoAnalysis) -> PhotoBlurs:
    """The blurred photos :func:`colour_samples` needs, made once per photo."""
    size = analysis.image.shape[0]
    photo = analysis.image.astype(np.float32) / 255.0
    person = _erode(analysis.mask > 0.5, max(1, size // 256))
    return PhotoBlurs(
        _soft_photo(photo, person, max(2, size // 64)),
        _soft_photo(photo, person, max(2, size // THROUGH_BLUR)),
    )


def colour_samples(
    points: np.ndarray,
    normals: np.ndarray,
    part: np.ndarray,
    plain_rgb: np.ndarray,
    analysis: PhotoAnalysis,
    camera: PhotoCamera,
    blurs: PhotoBlurs | None = None,
) -> Colouring:
    """Colour surface samples from the photo (see the module docstring, step 6).

    Args:
        points, normals: (N, 3) model frame. part: (N,) int64 Sapiens ids.
        plain_rgb: (N, 3) the body's own colours (used where nothing better is known).
        analysis: the photo. camera: its fitted camera.
        blurs: :func:`photo_blurs` of ``analysis`` when already made, else None.
    """
    size = analysis.image.shape[0]
    photo = analysis.image.astype(np.float32) / 255.0
    uv, depth = camera.project(points)
    scale = DEPTH_RES / size
    zbuf, front = depth_buffer(uv * scale, depth, part, DEPTH_RES)
    ij = np.clip(np.floor(uv * scale).astype(np.int64), 0, DEPTH_RES - 1)
    z_front = zbuf[ij[:, 1], ij[:, 0]]
    front_part = front[ij[:, 1], ij[:, 0]]
    in_crop = (uv >= 0).all(axis=1) & (uv < size).all(axis=1)
    px = np.clip(np.floor(uv).astype(np.int64), 0, size - 1)
    inside = in_crop & analysis.inside[px[:, 1], px[:, 0]]
    person = _erode(analysis.mask > 0.5, max(1, size // 256))
    in_mask = inside & person[px[:, 1], px[:, 0]]
    to_cam = camera.eye[None, :] - points
    facing = (normals * to_cam).sum(axis=1) > 0
    unoccluded = depth <= z_front + DEPTH_TOLERANCE
    seen = facing & unoccluded & in_mask
    through = ~seen & in_mask & (front_part == part) & ~np.isin(part, _HEAD_PARTS)

    photo_rgb = _bilinear(photo, uv)
    rgb = plain_rgb.astype(np.float32).copy()
    source = np.full(len(points), GUESSED, np.int8)
    rgb[seen], source[seen] = photo_rgb[seen], SEEN

    skin, hair = face_colours(analysis)
    hair_id = PART_IDS["Hair"]
    if hair is not None and skin is not None:
        # The body's hair rarely lines up with the photo's: hair samples that landed on
        # skin (forehead, face) take the hair colour instead.
        wrong = (part == hair_id) & seen & skin_like(rgb, skin)
        rgb[wrong], source[wrong], seen = plain_rgb[wrong], GUESSED, seen & ~wrong
    medians: dict[int, np.ndarray] = {}
    for p in np.unique(part):
        sel = seen & (part == p)
        if sel.sum() >= 10:
            medians[int(p)] = np.median(photo_rgb[sel], axis=0)
    if hair is not None:
        medians[hair_id] = hair

    # Through colours only where they resemble the part (a bag or a hand held in front of
    # a coat must not print onto its back).
    blurs = photo_blurs(analysis) if blurs is None else blurs
    soft_rgb, broad_rgb = _bilinear(blurs.soft, uv), _bilinear(blurs.broad, uv)
    median_of = np.array([medians.get(int(p), (np.inf,) * 3) for p in range(int(part.max()) + 1)])
    close = np.linalg.norm(soft_rgb - median_of[part], axis=1) < THROUGH_MAX_DISTANCE
    through &= close
    rgb[through], source[through] = broad_rgb[through], THROUGH
    skin = medians.get(PART_IDS["Face_Neck"], skin)
    for p in np.unique(part):
        p = int(p)
        fill = medians.get(p, medians.get(int(MIRROR[p])))
        if fill is None and p in _SKIN_PARTS:
            fill = skin
        if fill is None:
            continue
        sel = (source == GUESSED) & (part == p)
        rgb[sel], source[sel] = fill, PART_MEDIAN

    mask_p = _bilinear(analysis.mask, uv)
    part_conf = np.where(inside, 0.5 + 0.45 * np.clip(mask_p, 0, 1), 0.35).astype(np.float32)
    return Colouring(rgb=np.clip(rgb, 0, 1).astype(np.float32), source=source, part_conf=part_conf)


def normals_to_quats(normals: np.ndarray) -> np.ndarray:
    """(N, 3) unit normals -> (N, 4) wxyz unit quaternions rotating +z onto each normal."""
    n = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    w = 1.0 + n[:, 2]
    q = np.stack([w, -n[:, 1], n[:, 0], np.zeros_like(w)], axis=1)
    flipped = w < 1e-6  # normal is -z: half a turn about x
    q[flipped] = (0.0, 1.0, 0.0, 0.0)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def splats_from_samples(
    points: np.ndarray,
    normals: np.ndarray,
    area: np.ndarray,
    rgb: np.ndarray,
    part: np.ndarray,
    part_conf: np.ndarray,
) -> Splats:
    """One flat Gaussian per surface sample (see :data:`TANGENT_SIGMA`, :data:`NORMAL_SIGMA`).

    Args:
        points, normals: (N, 3). area: (N,) model units squared. rgb: (N, 3) in [0, 1].
        part: (N,) int Sapiens ids. part_conf: (N,) in [0, 1].
    """
    tangent = TANGENT_SIGMA * np.sqrt(np.maximum(area, 1e-12) / np.pi)
    scales = np.stack([tangent, tangent, NORMAL_SIGMA * tangent], axis=1)
    return Splats.from_activated(
        means=points,
        rgb=rgb,
        opacity=np.full(len(points), OPACITY, np.float32),
        scales=scales,
        quats=normals_to_quats(normals),
        part=part.astype(np.uint8),
        part_conf=part_conf,
    )


ProgressStep = Callable[[str], None]


_LIMBS_AT_REST: tuple[tuple[tuple[int, ...], tuple[str, ...], tuple[float, float, float]], ...] = (
    ((25, 27, 29, 31), ("left_hip", "left_knee", "left_ankle", "left_foot"), (0.0, 0.0, 0.0)),
    ((26, 28, 30, 32), ("right_hip", "right_knee", "right_ankle", "right_foot"), (0.0, 0.0, 0.0)),
    (
        (13, 15, 17, 19, 21),
        ("left_shoulder", "left_elbow", "left_wrist", "left_hand"),
        (0.0, 0.0, -1.35),
    ),
    (
        (14, 16, 18, 20, 22),
        ("right_shoulder", "right_elbow", "right_wrist", "right_hand"),
        (0.0, 0.0, 1.35),
    ),
)
"""(landmarks, joints, first joint's rest rotation) of each limb: a limb all of whose
landmarks are out of the photo (visibility below :data:`OUT_OF_VIEW`) hangs down (legs
straight, arms at the sides) instead of keeping whatever the fit left there (the T-pose for
arms). A limb that is merely occluded (an arm crossed behind the other) keeps its fit."""
OUT_OF_VIEW = 0.1
GUESS_WEIGHT = 0.3
"""Fit weight (as a visibility) of a landmark mediapipe does not see but guesses, inside
the photo (a leg hidden behind the other, an arm behind the body) or on a limb the photo
shows (a foot just past its bottom edge): without it the fit leaves that bone where it
started, a bent knee's shin straight out in a lunge. Not for landmarks outside the photo
on limbs it does not show at all (a waist-up photo's legs: they are settled by
:func:`settle_unseen_limbs`; following mediapipe's guess there tilted the pelvis). 0.3 as
:data:`HIP_GUESS_WEIGHT`; 0.15 gained half as much on the sample photos, 0.5 the same."""


def settle_unseen_limbs(params: BodyParams, visibility: np.ndarray) -> tuple[BodyParams, list[str]]:
    """Put limbs the photo does not show into a relaxed standing pose (see
    :data:`_LIMBS_AT_REST`). Returns the new parameters and the names of the limbs moved."""
    pose = params.pose.detach().clone()
    moved = []
    for landmarks, joints, first in _LIMBS_AT_REST:
        if (visibility[list(landmarks)] >= OUT_OF_VIEW).any():
            continue
        for k, name in enumerate(joints):
            pose[JOINT_IDS[name]] = torch.tensor(first if k == 0 else (0.0, 0.0, 0.0))
        moved.append(joints[0].replace("_hip", "_leg").replace("_shoulder", "_arm"))
    return BodyParams(params.shape.detach(), pose, params.transl.detach()), moved


def _np(x: torch.Tensor | np.ndarray, dtype: type) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def fit_body(analysis: PhotoAnalysis) -> BodyParams:
    """The body posed and proportioned from the photo's landmarks (model frame), depths
    of a standing person pulled upright and hands at the head put on it
    (:mod:`humancrafter.landmark_depths`), mediapipe's guesses for what it does not see
    followed lightly (:data:`GUESS_WEIGHT`), limbs the photo does not show hanging relaxed
    (:func:`settle_unseen_limbs`)."""
    from .body import fit

    # mediapipe always estimates the hips (its world origin); in a waist-up photo they are
    # a guess, which the fit should follow lightly rather than refuse. So are its guesses
    # for what it does not see inside the photo (hidden behind the body or another limb)
    # and on a limb the photo shows (a foot just past the bottom edge).
    fit_visibility = analysis.visibility.copy()
    fit_visibility[[23, 24]] = np.maximum(fit_visibility[[23, 24]], HIP_GUESS_WEIGHT)
    guessed = analysis.landmarks_inside()
    for limb, _, _ in _LIMBS_AT_REST:
        if (analysis.visibility[list(limb)] >= OUT_OF_VIEW).any():
            guessed[list(limb)] = True
    fit_visibility[guessed] = np.maximum(fit_visibility[guessed], GUESS_WEIGHT)
    landmarks = standing_depths(analysis.landmarks_model, analysis.visibility)
    landmarks = hands_at_head(landmarks, analysis.visibility)
    result = fit.fit_to_landmarks(landmarks, fit_visibility)
    params, _ = settle_unseen_limbs(result.params, analysis.visibility)
    return params


TORSO_DEPTH = 1.3
THIGH_DEPTH = 1.35
SHIN_DEPTH = 1.15
HEAD_DEPTH = 1.15
"""Depth of the torso, thighs, shins and head relative to the mannequin's, before the
girth fit: against the published system's side views of the 14 sample photos, clothed
people are deeper front to back than the bare mannequin (trousers most at the thighs),
and a head with hair deeper than a bald one (the sweeps are in ``docs/results.md``)."""


def _depth_scales() -> np.ndarray:
    """(24,) depth scale per bone: :data:`TORSO_DEPTH` for the spine, :data:`THIGH_DEPTH`
    and :data:`SHIN_DEPTH` for the legs, :data:`HEAD_DEPTH` for the head, 1 elsewhere."""
    d = np.ones(len(JOINT_IDS))
    for n in ("pelvis", "spine1", "spine2", "spine3"):
        d[JOINT_IDS[n]] = TORSO_DEPTH
    for n in ("left_hip", "right_hip"):
        d[JOINT_IDS[n]] = THIGH_DEPTH
    for n in ("left_knee", "right_knee"):
        d[JOINT_IDS[n]] = SHIN_DEPTH
    d[JOINT_IDS["head"]] = HEAD_DEPTH
    return d


def outline_masks(analysis: PhotoAnalysis) -> tuple[np.ndarray, np.ndarray]:
    """The person mask and the inside-the-photo mask, (GIRTH_RES, GIRTH_RES) bool each,
    that the outline steps (:func:`fit_body_girth`, :func:`fill_outline`) work on."""
    return (
        _resized(analysis.mask, GIRTH_RES) > 0.5,
        _resized(analysis.inside.astype(np.float32), GIRTH_RES) > 0.5,
    )


def fit_body_girth(
    points: np.ndarray,
    normals: np.ndarray,
    bone: np.ndarray,
    joints: np.ndarray,
    tails: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray],
    camera: PhotoCamera,
) -> GirthFit:
    """The body's samples stretched across their bones to the photo's silhouette, then
    what still sticks out of the person moved onto it (:mod:`humancrafter.body.girth`),
    at :data:`GIRTH_RES`.

    Args:
        points, normals: (N, 3) surface samples, model frame. bone: (N,) their joints.
        joints, tails: (24, 3) where the posed bones start and end. masks: from
        :func:`outline_masks`. camera: the photo's fitted camera.
    """
    res = GIRTH_RES
    mask, inside = masks
    uv, depth = camera.project(points, res)
    _, bone_map = depth_buffer(uv, depth, bone, res)
    project = lambda p: camera.project(p, res)  # noqa: E731
    fitted = fit_girth(
        points, normals, bone, joints, tails, bone_map, mask, inside, project,
        head=JOINT_IDS["head"], depth_scale=_depth_scales(),
    )  # fmt: skip
    focal = camera.focal * res / camera.size
    fitted.points = snap_to_mask(fitted.points, project, focal, mask, inside, SNAP_MAX)
    return fitted


RIM_AREA = 1.5
"""Area of an outline sample in pixels' footprints: a little more than one, so the
samples of neighbouring pixels close up."""


def fill_outline(
    points: np.ndarray, part: np.ndarray, bone: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray], camera: PhotoCamera,
) -> RimFill:  # fmt: skip
    """Front and back samples where the person mask has no body after the girth fit
    (:func:`humancrafter.body.girth.fill_uncovered`), at :data:`GIRTH_RES`.

    Args:
        points: (N, 3) fitted samples. part, bone: (N,) their labels and joints.
        masks: from :func:`outline_masks`. camera: the photo's fitted camera.
    """
    res = GIRTH_RES
    uv, depth = camera.project(points, res)
    front, nearest = depth_buffer(uv, depth, np.arange(len(points)), res)  # sample ids
    part_map = np.where(nearest >= 0, part[nearest], -1)
    bone_map = np.where(nearest >= 0, bone[nearest], -1)
    far = float(depth.max()) + 1.0  # the nearest of far - depth is the farthest depth
    back = far - depth_buffer(uv, far - depth, part, res)[0]
    return fill_uncovered(
        front, back, part_map, bone_map, *masks, camera.eye, camera.focal * res / camera.size
    )


def _along_bones(
    points: np.ndarray, bone: np.ndarray, joints: np.ndarray, tails: np.ndarray
) -> np.ndarray:
    """(N,) where each sample lies along its bone: 0 at the joint (``joints``), 1 at the
    bone's tail (``tails``, ``Skeleton.bone_tails``), clipped."""
    a = (tails - joints)[bone]
    t = ((points - joints[bone]) * a).sum(axis=1) / np.maximum((a * a).sum(axis=1), 1e-12)
    return np.clip(t, 0.0, 1.0)


def _part_means(rgb: np.ndarray, part: np.ndarray, size: int = 0) -> np.ndarray:
    """(P, 3) mean colour of each part id, P at least ``size`` (grey for parts without
    samples)."""
    out = np.full((max(int(part.max()) + 1 if len(part) else 1, size), 3), 0.5, np.float32)
    for p in np.unique(part):
        out[p] = rgb[part == p].mean(axis=0)
    return out


class PriorResult(NamedTuple):
    """What :func:`reconstruct_prior` returns.

    Attributes:
        splats: labelled, rigged splats, model frame. timings: seconds per stage.
        warnings: sentences for the user. camera: the photo's fitted camera (model frame).
    """

    splats: Splats
    timings: dict[str, float]
    warnings: list[str]
    camera: PhotoCamera


def reconstruct_prior(
    analysis: PhotoAnalysis,
    num_gaussians: int,
    seed: int,
    smpl_body: object | None = None,
    step: ProgressStep | None = None,
) -> PriorResult:
    """Photo analysis -> labelled splats (steps 2-7 of the module docstring).

    Args:
        analysis: from :meth:`humancrafter.photo.PhotoFrontEnd.analyze`.
        num_gaussians: number of Gaussians (one per surface sample).
        seed: seeds the surface sampling and which body samples make way for the
            outline's; the same inputs give the same splats.
        smpl_body: a :class:`humancrafter.smpl_adapter.SMPLBody` to use instead of the
            mannequin, or None.
        step: called with each stage's name before it starts (for progress and cancelling).
    Returns:
        The splats, seconds per stage, warnings and the photo's fitted camera.
    """
    from .body import mannequin, skinning

    timings: dict[str, float] = {}
    warnings: list[str] = []

    def stage(name: str) -> None:
        if step is not None:
            step(name)
        timings[name] = time.perf_counter()

    def done(name: str) -> None:
        timings[name] = time.perf_counter() - timings[name]

    stage("outfit")
    appearance = infer_outfit(analysis)
    done("outfit")

    stage("fit")
    params = fit_body(analysis)
    done("fit")

    stage("surface")
    if smpl_body is None:
        samples = mannequin.sample_surface(params, appearance, num_gaussians, seed)
    else:
        samples = smpl_body.sample_surface(params, num_gaussians, seed)
    points, normals = _np(samples.points, np.float32), _np(samples.normals, np.float32)
    part = _np(samples.part, np.int64)
    done("surface")

    stage("camera")
    init = camera_from_landmarks(
        analysis.landmarks_model,
        analysis.landmarks_px,
        analysis.visibility,
        analysis.image.shape[0],
    )
    camera, iou = fit_photo_camera(points, analysis, init)
    if iou < 0.5:
        warnings.append(
            f"the body matches the person's outline poorly (overlap {iou:.0%}); "
            "loose clothing or an unusual pose may be the cause"
        )
    done("camera")

    stage("girth")
    joints = mannequin.joints(params).detach() if smpl_body is None else smpl_body.joints(params)
    joints = _np(joints, np.float32)
    tails = skinning.smpl_skeleton(joints).bone_tails()
    bone = _np(samples.bone, np.int64)
    masks = outline_masks(analysis)
    girth = fit_body_girth(points, normals, bone, joints, tails, masks, camera)
    points, normals = girth.points, girth.normals
    area = _np(samples.area, np.float32) * girth.area_scale
    plain = _np(samples.rgb, np.float32)
    rim = fill_outline(points, part, bone, masks, camera)
    if len(rim.points):
        # The outline's samples take the place of a random share of the body's (a random
        # subset of uniform samples is a smaller uniform sample), so the count stays.
        # At most a quarter of the samples go to the outline, whole pixels (front and back)
        # at a time, the kept ones larger in proportion.
        rng = np.random.default_rng(seed)
        pixels, cap = len(rim.points) // 2, len(points) // 8
        pix = np.arange(pixels) if pixels <= cap else np.sort(rng.permutation(pixels)[:cap])
        rim_keep = np.concatenate([pix, pix + pixels])  # fronts first, then backs
        rim = RimFill(*(getattr(rim, f)[rim_keep] for f in RimFill.__dataclass_fields__))
        rim_plain = _part_means(plain, part, int(rim.part.max()) + 1)[rim.part]
        keep = np.sort(rng.permutation(len(points))[: len(points) - len(rim.points)])
        area = area[keep] * (len(points) / len(keep))
        points, normals, plain = points[keep], normals[keep], plain[keep]
        part, bone = part[keep], bone[keep]
        points = np.concatenate([points, rim.points])
        normals = np.concatenate([normals, rim.normals])
        area = np.concatenate([area, rim.area * RIM_AREA * (pixels / len(pix))])
        plain = np.concatenate([plain, rim_plain])
        part, bone = np.concatenate([part, rim.part]), np.concatenate([bone, rim.bone])
    done("girth")

    stage("colour")
    blurs = photo_blurs(analysis)
    colours = colour_samples(points, normals, part, plain, analysis, camera, blurs)
    skin, _ = face_colours(analysis)
    if skin is not None and smpl_body is None:  # sleeves and hems as the photo shows them
        along = _along_bones(points, bone, joints, tails)
        seen = colours.source == SEEN
        relabelled = relabel_limbs(
            part, bone, along, seen, colours.rgb, lambda c: skin_like(c, skin)
        )
        if (relabelled != part).any():
            part = relabelled
            colours = colour_samples(points, normals, part, plain, analysis, camera, blurs)
    done("colour")

    stage("splats")
    splats = splats_from_samples(points, normals, area, colours.rgb, part, colours.part_conf)
    splats = skinning.rig(splats, joints, bone)
    done("splats")
    return PriorResult(splats, timings, warnings, camera)
