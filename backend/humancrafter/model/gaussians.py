"""From the network's per-pixel head outputs to 3D Gaussians, and from those to splats.

Each input pixel carries ``L = layers_per_pixel`` Gaussians (layer 0 the surface the
camera sees, the last the back of the person, any between spread in depth). Activations
(all documented in :func:`activate`) turn raw head channels into the Gaussian's world-frame
centre, rotation, scale, opacity, colour and semantic embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import Cameras, unproject
from ..portable.splatfile import Splats
from .inputs import ViewInputs
from .options import ModelOptions

HEAD_FIELDS: tuple[tuple[str, int], ...] = (
    ("depth", 1),
    ("offset", 3),
    ("scale", 3),
    ("rotation", 4),
    ("opacity", 1),
    ("rgb", 3),
)
"""Raw channels per Gaussian, in order; then the semantic embedding (``embed_dim``)."""

SCALE_PER_PIXEL = 0.8
"""Standard deviation of a Gaussian at raw scale 0, in pixel footprints (depth / focal)."""
OPACITY_BIAS = 3.0
"""Raw opacity 0 means sigmoid(3) = 0.95, the ``prior`` mode's opacity."""
NO_PRIOR_DEPTH_SPAN = 0.6
"""Without the prior, depth = z_origin + layer offset + this * tanh(raw) (model units)."""


def head_channels(opt: ModelOptions) -> int:
    """Raw channels per pixel: L Gaussians x (HEAD_FIELDS + embed_dim)."""
    return opt.layers_per_pixel * (sum(n for _, n in HEAD_FIELDS) + opt.embed_dim)


@dataclass
class PixelGaussians:
    """Gaussians of B objects, V views, L layers, H x W pixels (activated, world frame).

    Attributes:
        means: (B, V, L, H, W, 3). quats: (B, V, L, H, W, 4) unit wxyz.
        scales: (B, V, L, H, W, 3) standard deviations, model units.
        opacities: (B, V, L, H, W) in (0, 1). rgb: (B, V, L, H, W, 3) in (0, 1).
        embed: (B, V, L, H, W, E) semantic embeddings.
        keep: (B, V, L, H, W) bool: the Gaussian exists (person pixel, dilated mask).
    """

    means: torch.Tensor
    quats: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    rgb: torch.Tensor
    embed: torch.Tensor
    keep: torch.Tensor

    def flat(self, b: int) -> dict[str, torch.Tensor]:
        """Object ``b``'s kept Gaussians: a dict of (M, ...) tensors with the attribute names
        above (``keep`` dropped)."""
        k = self.keep[b]
        return {
            name: getattr(self, name)[b][k]
            for name in ("means", "quats", "scales", "opacities", "rgb", "embed")
        }


