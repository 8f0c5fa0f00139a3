"""What every mode runner shares: the options of a job, the resources the pipeline loads
once, and the runner interface (see the package docstring for how to add a mode)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple, Protocol

from PIL import Image

from ..photo import PhotoAnalysis, PhotoFrontEnd
from ..portable.splatfile import Splats

if TYPE_CHECKING:  # torch is imported by the runners, when they run
    from ..cameras import Cameras

Mode = Literal["prior", "fast", "multiview", "full"]
MODES: tuple[str, ...] = ("prior", "fast", "multiview", "full")
"""Every mode the API knows, built or not (``docs/design.md``, "Pipeline modes")."""

MIN_GAUSSIANS = 20_000
MAX_GAUSSIANS = 1_000_000


@dataclass
class ReconstructOptions:
    """Options of one reconstruction.

    Attributes:
        mode: which pipeline (see :data:`MODES`).
        azimuths_deg: per-view azimuth for ``multiview`` (one per image, first usually 0).
        num_gaussians: target number of Gaussians in the output.
        seed: random seed; the same inputs and options give the same output.
        preview: also render the preview contact sheet (turntable views in colour and part
            colours; a few seconds on a CPU). Off by default: the add-on and most scripts
            never look at it.
    """

    mode: Mode = "prior"
    azimuths_deg: list[float] | None = None
    num_gaussians: int = 40_000
    seed: int = 0
    preview: bool = False


class StepFn(Protocol):
    """step(stage): called by a runner as each of its stages starts; step(stage, within)
    with ``within`` in [0, 1] reports progress inside the stage that is running (the
    diffusion steps of ``full``). Either raises :class:`~humancrafter.errors.Cancelled`
    when the job should stop."""

    def __call__(self, stage: str, within: float | None = None) -> None: ...


@dataclass(frozen=True)
class PhotoView:
    """Where the (first) photo was taken from, in the result's frame: the splats rendered
    with ``camera`` are the person as the photo shows them.

    Attributes:
        camera: one camera (:class:`~humancrafter.cameras.Cameras` of length 1) whose image
            is the photo front-end's square crop, at the crop's pixels
            (:data:`humancrafter.photo.CROP_SIZE`; use ``Cameras.resized`` for another size).
        crop_box: (x0, y0, side) of that crop in the original photo's pixels (x0, y0 may be
            negative: the crop can reach past the photo's edge).
        photo_size: (width, height) of the original photo, pixels.
    """

    camera: Cameras
    crop_box: tuple[float, float, float]
    photo_size: tuple[int, int]

    @classmethod
    def of(cls, camera: Cameras, analysis: PhotoAnalysis) -> PhotoView:
        """The view of ``camera`` (the first of them) over ``analysis``'s crop."""
        return cls(camera[:1], analysis.crop_box, analysis.photo_size)


class ModeOutput(NamedTuple):
    """What a runner returns.

    Attributes:
        splats: labelled splats in the model frame (y up, ~1 unit tall, facing +z).
        timings: seconds per stage, in stage order (the runner's stages only).
        warnings: sentences for the user, e.g. "not visible in the photo: feet ...".
        views: views the mode generated (``full``: SV3D's orbit frames) as
            (azimuth in degrees, image); usable as ``multiview`` inputs.
        photo_view: the first photo's camera, or None (a runner that does not know it).
    """

    splats: Splats
    timings: dict[str, float]
    warnings: list[str]
    views: list[tuple[float, Image.Image]] = []
    photo_view: PhotoView | None = None


@dataclass
class ModeContext:
    """What a :class:`~humancrafter.pipeline.Pipeline` loads once and hands to each runner.

    Attributes:
        device: "cpu" or "cuda".
        photo: the photo front-end (mask, crop, landmarks), or None when it cannot load.
        photo_missing: why ``photo`` is None (one sentence), else None.
        smpl_body: a :class:`humancrafter.smpl_adapter.SMPLBody` to use as the body prior
            instead of the mannequin, or None.
        checkpoint: the network checkpoint of ``fast`` / ``multiview``; None is the
            committed default (:data:`humancrafter.model.checkpoint.DEFAULT_CHECKPOINT`).
        weights: the weights folder of ``full`` (:mod:`humancrafter.weights`); None is
            ``$HUMANCRAFTER_WEIGHTS``.
    """

    device: str
    photo: PhotoFrontEnd | None = None
    photo_missing: str | None = None
    smpl_body: object | None = None
    checkpoint: str | None = None
    weights: str | None = None


class ModeRunner(Protocol):
    """One reconstruction mode. Built once per pipeline as ``Runner(context)`` (see
    :data:`RunnerFactory`); ``run`` is called per job, one job at a time.

    Attributes:
        name: the mode's name, one of :data:`MODES`.
        stages: (stage, share of the whole job's time) in the order ``run`` reports them;
            the shares add up to less than 1, the rest is the pipeline's ``preview`` (when
            the job asks for none, the pipeline scales the shares up to fill the job).
    """

    name: ClassVar[str]
    stages: ClassVar[tuple[tuple[str, float], ...]]

    def available(self) -> str | None:
        """None when the mode can run here, else what is missing, as a phrase that
        follows "it" (the pipeline says "mode 'fast' cannot run here: it <phrase>")."""
        ...

    def check_images(self, images: list[Image.Image]) -> None:
        """Raise :class:`~humancrafter.errors.InputError` when the number of images does
        not suit the mode (the pipeline then checks that each one is an image)."""
        ...

    def run(
        self, images: list[Image.Image], options: ReconstructOptions, step: StepFn
    ) -> ModeOutput:
        """Reconstruct one person from checked images and options (``num_gaussians``
        already a valid int), calling ``step(stage)`` as each stage starts."""
        ...


RunnerFactory = Callable[[ModeContext], ModeRunner]
"""How the pipeline builds a runner: usually the runner class itself."""
