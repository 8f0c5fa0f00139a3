"""Skin weights of splats from the fitted body: which joints each splat follows, and how
much, so that an armature built from the fitted skeleton bends the splats smoothly.

The body surface decides where a splat belongs: every body-surface sample moves with one
joint (:attr:`.surface.SurfaceSamples.bone`: the joint of its primitive), and a splat
takes the joint of the body-surface sample nearest to it (its *host*). Across each joint
the weight then passes smoothly from the parent's bone to the child's, as in SMPL's
linear blend skinning:

- Joint c with parent p blends across the plane through c whose normal ``n_c`` bisects
  the bone coming in (p -> c) and the bone going out (c -> its tail child,
  :meth:`~humancrafter.portable.splatfile.Skeleton.tail_children`). For a point x,
  ``s_c(x) = smoothstep(0.5 + (x - c) . n_c / (2 h_c))`` is the share that goes to c,
  ``1 - s_c`` the share left to p; ``h_c`` = :data:`BLEND` times the bone going out
  (at least :data:`MIN_HALF_WIDTH`), so a knee blends over about 0.14 model units
  (25 cm on a 1.8 m person), an elbow over 0.08.
- A point hosted by joint h gives joint k (within :data:`REACH` joints of h in the
  tree) the product of the shares along the path from h to k, times the share that stays
  at k (``1 - s`` for each other child of k, ``s_k`` unless the path came from k's
  parent); the weights are then normalised. Two bones meeting at one joint get
  ``1 - s_c`` and ``s_c`` whichever of them hosts the point, so the weights are
  continuous across the join of the primitives.
- The :data:`~humancrafter.portable.splatfile.SKIN_SLOTS` largest weights are kept
  and normalised again (the file's layout).

Everything is in the model frame (y up, ~1 unit tall) with numpy; the nearest-sample
search is SciPy's k-d tree (:func:`nearest_hosts`): 40,000 splats against 20,000 samples
in about 0.05 s on 2 cores, where a brute-force ``torch.cdist`` took 2 s.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from ..portable.splatfile import SKIN_SLOTS, Skeleton, Splats
from . import mannequin
from .appearance import Appearance
from .params import BodyParams
from .skeleton import JOINT_NAMES, PARENTS

BLEND = 0.3
"""Half-width of the blend at a joint, as a fraction of the bone leaving the joint."""
MIN_HALF_WIDTH = 0.015
"""Smallest half-width of a blend, model units (short bones: collar, wrist, toes)."""
REACH = 2
"""How many joints away from its host a point may take weight (grand-children, ...)."""
BODY_SAMPLES = 20_000
"""Body-surface samples a reconstruction's splats are matched to (:func:`rig_to_body`)."""


def smpl_skeleton(joints: np.ndarray) -> Skeleton:
    """The file's skeleton for posed SMPL-order joints (24, 3), model frame."""
    return Skeleton(tuple(JOINT_NAMES), np.array(PARENTS, np.int32), np.asarray(joints, np.float32))


