"""Photo front-end: a person's mask, a square crop around them and their 33 3D landmarks.

Everything here runs offline on the CPU with the models that the ``mediapipe`` wheel
(0.10.21) ships inside itself: BlazePose "full" (pose detector, 33 landmarks, 3D world
landmarks and a person mask) and the full-range face detector (to notice a second person).

Frames and units:

- Image pixels: (u, v), u to the right, v down, (0, 0) the top-left corner of the
  top-left pixel (so its centre is (0.5, 0.5), as in :mod:`humancrafter.cameras`).
- mediapipe's world landmarks: metres, origin between the hips, x to the image's right,
  y down, z away from the camera.
- Model frame (:mod:`humancrafter.cameras`): y up, person facing +z (towards a camera in
  front of them), person's left = +x, about one unit tall. :func:`world_to_model` converts
  mediapipe's world landmarks to it, with the pelvis (mid-hip) at the origin.

Every way a photo can be unusable raises :class:`~humancrafter.errors.InputError` with
one sentence an artist understands; a person partly outside the frame is reconstructed
and the missing regions are named in :attr:`PhotoAnalysis.warnings`.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .backdrop import keyed_mask
from .errors import InputError

MIN_SIDE = 128
"""Shortest accepted image side in pixels."""
MAX_SIDE = 12_000
"""Longest accepted image side in pixels."""
MAX_PIXELS = 60_000_000
"""Largest accepted image area in pixels (a 60 MP photo)."""
DETECT_SIDE = 1024
"""Images are shrunk to this longest side before detection (the models see 256 px anyway)."""
MISSING_FROM_PRIOR = "those parts come from the body prior and their colours are guessed"
"""How the ``prior`` mode fills body regions a photo does not show (ends that warning)."""
MISSING_NOT_BUILT = (
    "the network reconstructs only what the photo shows (mode 'prior' makes a whole body)"
)
"""What the network modes say instead: they make Gaussians on the person's pixels only."""
CROP_SIZE = 512
"""Side of the square crop handed to reconstruction, in pixels."""
CROP_MARGIN = 1.15
"""Crop side = CROP_MARGIN x the longer side of the person's bounding box."""
MIN_PERSON_PX = 96
"""A person shorter than this (in the original photo's pixels) is too small to reconstruct."""
MIN_MASK_CERTAINTY = 0.6
"""Refuse when fewer than this share of the mask's pixels are confidently person (see
:func:`mask_certainty`)."""
VISIBLE = 0.5
"""A landmark counts as seen when its visibility (times in-frame) is at least this."""
STATURE_PER_CHAIN = 1.0 / 0.91
"""Stature / (nose-shoulder + shoulder-hip + hip-knee + knee-ankle + ankle-heel lengths),
from standard adult proportions (the top of the head is ~9% of stature above the nose)."""

LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
"""mediapipe's 33 pose landmarks, in its order (left/right are the person's own)."""

_L = {name: i for i, name in enumerate(LANDMARK_NAMES)}

REGIONS: dict[str, tuple[int, ...]] = {
    "head": tuple(range(0, 11)),
    "shoulders": (11, 12),
    "arms": (13, 14),
    "hands": (15, 16, 17, 18, 19, 20, 21, 22),
    "hips": (23, 24),
    "knees": (25, 26),
    "feet": (27, 28, 29, 30, 31, 32),
}
"""Body regions by landmark index, used to say what a photo does not show."""


@dataclass
class PhotoAnalysis:
    """What the front-end found in one photo, in the square crop's pixels.

    Attributes:
        image: (S, S, 3) uint8 RGB crop around the person (S = :data:`CROP_SIZE`); parts of
            the crop outside the photo are black.
        mask: (S, S) float32 person probability in [0, 1] (0 outside the photo).
        inside: (S, S) bool, True where the crop lies inside the photo.
        landmarks_px: (33, 2) float32 landmark pixels (u, v) in the crop.
        landmarks_model: (33, 3) float32 landmarks in the model frame (pelvis at the
            origin, ~1 unit tall), for :func:`humancrafter.body.fit.fit_to_landmarks`.
        visibility: (33,) float32 in [0, 1]: mediapipe's visibility, zero outside the photo.
        crop_box: (x0, y0, side) of the crop in the original photo's pixels (x0, y0 may be
            negative when the crop reaches past the photo's edge).
        photo_size: (width, height) of the original photo.
        mask_certainty: see :func:`mask_certainty`.
        missing: body regions (keys of :data:`REGIONS`) the photo does not show.
        warnings: sentences for the user (missing regions, ...).
    """

    image: np.ndarray
    mask: np.ndarray
    inside: np.ndarray
    landmarks_px: np.ndarray
    landmarks_model: np.ndarray
    visibility: np.ndarray
    crop_box: tuple[float, float, float]
    photo_size: tuple[int, int]
    mask_certainty: float
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def landmarks_inside(self) -> np.ndarray:
        """(33,) bool: each landmark's pixel lies on the crop and inside the photo
        (``inside``), seen or not."""
        size = self.inside.shape[0]
        px = np.floor(self.landmarks_px).astype(np.int64)
        on_crop = ((px >= 0) & (px < size)).all(axis=1)
        px = np.clip(px, 0, size - 1)
        return on_crop & self.inside[px[:, 1], px[:, 0]]


