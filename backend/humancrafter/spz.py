"""Niantic SPZ (compressed Gaussian splats): our own writer of versions 2 and 3, read
through the ``gsply`` package.

An SPZ file of version 2 or 3 is one gzip stream: a 16-byte little-endian header (magic
``0x5053474e`` "NGSP", version u32, number of points u32, SH degree u8, fractional bits
u8, flags u8, reserved u8), then each attribute for all points in turn:

- positions: 3 x 24-bit signed fixed point per point, 12 fractional bits here (1/4096
  model units, within +-2048 units);
- alphas: one byte, sigmoid(opacity) * 255;
- colours: one byte per channel, f_dc * (0.15 * 255) + 0.5 * 255 (a "wide" range: 0.15 is
  below SH_C0, so colours a little outside 0..1 survive);
- scales: one byte per axis, (log scale + 10) * 16;
- rotations: version 2, 3 bytes, x y z of the unit quaternion made w >= 0, each
  x * 127.5 + 127.5 (w is derived on reading; of the four quaternions that give the same
  Gaussian we store the one with the largest |w|, :func:`_widest_w`, so that w comes
  back accurately); version 3, 4 bytes, "smallest three":
  the index of the largest component (2 bits) and the other three as a sign bit and 9
  bits of magnitude over 1/sqrt(2);
- SH bands: one byte per coefficient, x * 128 + 128, coefficient-major with r g b inner.

Every value is rounded to the nearest step and clamped to 0..255, as the reference
implementation does (nianticlabs/spz ``src/cc/load-spz.cc``, ``packGaussians``). Its
encoder rounds SH bands further to 5 bits (degree 1) and 4 bits (higher); ours keeps all
8, which every reader decodes the same way.

Version 2 is the default because it is the one every loader reads (glTF's
``KHR_gaussian_splatting_compression_spz_2``, spz-js, gaussian-splats-3d); version 3
stores rotations more precisely and needs a newer reader. SPZ carries no normals and no
body-part labels: a round trip returns ``part=None`` and zero normals. Coordinates are
written as they are: the model frame (x to the right of a viewer in front of the person,
y up, z towards that viewer) is already right-up-back, the convention of SPZ files.

``gsply`` reads every SPZ version (1-4) only from files, so :func:`spz_to_splats` goes
through a private temporary folder.
"""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import gsply
import numpy as np

from .portable.splatfile import SplatFileError, Splats, check_values

VERSIONS = (2, 3)
"""The SPZ versions :func:`splats_to_spz` writes."""
MAGIC = 0x5053474E
"""``NGSP`` read as a little-endian u32: Niantic Gaussian SPlat."""
FRACTIONAL_BITS = 12
"""Position precision of the SPZ files written here: 2**-12 model units (about 0.4 mm on a
1.75 m person, who is about one unit tall in the model frame)."""
MAX_FIXED = 2**23 - 1
"""Largest magnitude of a 24-bit signed fixed-point position (the smallest is -2**23)."""
MAX_SPZ_COORD = float(2 ** (23 - FRACTIONAL_BITS))
"""24-bit signed fixed point with 12 fractional bits holds centres within +-2048 units."""
COLOUR_SCALE = 0.15
"""Colour byte = f_dc * COLOUR_SCALE * 255 + 127.5 (``colorScale`` of the reference)."""
GZIP_LEVEL = 6
"""zlib's default level, the one the reference writer uses."""


