"""Synthetic multi-view training data from the mannequin (``humancrafter synth``).

Each subject is a random body shape, pose family (standing, walking, arms raised, crouching,
sitting-like, A-pose) and outfit, rendered by the analytic ray caster from V orbit cameras.
Everything is drawn from ``numpy.random.default_rng([seed, subject])``, so the dataset is a
pure function of its arguments: the same seed writes byte-identical files. Subjects are split
into train / val / test (about 80 / 10 / 10 %) by a seeded permutation.

The on-disk layout is documented in ``docs/data.md`` and in :data:`LAYOUT`.
"""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .body.mannequin import Appearance, BodyParams, build_primitives, centred, joints
from .body.poses import sample_pose
from .body.raycast import raycast_primitives
from .body.skeleton import JOINT_NAMES, NUM_SHAPE
from .cameras import DEFAULT_FOV_DEG, DEFAULT_RADIUS, orbit_cameras
from .portable.parts import PALETTE, PART_NAMES

FORMAT_VERSION = 1
DEPTH_SCALE = 10000
"""Depth PNGs store camera z in units of 1 / DEPTH_SCALE model units (0 = no surface)."""
MAX_RES = 2048
MAX_VIEWS = 64
MAX_SUBJECTS = 1_000_000

LAYOUT = """\
DIR/meta.json                      dataset description (args, splits, classes, units)
DIR/{split}/{subject}/body.json    shape, pose, transl, pose kind, outfit, posed joints
DIR/{split}/{subject}/cameras.json viewmats (V,4,4), Ks (V,3,3), width, height, azimuths
DIR/{split}/{subject}/rgb_{v}.png      RGBA 8-bit, alpha = person mask
DIR/{split}/{subject}/part_{v}.png     8-bit class ids (0 = Background), Sapiens order
DIR/{split}/{subject}/depth_{v}.png    16-bit camera z of the front surface, 1e-4 units
DIR/{split}/{subject}/depth_back_{v}.png 16-bit camera z of the back surface, 1e-4 units
DIR/{split}/{subject}/normal_{v}.png   RGB 8-bit world normal, (n + 1) / 2 * 255
"""


@dataclass
class SynthConfig:
    """Arguments of one dataset (see :func:`write_dataset`)."""

    subjects: int
    views: int
    res: int
    seed: int


def validate(cfg: SynthConfig) -> None:
    """Raise ``ValueError`` with one sentence naming the first bad argument."""
    if not 1 <= cfg.subjects <= MAX_SUBJECTS:
        raise ValueError(f"--subjects must be between 1 and {MAX_SUBJECTS}, got {cfg.subjects}")
    if not 1 <= cfg.views <= MAX_VIEWS:
        raise ValueError(f"--views must be between 1 and {MAX_VIEWS}, got {cfg.views}")
    if not 16 <= cfg.res <= MAX_RES:
        raise ValueError(f"--res must be between 16 and {MAX_RES} pixels, got {cfg.res}")
    if not 0 <= cfg.seed < 2**63:
        raise ValueError(f"--seed must be a non-negative integer, got {cfg.seed}")


def splits(subjects: int, seed: int) -> dict[str, list[int]]:
    """Subject indices of each split: ~10 % test, ~10 % val (each at least one subject once
    there are 3 or more), the rest train; a seeded permutation decides who goes where."""
    order = np.random.default_rng([seed, 2**31]).permutation(subjects).tolist()
    n_hold = 0 if subjects < 3 else max(1, round(0.1 * subjects))
    return {
        "train": sorted(order[2 * n_hold :]),
        "val": sorted(order[n_hold : 2 * n_hold]),
        "test": sorted(order[:n_hold]),
    }


@dataclass
class Subject:
    """One random subject: body, outfit and cameras."""

    index: int
    params: BodyParams
    pose_kind: str
    appearance: Appearance
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    radius: float


