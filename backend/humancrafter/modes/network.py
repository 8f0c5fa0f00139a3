"""The ``fast`` and ``multiview`` modes: the HumanCrafter network on one photo (with the
body prior posed from it) or on a turnaround sheet of 2-4 views with their azimuths.

Stages: photo analysis (mask, crop, landmarks) of every view, the body fit from the first
view, one camera per view (:mod:`humancrafter.photo_views`), the prior rendered from every
camera, and the network (:mod:`humancrafter.model`), whose raw outputs are sampled at the
resolution that gives about ``num_gaussians`` Gaussians, coloured from the photo itself,
and rigged to the fitted body (:func:`humancrafter.body.skinning.rig_to_body`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

from ..errors import InputError
from .base import ModeContext, ModeOutput, PhotoView, ReconstructOptions, StepFn

if TYPE_CHECKING:  # torch is imported when a job runs, not when the module loads
    from ..model.network import HumanCrafterNet

MAX_VIEWS = 4
LOW_IOU = 0.5
FEWER_THAN_ASKED = 0.8
"""Warn when the photo's resolution gives fewer than this share of the Gaussians asked for."""


class _NetworkRunner:
    """What ``fast`` and ``multiview`` share (see :class:`~.base.ModeRunner`)."""

    name: ClassVar[str]
    stages: ClassVar[tuple[tuple[str, float], ...]] = (
        ("photo", 0.15),
        ("fit", 0.1),
        ("camera", 0.1),
        ("prior", 0.1),
        ("network", 0.15),
        ("splats", 0.02),
    )
    """Stages and their rough share of a job; the preview (when asked for) takes the rest."""

    def __init__(self, context: ModeContext) -> None:
        from ..model.checkpoint import DEFAULT_CHECKPOINT

        self.context = context
        self.checkpoint = Path(context.checkpoint or DEFAULT_CHECKPOINT)
        self._net: HumanCrafterNet | None = None

    def available(self) -> str | None:
        if self.context.photo_missing:
            return self.context.photo_missing
        if not self.checkpoint.is_file():
            return f"needs the HumanCrafter checkpoint {self.checkpoint}, which is missing"
        return None

    def network(self) -> HumanCrafterNet:
        """The network, loaded once and kept."""
        if self._net is None:
            from ..model.checkpoint import load_network

            self._net, _ = load_network(self.checkpoint, self.context.device, self.context.weights)
        return self._net

    def azimuths(self, images: list[Image.Image], options: ReconstructOptions) -> list[float]:
        return [0.0]

    def run(
        self, images: list[Image.Image], options: ReconstructOptions, step: StepFn
    ) -> ModeOutput:
        import torch

        from ..body.skinning import rig_to_body
        from ..model.predict import predict_splats
        from ..photo_views import output_size, place_cameras, view_inputs
        from ..prior import fit_body

        timings: dict[str, float] = {}
        start = [time.perf_counter()]

        def stage(name: str) -> None:
            step(name)
            start[0] = time.perf_counter()

        def done(name: str) -> None:
            timings[name] = time.perf_counter() - start[0]

        azimuths = self.azimuths(images, options)
        front_end = self.context.photo
        assert front_end is not None  # available() said so
        stage("photo")
        analyses = [front_end.analyze(image) for image in images]
        done("photo")
        stage("fit")
        params = fit_body(analyses[0])
        done("fit")
        stage("camera")
        views = place_cameras(analyses, azimuths, params, options.seed)
        done("camera")
        stage("prior")
        net = self.network()
        size = net.opt.image_size
        inputs = view_inputs(analyses, views.cameras, params, size)
        person = float(inputs.mask.sum())
        limit = analyses[0].image.shape[0]  # the photo front-end's crop
        out_size = output_size(person, net.opt.layers_per_pixel, options.num_gaussians, size, limit)
        out = None if out_size == size else view_inputs(analyses, views.cameras, params, out_size)
        done("prior")
        stage("network")
        with torch.no_grad():
            (splats,) = predict_splats(
                net,
                inputs.to(self.context.device),
                None if out is None else out.to(self.context.device),
            )
        done("network")
        stage("splats")
        from ..photo import MISSING_FROM_PRIOR, MISSING_NOT_BUILT

        warnings = [
            w.replace(MISSING_FROM_PRIOR, MISSING_NOT_BUILT) for a in analyses for w in a.warnings
        ]
        for k, iou in enumerate(views.silhouette_iou):
            if iou < LOW_IOU:
                where = "the photo" if len(images) == 1 else f"view {k + 1}"
                warnings.append(
                    f"the body matches the person's outline in {where} poorly "
                    f"(overlap {iou:.0%}); loose clothing or an unusual pose may be the cause"
                )
        if len(splats) < FEWER_THAN_ASKED * options.num_gaussians:
            warnings.append(
                f"made {len(splats):,} Gaussians, not the {options.num_gaussians:,} asked for: "
                "the most this photo gives (the network makes "
                f"{net.opt.layers_per_pixel} per person pixel of a {limit} x {limit} crop "
                "around the person)"
            )
        splats = rig_to_body(splats, params, self.context.smpl_body, options.seed)
        done("splats")
        return ModeOutput(
            splats, timings, list(dict.fromkeys(warnings)),
            photo_view=PhotoView.of(views.cameras, analyses[0]),
        )  # fmt: skip


class FastRunner(_NetworkRunner):
    """Mode ``fast``: one photo."""

    name: ClassVar[str] = "fast"

    def check_images(self, images: list[Image.Image]) -> None:
        if len(images) != 1:
            raise InputError(
                f"mode 'fast' takes exactly one photo, not {len(images)}; "
                "use mode 'multiview' for several views"
            )


class MultiviewRunner(_NetworkRunner):
    """Mode ``multiview``: 2-4 views of one person with their azimuths (the first view's
    azimuth is the reference; 90 = the person's left side faces the camera)."""

    name: ClassVar[str] = "multiview"

    def check_images(self, images: list[Image.Image]) -> None:
        if not 2 <= len(images) <= MAX_VIEWS:
            raise InputError(f"mode 'multiview' takes 2 to {MAX_VIEWS} views, not {len(images)}")

    def azimuths(self, images: list[Image.Image], options: ReconstructOptions) -> list[float]:
        az = options.azimuths_deg
        if az is None or len(az) != len(images):
            raise InputError(
                f"mode 'multiview' needs one azimuth per view ({len(images)}), "
                f"got {'none' if az is None else len(az)}"
            )
        try:
            values = [float(a) for a in az]
        except (TypeError, ValueError):
            raise InputError("azimuths must be numbers of degrees") from None
        if any(not -360 <= a <= 360 for a in values):
            raise InputError("azimuths must be between -360 and 360 degrees")
        return [a - values[0] for a in values]