def _shares(points: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(M, J) share ``s_c(x)`` of each joint c at each point (see the module docstring);
    1 for roots."""
    pos = skeleton.joints.astype(np.float64)
    parents = np.asarray(skeleton.parents, np.int64)
    tails = skeleton.tail_children()
    out = np.ones((len(points), len(pos)), np.float64)
    x = points.astype(np.float64)
    for c, p in enumerate(parents):
        if p < 0:
            continue
        d_in = pos[c] - pos[p]
        u_in = d_in / max(float(np.linalg.norm(d_in)), 1e-12)
        d_out = pos[tails[c]] - pos[c] if tails[c] >= 0 else d_in
        length = float(np.linalg.norm(d_out))
        n = u_in + d_out / max(length, 1e-12)
        n = n / float(np.linalg.norm(n)) if np.linalg.norm(n) > 1e-6 else u_in
        half = max(BLEND * length, MIN_HALF_WIDTH)
        t = np.clip(0.5 + ((x - pos[c]) @ n) / (2 * half), 0.0, 1.0)
        out[:, c] = t * t * (3 - 2 * t)
    return out


def _paths(parents: np.ndarray, reach: int) -> list[list[tuple[int, list[tuple[int, bool]]]]]:
    """For each host h: (k, path) for every joint k within ``reach`` edges of h, the path
    as (child joint of the edge, True when walked from parent to child)."""
    j = len(parents)
    nbrs = [[] for _ in range(j)]
    for c, p in enumerate(parents):
        if p >= 0:
            nbrs[p].append((c, c, True))  # to child c over edge c, downwards
            nbrs[c].append((int(p), c, False))  # to parent over edge c, upwards
    out = []
    for h in range(j):
        found, frontier = [(h, [])], [(h, [])]
        seen = {h}
        for _ in range(reach):
            nxt = []
            for k, path in frontier:
                for other, edge, down in nbrs[k]:
                    if other not in seen:
                        seen.add(other)
                        nxt.append((other, path + [(edge, down)]))
            found += nxt
            frontier = nxt
        out.append(found)
    return out


def joint_weights(points: np.ndarray, hosts: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(M, J) float32 skin weights (rows sum to 1) of points (M, 3) hosted by joints
    ``hosts`` (M,) int, model frame (see the module docstring)."""
    parents = np.asarray(skeleton.parents, np.int64)
    s = _shares(points, skeleton)
    w = np.zeros_like(s)
    hosts = np.asarray(hosts, np.int64)
    children = [np.flatnonzero(parents == k) for k in range(len(parents))]
    for h, reach in enumerate(_paths(parents, REACH)):
        rows = np.flatnonzero(hosts == h)
        if len(rows) == 0:
            continue
        sh = s[rows]
        for k, path in reach:
            f = np.ones(len(rows))
            for edge, down in path:
                f *= sh[:, edge] if down else 1 - sh[:, edge]
            came_from_parent = bool(path) and path[-1] == (k, True)
            stay = np.ones(len(rows))
            if parents[k] >= 0 and not came_from_parent:
                stay *= sh[:, k]
            for c in children[k]:
                if not (path and path[-1] == (int(c), False)):  # not the child we came from
                    stay *= 1 - sh[:, c]
            w[rows, k] = f * stay
    total = w.sum(1, keepdims=True)
    lonely = total[:, 0] <= 1e-12  # every share leaves beyond REACH: keep the host
    w[lonely, hosts[lonely]] = 1.0
    total[lonely] = 1.0
    return (w / total).astype(np.float32)


def top_slots(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`SKIN_SLOTS` largest of dense weights (M, J): (M, 4) uint8 joints and
    (M, 4) float32 weights summing to 1 (unused slots: joint 0, weight 0)."""
    slots = min(SKIN_SLOTS, weights.shape[1])
    idx = np.argsort(-weights, axis=1, kind="stable")[:, :slots]
    w = np.take_along_axis(weights, idx, axis=1).astype(np.float64)
    w /= w.sum(1, keepdims=True)
    joints = np.zeros((len(weights), SKIN_SLOTS), np.uint8)
    out = np.zeros((len(weights), SKIN_SLOTS), np.float32)
    joints[:, :slots] = np.where(w > 0, idx, 0)
    out[:, :slots] = w
    return joints, out


def nearest_hosts(means: np.ndarray, body_points: np.ndarray, body_bones: np.ndarray) -> np.ndarray:
    """(N,) int64 joint of the body-surface sample (M, 3) nearest to each splat (N, 3)."""
    tree = cKDTree(np.asarray(body_points, np.float64))
    _, nearest = tree.query(np.asarray(means, np.float64), k=1, workers=-1)
    return np.asarray(body_bones, np.int64)[nearest]


def rig(splats: Splats, joints: np.ndarray, hosts: np.ndarray) -> Splats:
    """``splats`` with the SMPL skeleton at posed ``joints`` (24, 3) and the skin of
    splats hosted by ``hosts`` (N,) (see the module docstring); other fields shared."""
    skeleton = smpl_skeleton(joints)
    idx, w = top_slots(joint_weights(splats.means, hosts, skeleton))
    return dataclasses.replace(splats, skin_joints=idx, skin_weights=w, skeleton=skeleton)


def rig_to_body(
    splats: Splats, params: BodyParams, smpl_body: object | None = None, seed: int = 0
) -> Splats:
    """``splats`` (model frame, around the body ``params``) rigged to that body: its
    posed joints and, for each splat, the joint of the nearest of :data:`BODY_SAMPLES`
    samples of its surface (the mannequin's, or ``smpl_body``'s when given)."""
    if smpl_body is None:
        body = mannequin.sample_surface(params, Appearance.plain(), BODY_SAMPLES, seed)
        joints = mannequin.joints(params).detach().numpy()
    else:
        body = smpl_body.sample_surface(params, BODY_SAMPLES, seed)
        joints = smpl_body.joints(params)
    hosts = nearest_hosts(splats.means, body.points.detach().numpy(), body.bone.numpy())
    return rig(splats, joints, hosts)
