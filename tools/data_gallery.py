"""A gallery of training samples as the network sees them (docs/images/data_gallery.png).

Per subject (a row): the augmented input photo, its mask, the fitted prior's normals and
part labels from the same camera (the network's input), then the true part labels and two
other supervised views (the targets).

    .venv/bin/python tools/data_gallery.py data/synth128 -o docs/images/data_gallery.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from humancrafter.portable.parts import PALETTE
from humancrafter.training.data import SynthDataset

COLUMNS = ("input photo", "mask", "prior normal", "prior parts", "true parts", "view 2", "view 3")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=6)
    args = ap.parse_args()
    ds = SynthDataset(args.data, "train", input_views=1, supervise_views=3, seed=3)
    rows = []
    for i in range(args.rows):
        s = ds[i]
        rgb = s.inputs.rgb[0, 0].permute(1, 2, 0).numpy()
        mask = np.repeat(s.inputs.mask[0, 0, 0].numpy()[..., None], 3, -1)
        hit = s.inputs.prior_hit[0, 0, 0].numpy()[..., None]
        normal = (s.inputs.prior_normal[0, 0].permute(1, 2, 0).numpy() + 1) / 2 * hit
        parts = PALETTE[s.inputs.prior_part[0, 0].numpy()] / 255 * hit
        truth = PALETTE[s.target_part[0].numpy()] / 255
        others = [s.target_rgb[v].numpy() for v in (1, 2)]
        rows.append(np.concatenate([rgb, mask, normal, parts, truth, *others], axis=1))
    grid = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
    img = Image.fromarray(grid)
    size = grid.shape[0] // args.rows
    canvas = Image.new("RGB", (img.width, img.height + 16), "white")
    canvas.paste(img, (0, 16))
    d = ImageDraw.Draw(canvas)
    for c, name in enumerate(COLUMNS):
        d.text((c * size + 3, 2), name, fill="black")
    canvas.save(args.output)


if __name__ == "__main__":
    main()
