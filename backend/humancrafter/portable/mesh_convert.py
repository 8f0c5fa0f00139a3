"""Splats -> a closed triangle mesh, and splat values -> its vertices (numpy only, no bpy).

Shared by the add-on (``addon/game_mesh.py``: *Convert to Mesh*, a Blender object) and
the backend (``humancrafter/mesh_export.py``: ``humancrafter mesh``, GLB / OBJ / PLY
without Blender). Everything here works on plain arrays in one frame (any frame works as
long as it is the same for every argument; both callers use metres: Blender's frame in
the add-on, the glTF frame in the backend).

The surface (:func:`splat_surface`):

1. **Density.** Every splat with opacity ``alpha`` and largest standard deviation
   ``sigma`` adds an optical density ``c * exp(-d² / 2s²)`` (per metre) to the points
   of a regular grid of spacing ``voxel``, with ``s = max(sigma, voxel / 2)`` (so that
   a splat smaller than a voxel still reaches the grid) and at most 3 voxels, and
   ``c = -ln(1 - alpha) / (sqrt(2 pi) s)``: a ray through the splat's centre is dimmed
   by ``alpha``, as the renderer draws it.
2. **Solid.** The depth seen from outside at a grid point is the least optical depth
   of the six axis-aligned rays from the grid's border to it. Points seen through more
   than ``opacity`` (depth ``-ln(1 - opacity)``) are the splat solid: the surface is
   where the splats have become that opaque, whatever their number and however the
   opacity is shared among them (a network's many faint splats or a fitted sample's
   few opaque ones). A hollow skin is filled, since its inside is seen only through
   the skin. Gaps are sealed: the outside is the part of the grid connected to the
   border without crossing the solid grown by ``close`` voxels, grown back by
   ``close`` voxels (a morphological closing, which seals gaps up to about
   ``2 * close`` voxels wide); the solid is everything else.
3. **Field.** The depth seen divided by that level, raised to 1.5 where the solid is
   only sealed: its level 1 is the solid's boundary, placed between grid points by
   the depth itself where the solid faces the outside (smooth, not a voxel staircase).
4. **Marching tetrahedra.** Each grid cube is split into the 6 tetrahedra around its
   main diagonal (the Kuhn triangulation, the same on both sides of every face), and
   the level-1 set of the piecewise-linear interpolant is extracted with one vertex
   per crossed tetrahedron edge, shared by the triangles on both sides. The level set
   of a piecewise-linear function at a value no grid point takes is a closed
   2-manifold: every edge belongs to exactly two triangles. Triangles face
   outward (counter-clockwise seen from outside).
5. **Pieces.** Pieces with fewer than ``min_piece`` times the faces of the largest are
   dropped (a few stray splats make specks); a limb the splats leave apart from the
   body (an arm whose shoulder is faint) is kept as its own closed piece.
6. **Smoothing.** Taubin steps (lambda 0.5, mu -0.53) remove the grid pattern
   without shrinking the body; they move vertices only, so the mesh stays closed.

Values are carried from the splats to the mesh vertices by :class:`Neighbours`: each
vertex takes the opacity- and distance-weighted mean over the splats within a radius
(Gaussian weights of width ``radius / 4``), widening the radius for the few vertices
that have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations

import numpy as np

MAX_FOOTPRINT = 3
"""Largest splat footprint, in voxels either side of the splat's nearest grid point."""


@dataclass
class Surface:
    """A triangle mesh.

    Attributes:
        vertices: (V, 3) float32 positions, the frame of the splats given.
        faces: (F, 3) int32 vertex indices, counter-clockwise seen from outside.
    """

    vertices: np.ndarray
    faces: np.ndarray


# ----------------------------------------------------------------------------- density


@dataclass
class Grid:
    """Scalar values at the points ``origin + voxel * (i, j, k)``.

    Attributes:
        values: (nx, ny, nz) float32.
        origin: (3,) float64 position of point (0, 0, 0).
        voxel: spacing, the same unit as ``origin``.
    """

    values: np.ndarray
    origin: np.ndarray
    voxel: float


def kernel_sigmas(sigmas: np.ndarray, voxel: float) -> np.ndarray:
    """(N,) the kernel widths of step 1: ``sigmas`` (N,) clipped to [voxel / 2, 1.2 voxel]
    (a footprint of at most :data:`MAX_FOOTPRINT` voxels holds 2.5 widths)."""
    return np.clip(np.asarray(sigmas, np.float64), voxel / 2, MAX_FOOTPRINT * voxel / 2.5)