def load_image(source: str | Path | bytes | Image.Image) -> Image.Image:
    """Open a photo from a path, file bytes or a PIL image, honouring its EXIF rotation.

    Raises:
        InputError: the file is not an image PIL can read, or is too small or too large
            (see :func:`check_image`).
        FileNotFoundError: ``source`` is a path that does not exist.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            data = path.read_bytes()
            name = path.name
        else:
            data = bytes(source)
            name = "the upload"
        try:
            image = Image.open(io.BytesIO(data))
            check_image(image)  # size check before decoding the pixels
            image.load()
        except Image.DecompressionBombError:
            raise InputError(
                f"{name} is too large to process (over {MAX_PIXELS:,} pixels)"
            ) from None
        except (OSError, SyntaxError, ValueError) as e:
            if isinstance(e, InputError):
                raise
            raise InputError(f"{name} is not an image that can be read (PNG, JPEG, ...)") from None
    check_image(image)
    return ImageOps.exif_transpose(image)


def check_image(image: Image.Image) -> None:
    """Raise :class:`InputError` when the image is too small or too large to use."""
    w, h = image.size
    if min(w, h) < MIN_SIDE:
        raise InputError(
            f"the image is too small ({w}x{h} pixels); use one at least {MIN_SIDE} pixels "
            "on its shorter side"
        )
    if max(w, h) > MAX_SIDE or w * h > MAX_PIXELS:
        raise InputError(
            f"the image is too large ({w}x{h} pixels); use one at most {MAX_SIDE} pixels "
            f"on a side and {MAX_PIXELS // 1_000_000} megapixels"
        )


def to_rgb(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W, 3) uint8 RGB of a PIL image and its (H, W) float32 alpha in [0, 1] if it has
    real transparency (else None). Transparent pixels are composited on white."""
    alpha = None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        if rgba[..., 3].min() < 0.99:
            alpha = rgba[..., 3]
            rgb = rgba[..., :3] * alpha[..., None] + (1.0 - alpha[..., None])
            return (rgb * 255 + 0.5).astype(np.uint8), alpha
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8)), alpha


def mask_certainty(mask: np.ndarray) -> float:
    """Share of the plausible-person pixels (p > 0.2) that are confidently person (p > 0.8).

    About 0.9 for a sharp photo; it drops towards 0.4 when the segmenter is unsure (heavy
    blur, very dark photos). Returns 0 for an empty mask.
    """
    loose = int((mask > 0.2).sum())
    return 0.0 if loose == 0 else float((mask > 0.8).sum()) / loose


def world_to_model(world: np.ndarray) -> np.ndarray:
    """mediapipe world landmarks -> model frame.

    Args:
        world: (33, 3) metres, origin between the hips, x image-right, y down, z away
            from the camera.
    Returns:
        (33, 3) float32: y up, facing +z, person's left = +x, pelvis at the origin, scaled
        so the person's estimated stature is 1 (see :data:`STATURE_PER_CHAIN`).
    """
    p = np.asarray(world, dtype=np.float64) * np.array([1.0, -1.0, -1.0])
    mid = lambda a, b: 0.5 * (p[_L[a]] + p[_L[b]])  # noqa: E731
    length = lambda a, b: float(np.linalg.norm(p[_L[a]] - p[_L[b]]))  # noqa: E731
    pelvis = mid("left_hip", "right_hip")
    chain = (
        float(np.linalg.norm(p[_L["nose"]] - mid("left_shoulder", "right_shoulder")))
        + float(np.linalg.norm(mid("left_shoulder", "right_shoulder") - pelvis))
        + 0.5 * (length("left_hip", "left_knee") + length("right_hip", "right_knee"))
        + 0.5 * (length("left_knee", "left_ankle") + length("right_knee", "right_ankle"))
        + 0.5 * (length("left_ankle", "left_heel") + length("right_ankle", "right_heel"))
    )
    stature = max(chain * STATURE_PER_CHAIN, 1e-3)
    return ((p - pelvis) / stature).astype(np.float32)


def missing_regions(visibility: np.ndarray) -> list[str]:
    """Regions of :data:`REGIONS` none of whose landmarks is seen (visibility < VISIBLE)."""
    return [name for name, idx in REGIONS.items() if not (visibility[list(idx)] >= VISIBLE).any()]


