"""The project's own CPU Gaussian rasterizer: pure PyTorch, tile-based, differentiable.

It follows gsplat 1.5's ``rasterization`` rules exactly (``gsplat/cuda/_torch_impl.py``
and the CUDA kernels ``ProjectionEWA3DGSFused.cu`` / ``RasterizeToPixels3DGSFwd.cu``):

- EWA projection: 3D covariance ``R S S^T R^T`` from quaternion (wxyz, normalised here) and
  scales, into the camera frame, then ``J Σ J^T`` with the Jacobian of the perspective
  projection (the camera-frame centre clamped to 1.3x the field of view, as gsplat does);
  ``eps2d`` (0.3 px²) is added to the 2D covariance's diagonal (the low-pass dilation).
- Culling: centres outside (near_plane, far_plane) in camera z, opacity < 1/255, or whose
  ``ceil(extend * sqrt(Σ_ii))`` box misses the image, with the opacity-aware
  ``extend = min(3.33, sqrt(2 ln(opacity * 255)))``. Outside that box alpha < 1/255, so the
  culling never changes the image.
- Per pixel (centre at +0.5): ``sigma = 0.5 d^T Σ⁻¹ d``,
  ``alpha = min(0.999, opacity * exp(-sigma))``, skipped when ``alpha < 1/255``;
  front-to-back by camera z; a Gaussian whose ``T * (1 - alpha) <= 1e-4`` ends the
  pixel and is itself not composited.

How it is vectorised: every (Gaussian, tile) pair is listed and sorted by (tile, depth),
as gsplat's ``isect_tiles`` does. Each pair becomes a row of ``tile_size²`` pixel alphas;
inside a tile the rows are consecutive and depth-ordered, so each pixel's transmittance
is a segmented cumulative sum of ``log(1 - alpha)`` down the rows (float64), and the
early stop is a mask on it. Weights times features are summed per tile with
``segment_reduce``. Rows are processed in chunks of whole tiles to bound memory; there is
no Python loop over tiles, pixels or Gaussians. Autograd differentiates all of it. Small
tiles (4x4) suit the small splats of people: less work is spent on pixels a splat misses.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

ALPHA_THRESHOLD = 1.0 / 255.0
MAX_ALPHA = 0.999
TRANSMITTANCE_MIN = 1e-4
TILE_SIZE = 4
CHUNK_ELEMENTS = 1 << 22
"""Upper bound on rows * tile_size² * channels of one chunk (about 16 MB per float32 buffer)."""


def quat_scale_to_covar(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """3D covariances ``R S S^T R^T``.

    Args:
        quats: (N, 4) rotations w x y z, any non-zero length.
        scales: (N, 3) standard deviations along the local axes (model units).
    Returns:
        (N, 3, 3) covariances, world frame.
    """
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(-1, 3, 3)  # fmt: skip
    M = R * scales[:, None, :]
    return M @ M.transpose(1, 2)


def project(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    viewmats: torch.Tensor,
    Ks: torch.Tensor,
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EWA projection of N Gaussians into C cameras (gsplat's ``fully_fused_projection``).

    Args:
        means: (N, 3) centres, world frame. quats: (N, 4) wxyz. scales: (N, 3) std-devs.
        opacities: (N,) in (0, 1), used only for the opacity-aware culling radius.
        viewmats: (C, 4, 4) OpenCV world-to-camera. Ks: (C, 3, 3) pixel intrinsics.
    Returns:
        means2d: (C, N, 2) pixel centres. conics: (C, N, 3) upper triangle (a, b, c) of the
        inverse dilated 2D covariance. depths: (C, N) camera-frame z.
        radii: (C, N, 2) int32 half-extents of the screen box in pixels, 0 when culled.
    """
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # (C, N, 3)
    covars_c = R[:, None] @ quat_scale_to_covar(quats, scales)[None] @ R.transpose(1, 2)[:, None]

    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]  # (C, 1)
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    tx, ty, tz = means_c.unbind(-1)  # (C, N)
    # Keep tz away from zero for culled Gaussians so that no inf/nan reaches autograd.
    tz_safe = torch.where(tz > near_plane, tz, torch.full_like(tz, max(near_plane, 1e-6)))
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    txc = tz_safe * torch.minimum(torch.maximum(tx / tz_safe, -lim_x_neg), lim_x_pos)
    tyc = tz_safe * torch.minimum(torch.maximum(ty / tz_safe, -lim_y_neg), lim_y_pos)
    zero = torch.zeros_like(tz)
    J = torch.stack(
        [fx / tz_safe, zero, -fx * txc / tz_safe**2, zero, fy / tz_safe, -fy * tyc / tz_safe**2],
        dim=-1,
    ).reshape(*tz.shape, 2, 3)
    cov2d = J @ covars_c @ J.transpose(-1, -2)  # (C, N, 2, 2)
    a = cov2d[..., 0, 0] + eps2d
    b = 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0])
    c = cov2d[..., 1, 1] + eps2d
    det = a * c - b * b
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)
    means2d = torch.stack([fx * tx / tz_safe + cx, fy * ty / tz_safe + cy], dim=-1)

    with torch.no_grad():
        op = opacities.detach().expand_as(tz)
        extend = torch.sqrt(2.0 * torch.log(op.clamp(min=ALPHA_THRESHOLD) / ALPHA_THRESHOLD))
        extend = extend.clamp(max=3.33)
        rx = torch.ceil(extend * torch.sqrt(a.detach().clamp(min=0)))
        ry = torch.ceil(extend * torch.sqrt(c.detach().clamp(min=0)))
        m = means2d.detach()
        valid = (
            (tz > near_plane)
            & (tz < far_plane)
            & (det > 0)
            & (op >= ALPHA_THRESHOLD)
            & (m[..., 0] + rx > 0)
            & (m[..., 0] - rx < width)
            & (m[..., 1] + ry > 0)
            & (m[..., 1] - ry < height)
        )
        radii = (torch.stack([rx, ry], dim=-1) * valid[..., None]).to(torch.int32)
    return means2d, conics, tz, radii


