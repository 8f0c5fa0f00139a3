"""Silhouettes of splats against a photo's person mask: the measurement behind
``tests/test_sample_views.py`` (the camera convention on the published samples) and
``tools/real_photos.py`` (our results against the published ones).

Orbit cameras at elevation 0 with a 50 degree field of view at 1.29 units, so a 1.2-unit
box fills the view (the photos have stronger perspective than the default 2.4-unit
orbit); silhouettes are compared after cropping both to their bounding squares, so the
splats' scale and position do not matter.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from humancrafter.cameras import orbit_cameras
from humancrafter.portable import splatfile
from humancrafter.render import render_splats

FOV_DEG = 50.0
RADIUS = 0.6 / math.tan(math.radians(FOV_DEG / 2))
SIZE = 128  # render size of a silhouette, pixels
CROP = 96  # side of the bounding-square crops that are compared, pixels


def square_crop(mask: np.ndarray, size: int = CROP) -> np.ndarray:
    """(H, W) bool mask -> (size, size) bool: its bounding square (centred on the bounding
    box, padded with False), resized."""
    ys, xs = np.nonzero(mask)
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    cy, cx = (ys.min() + ys.max() + 1) // 2, (xs.min() + xs.max() + 1) // 2
    padded = np.pad(mask, side)
    y0, x0 = cy - side // 2 + side, cx - side // 2 + side
    crop = Image.fromarray(padded[y0 : y0 + side, x0 : x0 + side].astype(np.uint8) * 255)
    return np.asarray(crop.resize((size, size), Image.BILINEAR)) > 127


def photo_mask(path: Path) -> np.ndarray:
    """(H, W) bool person mask of a photo on a plain white background: pixels not near
    white."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    return rgb.min(axis=-1) < 240


def silhouette_ious(splats: splatfile.Splats, yaws: list[float], target: np.ndarray) -> np.ndarray:
    """(len(yaws),) IoU of the cropped alpha > 0.5 silhouette at each yaw (degrees) against
    ``target``, a (CROP, CROP) bool mask from :func:`square_crop`."""
    cams = orbit_cameras(yaws, 0.0, radius=RADIUS, fov_y_deg=FOV_DEG, width=SIZE, height=SIZE)
    with torch.no_grad():
        alpha = render_splats(splats, cams, backend="cpu").alpha[..., 0].numpy()
    ious = []
    for a in alpha:
        m = square_crop(a > 0.5)
        ious.append((m & target).sum() / (m | target).sum())
    return np.array(ious)


def best_yaw(splats: splatfile.Splats, target: np.ndarray) -> tuple[float, float]:
    """The yaw (degrees in [0, 360)) whose silhouette best matches ``target``, and its IoU:
    a coarse 15-degree search, then a 2-degree refinement."""
    coarse = [float(y) for y in range(0, 360, 15)]
    centre = coarse[int(silhouette_ious(splats, coarse, target).argmax())]
    fine = [centre + d for d in range(-8, 9, 2)]
    ious = silhouette_ious(splats, fine, target)
    return fine[int(ious.argmax())] % 360, float(ious.max())
