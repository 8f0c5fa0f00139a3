"""What the mannequin wears and how it is coloured: clothing, hair, headwear, shoe and sock
layers, things held or carried, a belly, skin tones and procedural textures.

An :class:`Appearance` names one choice per layer (a top, a bottom, an optional jacket or
long coat, a hair style, a hat, shoes, socks, a bag or object) plus one :class:`Material`
per material slot. Materials are procedural textures evaluated at the REST-pose position of
a surface point (so a pattern sticks to the body when it moves): solid, stripes, checks,
value noise, a two-colour print, or a plain colour with a logo on the chest, each with fine
fabric grain. Colours are linear-ish RGB in [0, 1].

Clothing colours are drawn independently of the layer (sometimes close to a skin tone), so a
network cannot read a part from its colour alone.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field, fields

import numpy as np
import torch

MATERIAL_SLOTS: tuple[str, ...] = (
    "skin",
    "lips",
    "eye",
    "hair",
    "top",
    "bottom",
    "jacket",
    "shoe",
    "sock",
    "teeth",
    "tongue",
    "hat",
    "held",
)
"""Material slots; a primitive's ``material`` index points into this tuple."""
MATERIAL_IDS: dict[str, int] = {n: i for i, n in enumerate(MATERIAL_SLOTS)}

PATTERNS: tuple[str, ...] = ("solid", "stripes", "checks", "noise", "print", "logo")
"""Texture patterns: print = sharp-edged blotches of two colours (florals, camouflage);
logo = color1 with a disc of color2 on the chest (see :class:`Material`)."""

TOPS: tuple[str, ...] = ("none", "tank", "tshirt", "longsleeve")
"""Upper clothing: none (bare torso), sleeveless, short sleeves, long sleeves."""
BOTTOMS: tuple[str, ...] = ("shorts", "trousers", "skirt")
HAIR_STYLES: tuple[str, ...] = (
    "bald", "buzz", "short", "bob", "long", "ponytail", "bun", "afro",
)  # fmt: skip
HATS: tuple[str, ...] = ("none", "cap", "beanie", "brim")
"""Headwear (Sapiens: Apparel): none, a baseball cap, a knitted beanie, a wide-brimmed hat."""
HELD: tuple[str, ...] = ("none", "handbag", "shoulder_bag", "bottle", "phone")
"""Things carried (Sapiens: Apparel): a bag hanging from a hand, a bag at the hip on a
shoulder strap, a bottle or a phone in the hand."""
SHOES: tuple[str, ...] = ("none", "sneakers", "boots")
SOCKS: tuple[str, ...] = ("none", "ankle", "crew", "knee")

SKIN_TONES: np.ndarray = np.array(
    [
        (0.98, 0.86, 0.77),
        (0.94, 0.78, 0.66),
        (0.87, 0.68, 0.54),
        (0.76, 0.56, 0.42),
        (0.62, 0.43, 0.30),
        (0.47, 0.31, 0.21),
        (0.33, 0.22, 0.15),
        (0.24, 0.16, 0.11),
    ],
    dtype=np.float64,
)
"""Anchor skin albedos from very light to very dark; samples interpolate between them."""

HAIR_COLOURS: np.ndarray = np.array(
    [
        (0.05, 0.04, 0.03),
        (0.16, 0.10, 0.06),
        (0.30, 0.19, 0.10),
        (0.55, 0.40, 0.22),
        (0.85, 0.72, 0.45),
        (0.55, 0.22, 0.08),
        (0.62, 0.62, 0.62),
        (0.90, 0.90, 0.88),
    ],
    dtype=np.float64,
)
"""Natural hair colours: black, dark brown, brown, light brown, blond, red, grey, white."""