def _tile_pairs(
    means2d: torch.Tensor,
    depths: torch.Tensor,
    radii: torch.Tensor,
    tile_size: int,
    tiles_x: int,
    tiles_y: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (camera, Gaussian, tile) overlap, sorted by (camera, tile, depth).

    Args:
        means2d: (C, N, 2). depths: (C, N). radii: (C, N, 2) int, 0 when culled.
    Returns:
        flat_ids: (M,) int64 index into the flattened (C*N) Gaussians.
        tile_ids: (M,) int64 global tile index ``camera * tiles_y * tiles_x + ty * tiles_x + tx``.
    """
    C, N = depths.shape
    m = means2d.detach().reshape(-1, 2) / tile_size
    r = radii.reshape(-1, 2).to(m.dtype) / tile_size
    lo = torch.floor(m - r)
    hi = torch.ceil(m + r)
    bounds = torch.tensor([tiles_x, tiles_y], dtype=m.dtype, device=m.device)
    lo = torch.minimum(lo.clamp(min=0), bounds).long()
    hi = torch.minimum(hi.clamp(min=0), bounds).long()
    span = hi - lo  # (C*N, 2)
    counts = span[:, 0] * span[:, 1] * (radii.reshape(-1, 2) > 0).all(-1)
    flat_ids = torch.repeat_interleave(torch.arange(C * N, device=m.device), counts)
    if flat_ids.numel() == 0:
        return flat_ids, flat_ids.clone()
    first = torch.cumsum(counts, 0) - counts
    k = torch.arange(flat_ids.numel(), device=m.device) - first[flat_ids]
    w = span[flat_ids, 0]
    tx = lo[flat_ids, 0] + k % w
    ty = lo[flat_ids, 1] + k // w
    cam = flat_ids // N
    tile_ids = (cam * tiles_y + ty) * tiles_x + tx
    # gsplat's key: tile in the high 32 bits, the float bits of the (positive) depth below.
    depth_bits = depths.detach().float().reshape(-1).view(torch.int32).long() & 0xFFFFFFFF
    order = torch.argsort((tile_ids << 32) | depth_bits[flat_ids])
    return flat_ids[order], tile_ids[order]


def _composite_tiles(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    opacities: torch.Tensor,
    features: torch.Tensor,
    tile_xy: torch.Tensor,
    rows_per_tile: torch.Tensor,
    tile_size: int,
) -> torch.Tensor:
    """Composite depth-sorted rows (one row = one Gaussian over one tile's pixels) into tiles.

    Args:
        means2d: (R, 2), conics: (R, 3), opacities: (R,), features: (R, D) per row.
        tile_xy: (R, 2) int64 tile column and row of each row.
        rows_per_tile: (S,) int64 >= 1, the number of consecutive rows of each of S tiles;
            the rows of one tile are front to back.
    Returns:
        (S, tile_size², D) composited features of each tile's pixels (row-major in the tile).
    """
    offs = torch.arange(tile_size, dtype=means2d.dtype, device=means2d.device) + 0.5
    dx = means2d[:, 0:1] - (tile_xy[:, 0:1].to(means2d.dtype) * tile_size + offs)  # (R, T)
    dy = means2d[:, 1:2] - (tile_xy[:, 1:2].to(means2d.dtype) * tile_size + offs)
    a, b, c = conics[:, 0:1], conics[:, 1:2], conics[:, 2:3]
    # log(opacity) - sigma with sigma = 0.5 d^T conic d, from per-row column and row terms;
    # the conic is positive definite, so sigma >= 0 (gsplat's sigma < 0 test never fires).
    col_term = torch.log(opacities)[:, None] - 0.5 * a * dx * dx
    row_term = 0.5 * c * dy * dy
    log_alpha = torch.addcmul(
        col_term[:, None, :] - row_term[:, :, None], (b * dy)[:, :, None], dx[:, None, :], value=-1
    ).flatten(1)  # (R, T²), pixel index = row_in_tile * T + col_in_tile
    alpha = torch.exp(log_alpha).clamp_max(MAX_ALPHA)
    alpha = torch.where(alpha >= ALPHA_THRESHOLD, alpha, 0.0)
    log_t = torch.log1p(-alpha)
    # Transmittance from a running sum of log(1 - alpha) over all rows, minus its value
    # before each tile's first row; float64 because the running sum spans many tiles.
    csum = torch.cumsum(log_t, dim=0, dtype=torch.float64)
    first_row = torch.cumsum(rows_per_tile, 0) - rows_per_tile
    before_tile = csum[(first_row - 1).clamp(min=0)]
    before_tile[first_row == 0] = 0.0
    tile_of_row = torch.repeat_interleave(
        torch.arange(len(rows_per_tile), device=csum.device), rows_per_tile
    )
    log_t_after = csum - before_tile[tile_of_row]  # log of T after this row
    t_before = torch.exp(log_t_after - log_t).to(alpha.dtype)
    with torch.no_grad():
        composited = log_t_after > math.log(TRANSMITTANCE_MIN)
    weights = alpha * t_before * composited
    contrib = weights[:, :, None] * features[:, None, :]  # (R, T², D)
    if len(rows_per_tile) == 0:
        return contrib  # (0, T², D), still attached to the inputs
    return torch.segment_reduce(contrib, "sum", lengths=rows_per_tile, axis=0)


def rasterize(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    viewmats: torch.Tensor,
    Ks: torch.Tensor,
    width: int,
    height: int,
    *,
    backgrounds: torch.Tensor | None = None,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    tile_size: int = TILE_SIZE,
    chunk_elements: int = CHUNK_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render N Gaussians into C images on the CPU (or any device), differentiably.

    Args:
        means: (N, 3) world centres. quats: (N, 4) wxyz. scales: (N, 3) activated std-devs.
        opacities: (N,) in (0, 1). colors: (N, D) or (C, N, D) features, any D >= 0.
        viewmats: (C, 4, 4) OpenCV world-to-camera. Ks: (C, 3, 3) pixel intrinsics.
        width, height: image size in pixels.
        backgrounds: (C, D) or (D,) composited under the splats, or None for zeros.
    Returns:
        colors: (C, H, W, D) composited features (plus background).
        alphas: (C, H, W, 1) accumulated opacity ``1 - T``.
        depths: (C, H, W, 1) expected camera z ``sum(w z) / max(alpha, 1e-10)``.
    """
    C, N = viewmats.shape[0], means.shape[0]
    dtype = means.dtype
    if colors.dim() == 2:
        colors = colors.expand(C, *colors.shape)
    D = colors.shape[-1]
    tiles_x, tiles_y = math.ceil(width / tile_size), math.ceil(height / tile_size)
    n_tiles = C * tiles_x * tiles_y
    TT = tile_size * tile_size

    means2d, conics, depths, radii = project(
        means, quats, scales, opacities, viewmats, Ks, width, height, eps2d, near_plane, far_plane
    )
    flat_ids, tile_ids = _tile_pairs(means2d, depths, radii, tile_size, tiles_x, tiles_y)

    # Per-row attributes: features + depth + 1 (the last channel accumulates alpha).
    feats = torch.cat([colors, depths[..., None], torch.ones_like(depths[..., None])], dim=-1)
    feats = feats.reshape(C * N, D + 2)
    means2d_f, conics_f = means2d.reshape(-1, 2), conics.reshape(-1, 3)
    opac_f = opacities.expand(C, N).reshape(-1)

    # Tiles with at least one row, their first rows and row counts.
    M = flat_ids.numel()
    device = means.device
    new_tile = torch.ones(M, dtype=torch.bool, device=device)
    new_tile[1:] = tile_ids[1:] != tile_ids[:-1]
    starts = torch.nonzero(new_tile).squeeze(1)
    rows_per_tile = torch.diff(starts, append=torch.tensor([M], device=device))
    local_tile = tile_ids % (tiles_x * tiles_y)
    tile_xy = torch.stack([local_tile % tiles_x, local_tile // tiles_x], dim=-1)
    # Chunks of whole tiles holding about chunk_elements values each. With nothing visible
    # one empty chunk still runs, so the output always depends on the inputs (zero
    # gradients rather than a graph error).
    rows_per_chunk = max(1, chunk_elements // (TT * (D + 2)))
    chunk_rows = torch.arange(0, M, rows_per_chunk, device=device)
    first_tiles = torch.searchsorted(starts, chunk_rows, right=True) - 1
    tile_bounds = [*torch.unique(first_tiles).tolist(), len(starts)]
    if len(tile_bounds) == 1:
        tile_bounds = [0, 0]
    row_bounds = [*starts.tolist(), M]
    per_tile = []
    for t0, t1 in zip(tile_bounds[:-1], tile_bounds[1:], strict=True):
        lo, hi = row_bounds[t0], row_bounds[t1]
        ids = flat_ids[lo:hi]
        per_tile.append(
            _composite_tiles(
                means2d_f[ids], conics_f[ids], opac_f[ids], feats[ids],
                tile_xy[lo:hi], rows_per_tile[t0:t1], tile_size,
            )
        )  # fmt: skip
    image = torch.zeros(n_tiles, TT, D + 2, dtype=dtype, device=device)
    image = image.index_copy(0, tile_ids[starts], torch.cat(per_tile))

    image = image.reshape(C, tiles_y, tiles_x, tile_size, tile_size, D + 2)
    image = image.permute(0, 1, 3, 2, 4, 5).reshape(C, tiles_y * tile_size, -1, D + 2)
    image = image[:, :height, :width]
    out_colors, acc_depth, alphas = image[..., :D], image[..., D : D + 1], image[..., D + 1 :]
    if backgrounds is not None:
        bg = backgrounds.to(dtype).expand(C, D)
        out_colors = out_colors + bg[:, None, None, :] * (1.0 - alphas)
    return out_colors, alphas, acc_depth / alphas.clamp(min=1e-10)


def _dense_pixels(
    pix: torch.Tensor, m2: torch.Tensor, con: torch.Tensor, op: torch.Tensor, f: torch.Tensor
) -> torch.Tensor:
    """P pixel centres (P, 2) against n depth-sorted Gaussians (means2d (n, 2), conics
    (n, 3), opacities (n,), features (n, F)) -> (P, F + 1) composited features and alpha."""
    d = m2[None, :, :] - pix[:, None, :]  # (P, n, 2)
    sigma = 0.5 * (con[:, 0] * d[..., 0] ** 2 + con[:, 2] * d[..., 1] ** 2) + (
        con[:, 1] * d[..., 0] * d[..., 1]
    )
    alpha = torch.clamp_max(op * torch.exp(-sigma), MAX_ALPHA)
    alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, 0.0)
    t_after = torch.cumprod(1.0 - alpha, dim=1)
    t_before = torch.cat([torch.ones_like(t_after[:, :1]), t_after[:, :-1]], dim=1)
    w = alpha * t_before * (t_after > TRANSMITTANCE_MIN).detach()
    return torch.cat([w @ f, w.sum(1, keepdim=True)], dim=-1)


def rasterize_dense(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    viewmats: torch.Tensor,
    Ks: torch.Tensor,
    width: int,
    height: int,
    *,
    backgrounds: torch.Tensor | None = None,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    pixel_chunk: int = 4096,
    rows: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reference renderer: every Gaussian against every pixel, no tiles (same rules and
    signature as :func:`rasterize`). O(C * N * H * W); for tests and benchmarks only.
    With autograd on, each pixel chunk is recomputed in backward (checkpointing) so that
    memory stays bounded. ``rows=(r0, r1)`` renders only those pixel rows of the image
    (outputs (C, r1 - r0, W, ...))."""
    C = viewmats.shape[0]
    dtype = means.dtype
    if colors.dim() == 2:
        colors = colors.expand(C, *colors.shape)
    D = colors.shape[-1]
    means2d, conics, depths, radii = project(
        means, quats, scales, opacities, viewmats, Ks, width, height, eps2d, near_plane, far_plane
    )
    r0, r1 = rows if rows is not None else (0, height)
    v, u = torch.meshgrid(
        torch.arange(r0, r1, dtype=dtype, device=means.device) + 0.5,
        torch.arange(width, dtype=dtype, device=means.device) + 0.5,
        indexing="ij",
    )  # fmt: skip
    pix = torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1)  # (H*W, 2)
    images = []
    for ci in range(C):
        vis = (radii[ci] > 0).all(-1)
        order = torch.argsort(depths[ci].detach().masked_fill(~vis, float("inf")))
        order = order[: int(vis.sum())]
        m2, con, op = means2d[ci, order], conics[ci, order], opacities[order]
        f = torch.cat([colors[ci, order], depths[ci, order, None]], dim=-1)
        chunks = []
        for p in pix.split(pixel_chunk):
            if torch.is_grad_enabled():  # recompute each chunk in backward: bounded memory
                chunks.append(checkpoint(_dense_pixels, p, m2, con, op, f, use_reentrant=False))
            else:
                chunks.append(_dense_pixels(p, m2, con, op, f))
        images.append(torch.cat(chunks).reshape(r1 - r0, width, D + 2))
    image = torch.stack(images)
    out_colors, acc_depth, alphas = image[..., :D], image[..., D : D + 1], image[..., D + 1 :]
    if backgrounds is not None:
        bg = backgrounds.to(dtype).expand(C, D)
        out_colors = out_colors + bg[:, None, None, :] * (1.0 - alphas)
    return out_colors, alphas, acc_depth / alphas.clamp(min=1e-10)
