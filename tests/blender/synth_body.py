"""A labelled stick-figure person as semantic splats (numpy only), for tests and benchmarks.

Model frame: y up, about one unit tall (feet at y = -0.5), facing +z, the person's left
on +x; arms held out in an A-pose so that every limb part is clearly separated.
"""

from __future__ import annotations

import numpy as np

from humancrafter.portable.parts import PART_IDS
from humancrafter.portable.splatfile import Splats

# part, start (x, y, z), end, radius, sRGB colour
_SEGMENTS = (
    ("Face_Neck", (0, 0.30, 0), (0, 0.42, 0), 0.06, (0.85, 0.65, 0.5)),
    ("Hair", (0, 0.42, -0.01), (0, 0.46, -0.02), 0.065, (0.15, 0.1, 0.05)),
    ("Torso", (0, 0.02, 0), (0, 0.28, 0), 0.11, (0.85, 0.65, 0.5)),
    ("Upper_Clothing", (0, 0.10, 0), (0, 0.26, 0), 0.125, (0.2, 0.35, 0.8)),
    ("Lower_Clothing", (0, -0.04, 0), (0, 0.04, 0), 0.12, (0.25, 0.2, 0.15)),
)
_LIMBS = (
    ("Upper_Arm", (0.13, 0.27, 0), (0.25, 0.13, 0), 0.035, (0.85, 0.65, 0.5)),
    ("Lower_Arm", (0.25, 0.13, 0), (0.34, -0.01, 0), 0.03, (0.85, 0.65, 0.5)),
    ("Hand", (0.34, -0.01, 0), (0.37, -0.07, 0), 0.028, (0.9, 0.7, 0.55)),
    ("Upper_Leg", (0.07, -0.04, 0), (0.08, -0.25, 0), 0.05, (0.3, 0.3, 0.35)),
    ("Lower_Leg", (0.08, -0.25, 0), (0.08, -0.46, 0), 0.04, (0.3, 0.3, 0.35)),
    ("Foot", (0.08, -0.48, 0.0), (0.08, -0.49, 0.09), 0.025, (0.9, 0.9, 0.9)),
)


def segments() -> list[tuple[str, np.ndarray, np.ndarray, float, tuple]]:
    """Every capsule of the body: (part name, start, end, radius, colour)."""
    out = [(n, np.array(a, float), np.array(b, float), r, c) for n, a, b, r, c in _SEGMENTS]
    for name, a, b, r, c in _LIMBS:
        a, b = np.array(a, float), np.array(b, float)
        out.append((f"Left_{name}", a, b, r, c))
        mirror = np.array([-1.0, 1.0, 1.0])
        out.append((f"Right_{name}", a * mirror, b * mirror, r, c))
    return out


def body(n: int, seed: int = 0, sh_bands: int = 0) -> Splats:
    """``n`` labelled splats on the surfaces of :func:`segments` (areas decide counts)."""
    rng = np.random.default_rng(seed)
    segs = segments()
    areas = np.array([np.linalg.norm(b - a) * r + r * r for _, a, b, r, _ in segs])
    seg_of = rng.choice(len(segs), size=n, p=areas / areas.sum())
    seg_of.sort()
    means = np.empty((n, 3))
    rgb = np.empty((n, 3))
    part = np.empty(n, np.uint8)
    for i, (name, a, b, r, colour) in enumerate(segs):
        idx = np.flatnonzero(seg_of == i)
        t = rng.random(len(idx))[:, None]
        d = rng.normal(size=(len(idx), 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        means[idx] = a + t * (b - a) + r * d
        rgb[idx] = np.clip(np.array(colour) + rng.normal(0, 0.03, (len(idx), 3)), 0, 1)
        part[idx] = PART_IDS[name]
    quats = rng.normal(size=(n, 4))
    s = Splats.from_activated(
        means=means,
        rgb=rgb,
        opacity=rng.uniform(0.3, 1.0, n),
        scales=rng.uniform(0.002, 0.008, (n, 3)),
        quats=quats,
        part=part,
        part_conf=rng.uniform(0.5, 1.0, n).astype(np.float32),
    )
    if sh_bands:
        s.sh_rest = rng.normal(0, 0.05, (n, sh_bands, 3)).astype(np.float32)
    return s
