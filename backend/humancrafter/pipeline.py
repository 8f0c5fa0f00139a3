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
from pathlib import Path
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


MIN_GAUSSIANS = 20_000
MAX_GAUSSIANS = 1_000_000

_STAGES: tuple[tuple[str, float], ...] = (
    ("photo", 0.05),
    ("outfit", 0.01),
    ("fit", 0.08),
    ("surface", 0.30),
    ("camera", 0.03),
    ("colour", 0.03),
    ("splats", 0.01),
    ("preview", 0.49),
)
"""Stages of a ``prior`` job and their rough share of its time (for progress fractions)."""


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


class Pipeline:
    """Images in, labelled splats and a preview out, for every mode that can run here.

    Build one per process and keep it: the photo models load once in ``__init__``.
    :meth:`run` may be called from any thread (one job at a time per front-end; the
    front-end serialises its own calls).

    Args:
        device: "auto", "cpu" or "cuda".
        smpl_dir: a folder with SMPL/SMPL-X model files; when given, the ``prior`` body is
            that SMPL body instead of the mannequin (see :mod:`humancrafter.smpl_adapter`).
        preview_views, preview_size: the preview contact sheet's number of turntable views
            and pixel size of each.
    Attributes:
        device: "cpu" or "cuda".
    """

    def __init__(
        self,
        device: str = "auto",
        smpl_dir: str | None = None,
        preview_views: int = 8,
        preview_size: int = 256,
    ) -> None:
        self.device = resolve_device(device)
        self.preview_views, self.preview_size = preview_views, preview_size
        self._front_end = None
        self._photo_missing: str | None = None
        try:
            from .photo import PhotoFrontEnd

            self._front_end = PhotoFrontEnd()
        except ImportError as e:
            self._photo_missing = (
                f"the photo extra is not installed ({e.name}); "
                "install it with: pip install 'humancrafter[photo]'"
            )
        self._smpl_body = None
        if smpl_dir is not None:
            from .smpl_adapter import SMPLBody

            self._smpl_body = SMPLBody(smpl_dir)

    def available_modes(self) -> dict[str, str | None]:
        """Mode -> None if it can run here, else one sentence saying what it needs."""
        checkpoint = "needs the trained HumanCrafter checkpoint, which is not shipped yet"
        full = (
            "needs local SV3D and DINOv2 weights and the trained HumanCrafter checkpoint"
            if self.device == "cuda"
            else "needs a CUDA GPU (this machine has none), local SV3D and DINOv2 weights "
            "and the trained HumanCrafter checkpoint"
        )
        return {
            "prior": self._photo_missing,
            "fast": checkpoint,
            "multiview": checkpoint,
            "full": full,
        }

    def run(
        self,
        images: list[Image.Image],
        options: ReconstructOptions,
        progress: ProgressFn | None = None,
        should_cancel: CancelFn | None = None,
    ) -> ReconstructResult:
        """Reconstruct one person.

        Args:
            images: the photo(s); ``prior`` takes exactly one.
            options: mode, number of Gaussians, seed.
            progress: called as progress(stage, fraction of the whole job done) when each
                stage starts, and ("done", 1.0) at the end.
            should_cancel: polled before every stage; True stops the job.
        Raises:
            InputError: bad images or options, or a mode that cannot run here.
            Cancelled: ``should_cancel()`` returned True.
        """
        import io
        import time

        mode = options.mode
        if mode not in MODES:
            raise InputError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        missing = self.available_modes()[mode]
        if missing is not None:
            raise InputError(f"mode '{mode}' cannot run here: it {missing}")
        try:
            n = int(options.num_gaussians)
        except (TypeError, ValueError):
            raise InputError(
                f"the number of Gaussians must be a whole number, not {options.num_gaussians!r}"
            ) from None
        if not MIN_GAUSSIANS <= n <= MAX_GAUSSIANS:
            raise InputError(
                f"the number of Gaussians must be between {MIN_GAUSSIANS:,} and "
                f"{MAX_GAUSSIANS:,}, not {n:,}"
            )
        if len(images) != 1:
            raise InputError(f"mode 'prior' takes exactly one photo, not {len(images)}")
        if not isinstance(images[0], Image.Image):
            raise InputError(f"the photo is not an image (got a {type(images[0]).__name__})")

        from .preview import contact_sheet
        from .prior import reconstruct_prior

        starts = {}
        fraction = 0.0
        shares = dict(_STAGES)

        def step(name: str) -> None:
            nonlocal fraction
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"cancelled before stage '{name}'")
            if starts:
                fraction += shares[next(reversed(starts))]
            starts[name] = time.perf_counter()
            if progress is not None:
                progress(name, min(fraction, 1.0))

        step("photo")
        assert self._front_end is not None
        analysis = self._front_end.analyze(images[0])
        photo_seconds = time.perf_counter() - starts["photo"]
        splats, timings, warnings = reconstruct_prior(
            analysis, n, options.seed, smpl_body=self._smpl_body, step=step
        )
        step("preview")
        buf = io.BytesIO()
        backend = "cpu" if self.device == "cpu" else "auto"
        sheet = contact_sheet(
            splats, views=self.preview_views, size=self.preview_size, backend=backend
        )
        sheet.save(buf, format="PNG")
        preview_seconds = time.perf_counter() - starts["preview"]
        if should_cancel is not None and should_cancel():
            raise Cancelled("cancelled after the last stage")
        if progress is not None:
            progress("done", 1.0)
        return ReconstructResult(
            splats=splats,
            preview_png=buf.getvalue(),
            timings={"photo": photo_seconds, **timings, "preview": preview_seconds},
            warnings=analysis.warnings + warnings,
        )


def reconstruct_file(
    photo: str | Path,
    output: str | Path,
    preview: str | Path | None = None,
    mode: str = "prior",
    num_gaussians: int = 40_000,
    seed: int = 0,
    device: str = "auto",
    smpl_dir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> ReconstructResult:
    """Reconstruct a photo file into a splat file (and a preview PNG), reporting progress,
    warnings and the time of each stage through ``log``. Used by ``humancrafter
    reconstruct``; raises what :meth:`Pipeline.run` and :func:`photo.load_image` raise."""
    import time

    from .photo import load_image
    from .portable import splatfile

    t0 = time.perf_counter()
    image = load_image(photo)
    pipeline = Pipeline(device, smpl_dir=None if smpl_dir is None else str(smpl_dir))
    t_load = time.perf_counter() - t0
    options = ReconstructOptions(mode=mode, num_gaussians=num_gaussians, seed=seed)  # type: ignore[arg-type]
    result = pipeline.run([image], options, progress=lambda stage, f: log(f"[{f:4.0%}] {stage}"))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    splatfile.save(output, result.splats)
    if preview is not None:
        preview = Path(preview)
        preview.parent.mkdir(parents=True, exist_ok=True)
        preview.write_bytes(result.preview_png)
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
    """Reconstruct the bundled example photo into ``out_dir`` with mode ``prior``; returns the
    splat file's path."""
    out_dir = Path(out_dir)
    log(f"reconstructing the example photo {DEMO_PHOTO.name} (mode prior)")
    splats = out_dir / "astronaut.ply"
    preview = out_dir / "astronaut_preview.png"
    reconstruct_file(DEMO_PHOTO, splats, preview=preview, log=log)
    log(f"splats:  {splats.resolve()}")
    log(f"preview: {preview.resolve()}")
    return splats
