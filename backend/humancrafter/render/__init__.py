"""The Gaussian renderer: one entry point, two back ends with gsplat 1.5's semantics.

- ``cpu``: the project's own pure-PyTorch tile-based differentiable rasterizer.
- ``gsplat``: gsplat's CUDA ``rasterization`` (optional dependency, needs CUDA).

:func:`rasterize` takes activated Gaussian parameters as tensors (differentiable);
:func:`render_splats` renders a :class:`~humancrafter.portable.splatfile.Splats` file object,
colours and any extra feature channels (semantic embeddings, part colours) in one pass.
Cameras come from :mod:`humancrafter.cameras` (OpenCV world-to-camera, pixel intrinsics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..cameras import Cameras
from ..portable.splatfile import Splats
from . import cpu, gsplat_backend

Backend = Literal["auto", "cpu", "gsplat"]


def resolve_backend(backend: Backend = "auto") -> Literal["cpu", "gsplat"]:
    """The back end ``backend`` names; ``"auto"`` is gsplat when CUDA and gsplat exist."""
    if backend == "auto":
        return "gsplat" if gsplat_backend.available() else "cpu"
    if backend == "gsplat" and not gsplat_backend.available():
        raise ValueError("the gsplat back end needs CUDA and the gsplat package; use 'cpu'")
    if backend not in ("cpu", "gsplat"):
        raise ValueError(f"unknown render back end {backend!r}; use 'auto', 'cpu' or 'gsplat'")
    return backend


def rasterize(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    cams: Cameras,
    *,
    backend: Backend = "auto",
    background: torch.Tensor | None = None,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render N Gaussians into the C cameras ``cams`` (gsplat ``rasterization`` semantics).

    Args:
        means: (N, 3) centres, model/world frame. quats: (N, 4) rotations wxyz (normalised
            here). scales: (N, 3) activated standard deviations. opacities: (N,) in (0, 1).
        colors: (N, D) or (C, N, D) features, any D (RGB, embeddings, ...), not activated.
        cams: C cameras of one image size.
        backend: "cpu", "gsplat" (CUDA) or "auto" (gsplat when available).
        background: (D,) or (C, D) features composited under the splats; None is zeros.
        near_plane, far_plane: camera-z range of the Gaussian centres that are drawn.
    Returns:
        colors: (C, H, W, D) composited features.
        alphas: (C, H, W, 1) accumulated opacity.
        depth: (C, H, W, 1) expected camera z of the visible splats (0 where alpha is 0).
    """
    which = resolve_backend(backend)
    impl = gsplat_backend.rasterize if which == "gsplat" else cpu.rasterize
    device = means.device
    return impl(
        means,
        quats,
        scales,
        opacities,
        colors,
        cams.viewmats.to(device, means.dtype),
        cams.Ks.to(device, means.dtype),
        cams.width,
        cams.height,
        backgrounds=background,
        near_plane=near_plane,
        far_plane=far_plane,
    )


@dataclass
class RenderOutput:
    """Images of C views (float32 tensors).

    Attributes:
        rgb: (C, H, W, 3) colour in [0, 1] over the background.
        alpha: (C, H, W, 1) accumulated opacity.
        depth: (C, H, W, 1) expected camera z.
        features: (C, H, W, F) rendered extra features (no background), or None.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    features: torch.Tensor | None


def render_splats(
    splats: Splats,
    cams: Cameras,
    features: np.ndarray | torch.Tensor | None = None,
    *,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    backend: Backend = "auto",
) -> RenderOutput:
    """Render a splat file object (view-independent colour: the SH degree-0 term).

    Args:
        splats: N splats. cams: C cameras.
        features: (N, F) extra per-splat channels rendered in the same pass, or None.
        background: RGB in [0, 1] under the colour image.
    Returns:
        :class:`RenderOutput` on the back end's device.
    """
    which = resolve_backend(backend)
    device = torch.device("cuda" if which == "gsplat" else "cpu")

    def tensor(a: np.ndarray | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a) if isinstance(a, np.ndarray) else a).to(
            device, torch.float32
        )

    colors = tensor(splats.rgb())
    bg = torch.tensor(background, dtype=torch.float32, device=device)
    n_feat = 0
    if features is not None:
        feats = tensor(features)
        if feats.shape[0] != len(splats) or feats.dim() != 2:
            raise ValueError(f"features must be ({len(splats)}, F), got {tuple(feats.shape)}")
        n_feat = feats.shape[1]
        colors = torch.cat([colors, feats], dim=-1)
        bg = torch.cat([bg, torch.zeros(n_feat, device=device)])
    out, alpha, depth = rasterize(
        tensor(splats.means),
        tensor(splats.unit_quats()),
        tensor(splats.scales()),
        tensor(splats.opacity()),
        colors,
        cams.to(device),
        backend=which,
        background=bg,
    )
    return RenderOutput(out[..., :3], alpha, depth, out[..., 3:] if n_feat else None)
