"""Inference with the network: views in, labelled splats out; and rendering its Gaussians
with their semantic embeddings (used by evaluation and training alike)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..cameras import Cameras, project
from ..portable.splatfile import Splats
from ..render import Backend, rasterize
from .gaussians import PixelGaussians, dilated_mask, to_splats
from .inputs import ViewInputs
from .network import HumanCrafterNet


@dataclass
class Rendered:
    """One object rendered into S views of H x W.

    Attributes:
        rgb: (S, H, W, 3) over ``background``. alpha: (S, H, W).
        embed: (S, E, H, W) rendered semantic embeddings (no background).
        depth: (S, H, W) expected camera z (0 where alpha is 0).
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    embed: torch.Tensor
    depth: torch.Tensor


def render_semantic(
    g: dict[str, torch.Tensor], cams: Cameras, background: torch.Tensor, backend: Backend = "auto"
) -> Rendered:
    """Render one object's Gaussians (:meth:`humancrafter.model.gaussians.PixelGaussians.flat`)
    with colour and embedding in one pass through :func:`humancrafter.render.rasterize`.

    Args:
        g: means (M, 3), quats (M, 4), scales (M, 3), opacities (M,), rgb (M, 3), embed (M, E).
        cams: S cameras. background: (3,) colour under the splats.
    """
    E = g["embed"].shape[-1]
    feats = torch.cat([g["rgb"], g["embed"]], dim=-1)
    bg = torch.cat([background, background.new_zeros(E)])
    out, alpha, depth = rasterize(
        g["means"], g["quats"], g["scales"], g["opacities"], feats, cams,
        backend=backend, background=bg,
    )  # fmt: skip
    embed = out[..., 3:].permute(0, 3, 1, 2)
    return Rendered(out[..., :3], alpha[..., 0], embed, depth[..., 0])


def carve(g: PixelGaussians, views: ViewInputs, dilation: int) -> PixelGaussians:
    """Drop the Gaussians that another input view sees as background (a visual hull).

    A Gaussian of view a whose centre projects, in front of the camera and inside the
    image, onto a pixel of view b off b's person mask (dilated by ``dilation`` pixels, as
    where Gaussians are made) cannot be on the person: b would see it there. With one
    view nothing changes.

    Args:
        g: the network's Gaussians of B objects in V views at the views' H x W.
        views: the same B objects' V views (cameras and masks) at that H x W.
    Returns:
        ``g`` with ``keep`` (B, V, L, H, W) narrowed.
    """
    B, V, H, W = views.shape
    if V < 2:
        return g
    masks = dilated_mask(views.mask, dilation)  # (B, V, H, W)
    keep = g.keep.clone()
    for b in range(B):
        cams = views.cameras(b)
        uv, z = project(g.means[b].reshape(-1, 3), cams)  # (V, N, 2), (V, N); N = V*L*H*W
        col, row = uv[..., 0].floor().long(), uv[..., 1].floor().long()
        inside = (z > 0) & (col >= 0) & (col < W) & (row >= 0) & (row < H)
        person = masks[b][torch.arange(V)[:, None], row.clamp(0, H - 1), col.clamp(0, W - 1)]
        keep[b] &= (person | ~inside).all(0).view(keep[b].shape)
    return replace(g, keep=keep)


@torch.no_grad()
def predict(
    net: HumanCrafterNet, inputs: ViewInputs, out: ViewInputs | None = None
) -> list[dict[str, torch.Tensor]]:
    """The kept Gaussians of each of the B objects (dicts of (M, ...) float32 tensors,
    see :meth:`humancrafter.model.gaussians.PixelGaussians.flat`) plus ``part_logits``
    (M, NUM_PARTS) from the part decoder, after :func:`carve` with several views.
    ``out``: see :meth:`HumanCrafterNet.forward`."""
    views = inputs if out is None else out
    # the margin Gaussians are made with, in pixels of the network's own resolution
    margin = max(1, round(net.opt.mask_dilation * views.shape[2] / inputs.shape[2]))
    g = carve(net(inputs, out), views, margin)
    out = []
    for b in range(inputs.shape[0]):
        flat = {k: v.float() for k, v in g.flat(b).items()}
        flat["part_logits"] = net.part_logits(flat["embed"])
        out.append(flat)
    return out


def predict_splats(
    net: HumanCrafterNet, inputs: ViewInputs, out: ViewInputs | None = None
) -> list[Splats]:
    """:func:`predict` as labelled :class:`Splats`, one per object."""
    return [to_splats(g, g["part_logits"]) for g in predict(net, inputs, out)]
