"""Contact sheets: turntable views of a splat file, so a person can look at any file.

Row 1: colour on white. Row 2 (labelled files only): part colours from the Sapiens palette.
Each view is auto-framed on the splats (centre of their robust bounding box, orbit radius
chosen so the person fills the frame) and labelled with its azimuth.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from .cameras import DEFAULT_FOV_DEG, Cameras, turntable
from .portable.parts import PALETTE
from .portable.splatfile import Splats
from .render import Backend, render_splats

BACKGROUND = (1.0, 1.0, 1.0)
FILL = 0.9
"""Fraction of the view's height (or width) the person's extent takes."""
PREVIEW_MAX_SPLATS = 200_000
"""A contact sheet of a larger file is drawn from a subsample of this many splats (a 1M-splat
sheet on the CPU rasterizer otherwise takes minutes; at 256 px the subsample looks the same)."""


def subsample(splats: Splats, max_splats: int, seed: int = 0) -> Splats:
    """At most ``max_splats`` of the splats, chosen at random (seeded), that cover the image
    as the whole set does.

    Each kept splat stands for r = N / max_splats of the originals, so its opacity becomes
    1 - (1 - a)^r: where r splats of opacity a overlapped, one splat now lets the same share
    of light through. Files with at most ``max_splats`` splats are returned as they are.

    Args:
        splats: N splats. max_splats: the most to keep (>= 1). seed: which ones.
    Returns:
        min(N, max_splats) splats, in their original order.
    """
    n = len(splats)
    if n <= max_splats:
        return splats
    keep = np.sort(np.random.default_rng(seed).choice(n, size=max_splats, replace=False))
    out = splats.subset(keep)
    ratio = n / max_splats
    alpha = out.opacity().astype(np.float64)
    alpha = np.clip(1.0 - (1.0 - alpha) ** ratio, 1e-6, 1.0 - 1e-6)
    out.opacities = np.log(alpha / (1.0 - alpha)).astype(np.float32)
    return out


def frame_cameras(
    splats: Splats,
    azimuths_deg: list[float] | torch.Tensor,
    size: int,
    fov_y_deg: float = DEFAULT_FOV_DEG,
) -> Cameras:
    """Orbit cameras around the splats' centre that keep the whole person in view.

    The centre and extent come from the 1st-99th percentile box of the splat centres with
    opacity above 0.05 (so stray floaters do not shrink the person). The radius fits the
    box's height and its largest horizontal reach from the centre at every azimuth.

    Args:
        splats: the splats to frame. azimuths_deg: C azimuths (0 = in front, 90 = their left).
        size: square image size in pixels.
    Returns:
        C cameras of ``size`` x ``size`` pixels.
    """
    pts = splats.means[splats.opacity() > 0.05] if len(splats) else splats.means
    if len(pts) == 0:
        pts = np.zeros((1, 3), np.float32)
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    centre = (lo + hi) / 2
    half_height = max((hi[1] - lo[1]) / 2, 1e-3)
    reach = max(
        float(np.linalg.norm(np.maximum(np.abs(lo - centre), np.abs(hi - centre))[[0, 2]])), 1e-3
    )
    tan = math.tan(math.radians(fov_y_deg) / 2)
    # Distance at which the larger of half-height and horizontal reach spans FILL of the
    # half-field, measured at the depth of the nearest point (reach closer than the centre).
    radius = max(half_height, reach) / (FILL * tan) + reach
    return turntable(
        len(azimuths_deg), size, size, start_deg=float(azimuths_deg[0]),
        radius=radius, fov_y_deg=fov_y_deg, target=tuple(float(v) for v in centre),
    )  # fmt: skip


def contact_sheet(
    splats: Splats,
    views: int = 8,
    size: int = 256,
    backend: Backend = "auto",
    max_splats: int | None = PREVIEW_MAX_SPLATS,
) -> Image.Image:
    """A sheet of ``views`` turntable views, ``size`` pixels each.

    Args:
        splats: any splat file object (labelled or not).
        views: number of azimuths, evenly spaced from 0 (the front).
        size: pixel size of each square view.
        max_splats: draw a larger file from a :func:`subsample` of this many; None draws
            every splat.
    Returns:
        RGB image ``views * size`` wide and ``size`` (unlabelled) or ``2 * size`` tall.
    """
    if views < 1 or size < 16:
        raise ValueError(f"need at least 1 view of at least 16 px, got {views} views of {size} px")
    if max_splats is not None:
        splats = subsample(splats, max_splats)
    azimuths = [i * 360.0 / views for i in range(views)]
    cams = frame_cameras(splats, azimuths, size)
    features = PALETTE[splats.part].astype(np.float32) / 255.0 if splats.labelled else None
    with torch.no_grad():
        out = render_splats(splats, cams, features, background=BACKGROUND, backend=backend)
    rows = [out.rgb.cpu()]
    if out.features is not None:
        rows.append(out.features.cpu() + torch.tensor(BACKGROUND) * (1 - out.alpha.cpu()))
    grid = torch.cat([torch.cat(list(r), dim=1) for r in rows], dim=0)  # (rows*H, C*W, 3)
    sheet = Image.fromarray((grid.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(sheet)
    for i, az in enumerate(azimuths):
        draw.text((i * size + 4, 2), f"{az:.0f}\N{DEGREE SIGN}", fill=(90, 90, 90))
    return sheet
