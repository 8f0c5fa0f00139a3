"""Photo front-end: mask, crop, landmarks in the model frame, and every refusal."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

pytest.importorskip("mediapipe")

from humancrafter.photo import (  # noqa: E402
    CROP_SIZE,
    LANDMARK_NAMES,
    MAX_PIXELS,
    PhotoFrontEnd,
    load_image,
    mask_certainty,
    missing_regions,
    world_to_model,
)
from humancrafter.pipeline import InputError  # noqa: E402

SAMPLES = Path(__file__).parents[2] / "shared" / "samples"
ASTRONAUT = Path(__file__).parents[1] / "backend" / "humancrafter" / "assets" / "astronaut.jpg"
L = {name: i for i, name in enumerate(LANDMARK_NAMES)}


@pytest.fixture(scope="module")
def front_end():
    fe = PhotoFrontEnd()
    yield fe
    fe.close()


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return load_image(ASTRONAUT)


def _sample(name: str) -> Image.Image:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return load_image(path)


def _side_by_side(*images: Image.Image) -> Image.Image:
    out = Image.new("RGB", (sum(i.width for i in images), images[0].height), "white")
    x = 0
    for im in images:
        out.paste(im.convert("RGB"), (x, 0))
        x += im.width
    return out


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_astronaut_waist_up(front_end, astronaut):
    a = front_end.analyze(astronaut)
    assert a.image.shape == (CROP_SIZE, CROP_SIZE, 3) and a.image.dtype == np.uint8
    assert a.mask.shape == (CROP_SIZE, CROP_SIZE) and 0 <= a.mask.min() and a.mask.max() <= 1
    assert a.mask_certainty > 0.8
    # A waist-up portrait: reconstructed, with the missing regions named.
    assert {"knees", "feet"} <= set(a.missing) and "head" not in a.missing
    assert any("knees" in w and "feet" in w for w in a.warnings)
    # The crop reaches past the photo's left and bottom edges; those pixels are marked.
    assert not a.inside[:, 0].any() and not a.inside[-1].any() and a.inside[CROP_SIZE // 2].any()
    assert a.mask[~a.inside].max() == 0
    # Model frame: the head is up, the person's left shoulder is at +x (image right).
    lm = a.landmarks_model
    assert lm[L["nose"], 1] > lm[L["left_shoulder"], 1] > 0
    assert lm[L["left_shoulder"], 0] > 0 > lm[L["right_shoulder"], 0]
    assert a.landmarks_px[L["left_shoulder"], 0] > a.landmarks_px[L["right_shoulder"], 0]
    # The nose lands on the face: inside the mask, in the upper half of the crop.
    u, v = a.landmarks_px[L["nose"]].astype(int)
    assert a.mask[v, u] > 0.9 and v < CROP_SIZE / 2


@pytest.mark.parametrize(
    "name", ["hc_novel_10.png", "hc_novel_14.png", "hc_novel_29.png", "hc_other_novel_9.png"]
)
def test_full_body_samples(front_end, name):
    a = front_end.analyze(_sample(name))
    assert a.missing == [] and a.warnings == []
    lm = a.landmarks_model
    # About one unit tall: nose above ankles by 0.6-1.0 (one sample bends forward), pelvis at
    # the origin.
    ankles = lm[[L["left_ankle"], L["right_ankle"]], 1].mean()
    assert 0.6 < lm[L["nose"], 1] - ankles < 1.0
    hips = lm[[L["left_hip"], L["right_hip"]]].mean(axis=0)
    np.testing.assert_allclose(hips, 0.0, atol=1e-5)
    # The person fills the crop's height (margin 1.15) and is centred.
    ys, xs = np.nonzero(a.mask > 0.5)
    assert 0.8 < (ys.max() - ys.min()) / CROP_SIZE < 0.9
    assert abs((xs.max() + xs.min()) / 2 - CROP_SIZE / 2) < 0.05 * CROP_SIZE


def test_not_an_image(tmp_path):
    with pytest.raises(InputError, match="not an image"):
        load_image(b"this is text, not a picture")
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG signature, then garbage
    with pytest.raises(InputError, match="photo.png is not an image"):
        load_image(path)
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "missing.jpg")


def test_too_small_and_too_large(front_end, astronaut):
    with pytest.raises(InputError, match=r"too small \(100x90 pixels\)"):
        load_image(_png(astronaut.resize((100, 90))))
    with pytest.raises(InputError, match="too small"):
        front_end.analyze(astronaut.resize((120, 200)))
    # Too large is refused from the header alone, before the pixels are decoded.
    big = Image.new("L", (13_000, 200))
    with pytest.raises(InputError, match=r"too large \(13000x200"):
        load_image(_png(big))
    side = int(np.sqrt(MAX_PIXELS)) + 64
    with pytest.raises(InputError, match="too large"):
        front_end.analyze(Image.new("L", (side, side)))


def test_no_person(front_end):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (400, 300, 3), dtype=np.uint8))
    with pytest.raises(InputError, match="no person"):
        front_end.analyze(noise)
    with pytest.raises(InputError, match="no person"):
        front_end.analyze(Image.new("RGB", (640, 480), (200, 180, 160)))


def test_more_than_one_person(front_end, astronaut):
    # Two faces of the same size.
    with pytest.raises(InputError, match="2 people"):
        front_end.analyze(_side_by_side(astronaut, astronaut))


def test_more_than_one_person_full_body(front_end):
    # Two small full-body people, side by side, found by painting out the first one.
    a, b = _sample("hc_novel_14.png"), _sample("hc_novel_29.png")
    with pytest.raises(InputError, match="more than one person|2 people"):
        front_end.analyze(_side_by_side(a, b))


def test_person_too_small(front_end, astronaut):
    canvas = Image.new("RGB", (400, 400), (128, 128, 128))
    canvas.paste(astronaut.resize((90, 90)), (150, 150))
    with pytest.raises(InputError, match=r"too small in the photo \(\d+ pixels tall\)"):
        front_end.analyze(canvas)


def test_low_mask_confidence(front_end, astronaut):
    blurred = astronaut.filter(ImageFilter.GaussianBlur(16))
    with pytest.raises(InputError, match="cannot be separated from the background"):
        front_end.analyze(blurred)


def test_too_little_of_the_body(front_end, astronaut):
    face = astronaut.crop((140, 20, 300, 180)).resize((320, 320))
    with pytest.raises(InputError, match="too little of the body"):
        front_end.analyze(face)


def test_cut_out_photo_uses_its_alpha(front_end):
    photo = _sample("hc_novel_14.png").convert("RGB")
    rgb = np.asarray(photo)
    alpha = (rgb.astype(int).sum(axis=2) < 3 * 245).astype(np.uint8) * 255  # not white
    rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    a = front_end.analyze(rgba)
    ys, xs = np.nonzero(alpha)
    # The crop's mask is the photo's own alpha, resampled: binary up to edge pixels.
    assert ((a.mask > 0.05) & (a.mask < 0.95)).mean() < 0.02
    assert a.mask.max() == pytest.approx(1.0)


def test_exif_rotation_is_applied(astronaut):
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    astronaut.crop((0, 0, 512, 300)).save(buf, format="JPEG", exif=exif)
    assert load_image(buf.getvalue()).size == (300, 512)


def test_world_to_model():
    # A standing person in mediapipe's world frame: metres, y down, z away from the camera.
    world = np.zeros((33, 3))
    pts = {
        "nose": (0.0, -0.62, -0.1), "left_shoulder": (0.18, -0.45, 0.0),
        "right_shoulder": (-0.18, -0.45, 0.0), "left_hip": (0.1, 0.0, 0.0),
        "right_hip": (-0.1, 0.0, 0.0), "left_knee": (0.1, 0.42, 0.0),
        "right_knee": (-0.1, 0.42, 0.0), "left_ankle": (0.1, 0.84, 0.0),
        "right_ankle": (-0.1, 0.84, 0.0), "left_heel": (0.1, 0.9, 0.0),
        "right_heel": (-0.1, 0.9, 0.0),
    }  # fmt: skip
    for name, p in pts.items():
        world[L[name]] = p
    m = world_to_model(world)
    assert m[L["nose"], 1] > 0 and m[L["nose"], 2] > 0  # up, and towards the camera (+z)
    assert m[L["left_shoulder"], 0] > 0
    chain = np.hypot(0.17, 0.1) + 0.45 + 0.42 + 0.42 + 0.06  # nose-shoulders-hips-knees-heels
    assert m[L["nose"], 1] - m[L["left_heel"], 1] == pytest.approx(1.52 / (chain / 0.91), rel=1e-4)


def test_mask_certainty_and_missing_regions():
    sharp = np.zeros((64, 64), np.float32)
    sharp[16:48, 16:48] = 1.0
    assert mask_certainty(sharp) == 1.0
    assert mask_certainty(np.zeros((8, 8))) == 0.0
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))
    assert 0.2 < mask_certainty(ramp) < 0.3
    vis = np.ones(33)
    vis[25:] = 0.0
    assert missing_regions(vis) == ["knees", "feet"]
