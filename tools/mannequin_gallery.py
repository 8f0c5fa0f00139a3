"""Regenerate the mannequin pictures in docs/images (mannequin_*.png).

Run: ``.venv/bin/python tools/mannequin_gallery.py``. Every picture is a grid of ray-cast
views: shaded colour on top, Sapiens part colours below (see docs/data.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from humancrafter.body.appearance import Appearance, Material
from humancrafter.body.mannequin import BodyParams, centred
from humancrafter.body.poses import POSE_KINDS, sample_pose
from humancrafter.body.raycast import raycast
from humancrafter.cameras import orbit_cameras
from humancrafter.portable.parts import colorize
from humancrafter.synth import photo_like_cameras, sample_subject

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


def outfits(n: int = 8, size: int = 192, first: int = 0) -> Image.Image:
    """Dataset subjects (seed 0) seen from their input view (the photo-like camera)."""
    cols = []
    for i in range(first, first + n):
        s = sample_subject(0, i, 1)
        out = raycast(s.params, s.appearance, photo_like_cameras(s, size))
        cols.append([_tile(out, 0, "rgb"), _tile(out, 0, "part")])
    return _grid(cols)


def wardrobe(size: int = 192) -> Image.Image:
    """The second wardrobe: a long coat, a cap and a logo, an afro with a belly and a print,
    a dress and a brimmed hat, a beanie; front, side and labels."""
    coat = Material("noise", (0.6, 0.45, 0.3), (0.55, 0.4, 0.28), 30.0)
    looks = [
        (Appearance(top="tshirt", jacket=True, coat=0.6, bottom="skirt", bottom_length=0.4,
                    held="handbag", shoes="none", materials={"jacket": coat}), "hands_on_hips"),
        (Appearance(top="tshirt", hat="cap", held="bottle", held_side="left",
                    materials={"top": Material("logo", (0.9, 0.9, 0.9), (0.8, 0.1, 0.1), 25.0)}),
         "hands_in_pockets"),
        (Appearance(top="tank", hair="afro", bottom="shorts", held="shoulder_bag", belly=1.0,
                    materials={"top": Material("print", (0.9, 0.8, 0.2), (0.1, 0.3, 0.6), 30.0)}),
         "arms_crossed"),
        (Appearance(top="longsleeve", hat="brim", bottom="skirt", dress=True, bottom_length=0.7,
                    held="phone",
                    materials={"top": Material("print", (0.9, 0.3, 0.4), (0.95, 0.9, 0.9), 40.0)}),
         "hand_to_face"),
        (Appearance(top="longsleeve", hat="beanie", hair="long", jacket=True, coat=0.35),
         "bending"),
    ]  # fmt: skip
    cols = []
    for i, (app, kind) in enumerate(looks):
        pose, _ = sample_pose(np.random.default_rng(i), kind)
        out = raycast(
            centred(BodyParams(torch.zeros(10), pose, torch.zeros(3)), app),
            app,
            orbit_cameras([20.0, 90.0], 5.0, width=size, height=size),
        )
        cols.append([_tile(out, 0, "rgb"), _tile(out, 1, "rgb"), _tile(out, 0, "part")])
    return _grid(cols)


def poses(size: int = 192) -> Image.Image:
    """One body per pose family, three-quarter view (two rows of six)."""
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
    half = (len(cols) + 1) // 2
    rows = [np.asarray(_grid(cols[:half])), np.asarray(_grid(cols[half:]))]
    return Image.fromarray(np.concatenate(rows, 0))


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
        ("wardrobe", wardrobe),
        ("poses", poses),
        ("turntable", turntable),
        ("face", face),
    ):
        path = HERE / f"mannequin_{name}.png"
        fn().save(path, optimize=True)
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
