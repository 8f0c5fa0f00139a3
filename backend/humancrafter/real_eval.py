"""Real photos against the published HumanCrafter results: ``humancrafter eval-real``.

The yardstick of what users get (``../shared/samples``, its README): 4 photos with the
published system's splats (``hc_*.png`` + ``hc_*.ply``) and 10 with the published
system's own turntable renders (``turntables/<name>/photo.png`` + ``published_YYY.png``,
YYY = 0, 36, ... 324 degrees from the photo's view).

For each photo and each mode asked for, the photo goes through the real
:class:`~humancrafter.pipeline.Pipeline` (what the CLI, the service and the add-on get),
then:

- **views**: ours and the published result from the same 10 yaws (0 = the photo's
  view, 90 = the person's left side towards the camera). Ours is centred on its robust
  box and seen by orbit cameras (:data:`FOV_DEG` at :data:`RADIUS`); the published splats
  are first turned so that the photo is at yaw 0 (the yaw whose silhouette best matches
  the photo's mask, :func:`best_yaw`); the published turntable frames are used as they
  are.
- **silhouette IoU** per view (alpha > 0.5 against the published non-white pixels) and
  **colour PSNR** (on white) after matching scale and centre: each image is cropped to
  its silhouette's bounding square and resized to :data:`CROP` pixels
  (:func:`square_crop`), so camera distance and framing do not count, shape does.
- **input-view IoU**: ours seen by the photo's own camera (the one the mode fitted,
  ``ReconstructResult.photo_view``) against the photo's person mask, over the part of the
  view that lies inside the photo (:func:`input_view_iou`): does the result cover the
  person the photo shows, and nothing else? What a photo cut by its frame does not show
  (feet below the bottom edge) is neither right nor wrong.
- **side views**: the mean over the yaws 72, 108, 252 and 288 (the person's sides);
  **worst view**: the lowest IoU of the 10.
- **opacity**: the share of splats above 0.5 opacity, and per view the share of the
  silhouette (alpha > 0.5) whose rendered alpha is at least 0.95 (the worst view is
  reported), at :data:`SIZE` and at :data:`FINE_SIZE` pixels (where the gaps between
  splats show): a fog of faint splats fails both.

A sheet per photo shows the photo, each mode's views in colour and in part colours, and
the published views.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .cameras import Cameras, orbit_cameras
from .modes.base import PhotoView
from .photo import CROP_SIZE
from .photo import square_crop as photo_square_crop
from .portable import splatfile
from .portable.parts import PALETTE
from .render import render_splats

FOV_DEG = 50.0
"""Vertical field of view of the evaluation's orbit cameras: the photos have stronger
perspective than the default orbit (``docs/design.md``, facts)."""
RADIUS = 0.6 / math.tan(math.radians(FOV_DEG / 2))
"""Camera distance at which a 1.2-unit box fills the view (about 1.29 units)."""
SIZE = 160
"""Render size of each view, pixels."""
CROP = 128
"""Side of the bounding-square crops that are compared, pixels."""
YAWS = tuple(float(y) for y in range(0, 360, 36))
"""The published turntable's yaws, degrees from the photo's view."""
SIDE_YAWS = (72.0, 108.0, 252.0, 288.0)
WHITE = 240
"""A pixel of a published image or a photo on white is the person when its darkest
channel is below this."""
OPAQUE = 0.5
SOLID_ALPHA = 0.95
FINE_SIZE = 512
"""Render size of the second solidity measure: at :data:`SIZE` the gaps between splats
are smaller than a pixel; an artist renders larger."""
INPUT_SIZE = CROP_SIZE
"""Render size of the input view: the photo front-end's square crop at its own pixels."""


# --- silhouettes -------------------------------------------------------------------------


def square_crop(mask: np.ndarray, size: int = CROP, image: np.ndarray | None = None) -> np.ndarray:
    """The bounding square of a mask (centred on its bounding box, padded), resized.

    Args:
        mask: (H, W) bool. size: output side in pixels.
        image: optional (H, W, 3) float image in [0, 1] cropped the same way (padded
            with white).
    Returns:
        (size, size) bool mask, or the (size, size, 3) float32 image when ``image`` is given.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        empty = np.zeros((size, size), bool)
        return empty if image is None else np.ones((size, size, 3), np.float32)
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    cy, cx = (ys.min() + ys.max() + 1) // 2, (xs.min() + xs.max() + 1) // 2
    y0, x0 = cy - side // 2 + side, cx - side // 2 + side
    if image is None:
        padded = np.pad(mask, side)
        crop = Image.fromarray(padded[y0 : y0 + side, x0 : x0 + side].astype(np.uint8) * 255)
        return np.asarray(crop.resize((size, size), Image.BILINEAR)) > 127
    padded = np.pad(image, ((side, side), (side, side), (0, 0)), constant_values=1.0)
    crop = (np.clip(padded[y0 : y0 + side, x0 : x0 + side], 0, 1) * 255).astype(np.uint8)
    resized = Image.fromarray(crop).resize((size, size), Image.BILINEAR)
    return np.asarray(resized).astype(np.float32) / 255


def white_mask(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image of a person on white -> (H, W) bool person mask."""
    return rgb.min(axis=-1) < WHITE


