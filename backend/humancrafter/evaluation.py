"""``humancrafter eval``: the network against the ``prior`` baseline on held-out subjects.

For each test subject of a ``humancrafter synth`` folder and each setting (1 view: view 0;
2 views: view 0 and the view most nearly opposite it), both methods reconstruct from the
input views and are rendered into every other view (novel views), on white:

- **PSNR / SSIM** of the colour image (SSIM: torchmetrics, 11 x 11 Gaussian window), and
  **LPIPS** (VGG, :mod:`humancrafter.perceptual`) when a local weights file is given;
- **mIoU / accuracy** of the rendered part labels: accuracy over the true person pixels;
  IoU per foreground class over the pixels that are person in the truth or the render
  (render: alpha > 0.5, else Background), averaged over the classes present in the truth;
- **3D consistency**: the share of Gaussians (seen in at least one novel view: centre
  within 0.03 units of the rendered depth at its pixel, alpha > 0.5) whose own 3D label
  equals the rendered 2D label at their pixel in *every* novel view that sees them.

The ``prior`` baseline is the ``prior`` mode's own reconstruction
(:mod:`humancrafter.prior`) of the same input view: the fitted plain mannequin, coloured
from the photo through the true camera. It uses the first input view only.

Inputs are the clean synthetic views composited on white (no augmentation), with the
fitted prior the dataset stores (never the true body).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .body.mannequin import Appearance, BodyParams, sample_surface
from .cameras import Cameras, project
from .model.checkpoint import load_model
from .model.inputs import ViewInputs, from_maps
from .model.network import HumanCrafterNet
from .model.predict import predict, render_semantic
from .perceptual import LPIPS, load_lpips, lpips_distance
from .photo import PhotoAnalysis
from .portable.parts import NUM_PARTS, PART_NAMES
from .portable.splatfile import Splats
from .prior import colour_samples, splats_from_samples
from .render import render_splats
from .synth import PRIOR_KEYS, load_cameras, load_view, noisy_landmarks, sample_subject

VISIBLE_DEPTH = 0.03
"""A Gaussian is seen in a view when its centre is this close to the rendered depth."""
PRIOR_GAUSSIANS = 40_000


@dataclass
class Scores:
    """Running sums of one method in one setting."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    lpips: list[float] = field(default_factory=list)  # empty without LPIPS weights
    consistency: list[float] = field(default_factory=list)
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((NUM_PARTS, NUM_PARTS)))

    def per_class_iou(self) -> np.ndarray:
        """(NUM_PARTS,) IoU per class (NaN for classes absent from the truth)."""
        c = self.confusion
        tp = np.diag(c)
        union = c.sum(0) + c.sum(1) - tp
        iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
        iou[c.sum(1) == 0] = np.nan  # not in the truth
        return iou

    def summary(self) -> dict[str, float]:
        iou = self.per_class_iou()[1:]
        person = self.confusion[1:, :]
        acc = np.trace(self.confusion[1:, 1:]) / max(person.sum(), 1)
        return {
            "PSNR": float(np.mean(self.psnr)),
            "SSIM": float(np.mean(self.ssim)),
            "LPIPS": float(np.mean(self.lpips)) if self.lpips else float("nan"),
            "mIoU": float(np.nanmean(iou)),
            "Acc": float(acc),
            "3D cons.": float(np.mean(self.consistency)),
        }


@dataclass
class Rendering:
    """A reconstruction rendered into S views: rgb (S, H, W, 3), alpha (S, H, W),
    depth (S, H, W), labels (S, H, W) int64, plus its Gaussians' centres (M, 3) and own
    labels (M,)."""

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    labels: torch.Tensor
    means: torch.Tensor
    own_labels: torch.Tensor


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from torchmetrics.functional.image import structural_similarity_index_measure

    return float(
        structural_similarity_index_measure(
            a.permute(0, 3, 1, 2), b.permute(0, 3, 1, 2), data_range=1.0
        )
    )


def consistency(r: Rendering, cams: Cameras) -> float:
    """See the module docstring (3D consistency)."""
    uv, z = project(r.means, cams)  # (S, M, 2), (S, M)
    H, W = r.alpha.shape[1:]
    ij = uv.floor().long()
    inside = (ij[..., 0] >= 0) & (ij[..., 0] < W) & (ij[..., 1] >= 0) & (ij[..., 1] < H)
    u, v = ij[..., 0].clamp(0, W - 1), ij[..., 1].clamp(0, H - 1)
    s = torch.arange(len(cams))[:, None]
    seen = inside & (r.alpha[s, v, u] > 0.5) & ((z - r.depth[s, v, u]).abs() < VISIBLE_DEPTH)
    agree = r.labels[s, v, u] == r.own_labels[None]
    seen_any = seen.any(0)
    ok = (agree | ~seen).all(0) & seen_any
    return float(ok.sum()) / max(int(seen_any.sum()), 1)


