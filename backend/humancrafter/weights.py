"""The local weights folder: where the full-scale path finds its pretrained models.

Nothing is ever downloaded. The user assembles one folder (``docs/weights.md``) and names it
with ``--weights DIR`` or the ``HUMANCRAFTER_WEIGHTS`` environment variable::

    WEIGHTS/
      dinov2-with-registers-small/   config.json, model.safetensors   (Hugging Face format)
      sv3d/                          an SV3D-p checkpoint in diffusers format:
        unet/                        config.json, diffusion_pytorch_model.safetensors
        vae/                         config.json, diffusion_pytorch_model.safetensors
        image_encoder/               config.json, model.safetensors   (CLIP vision + projection)
        scheduler/                   scheduler_config.json             (Euler)
      smpl/                          SMPL_NEUTRAL.pkl or SMPLX_NEUTRAL.npz ... (optional)
      humancrafter/                  paper.safetensors and/or tiny.safetensors (optional)

:func:`inventory` says, per component, what was found and exactly which files are missing;
``humancrafter info`` prints it per mode, and the modes' ``available()`` use it. Only file
checks: no model library is imported and nothing is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "HUMANCRAFTER_WEIGHTS"
"""Environment variable naming the weights folder (``--weights`` wins over it)."""

DINO_DIR = "dinov2-with-registers-small"
SV3D_DIR = "sv3d"
SMPL_DIR = "smpl"
CHECKPOINT_DIR = "humancrafter"
CHECKPOINT_NAMES = ("paper.safetensors", "tiny.safetensors")
"""Checkpoints looked for in ``humancrafter/``, best first."""

_HF_MODEL = ("config.json", "model.safetensors")
_DIFFUSERS_MODEL = ("config.json", "diffusion_pytorch_model.safetensors")
SV3D_FILES: dict[str, tuple[str, ...]] = {
    "unet": _DIFFUSERS_MODEL,
    "vae": _DIFFUSERS_MODEL,
    "image_encoder": _HF_MODEL,
    "scheduler": ("scheduler_config.json",),
}
"""Every file of the SV3D folder, per sub-folder."""


def weights_root(explicit: str | os.PathLike | None = None) -> Path | None:
    """The weights folder: ``explicit`` if given, else ``$HUMANCRAFTER_WEIGHTS``, else None."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else None


@dataclass
class Component:
    """One pretrained component of the weights folder.

    Attributes:
        name: "dino", "sv3d", "smpl" or "checkpoint".
        path: the folder (or, for ``checkpoint``, the file) it is loaded from.
        missing: paths that should exist and do not (empty = found).
    """

    name: str
    path: Path
    missing: list[Path] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        """One line: "found at PATH" or "missing: FILE, FILE"."""
        if self.found:
            return f"found at {self.path}"
        return "missing: " + ", ".join(str(p) for p in self.missing)


def _files(folder: Path, names: tuple[str, ...]) -> list[Path]:
    return [folder / n for n in names if not (folder / n).is_file()]


def dino(root: Path) -> Component:
    """DINOv2-S/14 with registers, Hugging Face format."""
    folder = root / DINO_DIR
    return Component("dino", folder, _files(folder, _HF_MODEL))


def sv3d(root: Path) -> Component:
    """SV3D-p in diffusers format (UNet, VAE, CLIP image encoder, scheduler)."""
    folder = root / SV3D_DIR
    missing = [p for sub, names in SV3D_FILES.items() for p in _files(folder / sub, names)]
    return Component("sv3d", folder, missing)


def smpl(root: Path) -> Component:
    """SMPL / SMPL-X model files (optional: the mannequin stands in without them)."""
    from .smpl_adapter import SMPLFilesMissing, find_model_file

    folder = root / SMPL_DIR
    try:
        path, _ = find_model_file(folder)
    except SMPLFilesMissing:
        return Component("smpl", folder, [folder / "SMPL_NEUTRAL.pkl"])
    return Component("smpl", path)


def checkpoint(root: Path) -> Component:
    """A HumanCrafter checkpoint in ``humancrafter/`` (paper first, then tiny)."""
    folder = root / CHECKPOINT_DIR
    for name in CHECKPOINT_NAMES:
        if (folder / name).is_file():
            return Component("checkpoint", folder / name)
    return Component("checkpoint", folder, [folder / CHECKPOINT_NAMES[0]])


def inventory(root: Path) -> dict[str, Component]:
    """Every component of the folder ``root`` by name."""
    return {c.name: c for c in (dino(root), sv3d(root), smpl(root), checkpoint(root))}


def not_set_message() -> str:
    return f"needs a weights folder (--weights DIR or ${ENV_VAR}; see docs/weights.md)"