def photo_mask(path: Path) -> np.ndarray:
    """(H, W) bool person mask of a photo on a plain white background."""
    return white_mask(np.asarray(Image.open(path).convert("RGB")))


def turntable(yaws: Sequence[float], size: int) -> Cameras:
    """The evaluation's orbit cameras (:data:`FOV_DEG` at :data:`RADIUS`, elevation 0) at
    each yaw (degrees), ``size`` pixels square."""
    return orbit_cameras(list(yaws), 0.0, radius=RADIUS, fov_y_deg=FOV_DEG, width=size, height=size)


def turntable_alpha(splats: splatfile.Splats, yaws: Sequence[float], size: int) -> np.ndarray:
    """(len(yaws), size, size) rendered alpha of the splats seen by :func:`turntable`."""
    with torch.no_grad():
        return render_splats(splats, turntable(yaws, size), backend="cpu").alpha[..., 0].numpy()


def silhouette_ious(splats: splatfile.Splats, yaws: list[float], target: np.ndarray) -> np.ndarray:
    """(len(yaws),) IoU of the cropped alpha > 0.5 silhouette at each yaw (degrees) against
    ``target``, a (CROP, CROP) bool mask from :func:`square_crop`."""
    alpha = turntable_alpha(splats, yaws, SIZE)
    ious = []
    for a in alpha:
        m = square_crop(a > 0.5, target.shape[0])
        ious.append((m & target).sum() / max((m | target).sum(), 1))
    return np.array(ious)


def best_yaw(splats: splatfile.Splats, target: np.ndarray) -> tuple[float, float]:
    """The yaw (degrees in [0, 360)) whose silhouette best matches ``target``, and its IoU:
    a coarse 15-degree search, then a 2-degree refinement."""
    coarse = [float(y) for y in range(0, 360, 15)]
    centre = coarse[int(silhouette_ious(splats, coarse, target).argmax())]
    fine = [centre + d for d in range(-8, 9, 2)]
    ious = silhouette_ious(splats, fine, target)
    return fine[int(ious.argmax())] % 360, float(ious.max())


def normalised(s: splatfile.Splats, yaw_deg: float = 0.0) -> splatfile.Splats:
    """A copy turned by -yaw about y, its robust box (1st-99th percentile of the splats
    above 0.05 opacity) centred on the origin and scaled to 1 unit tall."""
    a = math.radians(-yaw_deg)
    R = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    pts = s.means.astype(np.float64) @ R.T
    keep = s.opacity() > 0.05
    if keep.sum() < 10:
        keep = np.ones(len(s), bool)
    lo, hi = np.percentile(pts[keep], 1, axis=0), np.percentile(pts[keep], 99, axis=0)
    k = 1.0 / max(hi[1] - lo[1], 1e-6)
    out = splatfile.Splats(**{f: getattr(s, f) for f in s.__dataclass_fields__})
    out.means = ((pts - (lo + hi) / 2) * k).astype(np.float32)
    out.log_scales = (s.log_scales + math.log(k)).astype(np.float32)
    h = a / 2  # rotations turn with the splats: q' = q_R * q (wxyz)
    w1, x1, y1, z1 = math.cos(h), 0.0, math.sin(h), 0.0
    w2, x2, y2, z2 = s.unit_quats().T
    out.quats = np.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=1).astype(np.float32)  # fmt: skip
    return out


# --- the samples ---------------------------------------------------------------------------


@dataclass
class RealSample:
    """One real photo and what the published system made of it.

    Attributes:
        name: e.g. ``hc_novel_10`` or ``turntable_novel_0``.
        photo: the input photo. splats: the published splats (``hc_*``), or None.
        frames: yaw (degrees) -> the published render from that yaw (turntables), or {}.
    """

    name: str
    photo: Path
    splats: Path | None = None
    frames: dict[float, Path] = field(default_factory=dict)


