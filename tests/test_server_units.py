"""The service's building blocks without a server process: upload checks, token file,
Host names, bearer check, cache key and the data folder's limits."""

from __future__ import annotations

import io
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from server_fixtures import empty_photo, png_bomb, png_bytes, zero_size_png

from humancrafter.pipeline import ReconstructResult
from humancrafter.portable.splatfile import Splats
from humancrafter.server.images import ImageRejected, open_image, sniff_format
from humancrafter.server.jobs import Job, Store, cache_key, preview_from_store
from humancrafter.server.security import (
    allowed_host_names,
    bearer_matches,
    ensure_token,
    is_loopback,
)

# ---- images ----


def _encoded(fmt: str, mode: str = "RGB", size: tuple[int, int] = (200, 300)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 128)[: len(mode)]).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepted_formats_are_recognised_by_content(fmt: str) -> None:
    data = _encoded(fmt)
    assert sniff_format(data) == fmt
    img = open_image(data)
    assert img.size == (200, 300) and img.mode == "RGB"


def test_transparency_is_kept() -> None:
    assert open_image(_encoded("PNG", "RGBA")).mode == "RGBA"


def test_exif_rotation_is_applied() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.new("RGB", (300, 200)).save(buf, "JPEG", exif=exif)
    assert open_image(buf.getvalue()).size == (200, 300)


@pytest.mark.parametrize(
    "data,status,words",
    [
        (b"GIF89a" + bytes(100), 415, "not a PNG"),
        (_encoded("BMP"), 415, "not a PNG"),
        (b"", 415, "not a PNG"),
        (zero_size_png(), 422, "cannot be decoded"),
        (png_bytes(Image.new("RGB", (100, 40))), 422, "too small"),
        (empty_photo()[:300], 422, "truncated"),
        (png_bomb(), 413, "pixels"),
    ],
    ids=["gif", "bmp", "empty", "0x0", "small", "truncated", "bomb"],
)
def test_rejected_uploads(data: bytes, status: int, words: str) -> None:
    with pytest.raises(ImageRejected, match=words) as err:
        open_image(data, "image 1")
    assert err.value.status == status
    assert str(err.value).startswith("image 1: ")


def test_pixel_limit_is_checked_before_decoding() -> None:
    data = png_bytes(Image.new("RGB", (1000, 1000)))
    with pytest.raises(ImageRejected, match="1000x1000 pixels, more than the limit") as err:
        open_image(data, max_pixels=999_999)
    assert err.value.status == 413


# ---- security ----


