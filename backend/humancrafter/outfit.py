"""The outfit read off a photo: skin and hair colours from the face, and which garments the
mannequin wears (sleeves, shorts or trousers, bare feet, long hair, a long coat), by
comparing the colours along the limbs with the face's skin and with the sleeves.

Used by the ``prior`` reconstruction (:mod:`humancrafter.prior`) before the body is built,
so its part labels (bare arm vs. Upper_Clothing, ...) follow the person; its skin test
(:func:`skin_like`) also decides where sleeves and hems end
(:func:`humancrafter.part_evidence.relabel_limbs`). Colours are RGB in [0, 1]; pixels are
the front-end's crop (:class:`humancrafter.photo.PhotoAnalysis`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from .body.appearance import Appearance
from .photo import PhotoAnalysis


def _median_colour(
    photo: np.ndarray, ok: np.ndarray, uv: np.ndarray, radius: float
) -> np.ndarray | None:
    """Median colour of the usable pixels (``ok``) within ``radius`` of the pixels ``uv``."""
    h, w = ok.shape
    r = max(1, int(round(radius)))
    values = []
    for u, v in uv:
        x0, x1 = int(max(0, u - r)), int(min(w, u + r + 1))
        y0, y1 = int(max(0, v - r)), int(min(h, v + r + 1))
        if x1 <= x0 or y1 <= y0:
            continue
        patch_ok = ok[y0:y1, x0:x1]
        values.append(photo[y0:y1, x0:x1][patch_ok])
    if not values:
        return None
    allv = np.concatenate(values)
    return None if len(allv) < 5 else np.median(allv, axis=0)


def _along(
    lm: np.ndarray, pairs: Iterable[tuple[int, int]], ts: Sequence[float] | np.ndarray
) -> np.ndarray:
    """(len(pairs) * T, 2) points at fractions ``ts`` (T,) of the way from landmark a to b
    of each pair, in the pixels of ``lm`` (33, 2)."""
    t = np.asarray(ts, np.float64)[:, None]
    return np.concatenate([lm[a] + t * (lm[b] - lm[a]) for a, b in pairs])


def skin_like(colour: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Whether RGB colours in [0, 1], (3,) or (N, 3), could be the same skin as ``skin``
    (3,): chromaticity within 0.045 and brightness within a factor of ~1.8 (shading).
    Returns a bool array of shape () or (N,)."""
    c, s = np.asarray(colour, np.float64) + 1e-3, np.asarray(skin, np.float64) + 1e-3
    chroma = np.linalg.norm(c / c.sum(axis=-1, keepdims=True) - s / s.sum(), axis=-1)
    ratio = c.mean(axis=-1) / s.mean()
    return (chroma < 0.045) & (ratio > 0.55) & (ratio < 1.8)


