"""The ``prior`` mode: the body prior posed from one photo and coloured from it, no
network (the baseline and the fallback; CPU). The work is done by
:func:`humancrafter.prior.reconstruct_prior`; this runner adds the photo front-end."""

from __future__ import annotations

import time
from typing import ClassVar

from PIL import Image

from ..errors import InputError
from .base import ModeContext, ModeOutput, PhotoView, ReconstructOptions, StepFn


class PriorRunner:
    """Runs mode ``prior`` (see :class:`~humancrafter.modes.base.ModeRunner`)."""

    name: ClassVar[str] = "prior"
    stages: ClassVar[tuple[tuple[str, float], ...]] = (
        ("photo", 0.05),
        ("outfit", 0.01),
        ("fit", 0.08),
        ("surface", 0.30),
        ("camera", 0.03),
        ("girth", 0.02),
        ("colour", 0.02),
        ("splats", 0.01),
    )
    """Its stages and their rough share of a job's time; the preview (when asked for)
    takes the other 0.49."""

    def __init__(self, context: ModeContext) -> None:
        self.context = context

    def available(self) -> str | None:
        return self.context.photo_missing

    def check_images(self, images: list[Image.Image]) -> None:
        if len(images) != 1:
            raise InputError(f"mode 'prior' takes exactly one photo, not {len(images)}")

    def run(
        self, images: list[Image.Image], options: ReconstructOptions, step: StepFn
    ) -> ModeOutput:
        from ..prior import reconstruct_prior

        front_end = self.context.photo
        assert front_end is not None  # available() said so
        step("photo")
        start = time.perf_counter()
        analysis = front_end.analyze(images[0])
        photo_seconds = time.perf_counter() - start
        out = reconstruct_prior(
            analysis,
            options.num_gaussians,
            options.seed,
            smpl_body=self.context.smpl_body,
            step=step,
        )
        return ModeOutput(
            out.splats,
            {"photo": photo_seconds, **out.timings},
            analysis.warnings + out.warnings,
            photo_view=PhotoView.of(out.camera.cameras(), analysis),
        )