def score(
    r: Rendering,
    cams: Cameras,
    view: dict[str, torch.Tensor],
    out: Scores,
    perceptual: LPIPS | None = None,
) -> None:
    """Add one reconstruction's scores in its novel views to ``out``. ``view`` holds the
    truth: rgb (S, H, W, 3) in [0, 1] (0 off the person), mask (S, H, W), part (S, H, W).
    ``perceptual``: the LPIPS network, or None for no LPIPS."""
    m = view["mask"][..., None]
    truth = view["rgb"] * m + (1 - m)  # on white
    for s in range(len(cams)):
        mse = float(F.mse_loss(r.rgb[s].clamp(0, 1), truth[s]))
        out.psnr.append(-10 * np.log10(max(mse, 1e-10)))
    out.ssim.append(_ssim(r.rgb.clamp(0, 1), truth))
    if perceptual is not None:
        out.lpips += lpips_distance(perceptual, r.rgb.clamp(0, 1), truth).tolist()
    person = view["mask"] > 0.5
    pred = torch.where(r.alpha > 0.5, r.labels, 0)
    union = person | (r.alpha > 0.5)
    gt = torch.where(person, view["part"], 0)
    idx = gt[union] * NUM_PARTS + pred[union]
    out.confusion += np.bincount(idx.numpy(), minlength=NUM_PARTS**2).reshape(NUM_PARTS, -1)
    out.consistency.append(consistency(r, cams))


def render_network(g: dict[str, torch.Tensor], net: HumanCrafterNet, cams: Cameras) -> Rendering:
    """The network's Gaussians (from :func:`predict`) rendered into ``cams``."""
    r = render_semantic(g, cams, torch.ones(3), backend="cpu")
    labels = net.part_logits(r.embed).argmax(1)
    return Rendering(r.rgb, r.alpha, r.depth, labels, g["means"], g["part_logits"].argmax(-1))


