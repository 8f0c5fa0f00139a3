"""Analytic renderer of the mannequin: batched ray-primitive intersection in torch.

Rays are those of :func:`humancrafter.cameras.pixel_rays` (through pixel centres, the
project's one camera convention), written as a linear map of the pixel (u, v, 1) per camera
and primitive so that the ray parameter is the camera depth (tests check both against
``pixel_rays`` and ``project``). Each primitive is tested only against the pixels inside its
projected bounding box: the (camera, primitive, pixel) triples are laid out flat, grouped by
primitive kind and intersected in vectorised passes, then reduced per pixel (nearest entry =
the visible surface, farthest exit = the back surface). Since every primitive is convex, a ray
crosses it in one interval, and the union of the primitives (the dressed body) is entered at
the smallest entry and left at the largest exit, so clothing hides skin exactly as in
:func:`.mannequin.sample_surface`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..cameras import Cameras, project
from .appearance import albedo
from .mannequin import Appearance, BodyParams, Primitives, build_primitives

_INF = float("inf")


@dataclass
class RaycastOutput:
    """Per camera, per pixel (C cameras of H x W pixels).

    Attributes:
        rgb: (C, H, W, 3) shaded colour in [0, 1] (0 on the background).
        mask: (C, H, W) bool, the ray hits the body.
        depth: (C, H, W) camera z of the first hit (model units; 0 where none).
        normal: (C, H, W, 3) unit world normal at the first hit (0 where none).
        part: (C, H, W) int64 Sapiens class of the first hit (0 = Background).
        back_depth: (C, H, W) camera z of the last hit, the back surface (0 where none).
        albedo: (C, H, W, 3) unshaded texture colour (0 on the background).
        points: (C, H, W, 3) world position of the first hit (0 where none).
    """

    rgb: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor
    part: torch.Tensor
    back_depth: torch.Tensor
    albedo: torch.Tensor
    points: torch.Tensor


def _pairs(
    prims: Primitives, cams: Cameras, order: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(primitive, camera, pixel) triples whose pixel lies in the primitive's screen box,
    primitives in the sequence ``order`` (so each group of primitives is one slice).

    Returns box (Q,) = position in ``order`` * C + camera, pixel u (Q,) and v (Q,), and the
    number of pairs of each box (P * C,)."""
    aabb = prims.world_aabb().detach()[order]  # (P, 2, 3)
    P = aabb.shape[0]
    corners = torch.stack(
        [
            torch.stack([aabb[:, i, 0], aabb[:, j, 1], aabb[:, k, 2]], -1)
            for i in (0, 1)
            for j in (0, 1)
            for k in (0, 1)
        ],
        dim=1,
    ).reshape(-1, 3)  # (P * 8, 3)
    uv, z = project(corners, cams)  # (C, P*8, 2), (C, P*8)
    C = uv.shape[0]
    uv = uv.view(C, P, 8, 2).transpose(0, 1)  # (P, C, 8, 2)
    in_front = (z.view(C, P, 8) > 1e-4).all(-1).T
    W, H = cams.width, cams.height
    u0 = torch.floor(uv[..., 0].min(-1).values).clamp(0, W).long()
    u1 = torch.ceil(uv[..., 0].max(-1).values).clamp(0, W).long()
    v0 = torch.floor(uv[..., 1].min(-1).values).clamp(0, H).long()
    v1 = torch.ceil(uv[..., 1].max(-1).values).clamp(0, H).long()
    # A primitive straddling a camera's plane covers the whole image.
    u0 = torch.where(in_front, u0, 0)
    v0 = torch.where(in_front, v0, 0)
    u1 = torch.where(in_front, u1, W)
    v1 = torch.where(in_front, v1, H)
    w, h = (u1 - u0).clamp_min(0), (v1 - v0).clamp_min(0)
    counts = (w * h).reshape(-1)
    box = torch.repeat_interleave(torch.arange(P * C), counts)
    start = torch.cumsum(counts, 0) - counts
    local = torch.arange(box.shape[0]) - start[box]
    bw = w.reshape(-1).clamp_min(1)[box]
    u = u0.reshape(-1)[box] + local % bw
    v = v0.reshape(-1)[box] + local // bw
    return box, u, v, counts


