"""Synthetic multi-view training data from the mannequin (``humancrafter synth``).

Each subject is a random body shape, pose family (standing, walking, arms raised, crouching,
sitting-like, A-pose) and outfit, rendered by the analytic ray caster from V cameras framed
the way the photo front-end frames a real photo (:func:`photo_like_cameras`: 30-60 degree
field of view, the person filling the square crop). With every subject comes its *fitted
prior* (:func:`fitted_prior`): the plain mannequin fitted to noisy copies of the subject's
landmarks, as the photo front-end would produce it, rendered from the same cameras. The
network learns to correct that prior, never sees the true body as input.
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

from .body import fit
from .body.mannequin import Appearance, BodyParams, build_primitives, centred, joints
from .body.poses import sample_pose
from .body.raycast import raycast_primitives
from .body.skeleton import JOINT_NAMES, NUM_SHAPE
from .cameras import Cameras, intrinsics, look_at, orbit_positions
from .portable.parts import PALETTE, PART_NAMES

FORMAT_VERSION = 2
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
DIR/{split}/{subject}/prior_{v}.png    RGBA 8-bit: prior normal (n + 1) / 2 * 255, part id
DIR/{split}/{subject}/prior_depth_{v}.png      16-bit prior front camera z, 1e-4 units
DIR/{split}/{subject}/prior_depth_back_{v}.png 16-bit prior back camera z, 1e-4 units
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


CROP_MARGIN = 1.15
"""The person's longer projected side times this is the crop side (as in the photo
front-end, :data:`humancrafter.photo.CROP_MARGIN`)."""
FOV_RANGE_DEG = (30.0, 60.0)
"""Vertical field of view of the synthetic photos: real photos of people cropped to the
person look like 35-55 degrees (the shared samples match best at about 50)."""


@dataclass
class Subject:
    """One random subject: body, outfit and cameras.

    Attributes:
        azimuth_deg, elevation_deg: (V,) viewing direction of each camera (orbit angles,
            :mod:`humancrafter.cameras`). fov_deg: (V,) vertical field of view.
        zoom: (V,) crop jitter (1 = the person's longer side is 1 / CROP_MARGIN of the crop).
        shift: (V, 2) crop-centre jitter, fractions of the crop side (right, up).
        noise_seed: seeds the landmark noise of :func:`fitted_prior`.
    """

    index: int
    params: BodyParams
    pose_kind: str
    appearance: Appearance
    azimuth_deg: np.ndarray
    elevation_deg: np.ndarray
    fov_deg: np.ndarray
    zoom: np.ndarray
    shift: np.ndarray
    noise_seed: int


def sample_subject(seed: int, index: int, views: int) -> Subject:
    """The ``index``-th subject of a dataset (a pure function of its arguments).

    Shape ~ N(0, 0.6^2) per parameter clipped to [-2, 2]; the body is translated so its
    bounding box is vertically centred on the origin. View 0 is a frontal-ish input view
    (azimuth in [-40, 40] degrees); the others are spread evenly around the person with
    +-10 degrees of jitter; elevations are in [-5, 20] degrees. Each camera's field of view
    is drawn from :data:`FOV_RANGE_DEG` and the camera framed by :func:`photo_like_cameras`.
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
    fov = rng.uniform(*FOV_RANGE_DEG, views)
    zoom = rng.uniform(0.95, 1.08, views)
    shift = rng.uniform(-0.03, 0.03, (views, 2))
    noise_seed = int(rng.integers(2**62))
    return Subject(
        index, params, kind, appearance, np.mod(az, 360.0), el, fov, zoom, shift, noise_seed
    )


def photo_like_cameras(subject: Subject, res: int) -> Cameras:
    """The subject's V cameras at ``res`` x ``res`` pixels, framed like a photo crop.

    Each camera looks along its orbit direction at the centre of the dressed body's
    bounding box (shifted by ``subject.shift``), from the distance at which the box's
    longer projected side fills 1 / CROP_MARGIN of the image (times ``subject.zoom``), with
    the near side of the box in front of that distance accounted for, so the whole person
    stays in frame (tests check it).
    """
    with torch.no_grad():
        box = build_primitives(subject.params, subject.appearance).world_aabb()
    lo, hi = box[:, 0].min(0).values, box[:, 1].max(0).values
    centre = (lo + hi) / 2
    corners = torch.stack(
        [torch.stack([(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]])
         for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    ) - centre  # fmt: skip
    az = torch.tensor(subject.azimuth_deg, dtype=torch.float32)
    el = torch.tensor(subject.elevation_deg, dtype=torch.float32)
    back = orbit_positions(az, el, 1.0)  # (V, 3) unit vectors from the body to the camera
    viewmats, Ks = [], []
    for v in range(len(az)):
        R = look_at(back[v : v + 1], torch.zeros(3))[0, :3, :3]  # rows: right, down, forward
        local = corners @ R.T  # (8, 3) box corners in camera axes
        near = float(-local[:, 2].min())  # how far the box reaches towards the camera
        half_fov = math.tan(math.radians(float(subject.fov_deg[v])) / 2)
        side = float(torch.maximum(local[:, 0].abs().max(), local[:, 1].abs().max()))
        # Perspective: the box's near side looks larger; half its depth keeps it in frame.
        dist = side * CROP_MARGIN / (half_fov * float(subject.zoom[v])) + 0.5 * near
        shift = torch.tensor(subject.shift[v], dtype=torch.float32) * 2 * side * CROP_MARGIN
        target = centre + R[0] * shift[0] - R[1] * shift[1]
        eye = target + back[v] * dist
        viewmats.append(look_at(eye[None], target[None])[0])
        Ks.append(intrinsics(float(subject.fov_deg[v]), res, res))
    return Cameras(torch.stack(viewmats), torch.stack(Ks), res, res)


LANDMARK_NOISE = (0.012, 0.035)
"""Standard deviation (model units) of the landmark noise across and along the input view's
viewing direction: mediapipe's 3D landmarks are good in the image plane, poor in depth."""


def noisy_landmarks(subject: Subject) -> tuple[torch.Tensor, torch.Tensor]:
    """mediapipe-like landmarks of the subject: (33, 3) model frame and (33,) visibility.

    The body's marker points (:func:`humancrafter.body.fit.markers`) plus noise
    (:data:`LANDMARK_NOISE`, the larger part along view 0's direction), a random global
    scale error of a few percent, and about one landmark in ten marked as barely visible.
    """
    rng = np.random.default_rng([subject.noise_seed, 1])
    with torch.no_grad():
        m = fit.markers(subject.params)
    az, el = math.radians(subject.azimuth_deg[0]), math.radians(subject.elevation_deg[0])
    view = torch.tensor([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    across, along = LANDMARK_NOISE
    noise = torch.tensor(rng.normal(0, across, m.shape), dtype=torch.float32)
    noise += view * torch.tensor(rng.normal(0, along, (len(m), 1)), dtype=torch.float32)
    scale = float(rng.uniform(0.96, 1.04))
    centre = m.mean(0)
    lm = torch.zeros(fit.NUM_LANDMARKS, 3)
    vis = torch.zeros(fit.NUM_LANDMARKS)
    idx = list(fit.MARKER_LANDMARKS)
    lm[idx] = (m - centre) * scale + centre + noise
    vis[idx] = torch.tensor(np.where(rng.random(len(idx)) < 0.1, 0.2, 0.95), dtype=torch.float32)
    return lm, vis


def fitted_prior(subject: Subject) -> BodyParams:
    """The body prior the photo front-end would give for this subject: the plain mannequin
    fitted (:func:`humancrafter.body.fit.fit_to_landmarks`) to :func:`noisy_landmarks`."""
    lm, vis = noisy_landmarks(subject)
    vis_fit = vis.clone()
    for torso in (11, 12, 23, 24):  # the fit needs the torso; mediapipe always gives it
        vis_fit[torso] = max(float(vis_fit[torso]), 0.5)
    return fit.fit_to_landmarks(lm, vis_fit, iters=30).params


def _png(path: Path, array: np.ndarray) -> None:
    """uint8 (H,W) / (H,W,3) / (H,W,4) -> L / RGB / RGBA; uint16 (H,W) -> 16-bit grey."""
    Image.fromarray(np.ascontiguousarray(array)).save(path, compress_level=1)


def _depth_png(depth: torch.Tensor) -> np.ndarray:
    return (depth * DEPTH_SCALE + 0.5).clamp(0, 65535).numpy().astype(np.uint16)


def _normal_png(normal: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    out = ((normal + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    out[~mask.numpy()] = 0
    return out


def render_subject(subject: Subject, res: int, out: Path) -> int:
    """Render one subject's views and its fitted prior and write their files into ``out``;
    returns the view count."""
    out.mkdir(parents=True, exist_ok=True)
    cams = photo_like_cameras(subject, res)
    prior = fitted_prior(subject)
    with torch.no_grad():
        r = raycast_primitives(build_primitives(subject.params, subject.appearance), cams)
        q = raycast_primitives(build_primitives(prior, Appearance.plain()), cams)
        posed_joints = joints(subject.params)
    rgb = (r.rgb * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
    alpha = r.mask.numpy().astype(np.uint8) * 255
    part = r.part.to(torch.uint8).numpy()
    depth, back = _depth_png(r.depth), _depth_png(r.back_depth)
    normal = _normal_png(r.normal, r.mask)
    prior_rgba = np.concatenate(
        [_normal_png(q.normal, q.mask), q.part.to(torch.uint8).numpy()[..., None]], axis=-1
    )
    prior_depth, prior_back = _depth_png(q.depth), _depth_png(q.back_depth)
    for v in range(len(cams)):
        _png(out / f"rgb_{v:02d}.png", np.dstack([rgb[v], alpha[v]]))
        _png(out / f"part_{v:02d}.png", part[v])
        _png(out / f"depth_{v:02d}.png", depth[v])
        _png(out / f"depth_back_{v:02d}.png", back[v])
        _png(out / f"normal_{v:02d}.png", normal[v])
        _png(out / f"prior_{v:02d}.png", prior_rgba[v])
        _png(out / f"prior_depth_{v:02d}.png", prior_depth[v])
        _png(out / f"prior_depth_back_{v:02d}.png", prior_back[v])
    cam_json = {
        "width": res,
        "height": res,
        "fov_y_deg": [round(float(f), 6) for f in subject.fov_deg],
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
        "prior": prior.to_json(),
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


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


PRIOR_KEYS = ("prior_depth", "prior_depth_back", "prior_normal", "prior_part")
"""The prior's maps in :func:`load_view`'s dict, in the order of
:func:`humancrafter.model.inputs.from_maps`."""


def load_view(subject: Path, view: int) -> dict[str, np.ndarray]:
    """Read one view back: rgb (H,W,3) uint8, mask (H,W) bool, part (H,W) int64,
    depth / depth_back (H,W) float32 model units (0 = none), normal (H,W,3) float32, and
    the fitted prior from the same camera: prior_normal (H,W,3) float32, prior_part (H,W)
    int64, prior_depth / prior_depth_back (H,W) float32 (0 where the prior has no body)."""
    rgba = _read(subject / f"rgb_{view:02d}.png")
    prior = _read(subject / f"prior_{view:02d}.png")

    def depth(name: str) -> np.ndarray:
        return _read(subject / f"{name}_{view:02d}.png").astype(np.float32) / DEPTH_SCALE

    return {
        "rgb": rgba[..., :3],
        "mask": rgba[..., 3] > 127,
        "part": _read(subject / f"part_{view:02d}.png").astype(np.int64),
        "depth": depth("depth"),
        "depth_back": depth("depth_back"),
        "normal": _read(subject / f"normal_{view:02d}.png").astype(np.float32) / 127.5 - 1,
        "prior_normal": prior[..., :3].astype(np.float32) / 127.5 - 1,
        "prior_part": prior[..., 3].astype(np.int64),
        "prior_depth": depth("prior_depth"),
        "prior_depth_back": depth("prior_depth_back"),
    }


def load_cameras(subject: Path) -> Cameras:
    """The subject's V cameras from its ``cameras.json``."""
    c = json.loads((subject / "cameras.json").read_text())
    return Cameras(
        torch.tensor(c["viewmats"], dtype=torch.float32),
        torch.tensor(c["Ks"], dtype=torch.float32),
        int(c["width"]),
        int(c["height"]),
    )
