"""The one camera convention: orbit cameras, OpenCV world-to-camera matrices, pixel intrinsics.

Frames (also in docs/format.md):

- Model frame: right-handed, y up, the person centred at the origin, about one unit
  tall, facing +z. The person's own left is +x.
- Camera frame (OpenCV): x right, y down, z forward (into the scene).
- ``viewmats``: (C, 4, 4) world-to-camera, ``x_cam = R @ x_world + t``.
- ``Ks``: (C, 3, 3) pixel intrinsics; pixel (u, v) = (0, 0) is the top-left corner of
  the top-left pixel, so that pixel's centre is (0.5, 0.5) (gsplat's convention).
- Orbit cameras: azimuth in degrees about +y, 0 = in front of the person (on +z),
  90 = on the person's left (+x); elevation in degrees above the horizon.

Every conversion between these lives here; the renderer, ray caster, data generator
and network import it rather than redoing the maths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DEFAULT_FOV_DEG = 30.0
DEFAULT_RADIUS = 2.4
"""Default orbit: a 1-unit person fills about 3/4 of the image height."""


@dataclass
class Cameras:
    """C pinhole cameras of one image size.

    Attributes:
        viewmats: (C, 4, 4) float32 world-to-camera (OpenCV).
        Ks: (C, 3, 3) float32 pixel intrinsics.
        width, height: image size in pixels.
    """

    viewmats: torch.Tensor
    Ks: torch.Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return self.viewmats.shape[0]

    def __getitem__(self, index: int | slice | torch.Tensor) -> Cameras:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Cameras(self.viewmats[index], self.Ks[index], self.width, self.height)

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(self.viewmats.to(device), self.Ks.to(device), self.width, self.height)

    @property
    def centers(self) -> torch.Tensor:
        """(C, 3) camera centres in world coordinates."""
        R, t = self.viewmats[:, :3, :3], self.viewmats[:, :3, 3]
        return -(R.transpose(1, 2) @ t[:, :, None])[:, :, 0]

    def resized(self, width: int, height: int) -> Cameras:
        """The same cameras rendering at another resolution (intrinsics scaled)."""
        Ks = self.Ks.clone()
        Ks[:, 0] *= width / self.width
        Ks[:, 1] *= height / self.height
        return Cameras(self.viewmats, Ks, width, height)


def intrinsics(fov_y_deg: float, width: int, height: int) -> torch.Tensor:
    """(3, 3) intrinsics of square pixels with vertical field of view ``fov_y_deg``,
    principal point at the image centre."""
    f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
    return torch.tensor([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=torch.float32)


def look_at(
    eye: torch.Tensor, target: torch.Tensor, up: torch.Tensor | None = None
) -> torch.Tensor:
    """World-to-camera (OpenCV) matrices for cameras at ``eye`` looking at ``target``.

    Args:
        eye: (C, 3) camera centres. target: (C, 3) or (3,). up: (3,), default +y.
    Returns:
        (C, 4, 4) float32 viewmats.
    """
    eye = eye.float()
    up = torch.tensor([0.0, 1.0, 0.0]) if up is None else up.float()
    forward = torch.nn.functional.normalize(target.float() - eye, dim=-1)
    right = torch.linalg.cross(forward, up.expand_as(forward), dim=-1)
    # Looking straight up or down: any right vector perpendicular to forward will do.
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-6
    right = torch.where(degenerate, torch.tensor([1.0, 0.0, 0.0]).expand_as(right), right)
    right = torch.nn.functional.normalize(right, dim=-1)
    down = torch.linalg.cross(forward, right, dim=-1)
    R = torch.stack([right, down, forward], dim=1)  # rows: camera axes in world coordinates
    viewmats = torch.eye(4).repeat(len(eye), 1, 1)
    viewmats[:, :3, :3] = R
    viewmats[:, :3, 3] = -(R @ eye[:, :, None])[:, :, 0]
    return viewmats


def orbit_positions(
    azimuth_deg: torch.Tensor, elevation_deg: torch.Tensor, radius: float | torch.Tensor
) -> torch.Tensor:
    """(C, 3) camera centres on a sphere around the origin (see module docstring)."""
    az = torch.deg2rad(torch.as_tensor(azimuth_deg, dtype=torch.float32))
    el = torch.deg2rad(torch.as_tensor(elevation_deg, dtype=torch.float32))
    r = torch.as_tensor(radius, dtype=torch.float32)
    return torch.stack(
        [r * torch.cos(el) * torch.sin(az), r * torch.sin(el), r * torch.cos(el) * torch.cos(az)],
        dim=-1,
    )


def orbit_cameras(
    azimuth_deg: float | list[float] | torch.Tensor,
    elevation_deg: float | list[float] | torch.Tensor = 0.0,
    radius: float = DEFAULT_RADIUS,
    fov_y_deg: float = DEFAULT_FOV_DEG,
    width: int = 256,
    height: int = 256,
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Cameras:
    """Cameras on an orbit around ``target`` looking at it, one per azimuth.

    ``elevation_deg`` is broadcast against ``azimuth_deg``.
    """
    az = torch.atleast_1d(torch.as_tensor(azimuth_deg, dtype=torch.float32))
    el = torch.atleast_1d(torch.as_tensor(elevation_deg, dtype=torch.float32)).expand_as(az)
    tgt = torch.tensor(target, dtype=torch.float32)
    eye = orbit_positions(az, el, radius) + tgt
    K = intrinsics(fov_y_deg, width, height)
    return Cameras(look_at(eye, tgt), K.repeat(len(az), 1, 1), width, height)


def turntable(
    n_views: int, width: int = 256, height: int = 256, start_deg: float = 0.0, **kwargs
) -> Cameras:
    """``n_views`` orbit cameras evenly spaced in azimuth, starting at ``start_deg``."""
    az = start_deg + torch.arange(n_views, dtype=torch.float32) * (360.0 / n_views)
    return orbit_cameras(az, width=width, height=height, **kwargs)


def world_to_camera(points: torch.Tensor, viewmats: torch.Tensor) -> torch.Tensor:
    """(N, 3) world points -> (C, N, 3) camera-frame points."""
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    return torch.einsum("cij,nj->cni", R, points) + t[:, None, :]


def project(points: torch.Tensor, cams: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """Project world points to pixels.

    Args:
        points: (N, 3) world points.
    Returns:
        uv: (C, N, 2) pixel coordinates (continuous, see the module docstring).
        depth: (C, N) z in the camera frame (positive in front of the camera).
    """
    p = world_to_camera(points, cams.viewmats)
    z = p[..., 2]
    fx, fy = cams.Ks[:, 0, 0, None], cams.Ks[:, 1, 1, None]
    cx, cy = cams.Ks[:, 0, 2, None], cams.Ks[:, 1, 2, None]
    zs = torch.where(z.abs() < 1e-9, torch.full_like(z, 1e-9), z)
    uv = torch.stack([fx * p[..., 0] / zs + cx, fy * p[..., 1] / zs + cy], dim=-1)
    return uv, z


def pixel_rays(cams: Cameras) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel centre.

    Returns:
        origins: (C, H, W, 3) camera centres, world frame.
        dirs: (C, H, W, 3) unit directions, world frame.
    """
    H, W = cams.height, cams.width
    v, u = torch.meshgrid(
        torch.arange(H, dtype=torch.float32) + 0.5,
        torch.arange(W, dtype=torch.float32) + 0.5,
        indexing="ij",
    )
    Ks = cams.Ks
    x = (u[None] - Ks[:, 0, 2, None, None]) / Ks[:, 0, 0, None, None]
    y = (v[None] - Ks[:, 1, 2, None, None]) / Ks[:, 1, 1, None, None]
    d_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # (C, H, W, 3)
    R = cams.viewmats[:, :3, :3]
    dirs = torch.einsum("cji,chwj->chwi", R, d_cam)  # R^T @ d
    dirs = torch.nn.functional.normalize(dirs, dim=-1)
    origins = cams.centers[:, None, None, :].expand_as(dirs)
    return origins, dirs


def unproject(uv: torch.Tensor, depth: torch.Tensor, cams: Cameras) -> torch.Tensor:
    """Inverse of :func:`project`: (C, N, 2) pixels and (C, N) camera z -> (C, N, 3) world."""
    Ks = cams.Ks
    x = (uv[..., 0] - Ks[:, 0, 2, None]) / Ks[:, 0, 0, None] * depth
    y = (uv[..., 1] - Ks[:, 1, 2, None]) / Ks[:, 1, 1, None] * depth
    p_cam = torch.stack([x, y, depth], dim=-1)
    R, t = cams.viewmats[:, :3, :3], cams.viewmats[:, :3, 3]
    return torch.einsum("cji,cnj->cni", R, p_cam - t[:, None, :])


def plucker_rays(cams: Cameras) -> torch.Tensor:
    """(C, 6, H, W) Plücker ray map (o x d, d) per pixel, as the network's input."""
    o, d = pixel_rays(cams)
    return torch.cat([torch.linalg.cross(o, d, dim=-1), d], dim=-1).permute(0, 3, 1, 2)
