"""The camera convention on real data: each published HumanCrafter sample, rendered on a
turntable, has one yaw whose silhouette matches its input photo's person mask.

The files do not share a frame, so the yaw differs per file. Measured with the search of
``humancrafter.real_eval`` (orbit cameras at elevation 0, 50 degree field of view at 1.29
units; the photos have stronger perspective than the default 2.4-unit orbit and match it
less well; silhouettes compared after cropping both to their bounding squares):

    file              best yaw   IoU
    hc_novel_10          122     0.86
    hc_novel_14           58     0.88
    hc_novel_29            0     0.92
    hc_other_novel_9     356     0.88
"""

from __future__ import annotations

from pathlib import Path

import pytest

from humancrafter.portable import splatfile
from humancrafter.real_eval import best_yaw, photo_mask, silhouette_ious, square_crop

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
FILES = sorted(SAMPLES.glob("hc_*.ply")) if SAMPLES.is_dir() else []
EXPECTED_YAW = {"hc_novel_10": 122, "hc_novel_14": 58, "hc_novel_29": 0, "hc_other_novel_9": 356}
MIN_IOU = 0.8


@pytest.mark.skipif(not FILES, reason="../shared/samples is absent")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_one_turntable_view_matches_the_photo_silhouette(path: Path):
    splats = splatfile.load(path)
    target = square_crop(photo_mask(path.with_suffix(".png")))
    yaw, best_iou = best_yaw(splats, target)
    print(f"{path.stem}: best yaw {yaw:.0f} deg, silhouette IoU {best_iou:.3f}")
    assert best_iou >= MIN_IOU, f"{path.stem}: best IoU {best_iou:.3f} at yaw {yaw:.0f}"
    # The best view is unique: the back view (yaw + 180) mirrors the silhouette and must
    # score lower, which pins the handedness of the camera convention.
    mirrored = silhouette_ious(splats, [yaw + 180.0], target)[0]
    assert mirrored < best_iou - 0.05
    if path.stem in EXPECTED_YAW:
        off = (yaw - EXPECTED_YAW[path.stem] + 180) % 360 - 180
        assert abs(off) <= 10, f"best yaw {yaw:.0f}, recorded {EXPECTED_YAW[path.stem]}"