def square_crop(
    rgb: np.ndarray, mask: np.ndarray, box: tuple[float, float, float], size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample the square ``box`` = (x0, y0, side) of an image and its mask to size x size.

    Returns:
        rgb: (size, size, 3) uint8, black outside the photo. mask: (size, size) float32,
        0 outside the photo. inside: (size, size) bool, True inside the photo.
    """
    x0, y0, side = box
    h, w = mask.shape
    pad = int(np.ceil(max(0.0, -x0, -y0, x0 + side - w, y0 + side - h))) + 1
    rgb_p = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)))
    mask_p = np.pad(mask.astype(np.float32), ((pad, pad), (pad, pad)))
    rect = (x0 + pad, y0 + pad, x0 + pad + side, y0 + pad + side)
    img = Image.fromarray(rgb_p).resize((size, size), Image.Resampling.BILINEAR, box=rect)
    resize = lambda a: np.asarray(  # noqa: E731
        Image.fromarray(a, mode="F").resize((size, size), Image.Resampling.BILINEAR, box=rect),
        dtype=np.float32,
    )
    inside = resize(np.pad(np.ones(mask.shape, np.float32), ((pad, pad), (pad, pad)))) > 0.5
    return np.asarray(img, dtype=np.uint8), np.clip(resize(mask_p), 0.0, 1.0) * inside, inside


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 (C++ libraries' logging) to /dev/null for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class PhotoFrontEnd:
    """mediapipe's pose and face models, loaded once and reused (thread-safe).

    Building one takes about 0.3 s (including a warm-up run on the bundled example photo);
    ``analyze(image)`` takes about 0.05 s per photo on one CPU core.
    """

    def __init__(self) -> None:
        import mediapipe as mp

        # mediapipe's C++ start-up notes (TFLite delegate, absl warnings) go straight to
        # file descriptor 2; they are silenced while the graphs are built and warmed up on
        # the bundled example photo, after which mediapipe has nothing more to say.
        with _quiet_stderr():
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,  # "full": the only landmark model the wheel ships
                enable_segmentation=True,
                min_detection_confidence=0.5,
            )
            self._faces = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.6
            )
            self._lock = threading.Lock()
            warm_up = Image.open(Path(__file__).parent / "assets" / "astronaut.jpg")
            self.analyze(warm_up)

    def close(self) -> None:
        """Free the mediapipe graphs."""
        self._pose.close()
        self._faces.close()

    def analyze(self, image: Image.Image, crop_size: int = CROP_SIZE) -> PhotoAnalysis:
        """Find the one person in a photo.

        Args:
            image: any PIL image (EXIF rotation already applied, see :func:`load_image`).
            crop_size: side of the returned square crop in pixels.
        Raises:
            InputError: too small/large, no person, more than one person, a mask the
                segmenter is unsure of, a person too small, or too little of the body
                (at least both shoulders and the head or the hips must show).
        """
        check_image(image)
        rgb_full, alpha = to_rgb(image)
        H, W = rgb_full.shape[:2]
        shrink = min(1.0, DETECT_SIDE / max(H, W))
        if shrink < 1.0:
            small = Image.fromarray(rgb_full).resize(
                (max(1, round(W * shrink)), max(1, round(H * shrink))), Image.Resampling.BILINEAR
            )
            rgb = np.asarray(small, dtype=np.uint8)
        else:
            rgb = rgb_full
        h, w = rgb.shape[:2]

        with self._lock:
            result = self._pose.process(rgb)
            if result.pose_landmarks is None:
                raise InputError("no person was found in the photo")
            norm = np.array([[p.x, p.y] for p in result.pose_landmarks.landmark], np.float64)
            vis = np.array([p.visibility for p in result.pose_landmarks.landmark], np.float64)
            world = np.array(
                [[p.x, p.y, p.z] for p in result.pose_world_landmarks.landmark], np.float64
            )
            seg = np.asarray(result.segmentation_mask, dtype=np.float32)
            self._check_one_person(rgb, norm, vis, seg)

        in_frame = (norm >= 0.0).all(axis=1) & (norm <= 1.0).all(axis=1)
        visibility = np.where(in_frame, vis, 0.0).astype(np.float32)
        certainty = mask_certainty(seg)
        if certainty < MIN_MASK_CERTAINTY:
            raise InputError(
                "the person cannot be separated from the background with confidence "
                f"({certainty:.0%} of the outline is certain); use a sharper, better-lit photo"
            )
        if alpha is not None:
            mask_full = alpha  # a cut-out photo: its own transparency is the best mask
        else:
            keyed = keyed_mask(rgb, seg)  # sharper when the backdrop is plain
            mask_full = np.asarray(
                Image.fromarray(seg if keyed is None else keyed, mode="F").resize(
                    (W, H), Image.Resampling.BILINEAR
                ),
                dtype=np.float32,
            )
        px = norm * np.array([W, H])

        missing = missing_regions(visibility)
        if (
            "shoulders" in missing
            or visibility[[11, 12]].min() < VISIBLE
            or ("head" in missing and "hips" in missing)
        ):
            raise InputError(
                "too little of the body shows; the photo must show at least the head and both "
                "shoulders (or the shoulders and hips)"
            )

        ys, xs = np.nonzero(mask_full > 0.5)
        if len(ys) == 0:
            raise InputError("no person was found in the photo")
        bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        if max(bx1 - bx0, by1 - by0) < MIN_PERSON_PX:
            raise InputError(
                f"the person is too small in the photo ({by1 - by0} pixels tall); "
                f"crop closer so they are at least {MIN_PERSON_PX} pixels tall"
            )
        side = float(max(bx1 - bx0, by1 - by0)) * CROP_MARGIN
        box = (0.5 * (bx0 + bx1) - side / 2, 0.5 * (by0 + by1) - side / 2, side)
        crop, crop_mask, inside = square_crop(rgb_full, mask_full, box, crop_size)
        landmarks_px = ((px - np.array(box[:2])) * (crop_size / side)).astype(np.float32)

        warnings = []
        if missing:
            warnings.append(f"not visible in the photo: {', '.join(missing)}; {MISSING_FROM_PRIOR}")
        return PhotoAnalysis(
            image=crop,
            mask=crop_mask,
            inside=inside,
            landmarks_px=landmarks_px,
            landmarks_model=world_to_model(world),
            visibility=visibility,
            crop_box=box,
            photo_size=(W, H),
            mask_certainty=certainty,
            missing=missing,
            warnings=warnings,
        )

    def _check_one_person(
        self, rgb: np.ndarray, norm: np.ndarray, vis: np.ndarray, seg: np.ndarray
    ) -> None:
        """Raise InputError when a second person is in the photo.

        Two signals: (1) two or more faces of comparable size; (2) the pose detector finds
        another person once the first one is painted out, with both shoulders clearly seen
        inside the frame, a solid mask (certainty >= 0.8, at least a fifth of the first
        person's area) and either both hips clearly seen or a detected face at its nose.
        The last conditions keep person-like things (a model rocket, a helmet at the photo's
        edge) from counting. ``norm``: (33, 2) the first person's normalised landmarks;
        ``seg``: their (h, w) mask.
        """
        h, w = seg.shape
        faces = self._faces.process(rgb).detections or []
        widths = [d.location_data.relative_bounding_box.width for d in faces]
        if len(widths) >= 2 and sorted(widths)[-2] >= 0.4 * max(widths):
            raise InputError(
                f"{len(widths)} people were found in the photo; use a photo of one person"
            )
        seen = vis >= VISIBLE
        pts = norm[seen if seen.any() else slice(None)] * np.array([w, h])
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        first_h = max(y1 - y0, x1 - x0, 1.0)
        pad = 0.15 * first_h
        painted = rgb.copy()
        painted[seg > 0.2] = 127
        ix0, iy0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        ix1, iy1 = int(min(w, x1 + pad)), int(min(h, y1 + pad))
        painted[iy0:iy1, ix0:ix1] = 127
        second = self._pose.process(painted)
        if second.pose_landmarks is None:
            return
        norm2 = np.array([[p.x, p.y] for p in second.pose_landmarks.landmark])
        vis2 = np.array([p.visibility for p in second.pose_landmarks.landmark])
        framed = (norm2[[11, 12]] > 0.02).all() and (norm2[[11, 12]] < 0.98).all()
        if vis2[[11, 12]].min() < 0.8 or not framed:  # both shoulders clearly seen
            return
        boxes = [d.location_data.relative_bounding_box for d in faces]
        face_at_nose = any(
            b.xmin <= norm2[0, 0] <= b.xmin + b.width and b.ymin <= norm2[0, 1] <= b.ymin + b.height
            for b in boxes
        )
        if vis2[[23, 24]].min() < 0.8 and not face_at_nose:
            return
        pts2 = norm2[vis2 >= VISIBLE] * np.array([w, h])  # shoulders at least
        c2 = 0.5 * (pts2.min(axis=0) + pts2.max(axis=0))
        outside = not (ix0 <= c2[0] <= ix1 and iy0 <= c2[1] <= iy1)
        size2 = max(*(pts2.max(axis=0) - pts2.min(axis=0)))
        seg2 = np.asarray(second.segmentation_mask, dtype=np.float32)
        solid = mask_certainty(seg2) >= 0.8 and (seg2 > 0.5).sum() >= 0.2 * (seg > 0.5).sum()
        if outside and solid and size2 >= 0.3 * first_h:
            raise InputError(
                "more than one person was found in the photo; use a photo of one person"
            )