def _framing_radius(params: BodyParams, appearance: Appearance) -> float:
    """Camera distance that keeps the whole body inside the frame from any orbit view: the
    default 2.4, farther for tall or wide poses (raised arms)."""
    with torch.no_grad():
        box = build_primitives(params, appearance).world_aabb()
    lo, hi = box[:, 0].min(0).values, box[:, 1].max(0).values
    half_height = float(torch.maximum(lo[1].abs(), hi[1].abs()))
    corners = torch.stack(
        [lo[[0, 2]], hi[[0, 2]], torch.stack([lo[0], hi[2]]), torch.stack([hi[0], lo[2]])]
    )
    half_width = float(corners.norm(dim=-1).max())
    visible = 0.85 * math.tan(math.radians(DEFAULT_FOV_DEG) / 2)
    return max(DEFAULT_RADIUS, max(half_height, half_width) / visible)


def sample_subject(seed: int, index: int, views: int) -> Subject:
    """The ``index``-th subject of a dataset (a pure function of its arguments).

    Shape ~ N(0, 0.6^2) per parameter clipped to [-2, 2]; the body is translated so its
    bounding box is vertically centred on the origin. View 0 is a frontal-ish input view
    (azimuth in [-40, 40] degrees); the others are spread evenly around the person with
    +-10 degrees of jitter; elevations are in [-5, 20] degrees. Cameras are 2.4 units away
    (farther when the pose would not fit the frame, see :func:`_framing_radius`).
    """
    rng = np.random.default_rng([seed, index])
    shape = torch.tensor(np.clip(rng.normal(0, 0.6, NUM_SHAPE), -2, 2), dtype=torch.float32)
    pose, kind = sample_pose(rng)
    appearance = Appearance.sample(rng)
    params = centred(BodyParams(shape, pose, torch.zeros(3)), appearance)
    first = rng.uniform(-40, 40)
    az = first + np.arange(views) * 360.0 / views
    az[1:] += rng.uniform(-10, 10, views - 1)
    el = rng.uniform(-5, 20, views)
    radius = _framing_radius(params, appearance)
    return Subject(index, params, kind, appearance, np.mod(az, 360.0), el, radius)


def _png(path: Path, array: np.ndarray) -> None:
    """uint8 (H,W) / (H,W,3) / (H,W,4) -> L / RGB / RGBA; uint16 (H,W) -> 16-bit grey."""
    Image.fromarray(np.ascontiguousarray(array)).save(path, compress_level=1)