class _ViewCamera:
    """A dataset camera with the interface :func:`humancrafter.prior.colour_samples` uses
    (``eye`` and ``project``)."""

    def __init__(self, cams: Cameras) -> None:
        self.cams = cams
        self.eye = cams.centers[0].numpy().astype(np.float64)

    def project(self, points: np.ndarray, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        cams = self.cams if size is None else self.cams.resized(size, size)
        uv, z = project(torch.as_tensor(points, dtype=torch.float32), cams)
        return uv[0].numpy().astype(np.float64), z[0].numpy().astype(np.float64)


def prior_baseline(
    subject_dir: Path, view: int, rgb: np.ndarray, mask: np.ndarray, seed: int, cams: Cameras
) -> Splats:
    """The ``prior`` mode's splats for one input view (see the module docstring)."""
    body = json.loads((subject_dir / "body.json").read_text())
    meta = json.loads((subject_dir.parent.parent / "meta.json").read_text())
    subject = sample_subject(int(meta["seed"]), int(subject_dir.name), int(meta["views"]))
    lm, vis = noisy_landmarks(subject)
    cam = cams[view]
    uv, _ = project(lm, cam)
    size = rgb.shape[0]
    analysis = PhotoAnalysis(
        image=(rgb * 255 + 0.5).clip(0, 255).astype(np.uint8),
        mask=mask.astype(np.float32),
        inside=np.ones_like(mask, dtype=bool),
        landmarks_px=uv[0].numpy().astype(np.float32),
        landmarks_model=lm.numpy(),
        visibility=vis.numpy(),
        crop_box=(0.0, 0.0, float(size)),
        photo_size=(size, size),
        mask_certainty=1.0,
    )
    params = BodyParams.from_json(body["prior"])
    samples = sample_surface(params, Appearance.plain(), PRIOR_GAUSSIANS, seed)
    np32 = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    points, normals, part = np32(samples.points), np32(samples.normals), samples.part.numpy()
    colours = colour_samples(points, normals, part, np32(samples.rgb), analysis, _ViewCamera(cam))
    return splats_from_samples(
        points, normals, np32(samples.area), colours.rgb, part, colours.part_conf
    )


def render_prior(splats: Splats, cams: Cameras) -> Rendering:
    """The ``prior`` splats rendered into ``cams`` (labels: rendered one-hot, argmax)."""
    onehot = np.eye(NUM_PARTS, dtype=np.float32)[splats.part]
    out = render_splats(splats, cams, features=onehot, backend="cpu")
    return Rendering(
        out.rgb,
        out.alpha[..., 0],
        out.depth[..., 0],
        out.features.argmax(-1),
        torch.as_tensor(splats.means),
        torch.as_tensor(splats.part.astype(np.int64)),
    )


def opposite_view(cams: Cameras, first: int = 0) -> int:
    """The view whose camera direction is most nearly opposite view ``first``'s."""
    c = F.normalize(cams.centers, dim=-1)
    return int((c @ c[first]).argmin())


def evaluate(
    checkpoint: str | Path,
    data: str | Path,
    split: str = "test",
    limit: int | None = None,
    settings: tuple[int, ...] = (1, 2),
    progress: bool = True,
    lpips_weights: str | Path | None = None,
) -> dict[str, dict[str, Scores]]:
    """Scores per setting ("1 view", "2 views") and method ("network", "prior");
    ``lpips_weights``: a local LPIPS file (:func:`humancrafter.perceptual.load_lpips`)
    for the LPIPS column, None for none."""
    from tqdm import tqdm

    from .training.data import subject_dirs

    net, _ = load_model(checkpoint)
    perceptual = None if lpips_weights is None else load_lpips(lpips_weights)
    dirs = subject_dirs(Path(data), split)[:limit]
    results = {f"{n} view{'s' if n > 1 else ''}": {"network": Scores(), "prior": Scores()}
               for n in settings}  # fmt: skip
    for d in tqdm(dirs, desc="eval", unit="subject", disable=not progress):
        cams = load_cameras(d)
        views = [load_view(d, v) for v in range(len(cams))]
        rgb0 = _inputs(views, cams, [0]).rgb[0, 0].permute(1, 2, 0).numpy()
        splats = prior_baseline(d, 0, rgb0, views[0]["mask"], 0, cams)  # view 0 in every setting
        for n in settings:
            key = f"{n} view{'s' if n > 1 else ''}"
            inputs_idx = [0] if n == 1 else [0, opposite_view(cams)][:n]
            novel = [v for v in range(len(cams)) if v not in inputs_idx]
            inputs = _inputs(views, cams, inputs_idx)
            truth = {
                "rgb": torch.tensor(np.stack([views[v]["rgb"] for v in novel]) / 255.0).float(),
                "mask": torch.tensor(np.stack([views[v]["mask"] for v in novel])).float(),
                "part": torch.tensor(np.stack([views[v]["part"] for v in novel])),
            }
            novel_cams = Cameras(cams.viewmats[novel], cams.Ks[novel], cams.width, cams.height)
            with torch.no_grad():
                g = predict(net, inputs)[0]
                for method, r in (
                    ("network", render_network(g, net, novel_cams)),
                    ("prior", render_prior(splats, novel_cams)),
                ):
                    score(r, novel_cams, truth, results[key][method], perceptual)
    return results


def _inputs(views: list[dict], cams: Cameras, idx: list[int]) -> ViewInputs:
    t = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a)))  # noqa: E731
    rgb = [views[v]["rgb"].astype(np.float32) / 255 for v in idx]
    mask = [views[v]["mask"].astype(np.float32) for v in idx]
    rgb = [r * m[..., None] + (1 - m[..., None]) for r, m in zip(rgb, mask, strict=True)]
    return from_maps(
        t(rgb).permute(0, 3, 1, 2),
        t(mask)[:, None],
        cams[torch.tensor(idx)],
        *(t([views[v][k] for v in idx]) for k in PRIOR_KEYS),
    )


def markdown(results: dict[str, dict[str, Scores]]) -> str:
    """The results as markdown: one summary table (LPIPS only when it was measured), then
    per-class IoU (network, 1 view)."""
    first = next(iter(results.values()))
    with_lpips = any(s.lpips for methods in results.values() for s in methods.values())
    cols = ["PSNR", "SSIM", *(["LPIPS"] if with_lpips else []), "mIoU", "Acc", "3D cons."]
    lines = ["| setting | method | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for setting, methods in results.items():
        for name, s in methods.items():
            v = s.summary()
            cells = [f"{v[c]:.2f}" if c == "PSNR" else f"{v[c]:.3f}" for c in cols]
            lines.append(f"| {setting} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "| class | " + " | ".join(first) + " |", "|---|" + "---|" * len(first)]
    ious = {name: s.per_class_iou() for name, s in first.items()}
    for c in range(1, NUM_PARTS):
        row = [ious[n][c] for n in first]
        if all(np.isnan(x) for x in row):
            continue
        lines.append(f"| {PART_NAMES[c]} | " + " | ".join(f"{x:.3f}" for x in row) + " |")
    return "\n".join(lines)
