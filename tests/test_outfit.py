"""The outfit read off the photo (``outfit.py``) on painted colours whose answer is known."""

from __future__ import annotations

import numpy as np

from humancrafter.outfit import coat_length

COAT = np.array([0.2, 0.15, 0.1])
JEANS = np.array([0.15, 0.2, 0.45])
SHIRT = np.array([0.9, 0.9, 0.9])


def _person() -> tuple[np.ndarray, np.ndarray]:
    """(33, 2) crop pixels of a person standing upright (hips at y 300, knees 400, ankles
    500) and (33,) visibilities."""
    lm = np.zeros((33, 2))
    for left, right, y, x in (
        (11, 12, 150, 45),  # shoulders
        (13, 14, 250, 60),  # elbows
        (23, 24, 300, 25),  # hips
        (25, 26, 400, 26),  # knees
        (27, 28, 500, 27),  # ankles
    ):
        lm[left], lm[right] = (256 + x, y), (256 - x, y)
    return lm, np.ones(33)


def _painted(hem_y: float, below=JEANS, flank=COAT):
    """colour_at for a person in a coat down to ``hem_y``: the arms and every point above
    the hem the coat's colour (the torso's sides ``flank``), below it ``below``."""

    def colour_at(uv: np.ndarray) -> np.ndarray:
        y = float(uv[:, 1].mean())
        if 200 <= y < 300 and np.abs(uv[:, 0] - 256).min() < 40:  # down the torso's sides
            return flank
        return COAT if y < hem_y else below

    return colour_at


def test_a_coat_to_above_the_knees_is_found_with_its_length():
    lm, vis = _person()
    # The hem at y 385: just below 0.4 of the way from the hips (300) to the ankles (500).
    assert abs(coat_length(_painted(385), lm, vis) - 0.4) < 1e-9
    assert abs(coat_length(_painted(355), lm, vis) - 0.25) < 1e-9


def test_no_coat_for_a_suit_a_short_jacket_or_another_top():
    lm, vis = _person()
    assert coat_length(_painted(600), lm, vis) == 0.0  # the same colour to the ankles: a suit
    assert coat_length(_painted(310), lm, vis) == 0.0  # ends at the hips: a jacket
    assert coat_length(_painted(380, flank=SHIRT), lm, vis) == 0.0  # sleeves only: no coat
    vis[27] = 0.0  # an ankle out of view: the legs cannot be told
    assert coat_length(_painted(380), lm, vis) == 0.0
