"""Sampling the outermost surface of a set of primitives: points spread uniformly by area,
each with its normal, part label, texture colour and the area it stands for.

Proposals are drawn on every primitive's boundary (end spheres, lateral cone, cut faces),
those inside another primitive are dropped (they are covered), and the rest are thinned to
a uniform density. :func:`.mannequin.sample_surface` applies it to a dressed body.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .appearance import albedo
from .primitives import Primitives, round_cone_sdf


@dataclass
class SurfaceSamples:
    """Points on the outermost surface of a dressed body (model frame).

    Attributes:
        points: (N, 3) positions (differentiable in the body parameters).
        normals: (N, 3) unit outward normals.
        part: (N,) int64 Sapiens class of the primitive each point lies on.
        rgb: (N, 3) albedo in [0, 1] from the appearance's textures.
        area: (N,) surface area each sample stands for (model units squared); they sum to
            the visible surface area.
        bone: (N,) int64 joint (SMPL order, :mod:`.skeleton`) each point moves with: that
            of its primitive (for an SMPL body, the joint of its largest skinning weight).
    """

    points: torch.Tensor
    normals: torch.Tensor
    part: torch.Tensor
    rgb: torch.Tensor
    area: torch.Tensor
    bone: torch.Tensor

    def __len__(self) -> int:
        return self.points.shape[0]


def _unit_vectors(m: int, gen: torch.Generator) -> torch.Tensor:
    v = torch.randn(m, 3, generator=gen)
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _candidates(
    prims: Primitives, total: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Proposal points on every primitive's boundary, in local coordinates.

    Each primitive's boundary is covered by proposals on its two end spheres, its lateral
    cone and its cutting planes (a square around the solid); proposals off the boundary are
    dropped. Returns prim (M,), local points (M, 3), local normals (M, 3) and the local
    area each proposal stands for (M,).
    """
    P = len(prims)
    L, r0, r1 = prims.length.detach(), prims.r0.detach(), prims.r1.detach()
    is_cone = L > 1e-9
    safe_L = torch.where(is_cone, L, torch.ones_like(L))
    sin_a = torch.where(is_cone, (r0 - r1) / safe_L, torch.zeros_like(L))
    cos_a = torch.sqrt((1 - sin_a**2).clamp_min(0))
    ya, yb = r0 * sin_a, L + r1 * sin_a
    ra, rb = r0 * cos_a, r1 * cos_a
    lateral = torch.where(is_cone, math.pi * (ra + rb) * torch.hypot(yb - ya, rb - ra), 0 * L)
    half = L / 2 + torch.maximum(r0, r1)  # half-size of a square that covers any cut
    active = prims.planes[:, :, :3].detach().norm(dim=-1) > 0.5  # (P, K)
    areas = torch.cat(
        [
            (4 * math.pi * r0**2)[:, None],
            torch.where(is_cone, 4 * math.pi * r1**2, 0 * L)[:, None],
            lateral[:, None],
            torch.where(active, (2 * half[:, None]) ** 2, torch.zeros_like(active, dtype=L.dtype)),
        ],
        dim=1,
    )  # (P, 3 + K) local proposal areas
    s = prims.to_world.detach().norm(dim=1)  # (P, 3) scale of each local axis
    world_factor = (s[:, 0] * s[:, 1] + s[:, 1] * s[:, 2] + s[:, 0] * s[:, 2]) / 3
    w = areas * world_factor[:, None]
    counts = torch.round(w / w.sum() * total).long().clamp_min(0)
    counts = torch.where(areas > 0, counts.clamp_min(8), counts)
    prim_of = torch.arange(P)[:, None].expand_as(counts)
    comp_of = torch.arange(counts.shape[1])[None, :].expand_as(counts)
    prim = torch.repeat_interleave(prim_of.reshape(-1), counts.reshape(-1))
    comp = torch.repeat_interleave(comp_of.reshape(-1), counts.reshape(-1))
    area = torch.repeat_interleave((areas / counts.clamp_min(1)).reshape(-1), counts.reshape(-1))
    M = prim.shape[0]
    pts = torch.zeros(M, 3)
    nrm = torch.zeros(M, 3)
    # End spheres.
    for c, centre_y, radius in ((0, 0 * L, r0), (1, L, r1)):
        sel = comp == c
        u = _unit_vectors(int(sel.sum()), gen)
        nrm[sel] = u
        pts[sel] = (
            u * radius[prim[sel], None]
            + torch.stack([0 * centre_y, centre_y, 0 * centre_y], -1)[prim[sel]]
        )
    # Lateral cone: radius linear in t, so t ~ inverse CDF of a linear density.
    sel = comp == 2
    pi = prim[sel]
    u = torch.rand(pi.shape[0], generator=gen)
    phi = torch.rand(pi.shape[0], generator=gen) * 2 * math.pi
    a_, b_ = ra[pi], rb[pi]
    diff = b_ - a_
    t = torch.where(
        diff.abs() > 1e-9,
        (torch.sqrt(a_**2 + u * (b_**2 - a_**2)) - a_) / torch.where(diff.abs() > 1e-9, diff, 1.0),
        u,
    )
    rho = a_ + t * diff
    y = ya[pi] + t * (yb[pi] - ya[pi])
    pts[sel] = torch.stack([rho * torch.cos(phi), y, rho * torch.sin(phi)], -1)
    nrm[sel] = torch.stack(
        [cos_a[pi] * torch.cos(phi), sin_a[pi].expand_as(phi), cos_a[pi] * torch.sin(phi)], -1
    )
    # Cutting planes: a square around the projection of the axis midpoint onto the plane.
    planes = prims.planes.detach()
    for k in range(planes.shape[1]):
        sel = comp == 3 + k
        pi = prim[sel]
        if pi.numel() == 0:
            continue
        n, d = planes[pi, k, :3], planes[pi, k, 3]
        mid = torch.stack([0 * L[pi], L[pi] / 2, 0 * L[pi]], -1)
        centre = mid - ((n * mid).sum(-1) - d)[:, None] * n
        helper = torch.where(
            n[:, :1].abs() < 0.9, torch.tensor([[1.0, 0, 0]]), torch.tensor([[0, 1.0, 0]])
        )
        e1 = torch.nn.functional.normalize(torch.linalg.cross(n, helper, dim=-1), dim=-1)
        e2 = torch.linalg.cross(n, e1, dim=-1)
        ab = (torch.rand(pi.shape[0], 2, generator=gen) * 2 - 1) * half[pi, None]
        pts[sel] = centre + ab[:, :1] * e1 + ab[:, 1:] * e2
        nrm[sel] = n
    # Keep proposals on the boundary of their own (cut) solid.
    sdf = round_cone_sdf(pts, L[prim], r0[prim], r1[prim])
    side = (planes[prim, :, :3] * pts[:, None, :]).sum(-1) - planes[prim, :, 3]  # (M, K)
    on_cap = comp >= 3
    k_cap = (comp - 3).clamp_min(0)
    own = torch.nn.functional.one_hot(k_cap, planes.shape[1]).bool() & on_cap[:, None]
    inside_planes = ((side <= 1e-6) | own).all(-1)
    keep = inside_planes & torch.where(on_cap, sdf < 0, sdf > -1e-5)
    return prim[keep], pts[keep], nrm[keep], area[keep]