def find_samples(root: Path) -> list[RealSample]:
    """Every sample under ``root`` (``../shared/samples``), published splats first; a
    turntable folder counts only with the photo and a frame for each of :data:`YAWS`."""
    out = [
        RealSample(p.stem, p, splats=p.with_suffix(".ply"))
        for p in sorted(root.glob("hc_*.png"))
        if p.with_suffix(".ply").is_file()
    ]
    for folder in sorted((root / "turntables").glob("*")):
        frames = {float(f.stem.split("_")[1]): f for f in sorted(folder.glob("published_*.png"))}
        if (folder / "photo.png").is_file() and all(y in frames for y in YAWS):
            out.append(RealSample(f"turntable_{folder.name}", folder / "photo.png", frames=frames))
    return out


@dataclass
class Views:
    """Renders of one result from the :data:`YAWS`.

    Attributes:
        rgb: (V, S, S, 3) float32 on white in [0, 1]. mask: (V, S, S) bool silhouettes.
        parts: (V, S, S, 3) float32 part colours on white, or None (published results).
        alpha: (V, S, S) float32 rendered alpha, or None (published frames).
    """

    rgb: np.ndarray
    mask: np.ndarray
    parts: np.ndarray | None = None
    alpha: np.ndarray | None = None


def render_views(s: splatfile.Splats, yaws: Sequence[float] = YAWS, size: int = SIZE) -> Views:
    """Turntable renders of splats already :func:`normalised` (photo at yaw 0)."""
    cams = turntable(yaws, size)
    feats = PALETTE[s.part].astype(np.float32) / 255 if s.labelled else None
    with torch.no_grad():
        out = render_splats(s, cams, features=feats, backend="cpu")
    alpha = out.alpha[..., 0].numpy()
    white = 1 - alpha[..., None]
    rgb = np.clip(out.rgb.numpy() + white, 0, 1).astype(np.float32)
    parts = None if feats is None else np.clip(out.features.numpy() + white, 0, 1)
    return Views(rgb, alpha > 0.5, parts, alpha)


def published_views(sample: RealSample) -> Views:
    """The published result from the :data:`YAWS`: its own frames, or its splats turned
    so the photo is at yaw 0."""
    if sample.frames:
        imgs = [np.asarray(Image.open(sample.frames[y]).convert("RGB")) for y in YAWS]
        rgb = np.stack(imgs).astype(np.float32) / 255
        return Views(rgb, np.stack([white_mask(i) for i in imgs]))
    assert sample.splats is not None
    published = splatfile.load(sample.splats)
    yaw, _ = best_yaw(normalised(published), square_crop(photo_mask(sample.photo)))
    return render_views(normalised(published, yaw))


# --- the measures --------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two images in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-10))


@dataclass
class PhotoScore:
    """One mode on one photo (see the module docstring for each measure).

    Attributes:
        iou, psnr: (10,) per view against the published result.
        input_iou: ours from the photo's camera against its mask (:func:`input_view_iou`).
        opaque_share: share of splats above 0.5 opacity.
        solid: (10,) per view, share of the silhouette with alpha >= 0.95.
        seconds: the pipeline's time for this photo.
        warnings: the pipeline's warnings.
        solid_fine: (10,) ``solid`` at :data:`FINE_SIZE` pixels, or None when not measured.
    """

    iou: np.ndarray
    psnr: np.ndarray
    input_iou: float
    opaque_share: float
    solid: np.ndarray
    seconds: float
    warnings: list[str]
    solid_fine: np.ndarray | None = None

    @property
    def side_iou(self) -> float:
        return float(np.mean([self.iou[YAWS.index(y)] for y in SIDE_YAWS]))


def input_view_iou(
    splats: splatfile.Splats, view: PhotoView, photo: np.ndarray, size: int = INPUT_SIZE
) -> float:
    """IoU of the splats' silhouette (alpha > 0.5) seen by the photo's own camera with the
    photo's person mask, counted only where the view lies inside the photo.

    Args:
        splats: the result, in the frame of ``view`` (as the pipeline returns it).
        view: the photo's camera and crop (``ReconstructResult.photo_view``).
        photo: (H, W) bool person mask of the original photo.
        size: render size of the crop, pixels.
    """
    with torch.no_grad():
        alpha = render_splats(splats, view.camera.resized(size, size), backend="cpu").alpha
    ours = alpha[0, ..., 0].numpy() > 0.5
    blank = np.zeros((*photo.shape, 3), np.uint8)
    _, target, inside = photo_square_crop(blank, photo.astype(np.float32), view.crop_box, size)
    target = target > 0.5
    return float((ours & target & inside).sum() / max(((ours | target) & inside).sum(), 1))


