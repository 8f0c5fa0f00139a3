"""The camera convention on real data: each published HumanCrafter sample, rendered on a
turntable, has one yaw whose silhouette matches its input photo's person mask.

The files do not share a frame, so the yaw differs per file. Measured with this search
(orbit cameras at elevation 0 with a 50 degree field of view at 1.29 units, so a
1.2-unit box fills the view: the photos have stronger perspective than the default
2.4-unit orbit and match it less well; silhouettes are compared after cropping both to
their bounding squares):

    file              best yaw   IoU
    hc_novel_10          122     0.86
    hc_novel_14           58     0.88
    hc_novel_29            0     0.92
    hc_other_novel_9     356     0.88
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from humancrafter.cameras import orbit_cameras
from humancrafter.portable import splatfile
from humancrafter.render import render_splats

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
FILES = sorted(SAMPLES.glob("hc_*.ply")) if SAMPLES.is_dir() else []
EXPECTED_YAW = {"hc_novel_10": 122, "hc_novel_14": 58, "hc_novel_29": 0, "hc_other_novel_9": 356}
MIN_IOU = 0.8
FOV_DEG = 50.0
RADIUS = 0.6 / math.tan(math.radians(FOV_DEG / 2))
SIZE = 128
CROP = 96


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
    """Person mask of a photo on a plain white background: pixels not near white."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    return rgb.min(axis=-1) < 240


def silhouette_ious(splats: splatfile.Splats, yaws: list[float], target: np.ndarray) -> np.ndarray:
    """IoU of the (cropped) alpha > 0.5 silhouette at each yaw against ``target``."""
    cams = orbit_cameras(yaws, 0.0, radius=RADIUS, fov_y_deg=FOV_DEG, width=SIZE, height=SIZE)
    with torch.no_grad():
        alpha = render_splats(splats, cams, backend="cpu").alpha[..., 0].numpy()
    ious = []
    for a in alpha:
        m = square_crop(a > 0.5)
        ious.append((m & target).sum() / (m | target).sum())
    return np.array(ious)


@pytest.mark.skipif(not FILES, reason="../shared/samples is absent")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_one_turntable_view_matches_the_photo_silhouette(path: Path):
    splats = splatfile.load(path)
    target = square_crop(photo_mask(path.with_suffix(".png")))
    coarse = [float(y) for y in range(0, 360, 15)]
    ious = silhouette_ious(splats, coarse, target)
    centre = coarse[int(ious.argmax())]
    fine = [centre + d for d in range(-8, 9, 2)]
    fine_ious = silhouette_ious(splats, fine, target)
    best_yaw, best_iou = fine[int(fine_ious.argmax())] % 360, float(fine_ious.max())
    print(f"{path.stem}: best yaw {best_yaw:.0f} deg, silhouette IoU {best_iou:.3f}")
    assert best_iou >= MIN_IOU, f"{path.stem}: best IoU {best_iou:.3f} at yaw {best_yaw:.0f}"
    # The best view is unique: the back view (yaw + 180) mirrors the silhouette and must
    # score lower, which pins the handedness of the camera convention.
    mirrored = silhouette_ious(splats, [best_yaw + 180.0], target)[0]
    assert mirrored < best_iou - 0.05
    if path.stem in EXPECTED_YAW:
        off = (best_yaw - EXPECTED_YAW[path.stem] + 180) % 360 - 180
        assert abs(off) <= 10, f"best yaw {best_yaw:.0f}, recorded {EXPECTED_YAW[path.stem]}"