def optical_density(sigmas: np.ndarray, alphas: np.ndarray, voxel: float) -> np.ndarray:
    """(N,) the peak optical density ``c`` of step 1 (per unit length) of splats with
    largest standard deviations ``sigmas`` (N,) and opacities ``alphas`` (N,) in [0, 1]:
    the line integral of ``c * exp(-d² / 2s²)`` through the centre is ``-ln(1 - alpha)``
    (opacity capped at 0.999, a finite depth)."""
    depth = -np.log1p(-np.minimum(np.asarray(alphas, np.float64), 0.999))
    return depth / (np.sqrt(2 * np.pi) * kernel_sigmas(sigmas, voxel))


def density_grid(
    centres: np.ndarray, sigmas: np.ndarray, peaks: np.ndarray, voxel: float, pad: int,
    chunk: int = 16_384,
) -> Grid:  # fmt: skip
    """The sum of the splats' kernels ``peaks * exp(-d² / 2s²)`` (step 1, ``s`` from
    :func:`kernel_sigmas`) on a grid covering ``centres`` (N, 3) with ``pad`` empty grid
    points beyond them on every side; ``sigmas`` (N,) largest standard deviations,
    ``peaks`` (N,) each kernel's value at its centre. The isotropic kernel is separable,
    so each splat's (2r+1)³ footprint is an outer product of three 1-D kernels."""
    centres = np.asarray(centres, np.float64)
    lo = centres.min(0) - (pad + MAX_FOOTPRINT) * voxel
    shape = tuple(np.ceil((centres.max(0) - lo) / voxel).astype(int) + pad + MAX_FOOTPRINT + 1)
    s = kernel_sigmas(sigmas, voxel)
    reach = np.minimum(np.ceil(2.5 * s / voxel).astype(int), MAX_FOOTPRINT)  # voxels
    local = (centres - lo) / voxel
    base = np.rint(local).astype(np.int64)
    peaks = np.asarray(peaks, np.float64)
    flat = np.zeros(int(np.prod(shape)), np.float64)
    strides = np.array([shape[1] * shape[2], shape[2], 1], np.int64)
    for r in np.unique(reach):
        steps = np.arange(-r, r + 1)
        for sel in np.array_split(np.flatnonzero(reach == r), -(-int((reach == r).sum()) // chunk)):
            d = steps[None, None, :] - (local[sel] - base[sel])[:, :, None]  # (n, 3, 2r+1)
            g = np.exp(-(d**2) / (2.0 * (s[sel] / voxel) ** 2)[:, None, None])
            g[:, 0] *= peaks[sel, None]
            w = g[:, 0, :, None, None] * g[:, 1, None, :, None] * g[:, 2, None, None, :]
            idx = (base[sel] @ strides)[:, None, None, None] + (
                steps[:, None, None] * strides[0]
                + steps[None, :, None] * strides[1]
                + steps[None, None, :] * strides[2]
            )
            flat += np.bincount(idx.reshape(-1), w.reshape(-1), flat.size)
    return Grid(flat.reshape(shape).astype(np.float32), lo, voxel)


# ----------------------------------------------------------------------------- solid


def _grow(mask: np.ndarray, r: int) -> np.ndarray:
    """``mask`` dilated by a (2r+1)³ box (separable, one axis at a time)."""
    out = mask.copy()
    for axis in range(3):
        src = out.copy()
        n = src.shape[axis]
        for k in range(1, r + 1):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis], hi[axis] = slice(0, n - k), slice(k, n)
            out[tuple(lo)] |= src[tuple(hi)]
            out[tuple(hi)] |= src[tuple(lo)]
    return out


def outside(free: np.ndarray) -> np.ndarray:
    """The points of ``free`` (bool grid) connected to the grid's border through free
    points (6-connectivity). Flood fill by runs: along each axis, a run of free points
    that holds an outside point is outside; the three axes repeat until nothing changes
    (a few rounds: one per turn the path to the border has to take)."""
    ext = np.zeros_like(free)
    for axis in range(3):
        for end in (0, -1):
            index = [slice(None)] * 3
            index[axis] = end
            ext[tuple(index)] = free[tuple(index)]
    while True:
        before = int(ext.sum())
        for axis in range(3):
            f = np.moveaxis(free, axis, -1)
            e = np.moveaxis(ext, axis, -1)
            length = f.shape[-1]
            run = np.cumsum(~f, axis=-1, dtype=np.int64)  # run id along each line
            line = np.arange(f[..., 0].size, dtype=np.int64).reshape(f.shape[:-1])[..., None]
            label = line * (length + 1) + run
            hit = np.zeros(f[..., 0].size * (length + 1), bool)
            hit[label[e]] = True
            ext = np.moveaxis(f & hit[label], -1, axis)
        if int(ext.sum()) == before:
            return ext


def depth_seen(density: np.ndarray, voxel: float) -> np.ndarray:
    """Step 2: (nx, ny, nz) float32, at each grid point of an optical ``density`` grid
    (per unit length, grid spacing ``voxel``) the least optical depth of the six
    axis-aligned rays from the grid's border to it (midpoint rule: a point counts
    half of its own cell)."""
    seen = np.full(density.shape, np.inf, np.float32)
    for axis in range(3):
        for flip in (False, True):
            d = np.flip(density, axis) if flip else density
            depth = (np.cumsum(d, axis=axis, dtype=np.float64) - 0.5 * d) * voxel
            seen = np.minimum(seen, np.flip(depth, axis) if flip else depth)
    return seen


def solid(opaque: np.ndarray, close: int) -> np.ndarray:
    """Step 2: bool grid, True inside the ``opaque`` points (bool grid) closed by
    ``close`` voxels: everything not connected to the border around them."""
    far = outside(~_grow(opaque, close))
    return ~_grow(far, close)


# ----------------------------------------------------------------------------- marching tetrahedra

_CORNERS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])  # code -> ijk


