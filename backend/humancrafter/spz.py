"""Niantic SPZ (compressed Gaussian splats) through the ``gsply`` package.

SPZ stores each Gaussian in about 16 bytes (plus SH bands): positions as 24-bit fixed
point (12 fractional bits, 1/4096 model units, within +-2048 units), opacity and colour
and log-scale as one byte each, rotations as "smallest three" with 9 bits per component,
SH bands as one byte per coefficient. It carries no normals and no body-part labels: a
round trip returns ``part=None`` and zero normals. Coordinates are written as they are:
the model frame (x to the right of a viewer in front of the person, y up, z towards that
viewer) is already right-up-back, the convention the Niantic SPZ library uses inside its files.

``gsply`` reads and writes SPZ only through files, so both functions go through a private
temporary folder.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gsply
import numpy as np

from .portable.splatfile import SplatFileError, Splats, check_values

FRACTIONAL_BITS = 12
"""Position precision of the SPZ files written here: 2**-12 model units (about 0.4 mm on a
1.75 m person, who is about one unit tall in the model frame)."""
MAX_SPZ_COORD = float(2 ** (23 - FRACTIONAL_BITS))
"""24-bit signed fixed point with 12 fractional bits holds centres within +-2048 units."""


def _unit_quats_wxyz(quats: np.ndarray) -> np.ndarray:
    """(N, 4) wxyz quaternions scaled to unit length; zero-length ones become identity."""
    q = np.asarray(quats, np.float64)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    unit = np.where(norm > 1e-12, q / np.maximum(norm, 1e-12), np.array([1.0, 0.0, 0.0, 0.0]))
    return unit.astype(np.float32)


def splats_to_spz(splats: Splats) -> bytes:
    """Encode splats as an SPZ (version 3, gzip container) file's bytes.

    Args:
        splats: N Gaussians; labels, label confidences and normals are dropped (SPZ has no
            place for them).

    Returns:
        The bytes of an ``.spz`` file.

    Raises:
        SplatFileError: values no Gaussian can have (:func:`~.splatfile.check_values`, the
            splat file module's one rule), or centres beyond SPZ's range of +-2048 units.
    """
    check_values(splats)
    if len(splats) and float(np.abs(splats.means).max()) >= MAX_SPZ_COORD:
        far = int((np.abs(splats.means) >= MAX_SPZ_COORD).any(axis=1).sum())
        raise SplatFileError(
            f"{far} splats lie farther than {MAX_SPZ_COORD:g} units from the origin, "
            "beyond what SPZ positions can hold"
        )
    data = gsply.GSData(
        means=np.ascontiguousarray(splats.means, np.float32),
        scales=np.ascontiguousarray(splats.log_scales, np.float32),
        quats=_unit_quats_wxyz(splats.quats),
        opacities=np.ascontiguousarray(splats.opacities, np.float32),
        sh0=np.ascontiguousarray(splats.sh0, np.float32),
        shN=np.ascontiguousarray(splats.sh_rest, np.float32),
    )
    with tempfile.TemporaryDirectory(prefix="humancrafter-spz-") as tmp:
        path = Path(tmp) / "splats.spz"
        gsply.write_spz(path, data, version=3, fractional_bits=FRACTIONAL_BITS)
        return path.read_bytes()


def spz_to_splats(data: bytes) -> Splats:
    """Decode the bytes of an SPZ file (any container version gsply reads).

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
