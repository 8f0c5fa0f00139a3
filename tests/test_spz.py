"""SPZ export and import through gsply: a round trip keeps every Gaussian within SPZ's
quantisation steps (labels and normals are not carried by SPZ)."""

from __future__ import annotations

import numpy as np
import pytest

from humancrafter.portable.splatfile import SplatFileError, Splats
from humancrafter.spz import FRACTIONAL_BITS, splats_to_spz, spz_to_splats


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


@pytest.mark.parametrize("sh_bands", [0, 3, 15])
def test_round_trip_within_quantisation(sh_bands: int) -> None:
    s = _splats(2000, sh_bands)
    data = splats_to_spz(s)
    assert data[:2] == b"\x1f\x8b"  # the gzip container of SPZ version 3
    r = spz_to_splats(data)
    assert len(r) == len(s) and r.sh_rest.shape == s.sh_rest.shape
    # positions: 24-bit fixed point with 12 fractional bits
    assert np.abs(r.means - s.means).max() <= 0.5 / 2**FRACTIONAL_BITS + 1e-6
    # colour: one byte over sh0 * 0.15 * 255, i.e. steps of 1 / (0.15 * 255) in sh0
    assert np.abs(r.sh0 - s.sh0).max() <= 0.5 / (0.15 * 255) + 1e-5
    # opacity: one byte over [0, 1]
    assert np.abs(r.opacity() - s.opacity()).max() <= 0.5 / 255 + 1e-5
    # log scale: steps of 1/16
    assert np.abs(r.log_scales - s.log_scales).max() <= 0.5 / 16 + 1e-5
    # rotation: same rotation (q and -q are equal) with 9-bit components
    dots = np.abs(np.sum(r.quats * s.unit_quats(), axis=1))
    assert dots.min() > 0.999
    np.testing.assert_allclose(np.linalg.norm(r.quats, axis=1), 1.0, atol=1e-5)
    if sh_bands:
        assert np.abs(r.sh_rest - s.sh_rest).max() <= 0.5 / 128 + 1e-5
    assert r.part is None and r.part_conf is None
    assert not r.normals.any()


def test_zero_quaternion_becomes_identity() -> None:
    s = _splats(4, 0)
    s.quats[1] = 0.0
    r = spz_to_splats(splats_to_spz(s))
    np.testing.assert_allclose(r.quats[1], [1.0, 0.0, 0.0, 0.0], atol=1e-3)


def test_compresses_well_below_ply_size() -> None:
    from humancrafter.portable.splatfile import dumps

    s = _splats(20_000, 0)
    assert len(splats_to_spz(s)) < len(dumps(s)) / 3


@pytest.mark.parametrize("data", [b"", b"not spz at all", b"\x1f\x8b\x08\x00broken"])
def test_unreadable_bytes_raise_a_clear_error(data: bytes) -> None:
    with pytest.raises(SplatFileError, match="not a readable SPZ file"):
        spz_to_splats(data)