def solid_shares(alpha: np.ndarray) -> np.ndarray:
    """(V, S, S) rendered alpha -> (V,) share of each silhouette (alpha > 0.5) whose alpha
    is at least :data:`SOLID_ALPHA` (0 for an empty view)."""
    return np.array(
        [float((a[a > 0.5] >= SOLID_ALPHA).mean()) if (a > 0.5).any() else 0.0 for a in alpha]
    )


def fine_solid(s: splatfile.Splats) -> np.ndarray:
    """(10,) :func:`solid_shares` of splats already :func:`normalised`, seen from the
    :data:`YAWS` at :data:`FINE_SIZE` pixels."""
    return solid_shares(turntable_alpha(s, YAWS, FINE_SIZE))


def score(ours: Views, theirs: Views, input_iou: float, splats: splatfile.Splats) -> PhotoScore:
    """Compare our views with the published ones (``input_iou`` from
    :func:`input_view_iou`)."""
    ious, psnrs = [], []
    for v in range(len(YAWS)):
        a, b = square_crop(ours.mask[v]), square_crop(theirs.mask[v])
        ious.append((a & b).sum() / max((a | b).sum(), 1))
        ca = square_crop(ours.mask[v], image=ours.rgb[v])
        cb = square_crop(theirs.mask[v], image=theirs.rgb[v])
        psnrs.append(psnr(ca, cb))
    assert ours.alpha is not None
    return PhotoScore(
        iou=np.array(ious),
        psnr=np.array(psnrs),
        input_iou=input_iou,
        opaque_share=float((splats.opacity() > OPAQUE).mean()),
        solid=solid_shares(ours.alpha),
        seconds=0.0,
        warnings=[],
    )


# --- the sheet and the tables -------------------------------------------------------------

TILE = 128


HEAD = 34
"""Height of the sheet's header (title line and view labels), pixels."""


def sheet(photo: Path, rows: list[tuple[str, np.ndarray]], title: str) -> Image.Image:
    """The photo, then one row of views per (label, (V, S, S, 3) images in [0, 1]); each
    row's label in the first column (under the photo for the first row)."""
    n = len(YAWS)
    canvas = Image.new("RGB", ((n + 1) * TILE, len(rows) * TILE + HEAD), "white")
    canvas.paste(Image.open(photo).convert("RGB").resize((TILE, TILE - 14)), (0, HEAD))
    d = ImageDraw.Draw(canvas)
    d.text((4, 3), title, fill="black")
    for v, yaw in enumerate(YAWS):
        d.text(((v + 1) * TILE + 4, 19), f"{yaw:.0f} deg", fill="black")
    for r, (label, imgs) in enumerate(rows):
        for v in range(n):
            tile = Image.fromarray((np.clip(imgs[v], 0, 1) * 255).astype(np.uint8))
            canvas.paste(tile.resize((TILE, TILE)), ((v + 1) * TILE, HEAD + r * TILE))
        y = HEAD + r * TILE + (TILE - 12 if r == 0 else 4)
        d.text((4, y), label, fill="black")
    return canvas


