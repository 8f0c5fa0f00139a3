"""Rendering the predicted Gaussians into supervised views, and the paper's losses.

L = MSE(rgb) + lambda_m * MSE(alpha, mask) + lambda_p * LPIPS(rgb) + lambda_dist * (1 - cos)
    + lambda_seg * CE(parts)

(paper Sec. 3.4; defaults lambda_m = 1, lambda_p = 0.1, lambda_dist = 0.5, lambda_seg = 0.5).
LPIPS is used only when a perceptual network is given (its weights must be on disk;
nothing is downloaded), distillation only when a frozen teacher's features are given, and
the cross-entropy only on views that carry part labels, on the person's pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..model.predict import Rendered


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (paper defaults)."""

    mse: float = 1.0
    mask: float = 1.0  # lambda_m
    lpips: float = 0.1  # lambda_p (only with a perceptual network)
    dist: float = 0.5  # lambda_dist (only with teacher features)
    seg: float = 0.5  # lambda_seg


def reconstruction_losses(
    rendered: Rendered,
    part_logits: torch.Tensor,
    target_rgb: torch.Tensor,
    target_mask: torch.Tensor,
    target_part: torch.Tensor | None,
    background: torch.Tensor,
    weights: LossWeights,
    perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    features: torch.Tensor | None = None,
    teacher: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The loss terms and their weighted sum ``"total"``.

    Args:
        rendered: the object in S views. part_logits: (S, NUM_PARTS, H, W) decoded from
            ``rendered.embed``.
        target_rgb: (S, H, W, 3) in [0, 1], 0 off the person. target_mask: (S, H, W).
        target_part: (S, H, W) int64 labels, or None for views without labels.
        background: (3,) the colour the targets are composited over (as the render).
        perceptual: LPIPS-like (S, 3, H, W) x2 in [-1, 1] -> per-image distances.
        features, teacher: (S, F, h, w) rendered and frozen features for distillation.
    Returns:
        dict of scalar tensors: mse, mask, ce, lpips, dist (those used) and total.
    """
    m = target_mask[..., None]
    target = target_rgb * m + background * (1 - m)
    out = {
        "mse": F.mse_loss(rendered.rgb, target),
        "mask": F.mse_loss(rendered.alpha, target_mask),
    }
    total = weights.mse * out["mse"] + weights.mask * out["mask"]
    if target_part is not None:
        person = target_mask > 0.5
        if bool(person.any()):
            logits = part_logits.permute(0, 2, 3, 1)[person]  # (P, NUM_PARTS)
            out["ce"] = F.cross_entropy(logits, target_part[person])
            total = total + weights.seg * out["ce"]
    if perceptual is not None and weights.lpips > 0:
        a = rendered.rgb.permute(0, 3, 1, 2) * 2 - 1
        b = target.permute(0, 3, 1, 2) * 2 - 1
        out["lpips"] = perceptual(a, b).mean()
        total = total + weights.lpips * out["lpips"]
    if features is not None and teacher is not None and weights.dist > 0:
        cos = F.cosine_similarity(features, teacher, dim=1)
        out["dist"] = (1 - cos).mean()
        total = total + weights.dist * out["dist"]
    out["total"] = total
    return out