def _logit(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(0.02, 0.98)
    return torch.log(p / (1 - p))


def person_colours(rgb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The photo's colours with pixels off the person replaced by the mean of their person
    neighbours (5 x 5), so Gaussians on the dilated mask's rim do not start with the
    background's colour. rgb: (B, V, 3, H, W), mask: (B, V, 1, H, W) -> (B, V, 3, H, W)."""
    B, V, _, H, W = rgb.shape
    m = (mask.flatten(0, 1) > 0.5).to(rgb.dtype)
    x = rgb.flatten(0, 1)
    num = F.avg_pool2d(x * m, 5, 1, 2, count_include_pad=False)
    den = F.avg_pool2d(m, 5, 1, 2, count_include_pad=False)
    rim = torch.where(den > 0, num / den.clamp_min(1e-6), x)
    return torch.where(m > 0, x, rim).view(B, V, 3, H, W)


def activate(
    raw: torch.Tensor, inputs: ViewInputs, opt: ModelOptions, codes: torch.Tensor
) -> PixelGaussians:
    """Raw head outputs -> Gaussians.

    - depth: with ``prior_skip``, the prior's depth for the layer (front for layer 0, back
      for the last, linear between) + ``depth_residual * tanh(raw)``; without it, the
      camera z of the world origin + a layer offset + NO_PRIOR_DEPTH_SPAN * tanh(raw).
    - centre: mu = unproject(pixel centre, depth) + R^T (offset_scale * tanh(raw)): the
      offset Delta is predicted in the camera frame and rotated into the world frame.
    - scale: pixel footprint (depth / focal) * SCALE_PER_PIXEL * exp(raw), raw in [-5, 4].
    - rotation: normalise(raw + (1, 0, 0, 0)), world frame, wxyz.
    - opacity: sigmoid(raw + OPACITY_BIAS).
    - colour: with ``prior_skip``, sigmoid(logit(pixel colour) + raw) (the photo's own
      colour at raw 0, :func:`person_colours`); else sigmoid(raw).
    - embedding: with ``prior_skip``, codes[prior part] + raw (the part decoder reads the
      prior's label at raw 0); else raw.

    Args:
        raw: (B, V, L, C, H, W) with C = sum of HEAD_FIELDS + embed_dim.
        inputs: the views the network saw. opt: its options.
        codes: (NUM_PARTS, E) unit class codes of the part decoder.
    """
    B, V, H, W = inputs.shape
    L = opt.layers_per_pixel
    sizes = [n for _, n in HEAD_FIELDS] + [opt.embed_dim]
    r = dict(zip([n for n, _ in HEAD_FIELDS] + ["embed"], raw.split(sizes, dim=3), strict=True))
    last = lambda t: t.permute(0, 1, 2, 4, 5, 3)  # noqa: E731  (B,V,L,C,H,W) -> (B,V,L,H,W,C)

    frac = torch.linspace(0, 1, L, device=raw.device) if L > 1 else raw.new_zeros(1)
    frac = frac.view(1, 1, L, 1, 1)
    if opt.prior_skip:
        front, back = inputs.prior_depth[:, :, :1], inputs.prior_depth[:, :, 1:2]  # (B,V,1,H,W)
        base = front + (back - front) * frac
        depth = base + opt.depth_residual * torch.tanh(r["depth"][:, :, :, 0])
    else:
        z0 = inputs.viewmats[..., 2, 3][:, :, None, None, None]
        base = z0 + (frac - 0.5) * 0.2
        depth = base + NO_PRIOR_DEPTH_SPAN * torch.tanh(r["depth"][:, :, :, 0])
    depth = depth.clamp_min(0.05)  # (B, V, L, H, W)

    cams = Cameras(inputs.viewmats.flatten(0, 1), inputs.Ks.flatten(0, 1), W, H)
    v, u = torch.meshgrid(
        torch.arange(H, device=raw.device) + 0.5,
        torch.arange(W, device=raw.device) + 0.5,
        indexing="ij",
    )
    uv = torch.stack([u, v], -1).expand(B * V, L, H, W, 2).reshape(B * V, -1, 2)
    points = unproject(uv, depth.reshape(B * V, -1), cams)  # (B*V, L*H*W, 3)
    R = inputs.viewmats[..., :3, :3].flatten(0, 1)  # (B*V, 3, 3)
    delta_cam = opt.offset_scale * torch.tanh(last(r["offset"])).reshape(B * V, -1, 3)
    delta = torch.einsum("cji,cnj->cni", R, delta_cam)  # R^T @ delta_cam
    means = (points + delta).view(B, V, L, H, W, 3)

    focal = inputs.Ks[..., 0, 0][:, :, None, None, None]
    footprint = (depth / focal)[..., None]
    scales = footprint * SCALE_PER_PIXEL * torch.exp(last(r["scale"]).clamp(-5, 4))
    identity = torch.tensor([1.0, 0, 0, 0], device=raw.device, dtype=raw.dtype)
    quats = F.normalize(last(r["rotation"]) + identity, dim=-1)
    opacities = torch.sigmoid(r["opacity"][:, :, :, 0] + OPACITY_BIAS)
    if opt.prior_skip:
        pixel = _logit(person_colours(inputs.rgb, inputs.mask))[:, :, None]
        pixel = pixel.permute(0, 1, 2, 4, 5, 3)  # (B, V, 1, H, W, 3)
        rgb = torch.sigmoid(pixel + last(r["rgb"]))
        embed = codes[inputs.prior_part][:, :, None] + last(r["embed"])
    else:
        rgb = torch.sigmoid(last(r["rgb"]))
        embed = last(r["embed"])

    keep = dilated_mask(inputs.mask, opt.mask_dilation)[:, :, None].expand(B, V, L, H, W)
    return PixelGaussians(means, quats, scales, opacities, rgb, embed, keep)


def dilated_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """(B, V, 1, H, W) person probabilities -> (B, V, H, W) bool person mask grown by
    ``pixels`` in every direction (3 x 3 max per pixel of growth): where Gaussians exist."""
    B, V, _, H, W = mask.shape
    k = 2 * pixels + 1
    dilated = F.max_pool2d(mask.flatten(0, 1), k, stride=1, padding=pixels)
    return dilated.view(B, V, H, W) > 0.5


def to_splats(gaussians: dict[str, torch.Tensor], part_logits: torch.Tensor) -> Splats:
    """One object's Gaussians (from :meth:`PixelGaussians.flat`) and their (M, NUM_PARTS)
    part logits -> a labelled :class:`Splats` (label = argmax, confidence = its softmax
    probability)."""
    prob = part_logits.float().softmax(dim=-1)
    conf, part = prob.max(dim=-1)
    as_np = lambda t: t.detach().float().cpu().numpy()  # noqa: E731
    return Splats.from_activated(
        means=as_np(gaussians["means"]),
        rgb=as_np(gaussians["rgb"]),
        opacity=as_np(gaussians["opacities"]),
        scales=as_np(gaussians["scales"]),
        quats=as_np(gaussians["quats"]),
        part=as_np(part).astype(np.uint8),
        part_conf=as_np(conf).astype(np.float32),
    )
