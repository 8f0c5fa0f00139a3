"""The real-photo yardstick (``real_eval.py``, ``humancrafter eval-real``): its measures on
images whose answer is known, and one real photo through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from humancrafter.cameras import orbit_cameras
from humancrafter.cli import main
from humancrafter.modes.base import PhotoView, ReconstructOptions
from humancrafter.portable.splatfile import Splats
from humancrafter.real_eval import (
    SIDE_YAWS,
    YAWS,
    PhotoScore,
    Views,
    evaluate_real,
    find_samples,
    input_view_iou,
    photo_mask,
    psnr,
    score,
    solid_shares,
    square_crop,
    summary_table,
)
from humancrafter.render import render_splats

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"


def person(shift: int = 0, scale: int = 1, size: int = 160) -> np.ndarray:
    """(size, size) bool: a 'person' (a tall box with a head) anywhere at any scale."""
    m = np.zeros((size, size), bool)
    y0, x0 = 20 + shift, 60 + shift
    m[y0 : y0 + 20 * scale, x0 + 5 * scale : x0 + 15 * scale] = True
    m[y0 + 20 * scale : y0 + 60 * scale, x0 : x0 + 20 * scale] = True
    return m


def test_square_crop_ignores_where_and_how_big():
    a, b = square_crop(person(0, 1)), square_crop(person(15, 2))
    assert (a & b).sum() / (a | b).sum() > 0.95
    rgb = np.where(person(15, 2)[..., None], 0.2, np.ones(3))
    crop = square_crop(person(15, 2), image=rgb)
    assert crop.shape == (128, 128, 3) and abs(crop.min() - 0.2) < 0.01


def views(mask: np.ndarray) -> Views:
    n = len(YAWS)
    m = np.repeat(mask[None], n, 0)
    rgb = np.where(m[..., None], 0.3, np.ones(3)).astype(np.float32)
    return Views(rgb, m, None, m.astype(np.float32))


def test_score_of_a_result_against_itself_and_against_a_thinner_one():
    splats = Splats.from_activated(
        means=np.zeros((4, 3)), rgb=np.full((4, 3), 0.5), opacity=np.array([0.9, 0.9, 0.2, 0.1]),
        scales=np.full((4, 3), 0.01), quats=np.tile([1.0, 0, 0, 0], (4, 1)),
    )  # fmt: skip
    same = score(views(person()), views(person()), 1.0, splats)
    assert np.allclose(same.iou, 1.0) and same.input_iou == 1.0
    assert (same.psnr > 40).all() and same.opaque_share == 0.5 and np.allclose(same.solid, 1)
    thin = person()
    thin[:, 60:63] = False
    other = score(views(thin), views(person()), 0.5, splats)
    assert (other.iou < 0.95).all() and other.psnr.mean() < same.psnr.mean()
    assert other.side_iou == pytest.approx(np.mean([other.iou[YAWS.index(y)] for y in SIDE_YAWS]))
    assert psnr(np.zeros(3), np.full(3, 0.1)) == pytest.approx(20.0)


def test_input_view_iou_counts_only_what_the_photo_shows():
    # A small cloud of splats seen by a 64-pixel camera; the 'photo' is that camera's own
    # render, so the IoU is 1; cut to the crop's left half (the photo ends there), still 1;
    # a photo of someone else (the mask shifted) scores low.
    rng = np.random.default_rng(0)
    splats = Splats.from_activated(
        means=rng.normal(0, 0.15, (400, 3)) * [0.6, 1.5, 0.6], rgb=np.full((400, 3), 0.5),
        opacity=np.full(400, 0.99), scales=np.full((400, 3), 0.03),
        quats=np.tile([1.0, 0, 0, 0], (400, 1)),
    )  # fmt: skip
    cam = orbit_cameras(0.0, 0.0, radius=2.0, fov_y_deg=50.0, width=64, height=64)
    view = PhotoView(cam, (0.0, 0.0, 64.0), (64, 64))
    with torch.no_grad():
        own = render_splats(splats, cam, backend="cpu").alpha[0, ..., 0].numpy() > 0.5
    assert 0.05 < own.mean() < 0.5
    assert input_view_iou(splats, view, own, size=64) == pytest.approx(1.0)
    half = PhotoView(cam, (0.0, 0.0, 64.0), (32, 64))
    assert input_view_iou(splats, half, own[:, :32], size=64) == pytest.approx(1.0)
    assert input_view_iou(splats, view, np.roll(own, 20, axis=1), size=64) < 0.5


def test_solid_share_counts_the_silhouette_pixels_that_hide_what_is_behind():
    a = np.zeros((2, 10, 10))
    a[0, 2:8, 2:8] = 0.99  # 36 pixels, 6 of them see-through
    a[0, 2, 2:8] = 0.7
    assert solid_shares(a) == pytest.approx([30 / 36, 0.0])


def test_tables_name_every_mode():
    x = PhotoScore(np.full(10, 0.7), np.full(10, 15.0), 0.9, 0.6, np.full(10, 0.97), 1.0, [])
    table = summary_table({"prior": {"a": x}, "fast": {"a": x}})
    assert "| `prior` | 0.700 |" in table and "| `fast` |" in table


def test_samples_are_found_in_both_layouts(tmp_path):
    Image.new("RGB", (8, 8), "white").save(tmp_path / "hc_a.png")
    (tmp_path / "hc_a.ply").write_bytes(b"")
    Image.new("RGB", (8, 8), "white").save(tmp_path / "hc_lonely.png")  # no splats: skipped
    folder = tmp_path / "turntables" / "novel_1"
    folder.mkdir(parents=True)
    Image.new("RGB", (8, 8), "white").save(folder / "photo.png")
    for y in YAWS:
        Image.new("RGB", (8, 8), "white").save(folder / f"published_{y:03.0f}.png")
    (folder.parent / "novel_2").mkdir()  # a frame missing: not a sample
    for y in YAWS[1:]:
        Image.new("RGB", (8, 8), "white").save(
            folder.parent / "novel_2" / f"published_{y:03.0f}.png"
        )
    Image.new("RGB", (8, 8), "white").save(folder.parent / "novel_2" / "photo.png")
    found = find_samples(tmp_path)
    assert [s.name for s in found] == ["hc_a", "turntable_novel_1"]
    assert found[1].frames[72.0].name == "published_072.png"
    with pytest.raises(ValueError, match="no sample named nobody"):
        evaluate_real(tmp_path, ["prior"], only=["nobody"])


def test_the_default_mode_is_the_one_that_won_on_real_photos():
    # docs/results.md, "Real photos": prior beats fast on shape, opacity and backs.
    assert ReconstructOptions().mode == "prior"


@pytest.mark.skipif(not (SAMPLES / "turntables" / "novel_73").is_dir(), reason="no samples")
def test_eval_real_on_one_photo_through_the_real_pipeline(tmp_path, capsys):
    args = ["eval-real", "--samples", str(SAMPLES), "--modes", "prior", "--out", str(tmp_path)]
    assert main([*args, "--only", "turntable_novel_73"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| `prior` |"))
    iou = float(row.split("|")[2])
    assert iou > 0.7  # measured 0.80; the published system's own turntable is the truth
    sheet = Image.open(tmp_path / "real_turntable_novel_73.png")
    assert sheet.size[0] == 11 * 128  # the photo and 10 views


@pytest.mark.skipif(not (SAMPLES / "turntables" / "novel_73").is_dir(), reason="no samples")
def test_single_photo_modes_say_where_the_photo_was_taken_from():
    # Seen by the camera each mode reports, the result covers the photo's person.
    from humancrafter.pipeline import Pipeline

    photo = SAMPLES / "turntables" / "novel_73" / "photo.png"
    pipe = Pipeline("cpu")
    for mode in ("prior", "fast"):
        result = pipe.run([Image.open(photo).convert("RGB")], ReconstructOptions(mode=mode))
        assert result.photo_view is not None and len(result.photo_view.camera) == 1
        iou = input_view_iou(result.splats, result.photo_view, photo_mask(photo), size=256)
        assert iou > 0.85, (mode, iou)  # measured 0.94 / 0.93 at 512 pixels
