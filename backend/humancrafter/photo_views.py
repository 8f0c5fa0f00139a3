"""Photos -> the network's input views: cameras placed from the photos, the body prior
fitted from the first photo and rendered from every camera.

Frames: the model frame is view 0's (the photo front-end's frame for the first photo: y
up, facing +z, pelvis at the origin). View k of a turnaround sheet was taken from azimuth
a_k (degrees, 90 = the person's left): the body seen in it is the view-0 body turned by
-a_k about the y axis, so its camera is found in that turned frame exactly as for a single
photo (landmarks, then silhouette fit, :mod:`humancrafter.prior`) and turned back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .body.mannequin import Appearance, BodyParams, build_primitives, sample_surface
from .body.raycast import raycast_primitives
from .cameras import Cameras
from .model.inputs import ViewInputs, from_maps
from .photo import PhotoAnalysis
from .prior import camera_from_landmarks, fit_photo_camera

CAMERA_FIT_POINTS = 6000
"""Body surface samples used to fit each camera to its photo's silhouette."""


def turn_y(deg: float) -> torch.Tensor:
    """(3, 3) rotation by ``deg`` about +y (azimuth 0 -> ``deg`` on the orbit)."""
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def turned(cam: Cameras, azimuths_deg: list[float]) -> Cameras:
    """One camera (found in a view's turned frame) -> one per azimuth, in the model frame of
    view 0: the camera orbiting the body to azimuth a (degrees), the body seen from it
    turned by -a about y. ``cam``: 1 camera; returns len(azimuths_deg) cameras."""
    mats = []
    for az in azimuths_deg:
        T = torch.eye(4)
        T[:3, :3] = turn_y(-az)  # world (view 0) -> this view's frame
        mats.append(cam.viewmats[0] @ T)
    n = len(azimuths_deg)
    return Cameras(torch.stack(mats), cam.Ks[:1].expand(n, 3, 3).clone(), cam.width, cam.height)


@dataclass
class PhotoViews:
    """The views of one person.

    Attributes:
        cameras: V cameras at the crop size of the photos (model frame of view 0).
        silhouette_iou: (V,) overlap of the posed body with each photo's person mask.
    """

    cameras: Cameras
    silhouette_iou: list[float]


def place_cameras(
    analyses: list[PhotoAnalysis], azimuths_deg: list[float], params: BodyParams, seed: int
) -> PhotoViews:
    """One camera per photo (see the module docstring)."""
    samples = sample_surface(params, Appearance.plain(), CAMERA_FIT_POINTS, seed)
    points = samples.points.detach()
    viewmats, Ks, ious = [], [], []
    size = analyses[0].image.shape[0]
    for analysis, az in zip(analyses, azimuths_deg, strict=True):
        turn = turn_y(-az)  # world (view 0) -> this view's frame
        local = (points @ turn.T).numpy()
        init = camera_from_landmarks(
            analysis.landmarks_model, analysis.landmarks_px, analysis.visibility,
            analysis.image.shape[0],  # the photo's lens: prior.PHOTO_FOV_DEG (trained on 30-60)
        )  # fmt: skip
        cam, iou = fit_photo_camera(local, analysis, init)
        c = turned(cam.cameras(size), [az])
        viewmats.append(c.viewmats[0])
        Ks.append(c.Ks[0])
        ious.append(iou)
    return PhotoViews(Cameras(torch.stack(viewmats), torch.stack(Ks), size, size), ious)


def _resize(a: np.ndarray, size: int) -> torch.Tensor:
    """(S, S, C) or (S, S) array -> (C, size, size) float tensor (area filter)."""
    t = torch.as_tensor(np.asarray(a, np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    return F.interpolate(t, size=(size, size), mode="area")[0]


def view_inputs(
    analyses: list[PhotoAnalysis], cams: Cameras, params: BodyParams, size: int
) -> ViewInputs:
    """The network's input views at ``size`` pixels from the photos' crops and masks (see
    :func:`views_from_images`)."""
    return views_from_images(
        [a.image.astype(np.float32) / 255 for a in analyses], [a.mask for a in analyses],
        cams, params, size,
    )  # fmt: skip


def views_from_images(
    images: list[np.ndarray], masks: list[np.ndarray], cams: Cameras, params: BodyParams,
    size: int,
) -> ViewInputs:  # fmt: skip
    """The network's input views at ``size`` pixels: images, masks, cameras and the prior
    (the plain mannequin of ``params``) ray cast from every camera and filled
    (:func:`humancrafter.model.inputs.fill_prior`).

    Args:
        images: V (S, S, 3) float arrays in [0, 1] (any S; resized with an area filter).
        masks: V (S, S) person probabilities in [0, 1].
        cams: V cameras of those square views (any size; resized to ``size``).
    """
    c = cams.resized(size, size)
    with torch.no_grad():
        r = raycast_primitives(build_primitives(params, Appearance.plain()), c)
    rgb = torch.stack([_resize(image, size) for image in images])
    mask = torch.stack([(_resize(m, size) > 0.5).float() for m in masks])
    return from_maps(rgb, mask, c, r.depth, r.back_depth, r.normal, r.part)


def output_size(person_pixels: float, layers: int, target: int, base: int, limit: int) -> int:
    """The output resolution (a multiple of 8 between ``base`` and ``limit``) at which
    ``layers`` Gaussians per person pixel come closest to ``target`` Gaussians, given
    ``person_pixels`` at ``base``."""
    scale = math.sqrt(max(target, 1) / max(layers * person_pixels, 1.0))
    return int(min(limit, max(base, round(base * scale / 8) * 8)))
