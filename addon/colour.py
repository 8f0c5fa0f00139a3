"""Colour conversions of the add-on (numpy only, no bpy, so it is testable without Blender).

Splat files hold sRGB-encoded colours as SH degree-0 coefficients (``rgb = 0.5 + SH_C0 *
f_dc``); Blender's colour attributes and shader colours are linear.
"""

from __future__ import annotations

import numpy as np

from .portable.splatfile import SH_C0

LUMINANCE = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Rec. 709 luminance weights of (r, g, b)."""


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear (same shape, float32)."""
    c = np.asarray(c, np.float32)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear values in [0, 1] -> sRGB-encoded (same shape, float32)."""
    c = np.clip(np.asarray(c, np.float32), 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055).astype(np.float32)


def display_colours(sh_dc: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """(N, 4) float32 linear RGBA for the ``Col`` attribute from f_dc (N, 3) and opacity
    (N,)."""
    col = np.empty((len(opacity), 4), np.float32)
    col[:, :3] = srgb_to_linear(np.clip(0.5 + SH_C0 * sh_dc, 0.0, 1.0))
    col[:, 3] = opacity
    return col


def recoloured_sh_dc(sh_dc: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """f_dc (M, 3) of points recoloured to the linear ``colour``, keeping their shading:
    each point's new sRGB colour is ``colour`` x (its luminance / their mean luminance)."""
    rgb = np.clip(0.5 + SH_C0 * sh_dc, 0.0, 1.0)
    lum = rgb @ LUMINANCE
    shade = lum / max(float(lum.mean()), 1e-6)
    target = linear_to_srgb(np.asarray(colour, np.float32))
    new_rgb = np.clip(target[None, :] * shade[:, None], 0.0, 1.0)
    return (new_rgb - 0.5) / SH_C0