def _tetrahedra() -> list[tuple[int, int, int, int]]:
    """The 6 Kuhn tetrahedra of the unit cube as corner codes (bit 2 = x, 1 = y, 0 = z):
    the paths from (0,0,0) to (1,1,1) that step along one axis at a time."""
    tets = []
    for order in permutations(range(3)):
        code, path = 0, [0]
        for axis in order:
            code |= 4 >> axis
            path.append(code)
        tets.append(tuple(path))
    return tets


TETRAHEDRA = _tetrahedra()


def _case_triangles(tet: tuple[int, ...]) -> list[list[tuple[tuple[int, int], ...]]]:
    """For each of the 16 inside/outside cases of ``tet`` (bit k = corner k inside), its
    triangles as three (inside corner, outside corner) edges, ordered so the triangle
    faces from inside to outside (checked at the edge midpoints, which fixes it for any
    crossing point on the edges)."""
    pos = _CORNERS[list(tet)].astype(float)
    table = []
    for case in range(16):
        ins = [k for k in range(4) if case >> k & 1]
        outs = [k for k in range(4) if not case >> k & 1]
        if len(ins) == 1:
            tris = [[(ins[0], o) for o in outs]]
        elif len(ins) == 3:
            tris = [[(i, outs[0]) for i in ins]]
        elif len(ins) == 2:
            (a, b), (c, d) = ins, outs
            quad = [(a, c), (a, d), (b, d), (b, c)]
            tris = [[quad[0], quad[1], quad[2]], [quad[0], quad[2], quad[3]]]
        else:
            tris = []
        oriented = []
        for tri in tris:
            p = [(pos[i] + pos[o]) / 2 for i, o in tri]
            normal = np.cross(p[1] - p[0], p[2] - p[0])
            i, o = tri[0]
            oriented.append(
                tuple(tri) if normal @ (pos[o] - pos[i]) > 0 else (tri[0], tri[2], tri[1])
            )
        table.append(oriented)
    return table


_TABLES = [_case_triangles(t) for t in TETRAHEDRA]