def face_colours(analysis: PhotoAnalysis) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The person's skin and hair colours, (3,) RGB in [0, 1] each, or None when unknown.

    Skin: median of the cheeks and nose (needs the face in view). Hair: median of the
    person's pixels 1.25-1.65 eye-to-mouth distances above the eyes (between the hairline,
    ~1.1, and the top of the skull, ~1.7, in adult proportions), across the head; None for
    a bald head (when that colour looks like the skin).
    """
    photo = analysis.image.astype(np.float32) / 255.0
    ok = (analysis.mask > 0.8) & analysis.inside
    lm, vis = analysis.landmarks_px.astype(np.float64), analysis.visibility
    if not all(vis[i] >= 0.5 for i in (0, 2, 5, 9, 10)):
        return None, None
    eyes, mouth = 0.5 * (lm[2] + lm[5]), 0.5 * (lm[9] + lm[10])
    em = max(float(np.linalg.norm(eyes - mouth)), 1.0)
    cheeks = np.stack([0.5 * (lm[0] + lm[9]), 0.5 * (lm[0] + lm[10]), lm[0]])
    skin = _median_colour(photo, ok, cheeks, 0.2 * em)
    if skin is None:
        return None, None
    up = (eyes - mouth) / em
    side = np.array([-up[1], up[0]])
    band = [eyes + em * (k * up + j * side) for k in (1.25, 1.45, 1.65) for j in (-0.6, 0, 0.6)]
    hair = _median_colour(photo, ok, np.stack(band), 0.2 * em)
    if hair is not None and bool(skin_like(hair, skin)):
        hair = None
    return skin, hair


def infer_outfit(analysis: PhotoAnalysis) -> Appearance:
    """The mannequin outfit that fits the photo, from limb colours versus face skin.

    Tops: ``tank`` (bare upper arms), ``tshirt`` (bare forearms) or ``longsleeve`` (also
    when the chest itself looks like skin: a beige garment is likelier than a bare torso,
    which is never inferred). Bottoms: ``shorts`` (bare shins; short ones when the thighs
    are bare too) or ``trousers``. Shoes: ``none`` (bare feet) or ``sneakers``. Hair:
    ``long`` when the photo shows it hanging beside the neck (:func:`long_hair`), else the
    plain ``short``. Coat: over long sleeves, an open jacket with a skirt to
    :func:`coat_length`'s length when it finds one. Regions the photo does not show keep
    :meth:`Appearance.plain`'s choice; with no face in view everything stays plain.
    """
    out = Appearance.plain()
    photo = analysis.image.astype(np.float32) / 255.0
    ok = (analysis.mask > 0.8) & analysis.inside
    lm, vis = analysis.landmarks_px.astype(np.float64), analysis.visibility
    seen = lambda *idx: all(vis[i] >= 0.5 for i in idx)  # noqa: E731
    skin, hair = face_colours(analysis)
    if skin is None:
        return out
    radius = 0.2 * float(np.linalg.norm(lm[2] - lm[5]))
    colour_at = lambda uv: _median_colour(photo, ok, uv, radius)  # noqa: E731

    def bare(a: int, b: int, t0: float, t1: float) -> bool | None:
        """Whether the segment from landmark a to b (fractions t0..t1) looks like skin."""
        if not seen(a, b):
            return None
        c = colour_at(_along(lm, [(a, b)], np.linspace(t0, t1, 5)))
        return None if c is None else bool(skin_like(c, skin))

    def both(pairs: list[tuple[int, int, float, float]]) -> bool | None:
        votes = [v for v in (bare(*p) for p in pairs) if v is not None]
        return None if not votes else sum(votes) * 2 > len(votes)

    forearm = both([(13, 15, 0.3, 0.8), (14, 16, 0.3, 0.8)])
    upper_arm = both([(11, 13, 0.55, 0.9), (12, 14, 0.55, 0.9)])
    chest = both([(11, 24, 0.25, 0.45), (12, 23, 0.25, 0.45)])
    if chest:
        # A skin-coloured chest is far more often a beige garment than a bare torso: then
        # skin-like limbs tell nothing, and the top is taken to cover the arms.
        out.top = "longsleeve"
    elif forearm is not None:
        if not forearm:
            out.top = "longsleeve"
        elif upper_arm is False:
            out.top = "tshirt"
        elif upper_arm:
            out.top = "tank"
    shin = both([(25, 27, 0.3, 0.8), (26, 28, 0.3, 0.8)])
    thigh = both([(23, 25, 0.3, 0.7), (24, 26, 0.3, 0.7)]) and not chest
    if shin:
        out.bottom = "shorts"
        out.bottom_length = 0.25 if thigh else 0.8
    feet = both([(27, 31, 0.3, 1.0), (28, 32, 0.3, 1.0)])
    if feet:
        out.shoes = "none"
    if hair is not None and long_hair(colour_at, lm, vis, skin, hair):
        out.hair = "long"
    coat = coat_length(colour_at, lm, vis) if out.top == "longsleeve" else 0.0
    if coat > 0:
        out.jacket, out.coat = True, coat
    return out


HAIR_MATCH = 0.15
"""Largest RGB distance (colours in [0, 1]) from the hair colour of the pixels beside the
neck for them to be hair."""
TOP_CONTRAST = 0.25
"""Smallest RGB distance between those pixels and the chest's colour: hair as dark as a
dark top cannot be told from its collar, and the hair is then left short."""


def long_hair(
    colour_at: Callable[[np.ndarray], np.ndarray | None],
    landmarks_px: np.ndarray,
    visibility: np.ndarray,
    skin: np.ndarray,
    hair: np.ndarray,
) -> bool:
    """Whether the photo shows hair hanging beside the neck: on either side, the pixels
    between the ear and the shoulder (0.4-0.7 of the way) have the hair colour, are not
    skin and differ from the chest's colour.

    Args:
        colour_at: (K, 2) crop pixels -> the photo's median colour around them, or None
            (as :func:`infer_outfit` samples it).
        landmarks_px: (33, 2) crop pixels. visibility: (33,).
        skin, hair: (3,) RGB in [0, 1] from :func:`face_colours`.
    """
    lm, vis = landmarks_px, visibility
    # where infer_outfit reads the chest
    chest = colour_at(_along(lm, ((11, 24), (12, 23)), [0.25, 0.35, 0.45]))
    if chest is None:
        return False
    for ear, shoulder in ((7, 11), (8, 12)):
        if vis[ear] < 0.5 or vis[shoulder] < 0.5:
            continue
        c = colour_at(_along(lm, [(ear, shoulder)], [0.4, 0.55, 0.7]))
        if c is None or bool(skin_like(c, skin)):
            continue
        if np.linalg.norm(c - hair) < HAIR_MATCH and np.linalg.norm(c - chest) > TOP_CONTRAST:
            return True
    return False


COAT_MATCH = 0.1
"""Largest RGB distance (colours in [0, 1]) between the sleeves' colour and a leg's for
the leg to be covered by the same garment."""
COAT_MIN = 0.2
"""Shortest coat, as a fraction of hip-to-ankle: less is a jacket or a long top."""
COAT_LOWER_LEG = 0.6
"""Below this fraction of hip-to-ankle the legs must mostly not be the coat's colour (else
they are trousers of that colour)."""
_COAT_STEPS = np.linspace(0.05, 0.95, 19)
"""Where down the legs the garment is looked for (fractions of hip-to-ankle, the knee
at 0.5)."""


def coat_length(
    colour_at: Callable[[np.ndarray], np.ndarray | None],
    landmarks_px: np.ndarray,
    visibility: np.ndarray,
) -> float:
    """How far down the legs a long coat reaches (a fraction of hip-to-ankle), or 0.

    A coat is one garment on the arms, the torso's sides and the outer side of both
    thighs (a quarter of the hips' width outside the hip-knee-ankle line, where an open
    coat's front panels hang), while the lower legs (below :data:`COAT_LOWER_LEG`) are
    mostly something else: trousers of the sleeves' colour (a black suit) are not a coat.
    Its length is the lowest point above the lower legs with the sleeves' colour, when at
    least half the points from the hips down to it have it too (a bag held at the hip
    hides some). Needs hips, knees, ankles and one arm in view; the caller asks only for
    long sleeves.

    Args:
        colour_at: (K, 2) crop pixels -> the photo's median colour around them, or None.
        landmarks_px: (33, 2) crop pixels. visibility: (33,).
    """
    lm, vis = landmarks_px, visibility
    if any(vis[i] < 0.5 for i in (23, 24, 25, 26, 27, 28)):
        return 0.0
    arms = [(a, b) for a, b in ((11, 13), (12, 14)) if vis[a] >= 0.5 and vis[b] >= 0.5]
    if not arms:
        return 0.0
    sleeve = colour_at(_along(lm, arms, np.linspace(0.3, 0.9, 5)))
    # shoulder to hip, down the torso's sides
    flank = colour_at(_along(lm, ((11, 23), (12, 24)), np.linspace(0.4, 0.8, 5)))
    if sleeve is None or flank is None or np.linalg.norm(flank - sleeve) >= COAT_MATCH:
        return 0.0  # a coat is one garment on the arms and the body
    out = 0.25 * (lm[23] - lm[24])  # from the right hip towards the left: outwards on the left

    def leg_points(t: float) -> np.ndarray:
        """(2, 2) points t of the way from each hip to its ankle, outside the leg."""
        pts = []
        for hip, knee, ankle, side in ((23, 25, 27, 1.0), (24, 26, 28, -1.0)):
            a, b, u = (lm[hip], lm[knee], 2 * t) if t < 0.5 else (lm[knee], lm[ankle], 2 * t - 1)
            pts.append(a + u * (b - a) + side * out)
        return np.stack(pts)

    covered = np.array(
        [
            (c := colour_at(leg_points(float(t)))) is not None
            and float(np.linalg.norm(c - sleeve)) < COAT_MATCH
            for t in _COAT_STEPS
        ]
    )
    upper = _COAT_STEPS < COAT_LOWER_LEG
    if covered[~upper].mean() > 0.5 or not covered[upper].any():  # trousers of that colour
        return 0.0
    last = int(np.nonzero(covered & upper)[0][-1])
    if covered[: last + 1].mean() < 0.5:  # a few stray matches
        return 0.0
    length = float(_COAT_STEPS[last])
    return length if length >= COAT_MIN else 0.0
