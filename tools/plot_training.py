"""Draw a run's training curve from its log.csv (PIL only, no plotting library).

.venv/bin/python tools/plot_training.py runs/tiny/log.csv -o docs/images/training_tiny.png
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from PIL import Image, ImageDraw

SERIES = (("total", (0, 0, 0)), ("ce", (200, 60, 60)), ("mask", (60, 120, 200)),
          ("mse", (40, 160, 80)))  # fmt: skip


def smooth(values: list[float], k: int) -> list[float]:
    out, acc = [], []
    for v in values:
        acc = (acc + [v])[-k:]
        out.append(sum(acc) / len(acc))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    rows = list(csv.DictReader(args.log.open()))
    steps = [int(r["step"]) for r in rows]
    W, H, pad = 900, 420, 60
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    lo, hi = -3.0, 1.0  # log10 range of the losses
    x = lambda s: pad + (W - 2 * pad) * s / max(steps[-1], 1)  # noqa: E731
    y = lambda v: H - pad - (H - 2 * pad) * (math.log10(max(v, 1e-3)) - lo) / (hi - lo)  # noqa: E731
    d.rectangle([pad, pad, W - pad, H - pad], outline=(120, 120, 120))
    for e in range(int(lo), int(hi) + 1):
        d.text((8, y(10.0**e) - 6), f"1e{e}", fill="black")
    for s in range(0, steps[-1] + 1, max(1, steps[-1] // 5)):
        d.text((x(s) - 10, H - pad + 6), str(s), fill="black")
    for i, (name, colour) in enumerate(SERIES):
        vals = smooth([float(r[name]) for r in rows], 10)
        pts = [(x(s), y(v)) for s, v in zip(steps, vals, strict=True) if v == v]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        d.text((pad + 10 + 110 * i, 20), f"{name} (10-row mean)", fill=colour)
    d.text((W // 2 - 30, H - 24), "step", fill="black")
    img.save(args.output)


if __name__ == "__main__":
    main()