def summary_table(scores: dict[str, dict[str, PhotoScore]]) -> str:
    """Markdown: one row per mode, means over the photos (mode -> photo -> score)."""
    lines = [
        "| mode | silhouette IoU | side views | worst view (mean) | worst view (min) | "
        "input-view IoU (min) | PSNR dB | opaque splats | solid silhouette (worst view) | "
        f"solid at {FINE_SIZE} px | s / photo |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, per in scores.items():
        s = list(per.values())
        lines.append(
            f"| `{mode}` | {np.mean([x.iou.mean() for x in s]):.3f} "
            f"| {np.mean([x.side_iou for x in s]):.3f} "
            f"| {np.mean([x.iou.min() for x in s]):.3f} "
            f"| {min(x.iou.min() for x in s):.3f} "
            f"| {np.mean([x.input_iou for x in s]):.3f} ({min(x.input_iou for x in s):.3f}) "
            f"| {np.mean([x.psnr.mean() for x in s]):.2f} "
            f"| {np.mean([x.opaque_share for x in s]):.0%} "
            f"| {np.mean([x.solid.min() for x in s]):.0%} "
            f"| {_fine(s)} "
            f"| {np.mean([x.seconds for x in s]):.2f} |"
        )
    return "\n".join(lines)


def _fine(scores: list[PhotoScore]) -> str:
    fine = [x.solid_fine.min() for x in scores if x.solid_fine is not None]
    return f"{np.mean(fine):.0%}" if len(fine) == len(scores) else "-"


def photo_table(scores: dict[str, dict[str, PhotoScore]]) -> str:
    """Markdown: one row per photo and mode, with the per-view IoUs."""
    head = " | ".join(f"{y:.0f}" for y in YAWS)
    lines = [
        f"| photo | mode | input IoU | mean IoU | side | worst | PSNR | opaque | {head} |",
        "|---|---|---|---|---|---|---|---|" + "---|" * len(YAWS),
    ]
    photos = next(iter(scores.values())).keys()
    for name in photos:
        for mode, per in scores.items():
            x = per[name]
            cells = " | ".join(f"{v:.2f}" for v in x.iou)
            lines.append(
                f"| {name} | `{mode}` | {x.input_iou:.3f} | {x.iou.mean():.3f} "
                f"| {x.side_iou:.3f} | {x.iou.min():.3f} | {x.psnr.mean():.2f} "
                f"| {x.opaque_share:.0%} | {cells} |"
            )
    return "\n".join(lines)


def evaluate_real(
    root: Path,
    modes: Sequence[str],
    out_dir: Path | None = None,
    num_gaussians: int = 40_000,
    only: Sequence[str] = (),
    log: Callable[[str], None] = print,
    pipeline: object | None = None,
) -> dict[str, dict[str, PhotoScore]]:
    """Run each mode on each real photo and score it against the published result.

    Args:
        root: the samples folder (``../shared/samples``).
        modes: single-photo modes to run (``prior``, ``fast``, ``full``).
        out_dir: where the sheets ``real_<photo>.png`` go, or None for none.
        num_gaussians: asked of every mode. only: photo names to keep (all when empty).
        log: progress lines.
        pipeline: a :class:`~humancrafter.pipeline.Pipeline` (a new one on the CPU when None).
    Returns:
        mode -> photo name -> :class:`PhotoScore`.
    """
    from .modes.base import ReconstructOptions
    from .pipeline import Pipeline

    pipe = pipeline if pipeline is not None else Pipeline(device="cpu")
    assert isinstance(pipe, Pipeline)
    found = find_samples(root)
    unknown = sorted(set(only) - {s.name for s in found})
    if unknown:
        raise ValueError(
            f"no sample named {', '.join(unknown)} in {root}; "
            f"there are {', '.join(s.name for s in found) or 'none'}"
        )
    samples = [s for s in found if not only or s.name in only]
    if not samples:
        raise ValueError(f"no real samples in {root} (see its README)")
    scores: dict[str, dict[str, PhotoScore]] = {m: {} for m in modes}
    for sample in samples:
        theirs = published_views(sample)
        mask = photo_mask(sample.photo)
        rows: list[tuple[str, np.ndarray]] = []
        image = Image.open(sample.photo).convert("RGB")
        for mode in modes:
            t0 = time.perf_counter()
            result = pipe.run([image], ReconstructOptions(mode=mode, num_gaussians=num_gaussians))
            seconds = time.perf_counter() - t0
            if result.photo_view is None:
                raise ValueError(f"mode {mode!r} does not say where the photo was taken from")
            at_origin = normalised(result.splats)
            ours = render_views(at_origin)
            input_iou = input_view_iou(result.splats, result.photo_view, mask)
            x = score(ours, theirs, input_iou, result.splats)
            x.seconds, x.warnings = seconds, result.warnings
            x.solid_fine = fine_solid(at_origin)
            scores[mode][sample.name] = x
            rows.append((mode, ours.rgb))
            if ours.parts is not None:
                rows.append((f"{mode}: parts", ours.parts))
            log(
                f"{sample.name} {mode}: IoU {x.iou.mean():.3f} (side {x.side_iou:.3f}, "
                f"worst {x.iou.min():.3f}), input {x.input_iou:.3f}, PSNR {x.psnr.mean():.2f}, "
                f"opaque {x.opaque_share:.0%}, solid {x.solid.min():.0%} "
                f"({x.solid_fine.min():.0%} at {FINE_SIZE} px), {seconds:.2f} s"
            )
        rows.append(("published", theirs.rgb))
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            title = f"{sample.name}: photo | " + " | ".join(r[0] for r in rows)
            sheet(sample.photo, rows, title).save(out_dir / f"real_{sample.name}.png")
    return scores
