"""What the network sees of each view, built the same way for training and inference.

Per view: the photo (RGB in [0, 1]), the person mask, the camera (OpenCV viewmat and pixel
intrinsics, :mod:`humancrafter.cameras`) and, in ``fast`` mode, the posed body prior ray
cast from that camera (front and back camera z, world normal, part id; zero where the ray
misses the prior). :func:`fill_prior` extends the prior's depth, normal and part from the
nearest body pixels into person pixels the prior does not cover (hair, skirts, bags), so
every person pixel has a depth to start from. :func:`input_channels` stacks it all into
the network's input image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..cameras import Cameras, plucker_rays
from ..portable.parts import NUM_PARTS

DEPTH_INPUT_SCALE = 4.0
"""Prior depth enters the network as (z - z_origin) * this (about -1..1 for a person)."""


@dataclass
class ViewInputs:
    """B objects seen in V views each, H x W pixels (float32 unless noted).

    Attributes:
        rgb: (B, V, 3, H, W) colour in [0, 1].
        mask: (B, V, 1, H, W) person probability in [0, 1].
        viewmats: (B, V, 4, 4) world-to-camera (OpenCV). Ks: (B, V, 3, 3) pixel intrinsics.
        prior_depth: (B, V, 2, H, W) prior front and back camera z, filled (model units).
        prior_normal: (B, V, 3, H, W) prior world normal, filled.
        prior_part: (B, V, H, W) int64 prior part id, filled (0 where nothing is near).
        prior_hit: (B, V, 1, H, W) 1 where the prior itself covers the pixel, else 0.
    """

    rgb: torch.Tensor
    mask: torch.Tensor
    viewmats: torch.Tensor
    Ks: torch.Tensor
    prior_depth: torch.Tensor
    prior_normal: torch.Tensor
    prior_part: torch.Tensor
    prior_hit: torch.Tensor

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(B, V, H, W)."""
        B, V, _, H, W = self.rgb.shape
        return B, V, H, W

    def cameras(self, b: int) -> Cameras:
        """The V cameras of object ``b``."""
        _, _, H, W = self.shape
        return Cameras(self.viewmats[b], self.Ks[b], W, H)

    def to(self, device: torch.device | str) -> ViewInputs:
        return ViewInputs(*(getattr(self, k).to(device) for k in self.__dataclass_fields__))

    def select_views(self, views: list[int] | torch.Tensor) -> ViewInputs:
        """The same objects with only the views ``views`` (indices into V)."""
        idx = torch.as_tensor(views, dtype=torch.long)
        return ViewInputs(
            *(getattr(self, k)[:, idx] for k in self.__dataclass_fields__)  # type: ignore[misc]
        )


