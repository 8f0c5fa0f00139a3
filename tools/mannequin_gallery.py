"""Regenerate the mannequin pictures in docs/images (mannequin_*.png).

Run: ``.venv/bin/python tools/mannequin_gallery.py``. Every picture is a grid of ray-cast
views: shaded colour on top, Sapiens part colours below (see docs/data.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from humancrafter.body.appearance import Appearance
from humancrafter.body.mannequin import BodyParams, centred
from humancrafter.body.poses import POSE_KINDS, sample_pose
from humancrafter.body.raycast import raycast
from humancrafter.cameras import orbit_cameras
from humancrafter.portable.parts import colorize
from humancrafter.synth import sample_subject

HERE = Path(__file__).resolve().parents[1] / "docs" / "images"


def _tile(out, c: int, what: str) -> np.ndarray:
    if what == "part":
        return colorize(out.part[c].numpy())
    if what == "depth":
        d = out.depth[c].numpy()
        m = out.mask[c].numpy()
        g = np.zeros_like(d)
        if m.any():
            lo, hi = d[m].min(), d[m].max()
            g[m] = 1 - 0.8 * (d[m] - lo) / max(hi - lo, 1e-6)
        return (np.repeat(g[..., None], 3, -1) * 255).astype(np.uint8)
    rgb = (out.rgb[c].numpy() * 255).astype(np.uint8)
    rgb[~out.mask[c].numpy()] = 255
    return rgb


def _grid(columns: list[list[np.ndarray]]) -> Image.Image:
    return Image.fromarray(np.concatenate([np.concatenate(col, 0) for col in columns], 1))


def outfits(n: int = 8, size: int = 192) -> Image.Image:
    """Dataset subjects (seed 0) seen from their input view."""
    cols = []
    for i in range(n):
        s = sample_subject(0, i, 1)
        out = raycast(
            s.params,
            s.appearance,
            orbit_cameras(s.azimuth_deg, s.elevation_deg, s.radius, width=size, height=size),
        )
        cols.append([_tile(out, 0, "rgb"), _tile(out, 0, "part")])
    return _grid(cols)


def poses(size: int = 192) -> Image.Image:
    """One body per pose family, three-quarter view."""
    cols = []
    app = Appearance.sample(np.random.default_rng(4))
    for k, kind in enumerate(POSE_KINDS):
        pose, _ = sample_pose(np.random.default_rng(k), kind)
        out = raycast(
            centred(BodyParams(torch.zeros(10), pose, torch.zeros(3)), app),
            app,
            orbit_cameras([30.0], 10.0, width=size, height=size),
        )
        cols.append([_tile(out, 0, "rgb"), _tile(out, 0, "part")])
    return _grid(cols)


def turntable(size: int = 192) -> Image.Image:
    """One subject from four sides: colour, parts, front depth."""
    s = sample_subject(0, 5, 1)
    out = raycast(
        s.params,
        s.appearance,
        orbit_cameras([0.0, 90.0, 180.0, 270.0], 5.0, width=size, height=size),
    )
    return _grid([[_tile(out, c, w) for w in ("rgb", "part", "depth")] for c in range(4)])


def face(size: int = 192) -> Image.Image:
    """Close-ups: hair styles, lips, an open mouth (teeth and tongue)."""
    cols = []
    looks = [
        Appearance(hair="bob", mouth_open=True),
        Appearance.sample(np.random.default_rng(5)),
        Appearance(hair="ponytail", top="tank"),
        Appearance(hair="bun", top="longsleeve", jacket=True),
    ]
    for i, app in enumerate(looks):
        cams = orbit_cameras(
            [0.0, 35.0, 150.0, 0.0][i],
            5.0,
            radius=0.55,
            target=(0, 0.36, 0),
            width=size,
            height=size,
        )
        out = raycast(BodyParams.neutral(), app, cams)
        cols.append([_tile(out, 0, "rgb"), _tile(out, 0, "part")])
    return _grid(cols)


def main() -> None:
    torch.set_num_threads(1)
    for name, fn in (
        ("outfits", outfits),
        ("poses", poses),
        ("turntable", turntable),
        ("face", face),
    ):
        path = HERE / f"mannequin_{name}.png"
        fn().save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