@dataclass
class Material:
    """A procedural texture.

    Attributes:
        pattern: one of :data:`PATTERNS`.
        color1, color2: (3,) RGB in [0, 1]; solid uses color1 only.
        frequency: pattern cycles per model unit (the person is ~1 unit tall).
        direction: (3,) unit vector across which stripes alternate (rest-pose frame).
        grain: amplitude of fine multiplicative noise (fabric grain, skin variation).
        centre: (3,) rest-pose centre of a logo (on the chest front); radius = 1 / frequency.
    """

    pattern: str = "solid"
    color1: tuple[float, float, float] = (0.5, 0.5, 0.5)
    color2: tuple[float, float, float] = (0.5, 0.5, 0.5)
    frequency: float = 20.0
    direction: tuple[float, float, float] = (0.0, 1.0, 0.0)
    grain: float = 0.04
    centre: tuple[float, float, float] = (0.0, 0.24, 0.06)


@dataclass
class Appearance:
    """Clothing, hair, shoes, socks and the material of each slot.

    Attributes:
        top: one of :data:`TOPS`. sleeve: short-sleeve length as a fraction of the upper arm.
        hem: height of the top's hem, model units relative to the hip joints' height.
        bottom: one of :data:`BOTTOMS`. bottom_length: fraction of the leg covered by shorts
            (of the thigh) or a skirt (of hip-to-ankle).
        jacket: an open jacket (Apparel) over the top. coat: how far the jacket reaches
            down the legs, as a fraction of hip-to-ankle (0 = a jacket ending at the hips; 0.3-0.8
            = a long coat).
        hair: one of :data:`HAIR_STYLES`. hat: one of :data:`HATS`.
        shoes: one of :data:`SHOES`. socks: one of :data:`SOCKS`.
        held: one of :data:`HELD`; held_side: the hand (or hip) that holds it, left/right.
        belly: 0 = none, up to 1 = a pregnancy-sized belly (skin, Torso; clothes cover it).
        dress: the top and a skirt are one garment: the skirt takes the top's material
            (still labelled Upper and Lower_Clothing above and below the waist); needs a
            top and ``bottom="skirt"``.
        mouth_open: lips apart, showing teeth and tongue.
        materials: one :class:`Material` per name in :data:`MATERIAL_SLOTS`.
    """

    top: str = "tshirt"
    sleeve: float = 0.5
    hem: float = 0.02
    bottom: str = "trousers"
    bottom_length: float = 0.6
    jacket: bool = False
    coat: float = 0.0
    hair: str = "short"
    hat: str = "none"
    shoes: str = "sneakers"
    socks: str = "none"
    held: str = "none"
    held_side: str = "right"
    belly: float = 0.0
    dress: bool = False
    mouth_open: bool = False
    materials: dict[str, Material] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, options in (
            ("top", TOPS),
            ("bottom", BOTTOMS),
            ("hair", HAIR_STYLES),
            ("hat", HATS),
            ("shoes", SHOES),
            ("socks", SOCKS),
            ("held", HELD),
            ("held_side", ("left", "right")),
        ):
            if getattr(self, name) not in options:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; one of {options}")
        if self.dress and (self.bottom != "skirt" or self.top == "none"):
            raise ValueError("a dress is a top and a skirt: dress=True needs both")
        defaults = _plain_materials()
        self.materials = {**defaults, **self.materials}
        if self.dress:  # one garment: the skirt is the top's material
            self.materials["bottom"] = self.materials["top"]
        for m in self.materials.values():
            if m.pattern not in PATTERNS:
                raise ValueError(f"unknown pattern {m.pattern!r}; one of {PATTERNS}")

    @staticmethod
    def plain() -> Appearance:
        """A medium skin tone, short dark hair, a plain grey t-shirt, blue trousers and white
        sneakers: the default for the ``prior`` pipeline (the photo recolours it)."""
        return Appearance()

    @staticmethod
    def sample(rng: np.random.Generator) -> Appearance:
        """A random outfit, hair style and colouring (all draws come from ``rng``)."""
        top = str(rng.choice(TOPS, p=[0.07, 0.18, 0.45, 0.30]))
        bottom = str(rng.choice(BOTTOMS, p=[0.3, 0.5, 0.2]))
        length = (
            float(rng.uniform(0.25, 0.8)) if bottom == "shorts" else float(rng.uniform(0.3, 0.85))
        )
        shoes = str(rng.choice(SHOES, p=[0.2, 0.55, 0.25]))
        sock_p = [0.6, 0.15, 0.15, 0.1] if shoes == "none" else [0.3, 0.25, 0.3, 0.15]
        socks = str(rng.choice(SOCKS, p=sock_p))
        materials = {
            "skin": _skin(rng),
            "hair": _hair(rng),
            "eye": Material("solid", (0.08, 0.05, 0.04), grain=0.02),
            "top": _fabric(rng, logo=True),
            "bottom": _fabric(rng),
            "jacket": _fabric(rng),
            "shoe": _fabric(rng),
            "sock": _fabric(rng),
            "hat": _fabric(rng),
            "held": _fabric(rng),
        }
        materials["lips"] = _lips(materials["skin"].color1, rng)
        jacket = bool(rng.random() < 0.28) and top != "none"
        # The draws of the first wardrobe come first, so that they keep their order.
        sleeve, hem = float(rng.uniform(0.3, 0.75)), float(rng.uniform(-0.04, 0.06))
        hair = str(rng.choice(HAIR_STYLES, p=[0.06, 0.1, 0.24, 0.15, 0.19, 0.13, 0.08, 0.05]))
        mouth_open = bool(rng.random() < 0.3)
        dress = bottom == "skirt" and top != "none" and rng.random() < 0.5
        return Appearance(
            top=top,
            sleeve=sleeve,
            hem=hem,
            bottom=bottom,
            bottom_length=length,
            jacket=jacket,
            coat=float(rng.uniform(0.3, 0.8)) if jacket and rng.random() < 0.4 else 0.0,
            hair=hair,
            hat=str(rng.choice(HATS, p=[0.8, 0.08, 0.06, 0.06])),
            shoes=shoes,
            socks=socks,
            held=str(rng.choice(HELD, p=[0.68, 0.12, 0.1, 0.05, 0.05])),
            held_side=str(rng.choice(["left", "right"])),
            belly=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.12 else 0.0,
            dress=dress,
            mouth_open=mouth_open,
            materials=materials,
        )

    def to_json(self) -> dict:
        """A JSON-serialisable description (for dataset metadata)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "materials"}
        out["materials"] = {
            k: {
                "pattern": m.pattern,
                "color1": [round(float(c), 4) for c in m.color1],
                "color2": [round(float(c), 4) for c in m.color2],
                "frequency": round(float(m.frequency), 3),
                "direction": [round(float(c), 4) for c in m.direction],
                "grain": round(float(m.grain), 4),
                "centre": [round(float(c), 4) for c in m.centre],
            }
            for k, m in self.materials.items()
        }
        return out


def _plain_materials() -> dict[str, Material]:
    skin = (0.80, 0.60, 0.47)
    return {
        "skin": Material("solid", skin, skin, grain=0.03),
        "lips": Material("solid", (0.66, 0.36, 0.34), grain=0.02),
        "eye": Material("solid", (0.08, 0.05, 0.04), grain=0.02),
        "hair": Material("noise", (0.12, 0.08, 0.05), (0.2, 0.13, 0.08), 60.0, grain=0.05),
        "top": Material("solid", (0.62, 0.62, 0.64)),
        "bottom": Material("solid", (0.18, 0.24, 0.40)),
        "jacket": Material("solid", (0.25, 0.25, 0.27)),
        "shoe": Material("solid", (0.90, 0.90, 0.90)),
        "sock": Material("solid", (0.85, 0.85, 0.85)),
        "teeth": Material("solid", (0.93, 0.91, 0.84), grain=0.02),
        "tongue": Material("solid", (0.78, 0.36, 0.38), grain=0.03),
        "hat": Material("solid", (0.2, 0.2, 0.22)),
        "held": Material("solid", (0.3, 0.2, 0.12)),
    }


def _skin(rng: np.random.Generator) -> Material:
    x = rng.uniform(0, len(SKIN_TONES) - 1)
    i = min(int(x), len(SKIN_TONES) - 2)
    c = SKIN_TONES[i] * (1 - (x - i)) + SKIN_TONES[i + 1] * (x - i)
    c = np.clip(c * rng.uniform(0.95, 1.05, 3), 0, 1)
    c2 = np.clip(c * rng.uniform(0.88, 0.97), 0, 1)
    return Material("noise", _t(c), _t(c2), float(rng.uniform(15, 40)), grain=0.03)


def _lips(skin: tuple[float, float, float], rng: np.random.Generator) -> Material:
    c = np.array(skin) * np.array([0.85, 0.6, 0.6]) + np.array([0.06, 0.0, 0.0])
    if rng.random() < 0.2:  # lipstick
        c = np.array(colorsys.hsv_to_rgb(rng.uniform(0.9, 1.0), rng.uniform(0.5, 0.9), 0.6))
    return Material("solid", _t(np.clip(c, 0, 1)), grain=0.02)


def _hair(rng: np.random.Generator) -> Material:
    if rng.random() < 0.08:  # dyed
        c = np.array(
            colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.8))
        )
    else:
        c = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.1)
    c = np.clip(c, 0, 1)
    c2 = np.clip(c * rng.uniform(1.15, 1.5) + 0.02, 0, 1)
    return Material("noise", _t(c), _t(c2), float(rng.uniform(50, 120)), grain=0.08)


def _colour(rng: np.random.Generator) -> np.ndarray:
    r = rng.random()
    if r < 0.1:  # skin-like colours on clothing
        return np.clip(SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1), 0, 1)
    if r < 0.35:  # greys, black, white
        return np.full(3, rng.uniform(0.05, 0.95))
    return np.array(
        colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.15, 0.95))
    )


def _fabric(rng: np.random.Generator, logo: bool = False) -> Material:
    """A random fabric; ``logo``: the slot may carry a chest logo (tops only)."""
    p = [0.32, 0.16, 0.12, 0.2, 0.1, 0.1] if logo else [0.36, 0.18, 0.13, 0.22, 0.11, 0.0]
    pattern = str(rng.choice(PATTERNS, p=p))
    c1 = _colour(rng)
    if pattern == "logo":
        centre = (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(0.2, 0.26)), 0.06)
        radius = float(rng.uniform(0.02, 0.05))
        return Material("logo", _t(c1), _t(_colour(rng)), 1 / radius, centre=centre)
    if pattern == "noise":
        c2 = np.clip(c1 * rng.uniform(0.6, 1.4) + rng.normal(0, 0.05, 3), 0, 1)
    else:
        c2 = _colour(rng)
    theta = rng.uniform(0, math.pi)
    direction = (
        (0.0, 1.0, 0.0)
        if rng.random() < 0.6
        else (math.cos(theta), math.sin(theta), 0.0)  # vertical or diagonal stripes
    )
    freq = float(rng.uniform(8, 40) if pattern not in ("noise", "print") else rng.uniform(10, 60))
    return Material(pattern, _t(c1), _t(c2), freq, direction, float(rng.uniform(0.02, 0.1)))


def _t(c: np.ndarray) -> tuple[float, float, float]:
    return (float(c[0]), float(c[1]), float(c[2]))


@dataclass
class MaterialTable:
    """Materials of one appearance as tensors, indexed by material slot
    (M = len(:data:`MATERIAL_SLOTS`)).

    Attributes:
        pattern: (M,) int64 index into :data:`PATTERNS`.
        color1, color2: (M, 3) float32.
        frequency: (M,) float32. direction: (M, 3) float32. grain: (M,) float32.
        centre: (M, 3) float32 logo centres.
    """

    pattern: torch.Tensor
    color1: torch.Tensor
    color2: torch.Tensor
    frequency: torch.Tensor
    direction: torch.Tensor
    grain: torch.Tensor
    centre: torch.Tensor

    @staticmethod
    def of(appearance: Appearance) -> MaterialTable:
        ms = [appearance.materials[s] for s in MATERIAL_SLOTS]
        f32 = torch.float32
        return MaterialTable(
            pattern=torch.tensor([PATTERNS.index(m.pattern) for m in ms], dtype=torch.int64),
            color1=torch.tensor([m.color1 for m in ms], dtype=f32),
            color2=torch.tensor([m.color2 for m in ms], dtype=f32),
            frequency=torch.tensor([m.frequency for m in ms], dtype=f32),
            direction=torch.nn.functional.normalize(
                torch.tensor([m.direction for m in ms], dtype=f32), dim=-1
            ),
            grain=torch.tensor([m.grain for m in ms], dtype=f32),
            centre=torch.tensor([m.centre for m in ms], dtype=f32),
        )


def _hash3(i: torch.Tensor) -> torch.Tensor:
    """(..., 3) integer lattice coordinates (as float) -> (...,) pseudo-random in [0, 1)."""
    h = torch.sin(i[..., 0] * 127.1 + i[..., 1] * 311.7 + i[..., 2] * 74.7) * 43758.5453
    return h - torch.floor(h)


def value_noise(p: torch.Tensor) -> torch.Tensor:
    """Smooth 3D value noise: (N, 3) positions (lattice units) -> (N,) values in [0, 1]."""
    i = torch.floor(p)
    f = p - i
    w = f * f * (3 - 2 * f)
    out = torch.zeros(p.shape[:-1], dtype=p.dtype, device=p.device)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                corner = torch.tensor([dx, dy, dz], dtype=p.dtype, device=p.device)
                wx = w[..., 0] if dx else 1 - w[..., 0]
                wy = w[..., 1] if dy else 1 - w[..., 1]
                wz = w[..., 2] if dz else 1 - w[..., 2]
                out = out + wx * wy * wz * _hash3(i + corner)
    return out


def albedo(table: MaterialTable, material: torch.Tensor, p_rest: torch.Tensor) -> torch.Tensor:
    """Evaluate the procedural textures.

    Args:
        table: the appearance's materials.
        material: (N,) int64 material slot of each point.
        p_rest: (N, 3) rest-pose (T-pose) position of each point, model frame.
    Returns:
        (N, 3) float32 albedo in [0, 1].
    """
    p_rest = p_rest.detach()
    pat = table.pattern[material]
    c1, c2 = table.color1[material], table.color2[material]
    q = p_rest * table.frequency[material][:, None]
    t = torch.zeros(p_rest.shape[0], dtype=p_rest.dtype)
    stripes = torch.sin(2 * math.pi * (q * table.direction[material]).sum(-1)) > 0
    t = torch.where(pat == 1, stripes.to(t.dtype), t)
    checks = torch.floor(q + 0.5).sum(-1).remainder(2) > 0.5
    t = torch.where(pat == 2, checks.to(t.dtype), t)
    noisy = ((pat == 3) | (pat == 4)).nonzero()[:, 0]
    if noisy.numel():  # two octaves of value noise, only where a material asks for it
        qn = q[noisy]
        noise = 0.65 * value_noise(qn) + 0.35 * value_noise(qn * 2.3 + 17.0)
        soft = ((noise - 0.5) * 2.0 + 0.5).clamp(0, 1)
        t[noisy] = torch.where(pat[noisy] == 4, (noise > 0.5).to(t.dtype), soft)  # print: sharp
    logo = (pat == 5).nonzero()[:, 0]
    if logo.numel():  # a disc on the front of the chest (rest pose: facing +z)
        d = p_rest[logo] - table.centre[material[logo]]
        inside = (d[:, 0].square() + d[:, 1].square()).sqrt() * table.frequency[material[logo]]
        t[logo] = ((inside < 1) & (d[:, 2] > -0.04)).to(t.dtype)
    base = c1 + (c2 - c1) * t[:, None]
    # Fabric grain / skin pores: white noise on a lattice finer than a 256-pixel view resolves.
    grain = (
        1
        + table.grain[material][:, None] * (_hash3(torch.floor(p_rest * 400.0)) - 0.5)[:, None] * 2
    )
    return (base * grain).clamp(0, 1)