def test_token_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "token"
    token, created = ensure_token(path)
    assert created and len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert ensure_token(path) == (token, False)
    path.chmod(0o644)
    assert ensure_token(path) == (token, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other, _ = ensure_token(tmp_path / "other" / "token")
    assert other != token


def test_bearer_check() -> None:
    assert bearer_matches("Bearer abc", "abc")
    assert bearer_matches("bearer abc", "abc")
    for header in (None, "", "abc", "Bearer", "Bearer ab", "Bearer abcd", "Basic abc"):
        assert not bearer_matches(header, "abc")


def test_loopback_and_host_names() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
    assert not is_loopback("gpu1.studio.lan")
    names = allowed_host_names("127.0.0.1", ["GPU1.studio.lan:8765", "[fe80::1]"])
    assert {"localhost", "127.0.0.1", "::1", "gpu1.studio.lan", "fe80::1"} <= names
    assert "evil.example" not in names
    assert "10.0.4.21" in allowed_host_names("10.0.4.21")


# ---- jobs: cache key and data folder ----


def test_cache_key_depends_on_every_input() -> None:
    a, b = b"image a", b"image b"
    opts = {"mode": "prior", "azimuths_deg": None, "num_gaussians": 20000, "seed": 0}
    key = cache_key([a], opts, "cpu")
    assert len(key) == 64 and key == cache_key([a], dict(reversed(opts.items())), "cpu")
    assert key != cache_key([b], opts, "cpu")
    assert key != cache_key([a], {**opts, "seed": 1}, "cpu")
    assert key != cache_key([a], opts, "cuda")
    assert cache_key([a, b], opts, "cpu") != cache_key([b, a], opts, "cpu")
    assert cache_key([a + b], opts, "cpu") != cache_key([a, b], opts, "cpu")


def _result(n: int) -> ReconstructResult:
    rng = np.random.default_rng(0)
    splats = Splats.from_activated(
        rng.uniform(-0.5, 0.5, (n, 3)),
        rng.uniform(0, 1, (n, 3)),
        np.full(n, 0.5),
        np.full((n, 3), 0.01),
        np.tile([1.0, 0.0, 0.0, 0.0], (n, 1)),
        rng.integers(0, 28, n),
        np.ones(n),
    )
    return ReconstructResult(splats, png_bytes(Image.new("RGB", (8, 8))), {"photo": 0.1}, ["w"])


def test_store_refuses_anything_but_server_ids(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for bad in ("../../etc/passwd", "0" * 31, "0" * 32 + "/x", "G" * 32):
        with pytest.raises(ValueError):
            store.load_inputs(bad, 1)
        with pytest.raises(ValueError):
            store.has_result(bad)
    with pytest.raises(ValueError):
        store.result_file("0" * 64, "../token")


def test_store_round_trip_and_eviction(tmp_path: Path) -> None:
    store = Store(tmp_path)
    now = time.time()
    job = Job(id="a" * 32, key="b" * 64, options={"seed": 0}, num_images=1,
              created_at=now, updated_at=now)  # fmt: skip
    store.save_job(job)
    (store.jobs_dir / "notes.json").write_text("{}")  # not a job id: ignored
    (store.jobs_dir / ("c" * 32 + ".json")).write_text("{broken")  # unreadable: skipped
    assert store.load_jobs() == [job]

    keys = [f"{i:064x}" for i in range(3)]
    for i, key in enumerate(keys):
        meta = store.save_result(key, _result(1000))
        assert meta["num_splats"] == 1000 and meta["warnings"] == ["w"]
        os.utime(store.results_dir / key, (now - 100 + i, now - 100 + i))
    size = sum(f.stat().st_size for f in (store.results_dir / keys[0]).iterdir())
    assert store.result_file(keys[0], "splats.ply") is not None  # used now: newest
    # Room for two results: the least recently used one goes.
    assert store.evict_results(2 * size + 10, 1e9, now) == [keys[1]]
    # Older than 50 s without use: the remaining old one goes.
    assert store.evict_results(10**12, 50.0, now) == [keys[2]]
    assert store.has_result(keys[0]) and not store.has_result(keys[1])


def test_preview_of_a_stored_result_draws_only_the_sheet(tmp_path: Path) -> None:
    """A preview request whose twin without the preview is stored: the twin's splats, as
    stored, plus a sheet drawn by the real pipeline; None once the twin is evicted."""
    from humancrafter.pipeline import Pipeline  # builds the photo front-end: a few seconds

    store = Store(tmp_path)
    base, key = "1" * 64, "2" * 64
    result = _result(500)
    store.save_result(base, ReconstructResult(result.splats, None, {"fit": 1.0}, ["w"]))
    stages: list[tuple[str, float]] = []
    pipeline = Pipeline(device="cpu", preview_views=2, preview_size=32)
    meta = preview_from_store(pipeline, store, key, base, lambda s, f: stages.append((s, f)))
    assert meta is not None and set(meta["timings"]) == {"preview"}
    assert meta["num_splats"] == 500 and meta["warnings"] == ["w"]
    assert stages == [("preview", 0.0), ("preview", 1.0)]
    assert store.result_file(key, "splats.ply") == store.result_file(base, "splats.ply")
    sheet = Image.open(io.BytesIO(store.result_file(key, "preview.png")))
    assert sheet.size == (2 * 32, 2 * 32)  # colour and parts rows
    store.evict_results(0, 1e9, time.time())  # everything goes
    assert preview_from_store(pipeline, store, "3" * 64, base, lambda s, f: None) is None