def fill_prior(
    depth: torch.Tensor,
    normal: torch.Tensor,
    part: torch.Tensor,
    max_iters: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Extend the prior's maps into pixels it misses, from the nearest covered pixels.

    Repeated 3x3 averages over covered neighbours grow the covered region one pixel per
    iteration (parts by majority of the neighbours' one-hot votes); what is still empty
    after ``max_iters`` takes the view's median depth, a normal facing the camera's -z
    world axis and part 0. Each iteration computes only the pixels on the growing rim, so
    the cost follows the filled area, not ``max_iters`` x the image;
    :func:`fill_prior_dense` is the same growth as whole-image convolutions (the
    reference the tests compare with).

    Args:
        depth: (N, 2, H, W) front / back camera z, 0 where the prior misses.
        normal: (N, 3, H, W). part: (N, H, W) int64.
    Returns:
        depth (N, 2, H, W), normal (N, 3, H, W), part (N, H, W) filled, and hit
        (N, 1, H, W) float: 1 where the prior covered the pixel.
    """
    hit = (depth[:, :1] > 0).float()
    onehot = F.one_hot(part, NUM_PARTS).permute(0, 3, 1, 2).float() * hit
    # values with a border of zeros, so that every pixel has 3 x 3 neighbours to read
    padded = F.pad(torch.cat([depth, normal, onehot], dim=1) * hit, (1, 1, 1, 1))
    known = F.pad(hit, (1, 1, 1, 1))
    ones = torch.ones(1, 1, 3, 3, dtype=depth.dtype, device=depth.device)
    for _ in range(max_iters):
        weight = F.conv2d(known, ones)  # (N, 1, H, W): covered neighbours of each pixel
        n, _, y, x = torch.nonzero((weight > 0) & (known[:, :, 1:-1, 1:-1] == 0), as_tuple=True)
        if n.numel() == 0:
            break
        summed = sum(padded[n, :, y + dy, x + dx] for dy in range(3) for dx in range(3))
        padded[n, :, y + 1, x + 1] = summed / weight[n, 0, y, x, None]  # (K, C)
        known[n, 0, y + 1, x + 1] = 1.0
    values, known = padded[:, :, 1:-1, 1:-1], known[:, :, 1:-1, 1:-1]
    return _finish_fill(depth, values, known, hit)


def fill_prior_dense(
    depth: torch.Tensor,
    normal: torch.Tensor,
    part: torch.Tensor,
    max_iters: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`fill_prior` as whole-image convolutions every iteration: slow, plain to
    read; kept as the reference for tests. Same arguments and results."""
    hit = (depth[:, :1] > 0).float()
    onehot = F.one_hot(part, NUM_PARTS).permute(0, 3, 1, 2).float() * hit
    values = torch.cat([depth, normal, onehot], dim=1) * hit
    known = hit.clone()
    ones = torch.ones(1, 1, 3, 3, dtype=depth.dtype, device=depth.device)
    for _ in range(max_iters):
        if bool(known.min() > 0):
            break
        weight = F.conv2d(known, ones, padding=1)
        c = values.shape[1]
        summed = F.conv2d(values, ones.expand(c, 1, 3, 3), padding=1, groups=c)
        grow = (weight > 0) & (known == 0)
        values = torch.where(grow, summed / weight.clamp_min(1e-6), values)
        known = torch.where(grow, torch.ones_like(known), known)
    return _finish_fill(depth, values, known, hit)


def _finish_fill(
    depth: torch.Tensor, values: torch.Tensor, known: torch.Tensor, hit: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The grown ``values`` (N, 2 + 3 + NUM_PARTS, H, W) as filled maps: what ``known``
    (N, 1, H, W) still lacks takes the view's median ``depth``, and part 0."""
    depth_f, normal_f, votes = values.split([2, 3, NUM_PARTS], dim=1)
    empty = known == 0
    if bool(empty.any()):
        depth_f = depth_f.clone()
        for i in range(depth.shape[0]):
            covered = depth[i, 0][depth[i, 0] > 0]
            z = covered.median() if covered.numel() else depth.new_tensor(2.0)
            depth_f[i] = torch.where(empty[i], z, depth_f[i])
    part_f = torch.where(empty[:, 0], 0, votes.argmax(dim=1))
    normal_f = F.normalize(normal_f, dim=1)
    return depth_f, normal_f, part_f, hit


def prior_from_raycast(
    depth: torch.Tensor, back_depth: torch.Tensor, normal: torch.Tensor, part: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`fill_prior` on ray-caster layout: depth / back_depth (N, H, W), normal
    (N, H, W, 3), part (N, H, W) -> the filled (N, 2, H, W), (N, 3, H, W), (N, H, W) maps
    and hit (N, 1, H, W)."""
    return fill_prior(torch.stack([depth, back_depth], dim=1), normal.permute(0, 3, 1, 2), part)


def from_maps(
    rgb: torch.Tensor,
    mask: torch.Tensor,
    cams: Cameras,
    depth: torch.Tensor,
    back_depth: torch.Tensor,
    normal: torch.Tensor,
    part: torch.Tensor,
) -> ViewInputs:
    """One object's V views (B = 1) from per-view maps, the prior filled by
    :func:`fill_prior`; training, evaluation and inference all build their inputs here.

    Args:
        rgb: (V, 3, H, W) in [0, 1]. mask: (V, 1, H, W). cams: the V cameras at H x W.
        depth, back_depth: (V, H, W) the prior's ray-cast camera z (0 where it misses).
        normal: (V, H, W, 3). part: (V, H, W) int64.
    """
    d, n, p, hit = prior_from_raycast(depth, back_depth, normal, part)
    return ViewInputs(
        rgb[None], mask[None], cams.viewmats[None], cams.Ks[None],
        d[None], n[None], p[None], hit[None],
    )  # fmt: skip


def input_channels(inputs: ViewInputs, use_prior: bool) -> torch.Tensor:
    """The network's per-view input image.

    Channels: RGB mapped to [-1, 1] (3), mask (1), Plücker rays (o x d, d) (6) and, with
    ``use_prior``, prior front / back depth relative to the camera z of the world origin
    times :data:`DEPTH_INPUT_SCALE` (2), prior normal (3), prior coverage (1) and prior
    part one-hot (NUM_PARTS).

    Returns:
        (B * V, C, H, W) with C = 10 + (6 + NUM_PARTS if use_prior else 0).
    """
    B, V, H, W = inputs.shape
    cams = Cameras(inputs.viewmats.flatten(0, 1), inputs.Ks.flatten(0, 1), W, H)
    rays = plucker_rays(cams.to(inputs.rgb.device))  # (B*V, 6, H, W)
    parts = [inputs.rgb.flatten(0, 1) * 2 - 1, inputs.mask.flatten(0, 1), rays]
    if use_prior:
        z0 = inputs.viewmats[..., 2, 3].flatten(0, 1)[:, None, None, None]  # camera z of origin
        onehot = F.one_hot(inputs.prior_part.flatten(0, 1), NUM_PARTS).permute(0, 3, 1, 2)
        parts += [
            (inputs.prior_depth.flatten(0, 1) - z0) * DEPTH_INPUT_SCALE,
            inputs.prior_normal.flatten(0, 1),
            inputs.prior_hit.flatten(0, 1),
            onehot.to(inputs.rgb.dtype),
        ]
    return torch.cat(parts, dim=1)


def num_input_channels(use_prior: bool) -> int:
    """C of :func:`input_channels`."""
    return 10 + (6 + NUM_PARTS if use_prior else 0)
