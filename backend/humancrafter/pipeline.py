"""Reconstruction behind one entry point: images in, semantic splats (and a preview) out.

The CLI (`humancrafter reconstruct`) and the HTTP service both call :class:`Pipeline`.
A ``Pipeline`` is built once per device and kept warm (the photo front-end and each mode's
runner load in ``__init__``); :meth:`Pipeline.run` is called per job. It validates the
options, hands the job to its mode's runner (:mod:`humancrafter.modes`, one module per
mode, registered in :data:`RUNNERS`) and, when the job asks for it, renders the preview
contact sheet.

Modes (``docs/design.md``, "Pipeline modes"):

- ``prior``: body prior only, no network (the baseline and fallback; CPU).
- ``fast``: the HumanCrafter network with the body prior posed from the photo (default
  once the trained checkpoint lands).
- ``multiview``: 2-4 views with their azimuths.
- ``full``: SV3D views guided by the body prior, then the network; local weights
  (:mod:`humancrafter.weights`), CUDA for the real-size SV3D.

A mode that cannot run here is reported by :meth:`Pipeline.available_modes` with what it
needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from .errors import Cancelled, InputError
from .modes.base import (
    MAX_GAUSSIANS,
    MIN_GAUSSIANS,
    MODES,
    Mode,
    ModeContext,
    ModeRunner,
    PhotoView,
    ReconstructOptions,
    RunnerFactory,
)
from .modes.full import FullRunner
from .modes.network import FastRunner, MultiviewRunner
from .modes.prior import PriorRunner
from .portable.splatfile import Splats

__all__ = [
    "MAX_GAUSSIANS",
    "MIN_GAUSSIANS",
    "MODES",
    "RUNNERS",
    "Cancelled",
    "CancelFn",
    "InputError",
    "Mode",
    "PhotoView",
    "Pipeline",
    "ProgressFn",
    "ReconstructOptions",
    "ReconstructResult",
    "reconstruct_file",
    "resolve_device",
    "run_demo",
]

ProgressFn = Callable[[str, float], None]
"""progress(stage_name, fraction_done_of_the_whole_job in [0, 1])."""
CancelFn = Callable[[], bool]
"""Returns True once the job should stop; checked between stages at the latest."""

RUNNERS: dict[str, RunnerFactory] = {
    r.name: r for r in (PriorRunner, FastRunner, MultiviewRunner, FullRunner)
}
"""The modes that have a runner (:mod:`humancrafter.modes`), by name."""


@dataclass
class ReconstructResult:
    """What a reconstruction returns.

    Attributes:
        splats: labelled splats in the model frame (y up, ~1 unit tall, facing +z).
        preview_png: PNG bytes of a contact sheet (RGB row and part-colour row), or None
            when the job did not ask for one (``ReconstructOptions.preview``).
        timings: seconds per stage, in stage order.
        warnings: things the user should know (e.g. "legs not visible in the photo").
        views: (azimuth in degrees, image) of views the mode generated (``full``).
        photo_view: the first photo's camera in the splats' frame (to see the result as
            the photo does), or None.
    """

    splats: Splats
    preview_png: bytes | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    views: list[tuple[float, Image.Image]] = field(default_factory=list)
    photo_view: PhotoView | None = None


def resolve_device(device: str = "auto") -> str:
    """The device to use: "auto" means "cuda" when torch sees a GPU, else "cpu"."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda'")
    return device


def _checked_gaussians(value: object) -> int:
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InputError(f"the number of Gaussians must be a whole number, not {value!r}") from None
    if not MIN_GAUSSIANS <= n <= MAX_GAUSSIANS:
        raise InputError(
            f"the number of Gaussians must be between {MIN_GAUSSIANS:,} and "
            f"{MAX_GAUSSIANS:,}, not {n:,}"
        )
    return n


def _check_are_images(images: list[Image.Image]) -> None:
    for i, image in enumerate(images):
        if not isinstance(image, Image.Image):
            what = "the photo" if len(images) == 1 else f"image {i + 1}"
            raise InputError(f"{what} is not an image (got a {type(image).__name__})")


