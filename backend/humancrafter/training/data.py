"""Training samples from a ``humancrafter synth`` folder, with photo-realism augmentation.

A sample is one subject: ``input_views`` views as the network's input (what a photo, or a
turnaround sheet, would give: photo, mask, camera and the *fitted* prior from the same
camera, never the true body) and ``supervise_views`` views with ground truth (colour,
mask, part labels) to render the Gaussians into. The first supervised view is always an
input view, the rest are other views.

Augmentation (``augment=True``) makes the synthetic photos look more like real ones:

- colour: one brightness / contrast / per-channel gain / saturation change for the whole
  subject, inputs and targets alike (a real photo's colours are the truth to reproduce);
- inputs only: a random background behind the person (flat, gradient or blotchy noise), a
  soft shadow across the person, Gaussian blur, sensor noise, JPEG compression, and a
  mask that is one pixel too large or too small in places (segmentation error).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from ..model.inputs import ViewInputs, from_maps
from ..synth import PRIOR_KEYS, load_cameras, load_view


@dataclass
class Sample:
    """One subject, ready for the network and the loss.

    Attributes:
        inputs: the input views (B = 1).
        target_rgb: (S, H, W, 3) float32 in [0, 1], 0 on the background.
        target_mask: (S, H, W) float32 in {0, 1}. target_part: (S, H, W) int64.
        target_viewmats: (S, 4, 4). target_Ks: (S, 3, 3).
    """

    inputs: ViewInputs
    target_rgb: torch.Tensor
    target_mask: torch.Tensor
    target_part: torch.Tensor
    target_viewmats: torch.Tensor
    target_Ks: torch.Tensor


def subject_dirs(root: Path, split: str) -> list[Path]:
    """The subject folders of ``split`` listed in ``root/meta.json``."""
    meta = json.loads((Path(root) / "meta.json").read_text())
    return [Path(root) / rel for rel in meta["splits"][split]]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) float32 random background: flat, a gradient or blotchy noise."""
    kind = rng.integers(3)
    c0, c1 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    if kind == 0:
        return np.broadcast_to(c0, (h, w, 3)).astype(np.float32)
    if kind == 1:
        t = np.linspace(0, 1, h)[:, None, None] * np.ones((1, w, 1))
        return (c0 * (1 - t) + c1 * t).astype(np.float32)
    small = rng.uniform(0, 1, (max(2, h // 16), max(2, w // 16), 3))
    big = (
        np.asarray(
            Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC)
        ).astype(np.float32)
        / 255
    )
    return big


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray((img * 255 + 0.5).clip(0, 255).astype(np.uint8)).save(
        buf, format="JPEG", quality=quality
    )
    buf.seek(0)
    return np.asarray(Image.open(buf)).astype(np.float32) / 255


def _colour_change(rng: np.random.Generator) -> tuple[float, float, np.ndarray, float]:
    return (
        float(rng.uniform(-0.08, 0.08)),  # brightness offset
        float(rng.uniform(0.85, 1.15)),  # contrast
        rng.uniform(0.9, 1.1, 3),  # channel gains (white balance)
        float(rng.uniform(0.7, 1.2)),  # saturation
    )


def _apply_colour(rgb: np.ndarray, change: tuple, mask: np.ndarray) -> np.ndarray:
    b, c, gains, s = change
    x = (rgb - 0.5) * c + 0.5 + b
    x = x * gains
    grey = x.mean(-1, keepdims=True)
    x = grey + (x - grey) * s
    return np.clip(x, 0, 1) * mask[..., None]


def _photo(
    rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A clean rendered view -> (photo-like image, mask as a segmenter would give it)."""
    h, w = mask.shape
    m = mask.astype(np.float32)
    if rng.random() < 0.4:  # a soft shadow across the person
        a = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        side = np.cos(a) * xx + np.sin(a) * yy - rng.uniform(0.2, 0.8)
        rgb = rgb * (1 - rng.uniform(0.2, 0.5) / (1 + np.exp(-side * 30)))[..., None]
    img = rgb * m[..., None] + _background(rng, h, w) * (1 - m[..., None])
    if rng.random() < 0.4:
        pil = Image.fromarray((img * 255 + 0.5).clip(0, 255).astype(np.uint8))
        img = np.asarray(pil.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0))))
        img = img.astype(np.float32) / 255
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(0.005, 0.03), img.shape)
    img = np.clip(img, 0, 1)
    if rng.random() < 0.5:
        img = _jpeg(img, int(rng.integers(40, 95)))
    seg = mask.copy()
    if rng.random() < 0.5:  # one pixel too much or too little, in blobs
        grow = F.max_pool2d(torch.tensor(m)[None, None], 3, 1, 1)[0, 0].numpy() > 0.5
        shrink = -F.max_pool2d(-torch.tensor(m)[None, None], 3, 1, 1)[0, 0].numpy() > 0.5
        blobs = (
            np.asarray(
                Image.fromarray((rng.random((h // 8, w // 8)) * 255).astype(np.uint8)).resize(
                    (w, h), Image.BILINEAR
                )
            )
            / 255
        )
        seg = np.where(blobs > 0.7, grow, np.where(blobs < 0.3, shrink, mask))
    return img.astype(np.float32), seg


class SynthDataset(torch.utils.data.Dataset):
    """Samples from a synth folder (see the module docstring).

    Args:
        root: the folder written by ``humancrafter synth``.
        split: "train", "val" or "test".
        input_views: views the network sees (1 for a photo, 2-4 for a turnaround sheet).
        supervise_views: views the loss renders (the first is an input view).
        augment: photo-realism augmentation (training only).
        seed: with the sample index and ``epoch``, seeds every random choice.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        input_views: int = 1,
        supervise_views: int = 3,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        self.dirs = subject_dirs(Path(root), split)
        if not self.dirs:
            raise ValueError(f"{root} has no subjects in split {split!r}")
        meta = json.loads((Path(root) / "meta.json").read_text())
        self.views = int(meta["views"])
        if input_views + supervise_views - 1 > self.views:
            raise ValueError(
                f"{root} has {self.views} views per subject; input_views + supervise_views - 1 "
                f"= {input_views + supervise_views - 1} are needed"
            )
        self.input_views, self.supervise_views = input_views, supervise_views
        self.augment, self.seed, self.epoch = augment, seed, 0

    def __len__(self) -> int:
        return len(self.dirs)

    def choose_views(self, rng: np.random.Generator) -> tuple[list[int], list[int]]:
        """(input views, supervised views). One input view is view 0 (frontal-ish) three
        times in four when training, else any view; extra input views and the other
        supervised views are drawn from the rest."""
        if self.augment and rng.random() >= 0.75:
            first = int(rng.integers(self.views))
        else:
            first = 0
        rest = [v for v in range(self.views) if v != first]
        rng.shuffle(rest)
        n_more = self.input_views - 1
        inputs = [first, *rest[:n_more]]
        supervised = [first, *rest[n_more : n_more + self.supervise_views - 1]]
        return inputs, supervised

    def __getitem__(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        d = self.dirs[index]
        cams = load_cameras(d)
        in_views, sup_views = self.choose_views(rng)
        colour = _colour_change(rng) if self.augment else None
        views = {v: load_view(d, v) for v in set(in_views) | set(sup_views)}

        def clean_rgb(v: int) -> np.ndarray:
            rgb = views[v]["rgb"].astype(np.float32) / 255
            return rgb if colour is None else _apply_colour(rgb, colour, views[v]["mask"])

        rgbs, masks = [], []
        for v in in_views:
            rgb = clean_rgb(v)
            if self.augment:
                img, seg = _photo(rgb, views[v]["mask"], rng)
            else:
                img, seg = rgb, views[v]["mask"]
            rgbs.append(img)
            masks.append(seg.astype(np.float32))
        t = lambda a: torch.from_numpy(np.ascontiguousarray(np.stack(a)))  # noqa: E731
        inputs = from_maps(
            t(rgbs).permute(0, 3, 1, 2),
            t(masks)[:, None],
            cams[torch.tensor(in_views)],
            *(t([views[v][k] for v in in_views]) for k in PRIOR_KEYS),
        )
        return Sample(
            inputs=inputs,
            target_rgb=t([clean_rgb(v) for v in sup_views]),
            target_mask=t([views[v]["mask"].astype(np.float32) for v in sup_views]),
            target_part=t([views[v]["part"] for v in sup_views]),
            target_viewmats=cams.viewmats[sup_views],
            target_Ks=cams.Ks[sup_views],
        )


def collate(samples: list[Sample]) -> list[Sample]:
    """Samples stay separate (each object is rendered on its own); the network batches
    their inputs with :func:`stack_inputs`."""
    return samples


def stack_inputs(samples: list[Sample]) -> ViewInputs:
    """The B samples' input views as one batch (all must have the same view count)."""
    fields = ViewInputs.__dataclass_fields__
    return ViewInputs(*(torch.cat([getattr(s.inputs, k) for s in samples]) for k in fields))
