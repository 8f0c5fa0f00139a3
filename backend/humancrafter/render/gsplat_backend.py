"""The CUDA back end: gsplat 1.5's ``rasterization`` with our OpenCV cameras.

Same signature and outputs as :func:`humancrafter.render.cpu.rasterize`; gsplat is imported
only when this back end is used (it is an optional dependency and needs CUDA).
"""

from __future__ import annotations

import torch


def available() -> bool:
    """True when CUDA is present and gsplat imports."""
    if not torch.cuda.is_available():
        return False
    try:
        import gsplat  # noqa: F401
    except ImportError:
        return False
    return True


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
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render N Gaussians into C images with gsplat (all tensors on one CUDA device).

    Args:
        means: (N, 3) world centres. quats: (N, 4) wxyz. scales: (N, 3) activated std-devs.
        opacities: (N,) in (0, 1). colors: (N, D) or (C, N, D) features, any D >= 1.
        viewmats: (C, 4, 4) OpenCV world-to-camera. Ks: (C, 3, 3) pixel intrinsics.
        backgrounds: (C, D) or (D,) composited under the splats, or None for zeros.
    Returns:
        colors: (C, H, W, D). alphas: (C, H, W, 1). depths: (C, H, W, 1) expected camera z.
    """
    from gsplat import rasterization

    C = viewmats.shape[0]
    D = colors.shape[-1]
    if backgrounds is not None:
        backgrounds = backgrounds.to(colors).expand(C, D).contiguous()
    out, alphas, _ = rasterization(
        means.contiguous(),
        quats.contiguous(),
        scales.contiguous(),
        opacities.contiguous(),
        colors.contiguous(),
        viewmats.contiguous(),
        Ks.contiguous(),
        width,
        height,
        near_plane=near_plane,
        far_plane=far_plane,
        eps2d=eps2d,
        backgrounds=backgrounds,
        render_mode="RGB+ED",
    )
    return out[..., :D], alphas, out[..., D:]