def _occluded(prims: Primitives, p: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
    """(M,) bool: world points (M, 3) lie strictly inside a primitive other than their own.

    Each point is only tested against primitives whose bounding box overlaps its owner's and
    contains the point."""
    aabb = prims.world_aabb().detach()
    lo, hi = aabb[:, 0], aabb[:, 1]
    overlap = ((lo[:, None] <= hi[None]) & (hi[:, None] >= lo[None])).all(-1)  # (P, P)
    overlap.fill_diagonal_(False)
    out = torch.zeros(p.shape[0], dtype=torch.bool)
    order = torch.argsort(owner, stable=True)
    bounds = [0, *torch.cumsum(torch.bincount(owner, minlength=len(prims)), 0).tolist()]
    for i in range(len(prims)):
        idx = order[bounds[i] : bounds[i + 1]]
        others = overlap[i].nonzero()[:, 0]
        if idx.numel() == 0 or others.numel() == 0:
            continue
        q = p[idx]
        inbox = ((q[:, None, :] >= lo[others]) & (q[:, None, :] <= hi[others])).all(-1)
        pt, pj = inbox.nonzero(as_tuple=True)
        hit = prims.inside(q[pt], others[pj], margin=1e-5)
        out[idx[pt[hit]]] = True
    return out


def sample_primitives(prims: Primitives, n: int, seed: int = 0) -> SurfaceSamples:
    """``n`` points spread uniformly (by area) over the outermost surface of the union of
    ``prims`` (see :func:`.mannequin.sample_surface`)."""
    if n <= 0:
        raise ValueError(f"the number of surface samples must be positive, got {n}")
    gen = torch.Generator().manual_seed(int(seed))
    det_world = torch.linalg.det(prims.to_world.detach()).abs()
    # Proposals come in batches, each covering the whole surface; after the first batch the
    # acceptance rate tells how many more are needed.
    batch = 4 * n
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    have, proposed, area_sum, cap = 0, 0, 0.0, None
    for _ in range(8):
        prim, local, nrm_l, area_l = _candidates(prims, batch, gen)
        with torch.no_grad():
            world = (prims.to_world[prim] @ local[:, :, None])[:, :, 0] + prims.origin[prim]
            # Area element of the affine map: |det A| |A^-T n|.
            nw = (prims.to_local[prim].transpose(1, 2) @ nrm_l[:, :, None])[:, :, 0]
            area = area_l * det_world[prim] * nw.norm(dim=-1)
            visible = ~_occluded(prims, world, prim)
        if not bool(visible.any()):
            raise RuntimeError("the body has no visible surface")
        area_sum += float(area[visible].sum()) * batch  # each batch estimates the total area
        proposed += batch
        # Thin to uniform density (capped at a high quantile so that a few large proposals do
        # not starve the rest).
        if cap is None:
            cap = torch.quantile(area[visible], 0.95)
        accept = visible & (torch.rand(area.shape[0], generator=gen) * cap < area)
        kept.append((prim[accept], local[accept], nrm_l[accept]))
        have += int(accept.sum())
        if have >= n:
            break
        rate = max(have, 1) / proposed
        batch = int((n - have) / rate * 1.2) + 64
    else:
        raise RuntimeError("could not place enough surface samples on the body")
    total_area = area_sum / proposed
    prim, local, nrm_l = (torch.cat(x) for x in zip(*kept, strict=True))
    idx = torch.randperm(prim.shape[0], generator=gen)[:n].sort().values
    pi, ql = prim[idx], local[idx]
    points = (prims.to_world[pi] @ ql[:, :, None])[:, :, 0] + prims.origin[pi]
    normals = torch.nn.functional.normalize(
        (prims.to_local[pi].transpose(1, 2) @ nrm_l[idx][:, :, None])[:, :, 0], dim=-1
    )
    p_rest = (prims.tex_rot[pi] @ points.detach()[:, :, None])[:, :, 0] + prims.tex_off[pi]
    rgb = albedo(prims.materials, prims.material[pi], p_rest.detach())
    return SurfaceSamples(
        points=points,
        normals=normals,
        part=prims.part[pi],
        rgb=rgb,
        area=torch.full((n,), float(total_area) / n),
        bone=prims.bone[pi],
    )
