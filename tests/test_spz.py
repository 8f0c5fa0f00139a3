"""SPZ export (our writer, versions 2 and 3) and import (gsply): a round trip keeps every
Gaussian within SPZ's quantisation steps (labels and normals are not carried by SPZ).

Two third-party readers from npm, pinned in ``tools/spz-reader/package-lock.json`` and run
through node by ``tools/spz-reader/read.mjs``, read the same files: Niantic's own loader
(nianticlabs/spz ``load-spz.cc`` compiled to WebAssembly, npm ``@spz-loader/core``) reads
versions 2 and 3; ``spz-js`` reads version 2 only and refuses version 3, as the loaders that
made version 2 our default do. ``make install`` installs them; when they are missing and npm
is present the test runs ``npm ci`` itself; without node or npm those tests skip.
"""

from __future__ import annotations

import gzip
import struct
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from humancrafter.portable.splatfile import SH_C0, SplatFileError, Splats
from humancrafter.spz import FRACTIONAL_BITS, splats_to_spz, spz_to_splats

sys.path.insert(0, str(Path(__file__).resolve().parent / "blender"))
from npm_tool import npm_tool  # noqa: E402

READER_DIR = Path(__file__).resolve().parents[1] / "tools" / "spz-reader"
POSITION_STEP = 0.5 / 2**FRACTIONAL_BITS + 1e-6
SH0_STEP = 0.5 / (0.15 * 255) + 1e-5
"""Colour bytes are f_dc * 0.15 * 255 + 127.5."""
OPACITY_STEP = 0.5 / 255 + 1e-5
LOG_SCALE_STEP = 0.5 / 16 + 1e-5
SH_STEP = 0.5 / 128 + 1e-5
TURN_DEGREES = {2: 1.5, 3: 0.3}
"""Largest rotation error of a Gaussian per version: 8-bit x y z with |w| >= 1/2 (1.3
degrees at most over 200,000 random rotations), or 9-bit smallest three (0.22 degrees)."""


def _splats(n: int, sh_bands: int, seed: int = 0) -> Splats:
    rng = np.random.default_rng(seed)
    s = Splats.from_activated(
        means=rng.uniform(-0.5, 0.5, (n, 3)),
        rgb=rng.uniform(0.0, 1.0, (n, 3)),
        opacity=rng.uniform(0.02, 0.98, n),
        scales=np.exp(rng.uniform(-7.0, -2.0, (n, 3))),
        quats=rng.normal(size=(n, 4)) * 3.0,  # not unit length, as files may hold
        part=rng.integers(0, 28, n),
        part_conf=rng.uniform(0.0, 1.0, n),
    )
    s.sh_rest = rng.uniform(-0.5, 0.5, (n, sh_bands, 3)).astype(np.float32)
    return s