def _to_bytes(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer and clamp to 0..255; any shape, uint8."""
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _positions(means: np.ndarray) -> np.ndarray:
    """(N, 9) uint8: x y z of (N, 3) centres as little-endian 24-bit signed fixed point.

    Raises:
        SplatFileError: a centre beyond what 24 bits hold (+-2048 units).
    """
    fixed = np.round(np.asarray(means, np.float64) * 2**FRACTIONAL_BITS)
    far = ((fixed > MAX_FIXED) | (fixed < -MAX_FIXED - 1)).any(axis=1)
    if far.any():
        raise SplatFileError(
            f"{int(far.sum())} splats lie farther than {MAX_SPZ_COORD:g} units from the "
            "origin, beyond what SPZ positions can hold"
        )
    words = (fixed.astype(np.int64) & 0xFFFFFF).astype("<u4")  # two's complement, 24 bits
    return words.view(np.uint8).reshape(len(fixed), 3, 4)[:, :, :3].reshape(len(fixed), 9)


def _widest_w(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit x y z w quaternions, each replaced by the one of the same Gaussian whose
    |w| is largest: q, q*i, q*j or q*k, whose w are w, -x, -y, -z. A half turn about a
    Gaussian's own axis (i, j, k) has a diagonal matrix D of +-1, and R D S^2 D R^T =
    R S^2 R^T, so the covariance is unchanged."""
    x, y, z, w = q.T
    turns = np.stack(
        [q, np.stack([w, z, -y, -x], 1), np.stack([-z, w, x, -y], 1), np.stack([y, -x, w, -z], 1)],
        axis=1,
    )
    best = np.argmax(np.abs(q[:, [3, 0, 1, 2]]), axis=1)
    return turns[np.arange(len(q)), best]


def _rotations_first_three(q: np.ndarray) -> np.ndarray:
    """(N, 3) uint8, version 2: x y z of (N, 4) unit x y z w quaternions made w >= 0.

    Readers derive w = sqrt(1 - x^2 - y^2 - z^2), which 8-bit x y z give badly when w is
    small (up to 12 degrees off near half turns); :func:`_widest_w` first makes |w| >= 1/2,
    which keeps every rotation within about 1.3 degrees.
    """
    q = _widest_w(q)
    sign = np.where(q[:, 3:] < 0, -1.0, 1.0)
    return _to_bytes(q[:, :3] * sign * 127.5 + 127.5)


def _rotations_smallest_three(q: np.ndarray) -> np.ndarray:
    """(N, 4) uint8, version 3: (N, 4) unit x y z w quaternions as one little-endian u32
    each, the index of the largest component in the top 2 bits, then for each other
    component in order a sign bit (relative to the largest's) and 9 bits of
    ``|component| / sqrt(1/2)``."""
    largest = np.argmax(np.abs(q), axis=1)
    negate = np.take_along_axis(q, largest[:, None], axis=1)[:, 0] < 0
    word = largest.astype(np.uint32)
    for i in range(4):
        sign = ((q[:, i] < 0) ^ negate).astype(np.uint32)
        magnitude = np.minimum(511.0 * np.abs(q[:, i]) / np.sqrt(0.5) + 0.5, 511.0)
        packed = (word << 10) | (sign << 9) | magnitude.astype(np.uint32)
        word = np.where(largest == i, word, packed)
    return word.astype("<u4").view(np.uint8).reshape(len(q), 4)


def _payload(splats: Splats, version: int) -> bytes:
    """The uncompressed SPZ stream (header and sections) of checked splats."""
    n = len(splats)
    quats = np.roll(splats.unit_quats().astype(np.float64), -1, axis=1)  # x y z w
    rotations = _rotations_first_three if version == 2 else _rotations_smallest_three
    header = struct.pack("<IIIBBBB", MAGIC, version, n, splats.sh_degree, FRACTIONAL_BITS, 0, 0)
    sections = (
        _positions(splats.means),
        _to_bytes(splats.opacity().astype(np.float64) * 255.0),
        _to_bytes(splats.sh0.astype(np.float64) * (COLOUR_SCALE * 255.0) + 127.5),
        _to_bytes((splats.log_scales.astype(np.float64) + 10.0) * 16.0),
        rotations(quats),
        _to_bytes(splats.sh_rest.astype(np.float64).reshape(n, -1) * 128.0 + 128.0),
    )
    return header + b"".join(np.ascontiguousarray(s).tobytes() for s in sections)


def splats_to_spz(splats: Splats, version: int = 2) -> bytes:
    """Encode splats as an SPZ file's bytes (gzip container).

    Args:
        splats: N Gaussians; labels, label confidences, normals and skin are dropped (SPZ
            has no place for them).
        version: 2 (read by every SPZ loader) or 3 (more precise rotations, newer loaders
            only); see the module docstring.

    Returns:
        The bytes of an ``.spz`` file; the same splats give the same bytes.

    Raises:
        ValueError: a version other than 2 or 3.
        SplatFileError: values no Gaussian can have (:func:`~.splatfile.check_values`, the
            splat file module's one rule), or centres beyond SPZ's range of +-2048 units.
    """
    if version not in VERSIONS:
        raise ValueError(f"SPZ version {version} is not written here; choose 2 or 3")
    check_values(splats)
    return gzip.compress(_payload(splats, version), compresslevel=GZIP_LEVEL, mtime=0)


def spz_to_splats(data: bytes) -> Splats:
    """Decode the bytes of an SPZ file (any version gsply reads: 1 to 4).

    Returns:
        Splats with ``part=None``, ``part_conf=None`` and zero normals; quaternions are unit
        length, w x y z.

    Raises:
        SplatFileError: the bytes are not an SPZ file gsply can read.
    """
    with tempfile.TemporaryDirectory(prefix="humancrafter-spz-") as tmp:
        path = Path(tmp) / "splats.spz"
        path.write_bytes(data)
        try:
            g = gsply.read_spz(path)
        except (ValueError, OSError, EOFError) as e:
            raise SplatFileError(f"not a readable SPZ file: {e}") from None
    n = len(g.means)
    sh_rest = np.zeros((n, 0, 3), np.float32) if g.shN is None else g.shN
    splats = Splats(
        means=np.ascontiguousarray(g.means, np.float32),
        sh0=np.ascontiguousarray(g.sh0, np.float32),
        opacities=np.ascontiguousarray(np.reshape(g.opacities, (n,)), np.float32),
        log_scales=np.ascontiguousarray(g.scales, np.float32),
        quats=np.ascontiguousarray(g.quats, np.float32),
        sh_rest=np.ascontiguousarray(np.reshape(sh_rest, (n, -1, 3)), np.float32),
        normals=np.zeros((n, 3), np.float32),
    )
    check_values(splats)
    return splats