def marching_tetrahedra(grid: Grid, level: float) -> Surface:
    """Step 4: the closed ``level`` set of ``grid`` (whose border points must all lie
    below ``level``). Values equal to ``level`` are nudged below it first, so no
    vertex lands on a grid point."""
    f = grid.values.astype(np.float32)
    f = np.where(np.abs(f - level) < 1e-4, np.float32(level - 1e-4), f)
    inside = f > level
    shape = np.array(f.shape)
    strides = np.array([shape[1] * shape[2], shape[2], 1], np.int64)
    # cubes with a sign change
    corner_in = []
    for c in range(8):
        i, j, k = _CORNERS[c]
        corner_in.append(inside[i : shape[0] - 1 + i, j : shape[1] - 1 + j, k : shape[2] - 1 + k])
    any_in = np.logical_or.reduce(corner_in)
    all_in = np.logical_and.reduce(corner_in)
    active = np.argwhere(any_in & ~all_in)  # (C, 3) cube ijk
    base = active @ strides  # flat index of each active cube's (0,0,0) corner
    corner_flat = _CORNERS @ strides  # (8,)
    flat_in = inside.reshape(-1)
    keys = []
    for tet, table in zip(TETRAHEDRA, _TABLES, strict=True):
        pts = base[:, None] + corner_flat[list(tet)][None, :]  # (C, 4) flat grid indices
        case = (flat_in[pts] * (1 << np.arange(4))).sum(1)
        for c, tris in enumerate(table):
            if not tris:
                continue
            rows = np.flatnonzero(case == c)
            if len(rows) == 0:
                continue
            for tri in tris:
                edge_keys = []
                for i, o in tri:
                    a, b = pts[rows, i], pts[rows, o]
                    lo = np.minimum(a, b)  # Kuhn corners nest: lo is the edge's start
                    d = np.abs(_CORNERS[tet[i]] - _CORNERS[tet[o]]) @ np.array([4, 2, 1])
                    edge_keys.append(lo * 8 + d)
                keys.append(np.stack(edge_keys, 1))
    if not keys:
        return Surface(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32))
    tri_keys = np.concatenate(keys)
    unique, faces = np.unique(tri_keys, return_inverse=True)
    faces = faces.reshape(-1, 3)
    start, code = unique // 8, unique % 8
    step = _CORNERS[code]  # (V, 3) 0/1 along each axis
    p0 = np.stack(np.unravel_index(start, f.shape), 1)
    end = (p0 + step) @ strides
    flat = f.reshape(-1)
    t = (level - flat[start]) / (flat[end] - flat[start])
    ijk = p0 + t[:, None] * step
    vertices = grid.origin + grid.voxel * ijk
    return Surface(vertices.astype(np.float32), faces.astype(np.int32))


# ----------------------------------------------------------------------------- smoothing