def _matrices(quats_wxyz: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotation matrices of (N, 4) w x y z quaternions of any length."""
    w, x, y, z = (quats_wxyz / np.linalg.norm(quats_wxyz, axis=1, keepdims=True)).T
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=1).reshape(-1, 3, 3)  # fmt: skip


def _turn_error_degrees(a_wxyz: np.ndarray, b_wxyz: np.ndarray) -> np.ndarray:
    """(N,) angle between the frames of two rotations of each Gaussian, in degrees, up to a
    half turn about one of its own axes (which leaves a Gaussian unchanged)."""
    m = np.einsum("nji,njk->nik", _matrices(a_wxyz), _matrices(b_wxyz))
    cosine = (np.abs(np.diagonal(m, axis1=1, axis2=2)).sum(axis=1) - 1.0) / 2.0
    return np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))


def _header(data: bytes) -> tuple[int, ...]:
    """magic, version, points, SH degree, fractional bits, flags, reserved."""
    return struct.unpack("<IIIBBBB", gzip.decompress(data)[:16])


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("sh_bands", [0, 3, 15])
def test_round_trip_within_quantisation(version: int, sh_bands: int) -> None:
    s = _splats(2000, sh_bands)
    data = splats_to_spz(s, version=version)
    degree = {0: 0, 3: 1, 15: 3}[sh_bands]
    assert _header(data) == (0x5053474E, version, 2000, degree, FRACTIONAL_BITS, 0, 0)
    r = spz_to_splats(data)
    assert len(r) == len(s) and r.sh_rest.shape == s.sh_rest.shape
    assert np.abs(r.means - s.means).max() <= POSITION_STEP
    assert np.abs(r.sh0 - s.sh0).max() <= SH0_STEP
    assert np.abs(r.opacity() - s.opacity()).max() <= OPACITY_STEP
    assert np.abs(r.log_scales - s.log_scales).max() <= LOG_SCALE_STEP
    assert _turn_error_degrees(s.quats, r.quats).max() < TURN_DEGREES[version]
    np.testing.assert_allclose(np.linalg.norm(r.quats, axis=1), 1.0, atol=1e-5)
    if sh_bands:
        assert np.abs(r.sh_rest - s.sh_rest).max() <= SH_STEP
    assert r.part is None and r.part_conf is None
    assert not r.normals.any()


def test_version_2_is_the_default_and_the_bytes_are_reproducible() -> None:
    s = _splats(500, 3)
    assert _header(splats_to_spz(s))[1] == 2
    assert splats_to_spz(s) == splats_to_spz(s, version=2)


@pytest.mark.parametrize("version", [1, 4])
def test_other_versions_are_refused(version: int) -> None:
    with pytest.raises(ValueError, match="choose 2 or 3"):
        splats_to_spz(_splats(4, 0), version=version)


@pytest.mark.parametrize("version", [2, 3])
def test_zero_quaternion_becomes_identity(version: int) -> None:
    s = _splats(4, 0)
    s.quats[1] = 0.0
    r = spz_to_splats(splats_to_spz(s, version=version))
    # version 2 has no byte for 0: x y z = b / 127.5 - 1 gives +-1/255 at best
    np.testing.assert_allclose(np.abs(r.quats[1]), [1.0, 0.0, 0.0, 0.0], atol=1 / 255 + 1e-6)


def test_centres_beyond_24_bits_are_refused() -> None:
    s = _splats(3, 0)
    s.means[1, 2] = 2047.9
    assert np.abs(spz_to_splats(splats_to_spz(s)).means[1, 2] - 2047.9) <= POSITION_STEP
    s.means[2, 0] = -2048.1
    with pytest.raises(SplatFileError, match="1 splats lie farther than 2048 units"):
        splats_to_spz(s)


def test_compresses_well_below_ply_size() -> None:
    from humancrafter.portable.splatfile import dumps

    s = _splats(20_000, 0)
    assert len(splats_to_spz(s)) < len(dumps(s)) / 3


@pytest.mark.parametrize("data", [b"", b"not spz at all", b"\x1f\x8b\x08\x00broken"])
def test_unreadable_bytes_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(SplatFileError, match="not a readable SPZ file"):
        spz_to_splats(data)


# ------------------------------------------------------------------ third-party readers


def _reader() -> Callable[[Path], dict] | str:
    """A function: path of an .spz -> what each npm reader made of it (``read.mjs``'s
    JSON); or, without node or npm, the reason it cannot run."""
    return npm_tool(READER_DIR, "spz-js", "read.mjs", "the npm SPZ readers")


@pytest.fixture(scope="module")
def read_spz() -> Callable[[Path], dict]:
    run = _reader()
    if isinstance(run, str):
        pytest.skip(run)
    return run


def _check_cloud(cloud: dict, s: Splats, version: int, activated: bool) -> None:
    """A reader's decoded points against the splats written. ``activated``: the reader
    returns linear scales, opacities and 0.5 + SH_C0 * f_dc colours (Niantic's loader);
    otherwise log scales, logits and f_dc (spz-js)."""
    n, bands = len(s), s.sh_rest.shape[1]
    assert cloud["numPoints"] == n and cloud["shDegree"] == s.sh_degree

    def arr(name: str, width: int) -> np.ndarray:
        return np.asarray(cloud[name], np.float64).reshape(n, width)

    log_scales = np.log(arr("scales", 3)) if activated else arr("scales", 3)
    alphas = arr("alphas", 1)[:, 0]
    opacity = alphas if activated else 1.0 / (1.0 + np.exp(-alphas))
    sh0 = (arr("colors", 3) - 0.5) / SH_C0 if activated else arr("colors", 3)
    xyzw = arr("rotations", 4)
    assert np.abs(arr("positions", 3) - s.means).max() <= POSITION_STEP
    assert np.abs(log_scales - s.log_scales).max() <= LOG_SCALE_STEP
    assert np.abs(opacity - s.opacity()).max() <= OPACITY_STEP
    assert np.abs(sh0 - s.sh0).max() <= SH0_STEP
    assert _turn_error_degrees(s.quats, np.roll(xyzw, 1, axis=1)).max() < TURN_DEGREES[version]
    np.testing.assert_allclose(np.linalg.norm(xyzw, axis=1), 1.0, atol=1e-2)
    sh = np.asarray(cloud["sh"], np.float64).reshape(n, bands, 3)
    assert np.abs(sh - s.sh_rest).max(initial=0.0) <= SH_STEP


@pytest.mark.parametrize("sh_bands", [0, 15])
def test_npm_readers_read_our_version_2(read_spz, tmp_path: Path, sh_bands: int) -> None:
    s = _splats(2000, sh_bands, seed=3)
    path = tmp_path / "splats.spz"
    path.write_bytes(splats_to_spz(s))
    report = read_spz(path)
    _check_cloud(report["niantic"], s, 2, activated=True)
    _check_cloud(report["spz-js"], s, 2, activated=False)


def test_npm_readers_on_version_3(read_spz, tmp_path: Path) -> None:
    """Niantic's loader reads version 3; spz-js refuses it (it reads versions 1 and 2)."""
    s = _splats(2000, 3, seed=4)
    path = tmp_path / "splats.spz"
    path.write_bytes(splats_to_spz(s, version=3))
    report = read_spz(path)
    _check_cloud(report["niantic"], s, 3, activated=True)
    assert set(report["spz-js"]) == {"error"}
