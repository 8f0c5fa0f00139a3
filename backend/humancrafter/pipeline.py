"""Reconstruction modes behind one entry point: images in, semantic splats and a preview out.

The CLI (`humancrafter reconstruct`) and the HTTP service both call :class:`Pipeline`.
A ``Pipeline`` is built once per device and kept warm (models loaded in ``__init__`` or
lazily on first use); :meth:`Pipeline.run` is called per job.

Modes (DESIGN.md "Pipeline modes"):

- ``prior``: body prior only, no network (the baseline and fallback; CPU).
- ``fast``: the HumanCrafter network with the body prior posed from the photo (default
  once the trained checkpoint lands).
- ``multiview``: 2-4 views with their azimuths.
- ``full``: SV3D multi-view diffusion guided by body normal maps; local weights, CUDA.

A mode that cannot run here is reported by :func:`available_modes` with what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from .portable.splatfile import Splats

Mode = Literal["prior", "fast", "multiview", "full"]
MODES: tuple[str, ...] = ("prior", "fast", "multiview", "full")

ProgressFn = Callable[[str, float], None]
"""progress(stage_name, fraction_done_of_the_whole_job in [0, 1])."""
CancelFn = Callable[[], bool]
"""Returns True once the job should stop; checked between stages at the latest."""


class InputError(ValueError):
    """The input cannot be reconstructed (not a person, too small, ...); the message says
    why in words an artist understands. The service answers it with a 4xx."""


class Cancelled(Exception):
    """Raised by :meth:`Pipeline.run` when ``should_cancel`` returned True."""


@dataclass
class ReconstructOptions:
    """Options of one reconstruction.

    Attributes:
        mode: which pipeline (see module docstring).
        azimuths_deg: per-view azimuth for ``multiview`` (one per image, first usually 0).
        num_gaussians: target number of Gaussians in the output.
        seed: random seed; the same inputs and options give the same output.
    """

    mode: Mode = "prior"
    azimuths_deg: list[float] | None = None
    num_gaussians: int = 40_000
    seed: int = 0


@dataclass
class ReconstructResult:
    """What a reconstruction returns.

    Attributes:
        splats: labelled splats in the model frame (y up, ~1 unit tall, facing +z).
        preview_png: PNG bytes of a contact sheet (RGB row and part-colour row).
        timings: seconds per stage, in stage order.
        warnings: things the user should know (e.g. "legs not visible in the photo").
    """

    splats: Splats
    preview_png: bytes
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