def edges(faces: np.ndarray) -> np.ndarray:
    """(E, 2) int64 undirected edges of a triangle mesh, each once (smaller index first)."""
    f = np.asarray(faces, np.int64)
    a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    n = int(f.max()) + 1 if len(f) else 1
    key = np.unique(np.minimum(a, b) * n + np.maximum(a, b))
    return np.stack([key // n, key % n], 1)


class _Adjacency:
    """Vertex neighbourhoods of an edge list, sorted once for ``reduceat`` sums."""

    def __init__(self, n: int, e: np.ndarray) -> None:
        src = np.concatenate([e[:, 0], e[:, 1]])
        dst = np.concatenate([e[:, 1], e[:, 0]])
        order = np.argsort(src, kind="stable")
        self.src, self.dst = src[order], dst[order]
        self.vertices, self.starts = np.unique(self.src, return_index=True)
        self.degree = np.diff(np.append(self.starts, len(self.src)))

    def sums(self, values: np.ndarray) -> np.ndarray:
        """Per listed vertex (``self.vertices``), the sum of ``values`` over its
        neighbours."""
        return np.add.reduceat(values[self.dst], self.starts, axis=0)

    def minima(self, values: np.ndarray) -> np.ndarray:
        return np.minimum.reduceat(values[self.dst], self.starts)


def taubin(surface: Surface, steps: int, lam: float = 0.5, mu: float = -0.53) -> Surface:
    """``steps`` Taubin smoothing steps (umbrella Laplacian; each a lambda then a mu
    pass); the faces are unchanged."""
    v = surface.vertices.astype(np.float64)
    adj = _Adjacency(len(v), edges(surface.faces))
    idx, deg = adj.vertices, adj.degree[:, None]
    for _ in range(steps):
        for factor in (lam, mu):
            v[idx] += factor * (adj.sums(v) / deg - v[idx])
    return Surface(v.astype(np.float32), surface.faces)


# ----------------------------------------------------------------------------- checks


def _components(n: int, e: np.ndarray) -> np.ndarray:
    """(n,) label of each vertex's connected piece (the smallest vertex index in it),
    by propagating minima over the edges ``e`` (E, 2) with pointer jumping."""
    adj = _Adjacency(n, e)
    label = np.arange(n)
    while True:
        new = label.copy()
        new[adj.vertices] = np.minimum(label[adj.vertices], adj.minima(label))
        new = new[new]
        if np.array_equal(new, label):
            return label
        label = new


@dataclass
class Topology:
    """What :func:`topology` finds.

    Attributes:
        closed: every directed edge of every triangle appears once and its reverse
            appears once, i.e. each edge has exactly two triangles that agree on the
            orientation: watertight, edge-manifold and consistently oriented.
        components: number of connected pieces.
        euler: V - E + F (2 per closed sphere-like piece).
        volume: enclosed volume (divergence theorem), positive when faces point out.
    """

    closed: bool
    components: int
    euler: int
    volume: float


def topology(surface: Surface) -> Topology:
    """Watertightness, pieces, Euler characteristic and volume of ``surface``."""
    f = surface.faces.astype(np.int64)
    n = len(surface.vertices)
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    key = directed[:, 0] * n + directed[:, 1]
    rev = directed[:, 1] * n + directed[:, 0]
    uniq = np.unique(key)
    closed = len(uniq) == len(key) and bool(np.isin(rev, uniq, assume_unique=False).all())
    e = edges(surface.faces)
    label = _components(n, e)
    used = np.unique(f)
    v = surface.vertices.astype(np.float64)
    a, b, c = v[f[:, 0]], v[f[:, 1]], v[f[:, 2]]
    volume = float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)
    return Topology(closed, len(np.unique(label[used])), len(used) - len(e) + len(f), volume)


# ----------------------------------------------------------------------------- the surface


def splat_surface(
    centres: np.ndarray,
    sigmas: np.ndarray,
    alphas: np.ndarray,
    voxel: float,
    opacity: float = 0.5,
    close: int = 2,
    smooth: int = 10,
    min_alpha: float = 0.01,
    min_piece: float = 0.02,
) -> Surface:
    """Steps 1-6: the closed surface around splats ``centres`` (N, 3) with largest
    standard deviations ``sigmas`` (N,) and opacities ``alphas`` (N,), where they are
    seen as ``opacity`` opaque; splats below ``min_alpha`` are left out. ``voxel`` is
    the grid spacing (the unit of ``centres``); the mesh has vertices about every 0.7
    voxel. Pieces with fewer than ``min_piece`` times the faces of the largest are
    dropped (stray splats away from the body would make little islands)."""
    if not 0.0 < opacity < 1.0:
        raise ValueError(f"opacity must lie strictly between 0 and 1, got {opacity}")
    keep = np.asarray(alphas) >= min_alpha
    if keep.sum() < 4:
        raise ValueError("fewer than 4 splats are opaque enough to make a surface from")
    peaks = optical_density(sigmas[keep], alphas[keep], voxel)
    grid = density_grid(centres[keep], sigmas[keep], peaks, voxel, pad=close + 2)
    field = depth_seen(grid.values, voxel) / np.float32(-np.log1p(-opacity))
    inside = solid(field > 1, close)
    field = np.where(inside & (field <= 1), np.float32(1.5), field)  # the sealed gaps
    surface = marching_tetrahedra(Grid(field, grid.origin, voxel), 1.0)
    if len(surface.faces) == 0:
        raise ValueError("the splats are too sparse for this voxel size; try a larger one")
    surface = main_pieces(surface, min_piece)
    return taubin(surface, smooth) if smooth else surface


def main_pieces(surface: Surface, share: float) -> Surface:
    """The connected pieces of ``surface`` with at least ``share`` times the faces of the
    largest one, vertices renumbered."""
    f = surface.faces
    n = len(surface.vertices)
    label = _components(n, edges(f))
    face_label = label[f[:, 0]]
    ids, counts = np.unique(face_label, return_counts=True)
    keep = np.isin(face_label, ids[counts >= share * counts.max()])
    used = np.unique(f[keep])
    remap = np.full(n, -1, np.int64)
    remap[used] = np.arange(len(used))
    return Surface(surface.vertices[used], remap[f[keep]].astype(np.int32))


# ----------------------------------------------------------------------------- transfer


class Neighbours:
    """Normalised weights from query points to nearby splats, for carrying values.

    ``weights`` is a sparse (Q, N) matrix as (rows, cols, w): row q holds the splats
    within ``radius`` of query q with weight ``alpha * exp(-d² / 2(radius/4)²)`` (narrow,
    so that the splats nearest the surface win over layers beneath them, such as skin
    under a shirt), scaled to sum to 1 per row. A query with no splat within ``radius`` (or only
    transparent ones) tries twice the radius, and so on, up to 8 doublings.
    """

    def __init__(
        self, queries: np.ndarray, points: np.ndarray, alphas: np.ndarray, radius: float,
        chunk: int = 20_000,
    ) -> None:  # fmt: skip
        self.n_queries = len(queries)
        q = np.asarray(queries, np.float64)
        p = np.asarray(points, np.float64)
        a = np.asarray(alphas, np.float64)
        rows, cols, w = [], [], []
        todo = np.arange(len(q))
        for _ in range(9):
            if len(todo) == 0:
                break
            r, c, d2 = _within(q[todo], p, radius, chunk)
            wt = a[c] * np.exp(-d2 / (2 * (radius / 4) ** 2))
            total = np.bincount(r, wt, len(todo))
            ok = total > 1e-12
            keep = ok[r]
            rows.append(todo[r[keep]])
            cols.append(c[keep])
            w.append(wt[keep] / total[r[keep]])
            todo = todo[~ok]
            radius *= 2
        if len(todo):
            raise ValueError(f"{len(todo)} mesh vertices have no splat anywhere near them")
        self.rows = np.concatenate(rows)
        self.cols = np.concatenate(cols)
        self.w = np.concatenate(w)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """(Q, C) or (Q,) weighted means of per-splat ``values`` (N, C) or (N,)."""
        v = np.asarray(values, np.float64)
        flat = v.reshape(len(v), -1)
        out = np.stack(
            [np.bincount(self.rows, self.w * flat[self.cols, k], self.n_queries)
             for k in range(flat.shape[1])], 1,
        )  # fmt: skip
        return out.reshape((self.n_queries, *v.shape[1:]))

    def vote(self, labels: np.ndarray, n_classes: int) -> np.ndarray:
        """(Q,) int: the label with the largest total weight among each query's splats."""
        tally = np.bincount(
            self.rows * n_classes + np.asarray(labels, np.int64)[self.cols],
            self.w,
            self.n_queries * n_classes,
        )
        return tally.reshape(self.n_queries, n_classes).argmax(1)


def _within(q: np.ndarray, p: np.ndarray, radius: float, chunk: int):
    """(rows, cols, d²) of every pair with |q[row] - p[col]| <= radius, through a hash
    of cells of size ``radius`` (each query looks at its 27 surrounding cells)."""
    lo = np.minimum(q.min(0), p.min(0)) - radius
    dims = np.ceil((np.maximum(q.max(0), p.max(0)) - lo) / radius).astype(np.int64) + 3

    def cell_key(ijk: np.ndarray) -> np.ndarray:  # noqa: E306
        return (ijk[:, 0] * dims[1] + ijk[:, 1]) * dims[2] + ijk[:, 2]

    pk = cell_key(np.floor((p - lo) / radius).astype(np.int64) + 1)
    order = np.argsort(pk, kind="stable")
    sorted_keys = pk[order]
    offsets = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    rows, cols, dist = [], [], []
    for s in range(0, len(q), chunk):
        qc = q[s : s + chunk]
        qcell = np.floor((qc - lo) / radius).astype(np.int64) + 1
        for off in offsets:
            keys = cell_key(qcell + off)
            start = np.searchsorted(sorted_keys, keys, "left")
            count = np.searchsorted(sorted_keys, keys, "right") - start
            total = int(count.sum())
            if total == 0:
                continue
            r = np.repeat(np.arange(len(qc)), count)
            first = np.repeat(start - (np.cumsum(count) - count), count)
            c = order[first + np.arange(total)]
            d2 = ((qc[r] - p[c]) ** 2).sum(1)
            near = d2 <= radius * radius
            rows.append(r[near] + s)
            cols.append(c[near])
            dist.append(d2[near])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(dist)


def top_influences(weights: np.ndarray, k: int = 4, levels: int = 255) -> np.ndarray:
    """(V, B) skin weights keeping each row's ``k`` largest, renormalised and rounded to
    multiples of 1 / ``levels`` that still sum to exactly 1 (largest remainders get the
    leftover steps). Game engines take 4 influences per vertex; rows of zeros stay zero."""
    w = np.asarray(weights, np.float64)
    n, b = w.shape
    k = min(k, b)
    top = np.argsort(-w, axis=1)[:, :k]
    vals = np.take_along_axis(w, top, 1)
    total = vals.sum(1, keepdims=True)
    vals = np.divide(vals, total, out=np.zeros_like(vals), where=total > 0) * levels
    steps = np.floor(vals)
    short = (levels - steps.sum(1)).astype(np.int64) * (total[:, 0] > 0)
    rank = np.argsort(np.argsort(-(vals - steps), axis=1), axis=1)
    steps += rank < short[:, None]
    out = np.zeros_like(w)
    np.put_along_axis(out, top, steps / levels, 1)
    return out