def render_subject(subject: Subject, res: int, out: Path) -> int:
    """Render one subject's views and write its files into ``out``; returns the view count."""
    out.mkdir(parents=True, exist_ok=True)
    cams = orbit_cameras(
        torch.tensor(subject.azimuth_deg, dtype=torch.float32),
        torch.tensor(subject.elevation_deg, dtype=torch.float32),
        radius=subject.radius,
        width=res,
        height=res,
    )
    with torch.no_grad():
        prims = build_primitives(subject.params, subject.appearance)
        r = raycast_primitives(prims, cams)
        posed_joints = joints(subject.params)
    rgb = (r.rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    alpha = r.mask.numpy().astype(np.uint8) * 255
    part = r.part.to(torch.uint8).numpy()
    depth = (r.depth * DEPTH_SCALE + 0.5).clamp(0, 65535).numpy().astype(np.uint16)
    back = (r.back_depth * DEPTH_SCALE + 0.5).clamp(0, 65535).numpy().astype(np.uint16)
    normal = ((r.normal + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    normal[~r.mask.numpy()] = 0
    for v in range(len(cams)):
        _png(out / f"rgb_{v:02d}.png", np.dstack([rgb[v], alpha[v]]))
        _png(out / f"part_{v:02d}.png", part[v])
        _png(out / f"depth_{v:02d}.png", depth[v])
        _png(out / f"depth_back_{v:02d}.png", back[v])
        _png(out / f"normal_{v:02d}.png", normal[v])
    cam_json = {
        "width": res,
        "height": res,
        "fov_y_deg": DEFAULT_FOV_DEG,
        "radius": round(subject.radius, 6),
        "azimuth_deg": [round(float(a), 6) for a in subject.azimuth_deg],
        "elevation_deg": [round(float(e), 6) for e in subject.elevation_deg],
        "viewmats": [[[float(x) for x in row] for row in m] for m in cams.viewmats.tolist()],
        "Ks": [[[float(x) for x in row] for row in m] for m in cams.Ks.tolist()],
    }
    body = {
        **subject.params.to_json(),
        "pose_kind": subject.pose_kind,
        "joint_names": list(JOINT_NAMES),
        "joints": [[round(float(c), 6) for c in j] for j in posed_joints.tolist()],
        "appearance": subject.appearance.to_json(),
    }
    (out / "cameras.json").write_text(json.dumps(cam_json, indent=1))
    (out / "body.json").write_text(json.dumps(body, indent=1))
    return len(cams)


def _work(job: tuple[int, int, int, int, str]) -> int:
    seed, index, views, res, out = job
    return render_subject(sample_subject(seed, index, views), res, Path(out))


def _init_worker() -> None:
    torch.set_num_threads(1)


def default_workers() -> int:
    """One single-threaded worker process per available core (at most 8)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, n or 1))


def _run(jobs: list, workers: int) -> Iterator[int]:
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for job in jobs:
                yield _work(job)
        finally:
            torch.set_num_threads(threads)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_work, jobs, chunksize=1)


def subject_dir(root: Path, split: str, index: int) -> Path:
    return root / split / f"{index:06d}"


def write_dataset(
    out: Path,
    subjects: int,
    views: int = 8,
    res: int = 256,
    seed: int = 0,
    *,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write a synthetic dataset into the (new or empty) directory ``out``.

    Returns the ``meta.json`` contents plus ``seconds`` and ``views_per_second``.
    Raises ``ValueError`` for bad arguments or a non-empty output directory.
    """
    from tqdm import tqdm

    cfg = SynthConfig(subjects, views, res, seed)
    validate(cfg)
    if workers is not None and not 1 <= workers <= 256:
        raise ValueError(f"--workers must be between 1 and 256, got {workers}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise ValueError(f"output directory {out} is not empty; choose a new or empty one")
    out.mkdir(parents=True, exist_ok=True)
    split_of = splits(subjects, seed)
    where = {i: s for s, ids in split_of.items() for i in ids}
    jobs = [(seed, i, views, res, str(subject_dir(out, where[i], i))) for i in range(subjects)]
    meta = {
        "format_version": FORMAT_VERSION,
        "generator": "humancrafter synth",
        "subjects": subjects,
        "views": views,
        "res": res,
        "seed": seed,
        "splits": {s: [f"{s}/{i:06d}" for i in ids] for s, ids in split_of.items()},
        "classes": list(PART_NAMES),
        "palette": PALETTE.tolist(),
        "depth_scale": DEPTH_SCALE,
        "depth_units": "camera z in model units (person ~1 unit tall) times depth_scale",
        "frame": "model frame: y up, person facing +z, person's left = +x; OpenCV cameras",
        "layout": LAYOUT,
    }
    n_workers = min(workers or default_workers(), subjects)
    t0 = time.perf_counter()
    bar = tqdm(total=subjects * views, unit="view", disable=not progress, desc="synth")
    done = 0
    for n in _run(jobs, n_workers):
        done += n
        bar.update(n)
    bar.close()
    seconds = time.perf_counter() - t0
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return {**meta, "seconds": seconds, "views_per_second": done / max(seconds, 1e-9)}


def load_view(subject: Path, view: int) -> dict[str, np.ndarray]:
    """Read one view back: rgb (H,W,3) uint8, mask (H,W) bool, part (H,W) int64,
    depth / depth_back (H,W) float32 model units (0 = none), normal (H,W,3) float32."""
    rgba = np.asarray(Image.open(subject / f"rgb_{view:02d}.png"))
    normal = np.asarray(Image.open(subject / f"normal_{view:02d}.png")).astype(np.float32)
    return {
        "rgb": rgba[..., :3],
        "mask": rgba[..., 3] > 127,
        "part": np.asarray(Image.open(subject / f"part_{view:02d}.png")).astype(np.int64),
        "depth": np.asarray(Image.open(subject / f"depth_{view:02d}.png")).astype(np.float32)
        / DEPTH_SCALE,
        "depth_back": np.asarray(Image.open(subject / f"depth_back_{view:02d}.png")).astype(
            np.float32
        )
        / DEPTH_SCALE,
        "normal": normal / 127.5 - 1,
    }