def _spheres(o: torch.Tensor, d: torch.Tensor, r: torch.Tensor, cy: torch.Tensor | None):
    """Ray (rows of (3, Q) o, d; d unit) vs spheres of radius r centred at (0, cy, 0)."""
    oy = o[1] if cy is None else o[1] - cy
    b = o[0] * d[0] + oy * d[1] + o[2] * d[2]
    c = o[0] * o[0] + oy * oy + o[2] * o[2] - r * r
    h = b * b - c
    sq = torch.sqrt(h.clamp_min(0))
    hit = h > 0
    return torch.where(hit, -b - sq, _INF), torch.where(hit, -b + sq, -_INF)


def _intersect_cones(
    o: torch.Tensor, d: torch.Tensor, L: torch.Tensor, r0: torch.Tensor, r1: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rays vs round cones along +y (local), rows of (3, Q) o and unit d.

    Returns t_in, t_out (Q,) (t_in > t_out when missed) and what the ray enters through
    (Q,) int64: 0 / 1 end sphere, 2 lateral cone."""
    ta0, ta1 = _spheres(o, d, r0, None)
    tb0, tb1 = _spheres(o, d, r1, L)
    # Lateral cone: Quilez' round-cone intersection, both roots.
    rr = r0 - r1
    m0 = L * L
    m1 = L * o[1]
    m2 = L * d[1]
    m3 = o[0] * d[0] + o[1] * d[1] + o[2] * d[2]
    m5 = o[0] * o[0] + o[1] * o[1] + o[2] * o[2]
    d2 = m0 - rr * rr
    k2 = d2 - m2 * m2
    k1 = d2 * m3 - m1 * m2 + m2 * rr * r0
    k0 = d2 * m5 - m1 * m1 + m1 * rr * r0 * 2 - m0 * r0 * r0
    h = k1 * k1 - k0 * k2
    ok = (h > 0) & (k2.abs() > 1e-12)
    inv_k2 = 1.0 / torch.where(ok, k2, torch.ones_like(k2))
    sq = torch.sqrt(h.clamp_min(0))
    tc0 = (-k1 - sq) * inv_k2
    tc1 = (-k1 + sq) * inv_k2
    base = m1 - r0 * rr
    y0 = base + tc0 * m2
    y1 = base + tc1 * m2
    v0 = ok & (y0 > 0) & (y0 < d2)
    v1 = ok & (y1 > 0) & (y1 < d2)
    first = tc0 <= tc1
    t_lo, t_hi = torch.where(first, tc0, tc1), torch.where(first, tc1, tc0)
    v_lo, v_hi = torch.where(first, v0, v1), torch.where(first, v1, v0)
    tc_in = torch.where(v_lo, t_lo, _INF)
    tc_out = torch.where(v_hi, t_hi, -_INF)
    t_in, kind = torch.stack([ta0, tb0, tc_in]).min(0)
    t_out = torch.maximum(torch.maximum(ta1, tb1), tc_out)
    return t_in, t_out, kind


def _clip(
    o: torch.Tensor,
    d: torch.Tensor,
    planes: list[list[torch.Tensor]],
    t_in: torch.Tensor,
    t_out: torch.Tensor,
    kind: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut ray intervals by half-spaces: planes[k] = [n0, n1, n2, d], each (Q,), meaning
    n . x <= d in local coordinates."""
    for k, (n0, n1, n2, dd) in enumerate(planes):
        denom = n0 * d[0] + n1 * d[1] + n2 * d[2]
        num = dd - (n0 * o[0] + n1 * o[1] + n2 * o[2])
        parallel = denom.abs() < 1e-12
        tp = num / torch.where(parallel, torch.ones_like(denom), denom)
        t_out = torch.where(denom > 0, torch.minimum(t_out, tp), t_out)
        enter = (denom < 0) & (tp > t_in)
        t_in = torch.where(enter, tp, t_in)
        kind = torch.where(enter, 3 + k, kind)
        t_out = torch.where(parallel & (num < 0), -_INF, t_out)
    return t_in, t_out, kind


def _local_normal(
    p: torch.Tensor,
    kind: torch.Tensor,
    L: torch.Tensor,
    r0: torch.Tensor,
    r1: torch.Tensor,
    planes: torch.Tensor,
) -> torch.Tensor:
    """(Q, 3) unnormalised local outward normals at local points ``p`` on the given part."""
    zero = torch.zeros_like(L)
    n_a = p
    n_b = p - torch.stack([zero, L, zero], -1)
    rr = r0 - r1
    d2 = L * L - rr * rr
    y = L * p[:, 1] - r0 * rr
    n_c = d2[:, None] * p - torch.stack([zero, L, zero], -1) * y[:, None]
    k = (kind - 3).clamp(0, planes.shape[1] - 1)
    n_p = planes[torch.arange(p.shape[0]), k, :3]
    out = torch.where((kind == 0)[:, None], n_a, n_b)
    out = torch.where((kind == 2)[:, None], n_c, out)
    return torch.where((kind >= 3)[:, None], n_p, out)


def raycast(
    params: BodyParams,
    appearance: Appearance,
    cams: Cameras,
    *,
    light_dir: torch.Tensor | None = None,
    ambient: float = 0.35,
) -> RaycastOutput:
    """Render the dressed body from ``cams``.

    Shading is Lambertian with ``ambient`` plus one directional light; by default the light
    sits above and behind each camera (a soft key light), ``light_dir`` (3,) (towards the
    light, world frame) fixes it for all cameras.
    """
    with torch.no_grad():
        prims = build_primitives(params.detach(), appearance)
        return raycast_primitives(prims, cams, light_dir=light_dir, ambient=ambient)


def raycast_primitives(
    prims: Primitives,
    cams: Cameras,
    *,
    light_dir: torch.Tensor | None = None,
    ambient: float = 0.35,
) -> RaycastOutput:
    """:func:`raycast` for already built primitives (no gradients)."""
    C, H, W = len(cams), cams.height, cams.width
    P = len(prims)
    centres = cams.centers
    # Group primitives: spheres / cones, each without / with cutting planes.
    is_cone = prims.length > 1e-9
    has_planes = prims.planes[:, :, :3].norm(dim=-1).amax(-1) > 0.5
    group = is_cone.long() * 2 + has_planes.long()
    order = torch.sort(group, stable=True).indices
    box, u, v, counts = _pairs(prims, cams, order)
    # Per (primitive, camera): local ray origin, and the linear map from a pixel (u, v, 1)
    # to the local ray direction whose world version has camera z = 1 (so that t = depth).
    R = cams.viewmats[:, :3, :3]
    Kinv = torch.linalg.inv(cams.Ks)
    pix_to_world = R.transpose(1, 2) @ Kinv  # (C, 3, 3)
    Mo = prims.to_local[order]  # (P, 3, 3)
    B = (Mo[:, None] @ pix_to_world[None]).reshape(P * C, 9)  # (P*C, 9)
    o_loc = Mo[:, None] @ (centres[None, :, :] - prims.origin[order][:, None, :])[..., None]
    per_box = {  # (P*C,) contiguous per-box values, gathered per pair row by row
        "B": [B[:, k].contiguous() for k in range(9)],
        "o": [o_loc.reshape(P * C, 3)[:, k].contiguous() for k in range(3)],
        "L": prims.length[order].repeat_interleave(C),
        "r0": prims.r0[order].repeat_interleave(C),
        "r1": prims.r1[order].repeat_interleave(C),
        "planes": [
            [prims.planes[order][:, k, j].repeat_interleave(C) for j in range(4)]
            for k in range(prims.planes.shape[1])
        ],
    }
    n_planes = (prims.planes[:, :, :3].norm(dim=-1) > 0.5).sum(-1)  # (P,)

    def take(x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return x.index_select(0, rows)

    uf, vf = u.float() + 0.5, v.float() + 0.5
    Bp = [take(b, box) for b in per_box["B"]]
    d = torch.stack([Bp[3 * i] * uf + Bp[3 * i + 1] * vf + Bp[3 * i + 2] for i in range(3)])
    scale = torch.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
    d = d / scale
    o = torch.stack([take(x, box) for x in per_box["o"]])
    Q = box.shape[0]
    t_in = torch.full((Q,), _INF)
    t_out = torch.full((Q,), -_INF)
    kind = torch.zeros(Q, dtype=torch.int64)
    # Pairs are sorted by group: the slice of each group from the per-box pair counts.
    group_of_box = group[order].repeat_interleave(C)
    per_group = torch.zeros(4, dtype=torch.int64).index_add(0, group_of_box, counts)
    bounds = [0, *torch.cumsum(per_group, 0).tolist()]
    for gi in range(4):
        a, b = bounds[gi], bounds[gi + 1]
        if a == b:
            continue
        og, dg, bg = o[:, a:b], d[:, a:b], box[a:b]
        if gi >= 2:
            L, r0, r1 = (take(per_box[k], bg) for k in ("L", "r0", "r1"))
            ti, to, kd = _intersect_cones(og, dg, L, r0, r1)
        else:
            ti, to = _spheres(og, dg, take(per_box["r0"], bg), None)
            kd = torch.zeros(b - a, dtype=torch.int64)
        if gi % 2 == 1:
            k_max = int(n_planes[group == gi].max())
            planes = [[take(x, bg) for x in per_box["planes"][k]] for k in range(k_max)]
            ti, to, kd = _clip(og, dg, planes, ti, to, kd)
        t_in[a:b], t_out[a:b], kind[a:b] = ti, to, kd
    valid = (t_in < t_out) & (t_in > 0)
    t_in = t_in / scale  # camera depth (z) of the entry
    t_out = t_out / scale
    cam = box % C
    flat = cam * (H * W) + v * W + u
    n_pix = C * H * W
    front = torch.full((n_pix,), _INF).scatter_reduce(0, flat[valid], t_in[valid], reduce="amin")
    back = torch.full((n_pix,), -_INF).scatter_reduce(0, flat[valid], t_out[valid], reduce="amax")
    # The winning pair of each pixel (ties: the highest pair index, deterministic).
    q = torch.arange(flat.shape[0])
    wins = valid & (t_in == front[flat])
    winner = torch.full((n_pix,), -1, dtype=torch.int64).scatter_reduce(
        0, flat[wins], q[wins], reduce="amax"
    )
    hit_pix = (winner >= 0).nonzero()[:, 0]
    w = winner[hit_pix]
    pw = order[box[w] // C]
    t = t_in[w]
    cw = cam[w]
    pix_h = torch.stack([uf[w], vf[w], torch.ones_like(t)], -1)
    p_world = centres[cw] + t[:, None] * (pix_to_world[cw] @ pix_h[:, :, None])[:, :, 0]
    p_loc = (o[:, w] + (t * scale[w]) * d[:, w]).T
    n_loc = _local_normal(
        p_loc, kind[w], prims.length[pw], prims.r0[pw], prims.r1[pw], prims.planes[pw]
    )
    n_world = torch.nn.functional.normalize(
        (prims.to_local[pw].transpose(1, 2) @ n_loc[:, :, None])[:, :, 0], dim=-1
    )
    p_rest = (prims.tex_rot[pw] @ p_world[:, :, None])[:, :, 0] + prims.tex_off[pw]
    alb = albedo(prims.materials, prims.material[pw], p_rest)
    if light_dir is None:
        up = torch.tensor([0.0, 1.0, 0.0])
        ld = torch.nn.functional.normalize(
            centres / centres.norm(dim=-1, keepdim=True) + 0.6 * up, dim=-1
        )[cw]
    else:
        ld = torch.nn.functional.normalize(light_dir.float(), dim=-1).expand_as(n_world)
    lambert = (n_world * ld).sum(-1).clamp_min(0)
    shaded = alb * (ambient + (1 - ambient) * lambert)[:, None]

    rgb = torch.zeros(n_pix, 3)
    rgb[hit_pix] = shaded.clamp(0, 1)
    alb_img = torch.zeros(n_pix, 3)
    alb_img[hit_pix] = alb
    normal = torch.zeros(n_pix, 3)
    normal[hit_pix] = n_world
    points = torch.zeros(n_pix, 3)
    points[hit_pix] = p_world
    part = torch.zeros(n_pix, dtype=torch.int64)
    part[hit_pix] = prims.part[pw]
    mask = winner >= 0
    depth = torch.where(mask, front, torch.zeros_like(front))
    back_depth = torch.where(mask, back, torch.zeros_like(back))
    return RaycastOutput(
        rgb=rgb.view(C, H, W, 3),
        mask=mask.view(C, H, W),
        depth=depth.view(C, H, W),
        normal=normal.view(C, H, W, 3),
        part=part.view(C, H, W),
        back_depth=back_depth.view(C, H, W),
        albedo=alb_img.view(C, H, W, 3),
        points=points.view(C, H, W, 3),
    )