class Pipeline:
    """Images in, labelled splats (and a preview) out, for every mode that can run here.

    Build one per process and keep it: the photo models and the runners load once in
    ``__init__``. :meth:`run` may be called from any thread (one job at a time per
    front-end; the front-end serialises its own calls).

    Args:
        device: "auto", "cpu" or "cuda".
        smpl_dir: a folder with SMPL/SMPL-X model files; when given, the ``prior`` body is
            that SMPL body instead of the mannequin (see :mod:`humancrafter.smpl_adapter`).
        preview_views, preview_size: the preview contact sheet's number of turntable views
            and pixel size of each.
        checkpoint: the network checkpoint of ``fast`` and ``multiview``; None is the
            committed default.
        weights: the weights folder of ``full`` (``docs/weights.md``); None is
            ``$HUMANCRAFTER_WEIGHTS``.
    Attributes:
        device: "cpu" or "cuda".
    """

    def __init__(
        self,
        device: str = "auto",
        smpl_dir: str | None = None,
        preview_views: int = 8,
        preview_size: int = 256,
        checkpoint: str | None = None,
        weights: str | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.preview_views, self.preview_size = preview_views, preview_size
        context = ModeContext(self.device, checkpoint=checkpoint, weights=weights)
        try:
            from .photo import PhotoFrontEnd

            context.photo = PhotoFrontEnd()
        except ImportError as e:
            context.photo_missing = (
                f"the photo extra is not installed ({e.name}); "
                "install it with: pip install 'humancrafter[photo]'"
            )
        if smpl_dir is not None:
            from .smpl_adapter import SMPLBody

            context.smpl_body = SMPLBody(smpl_dir)
        self._runners: dict[str, ModeRunner] = {
            name: factory(context) for name, factory in RUNNERS.items()
        }

    def available_modes(self) -> dict[str, str | None]:
        """Mode -> None if it can run here, else one sentence saying what it needs."""
        return {mode: self._runners[mode].available() for mode in MODES}

    def run(
        self,
        images: list[Image.Image],
        options: ReconstructOptions,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> ReconstructResult:
        """Reconstruct one person.

        Args:
            images: the photo(s); how many depends on the mode (``prior``: exactly one).
            options: mode, number of Gaussians, seed, and whether to make the preview.
            progress: called as progress(stage, fraction of the whole job done) when each
                stage starts (a last "preview" when ``options.preview``), and
                ("done", 1.0) at the end.
            should_cancel: polled before every stage; True stops the job.
        Raises:
            InputError: bad images or options, or a mode that cannot run here.
            Cancelled: ``should_cancel()`` returned True.
        """
        import time

        mode = options.mode
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        missing = self.available_modes()[mode]
        if missing is not None:
            raise InputError(f"mode '{mode}' cannot run here: it {missing}")
        runner = self._runners[mode]
        options = dataclasses.replace(
            options, num_gaussians=_checked_gaussians(options.num_gaussians)
        )
        runner.check_images(images)
        _check_are_images(images)

        shares = dict(runner.stages)
        if options.preview:
            shares["preview"] = 1.0 - sum(shares.values())
        else:  # no preview: the runner's stages fill the whole job
            total = sum(shares.values())
            shares = {name: share / total for name, share in shares.items()}
        starts: dict[str, float] = {}
        fraction = 0.0

        def step(name: str, within: float | None = None) -> None:
            nonlocal fraction
            if within is not None and starts and name == next(reversed(starts)):
                if should_cancel is not None and should_cancel():
                    raise Cancelled(f"cancelled during stage '{name}'")
                if progress is not None:
                    progress(name, min(fraction + shares[name] * within, 1.0))
                return
            if name not in shares:
                raise ValueError(f"mode '{mode}' reported stage {name!r}, not in its stages")
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled before stage '{name}'")
            if starts:
                fraction += shares[next(reversed(starts))]
            starts[name] = time.perf_counter()
            if progress is not None:
                progress(name, min(fraction, 1.0))

        out = runner.run(images, options, step)
        timings = dict(out.timings)
        preview_png = None
        if options.preview:
            step("preview")
            preview_png = self.make_preview(out.splats)
            timings["preview"] = time.perf_counter() - starts["preview"]
        if should_cancel is not None and should_cancel():
            raise Cancelled("cancelled after the last stage")
        if progress is not None:
            progress("done", 1.0)
        return ReconstructResult(
            splats=out.splats,
            preview_png=preview_png,
            timings=timings,
            warnings=list(out.warnings),
            views=list(out.views),
            photo_view=out.photo_view,
        )

    def make_preview(self, splats: Splats) -> bytes:
        """The preview contact sheet of ``splats`` as PNG bytes (this pipeline's number of
        views and view size; a large result is drawn from a subsample of
        :data:`~humancrafter.preview.PREVIEW_MAX_SPLATS` splats)."""
        import io

        from .preview import contact_sheet

        backend = "cpu" if self.device == "cpu" else "auto"
        sheet = contact_sheet(
            splats, views=self.preview_views, size=self.preview_size, backend=backend
        )
        buf = io.BytesIO()
        sheet.save(buf, format="PNG")
        return buf.getvalue()


def reconstruct_file(
    photo: str | Path | list[str | Path],
    output: str | Path,
    preview: str | Path | None = None,
    mode: str = "prior",
    num_gaussians: int = 40_000,
    seed: int = 0,
    device: str = "auto",
    smpl_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
    azimuths_deg: list[float] | None = None,
    checkpoint: str | Path | None = None,
    weights: str | Path | None = None,
    save_views: str | Path | None = None,
) -> ReconstructResult:
    """Reconstruct a photo file (or, for ``multiview``, several with ``azimuths_deg``) into a
    splat file, and a preview PNG only when ``preview`` names a file, reporting progress,
    warnings and the time of each stage through ``log``; ``save_views`` is a folder for the
    views the mode generated (``full``). Used by ``humancrafter reconstruct``; raises what
    :meth:`Pipeline.run` and :func:`photo.load_image` raise."""
    import time

    from .photo import load_image
    from .portable import splatfile

    t0 = time.perf_counter()
    photos = photo if isinstance(photo, list) else [photo]
    images = [load_image(p) for p in photos]
    pipeline = Pipeline(
        device,
        smpl_dir=None if smpl_dir is None else str(smpl_dir),
        checkpoint=None if checkpoint is None else str(checkpoint),
        weights=None if weights is None else str(weights),
    )
    t_load = time.perf_counter() - t0
    options = ReconstructOptions(
        mode=mode,  # type: ignore[arg-type]
        azimuths_deg=azimuths_deg,
        num_gaussians=num_gaussians,
        seed=seed,
        preview=preview is not None,
    )
    result = pipeline.run(images, options, progress=lambda stage, f: log(f"[{f:4.0%}] {stage}"))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    splatfile.save(output, result.splats)
    if preview is not None and result.preview_png is not None:
        preview = Path(preview)
        preview.parent.mkdir(parents=True, exist_ok=True)
        preview.write_bytes(result.preview_png)
    if save_views is not None and result.views:
        folder = Path(save_views)
        folder.mkdir(parents=True, exist_ok=True)
        for azimuth, image in result.views:
            image.save(folder / f"view_{round(azimuth) % 360:03d}.png")
        log(
            f"wrote {len(result.views)} generated views to {folder} (view_AZIMUTH.png; as "
            "multiview input: the photo first at azimuth 0, then views with their azimuths)"
        )
    for warning in result.warnings:
        log(f"warning: {warning}")
    stages = {"load": t_load, **result.timings}
    log("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in stages.items()))
    log(f"total {sum(stages.values()):.2f}s on {pipeline.device}")
    log(f"wrote {output} ({len(result.splats):,} labelled Gaussians)")
    if preview is not None:
        log(f"wrote {preview} (contact sheet: colour row and part-colour row)")
    return result


DEMO_PHOTO = Path(__file__).parent / "assets" / "astronaut.jpg"
"""The bundled example photo (see ``assets/README.md``)."""


def run_demo(out_dir: str | Path = "out/demo", log: Callable[[str], None] = print) -> Path:
    """Reconstruct the bundled example photo into ``out_dir`` with the default mode
    (``prior``, chosen on real photos: ``docs/results.md``); returns the splat file's
    path."""
    out_dir = Path(out_dir)
    log(f"reconstructing the example photo {DEMO_PHOTO.name} (mode {ReconstructOptions.mode})")
    splats = out_dir / "astronaut.ply"
    preview = out_dir / "astronaut_preview.png"
    reconstruct_file(DEMO_PHOTO, splats, preview=preview, log=log)
    log(f"splats:  {splats.resolve()}")
    log(f"preview: {preview.resolve()}")
    return splats
