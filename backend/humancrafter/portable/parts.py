"""The 28 Sapiens (Goliath) body-part classes: ids, names, colours, left/right mirror.

This is the one place the taxonomy is written down. Class ids are the indices into
:data:`PART_NAMES`; "left" and "right" are the person's own. Colours are Sapiens'
own segmentation palette (RGB, 0-255), the default colour map everywhere.
"""

from __future__ import annotations

import numpy as np

_TABLE: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("Background", (50, 50, 50)),  # 0
    ("Apparel", (255, 218, 0)),  # 1
    ("Face_Neck", (128, 200, 255)),  # 2
    ("Hair", (255, 0, 109)),  # 3
    ("Left_Foot", (189, 0, 204)),  # 4
    ("Left_Hand", (255, 0, 218)),  # 5
    ("Left_Lower_Arm", (0, 160, 204)),  # 6
    ("Left_Lower_Leg", (0, 255, 145)),  # 7
    ("Left_Shoe", (204, 0, 131)),  # 8
    ("Left_Sock", (182, 0, 255)),  # 9
    ("Left_Upper_Arm", (255, 109, 0)),  # 10
    ("Left_Upper_Leg", (0, 255, 255)),  # 11
    ("Lower_Clothing", (72, 0, 255)),  # 12
    ("Right_Foot", (204, 131, 0)),  # 13
    ("Right_Hand", (255, 0, 0)),  # 14
    ("Right_Lower_Arm", (72, 255, 0)),  # 15
    ("Right_Lower_Leg", (189, 204, 0)),  # 16
    ("Right_Shoe", (182, 255, 0)),  # 17
    ("Right_Sock", (102, 0, 204)),  # 18
    ("Right_Upper_Arm", (32, 72, 204)),  # 19
    ("Right_Upper_Leg", (0, 145, 255)),  # 20
    ("Torso", (14, 204, 0)),  # 21
    ("Upper_Clothing", (0, 128, 72)),  # 22
    ("Lower_Lip", (235, 205, 119)),  # 23
    ("Upper_Lip", (115, 227, 112)),  # 24
    ("Lower_Teeth", (157, 113, 143)),  # 25
    ("Upper_Teeth", (132, 93, 50)),  # 26
    ("Tongue", (82, 21, 114)),  # 27
)

NUM_PARTS: int = len(_TABLE)
PART_NAMES: tuple[str, ...] = tuple(name for name, _ in _TABLE)
PART_IDS: dict[str, int] = {name: i for i, name in enumerate(PART_NAMES)}
PALETTE: np.ndarray = np.array([rgb for _, rgb in _TABLE], dtype=np.uint8)
"""(28, 3) uint8 RGB colour of each class."""

BACKGROUND: int = PART_IDS["Background"]


def _mirror_name(name: str) -> str:
    if name.startswith("Left_"):
        return "Right_" + name[5:]
    if name.startswith("Right_"):
        return "Left_" + name[6:]
    return name


MIRROR: np.ndarray = np.array([PART_IDS[_mirror_name(n)] for n in PART_NAMES], dtype=np.int64)
"""(28,) id of the class seen in a left/right mirror image (identity for unpaired classes)."""


def part_id(name: str) -> int:
    """Class id of a part name; raises ``KeyError`` naming the valid names."""
    try:
        return PART_IDS[name]
    except KeyError:
        raise KeyError(f"unknown part {name!r}; known parts: {', '.join(PART_NAMES)}") from None


def colorize(labels: np.ndarray) -> np.ndarray:
    """Palette colours of a label array: (...,) int -> (..., 3) uint8."""
    return PALETTE[np.asarray(labels, dtype=np.int64)]
