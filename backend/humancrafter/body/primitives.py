"""The mannequin's primitive solid and the posed primitives of one body.

Every primitive is a convex solid: a *round cone* (the convex hull of two spheres; an
ellipsoid is the special case of one sphere) under an affine map, optionally cut by up to
:data:`MAX_PLANES` half-spaces. :mod:`.builder` makes them, :mod:`.surface` samples their
union's boundary and :mod:`.raycast` renders it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .appearance import MaterialTable

MAX_PLANES = 3
"""Most cutting half-spaces one primitive may carry."""


@dataclass
class Primitives:
    """P posed primitives of one body, the input of sampling and ray casting.

    Local solid of primitive i: the round cone along the local +y axis from the origin to
    (0, length_i, 0) with end radii r0_i, r1_i (length 0: the sphere of radius r0_i), cut by
    the half-spaces ``planes[i, k, :3] . x <= planes[i, k, 3]`` (unused rows are 0 <= 1).
    World point x = to_world_i @ x_local + origin_i.

    Attributes:
        origin: (P, 3). to_world: (P, 3, 3). to_local: (P, 3, 3) its inverse.
        length, r0, r1: (P,) local units.
        planes: (P, MAX_PLANES, 4) local half-spaces, unit normals.
        part: (P,) int64 Sapiens class. material: (P,) int64 index into MATERIAL_SLOTS.
        bone: (P,) int64 joint the primitive moves with.
        tex_rot: (P, 3, 3), tex_off: (P, 3): rest-pose position of a posed world point,
            ``p_rest = tex_rot @ p + tex_off`` (where textures are evaluated).
        names: P names ("left_upper_arm", "top:chest", ...).
    """

    origin: torch.Tensor
    to_world: torch.Tensor
    to_local: torch.Tensor
    length: torch.Tensor
    r0: torch.Tensor
    r1: torch.Tensor
    planes: torch.Tensor
    part: torch.Tensor
    material: torch.Tensor
    bone: torch.Tensor
    tex_rot: torch.Tensor
    tex_off: torch.Tensor
    names: list[str]
    materials: MaterialTable

    def __len__(self) -> int:
        return len(self.names)

    def world_aabb(self) -> torch.Tensor:
        """(P, 2, 3) exact world axis-aligned bounds (min, max) of each uncut primitive."""
        ext = self.to_world.norm(dim=-1)  # (P, 3) world extent of a unit local sphere
        a = self.origin
        b = self.origin + self.to_world[:, :, 1] * self.length[:, None]
        lo = torch.minimum(a - ext * self.r0[:, None], b - ext * self.r1[:, None])
        hi = torch.maximum(a + ext * self.r0[:, None], b + ext * self.r1[:, None])
        return torch.stack([lo, hi], dim=1)

    def to_local_points(self, p: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """(M, 3) world points -> (M, 3) local coordinates of primitives ``idx`` (M,)."""
        return (self.to_local[idx] @ (p - self.origin[idx])[:, :, None])[:, :, 0]

    def inside(self, p: torch.Tensor, idx: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
        """(M,) bool: world points ``p`` (M, 3) lie inside primitives ``idx`` (M,) by more
        than ``margin`` local units."""
        q = self.to_local_points(p, idx)
        d = round_cone_sdf(q, self.length[idx], self.r0[idx], self.r1[idx])
        pl = self.planes[idx]
        inside_planes = ((pl[:, :, :3] * q[:, None, :]).sum(-1) - pl[:, :, 3] < -margin).all(-1)
        return (d < -margin) & inside_planes


def round_cone_sdf(
    p: torch.Tensor, length: torch.Tensor, r0: torch.Tensor, r1: torch.Tensor
) -> torch.Tensor:
    """Signed distance (local units) from (M, 3) local points to round cones along +y from
    the origin to (0, length, 0) with end radii r0, r1 (each (M,)); after Inigo Quilez."""
    l2 = length * length
    safe_l2 = torch.where(l2 > 1e-12, l2, torch.ones_like(l2))
    rr = r0 - r1
    a2 = l2 - rr * rr
    y = length * p[:, 1]
    z = y - l2
    x2 = safe_l2 * safe_l2 * (p[:, 0] ** 2 + p[:, 2] ** 2)
    y2 = y * y * l2
    z2 = z * z * l2
    k = torch.sign(rr) * rr * rr * x2
    d_b = torch.sqrt(x2 + z2) / safe_l2 - r1
    d_a = torch.sqrt(x2 + y2) / safe_l2 - r0
    d_body = (torch.sqrt((x2 * a2 / safe_l2).clamp_min(0)) + y * rr) / safe_l2 - r0
    d = torch.where(
        torch.sign(z) * a2 * z2 > k, d_b, torch.where(torch.sign(y) * a2 * y2 < k, d_a, d_body)
    )
    return torch.where(l2 > 1e-12, d, p.norm(dim=-1) - r0)
