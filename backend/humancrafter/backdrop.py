"""A sharper person mask for photos taken against a plain backdrop.

mediapipe's person mask is computed at 256 x 256 and is soft: thresholded at 0.5 it
misses 2-8 % of the person on the sample photos (hair, fingers, shoe tips, a held stick),
and everything downstream (the body's outline, the colours) inherits the loss. Studio
photos, product shots and cut-outs pasted on white have a plain backdrop, and there a
colour key is exact to the pixel. :func:`keyed_mask` recognises such a photo by its
border (nearly all of it one colour), keys the person out against that colour and keeps
only what touches the segmenter's person, so a shadow in a far corner or a second object
is not taken along; where the segmenter is sure of the person the key only adds to it, so
clothes of the backdrop's colour are not cut out. Any other photo keeps the segmenter's mask.

Colours are 0-255 RGB; distances are the largest per-channel difference.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

BORDER = 0.03
"""Width of the border ring that decides the backdrop, as a share of the shorter side."""
PLAIN_DIST = 18
"""A border pixel belongs to the backdrop when within this of the border's median colour."""
PLAIN_SHARE = 0.85
"""A photo has a plain backdrop when at least this share of its border belongs to it (the
rest may be the person cut by the frame, or noise)."""
KEY_LOW, KEY_HIGH = 24, 48
"""Colour distance from the backdrop mapped to person probability 0 and 1 (linear
between); 24 leaves JPEG noise and the faint shadows of a lit studio to the backdrop."""
SURE = 0.8
"""Where the segmenter is at least this sure of the person, the person stays whatever its
colour; below it (its blurred edges, the gaps between arm and body) the key decides."""
MIN_AGREEMENT = 0.75
"""The key is used only when its person overlaps the segmenter's by at least this IoU:
a busy photo whose border happens to be plain keeps the segmenter's mask."""


def backdrop_colour(rgb: np.ndarray) -> np.ndarray | None:
    """The backdrop's colour when the photo's border is nearly all one colour.

    Args:
        rgb: (H, W, 3) uint8.
    Returns:
        (3,) float64 median border colour, or None when the border is not plain.
    """
    h, w = rgb.shape[:2]
    b = max(1, round(BORDER * min(h, w)))
    ring = np.concatenate([
        rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3),
        rgb[b:-b, :b].reshape(-1, 3), rgb[b:-b, -b:].reshape(-1, 3),
    ]).astype(np.float64)  # fmt: skip
    colour = np.median(ring, axis=0)
    plain = np.abs(ring - colour).max(axis=1) <= PLAIN_DIST
    return colour if plain.mean() >= PLAIN_SHARE else None


def keyed_mask(rgb: np.ndarray, seg: np.ndarray) -> np.ndarray | None:
    """The person keyed out against a plain backdrop, or None for any other photo.

    Args:
        rgb: (H, W, 3) uint8 photo. seg: (H, W) float32 the segmenter's person
            probability in [0, 1] at the same size.
    Returns:
        (H, W) float32 person probability in [0, 1]: the key's, restricted to the parts
        (connected at 0.5) that overlap the segmenter's person, and where the segmenter is
        sure (:data:`SURE`) the larger of the two; None when the backdrop is not plain or
        the result disagrees with the segmenter (:data:`MIN_AGREEMENT`).
    """
    colour = backdrop_colour(rgb)
    if colour is None:
        return None
    dist = np.abs(rgb.astype(np.float64) - colour).max(axis=-1)
    key = np.clip((dist - KEY_LOW) / (KEY_HIGH - KEY_LOW), 0.0, 1.0)
    person = seg > 0.5
    labels, _ = ndimage.label(key > 0.5)
    keep = np.isin(labels, np.unique(labels[person & (labels > 0)]))
    # keep the soft edge next to kept parts, drop every other part's
    near = ndimage.binary_dilation(keep, iterations=2)
    key = np.where(near & ~((labels > 0) & ~keep), key, 0.0)
    # A white shirt on a white backdrop has the backdrop's colour but is not the backdrop:
    # where the segmenter is sure, the key only adds.
    key = np.where(seg > SURE, np.maximum(key, seg), key)
    solid = key > 0.5
    union = (solid | person).sum()
    if union == 0 or (solid & person).sum() / union < MIN_AGREEMENT:
        return None
    return key.astype(np.float32)
