"""The ``full`` mode (the paper's single-image pipeline): SV3D generates an orbit of the
person guided by the body prior, and the HumanCrafter network reconstructs from the photo
plus generated views.

Stages: photo analysis and body fit as in ``fast``; the photo's camera; the guide (the
posed body rendered as normal-shaded clay from every orbit camera, :mod:`humancrafter.sv3d`);
SV3D's diffusion steps (progress and cancel between steps); then the network on the photo
and :data:`GENERATED_AZIMUTHS`' nearest frames, whose cameras are the photo's camera turned
about the body's vertical axis (the orbit SV3D renders). Weights come from the weights folder
(:mod:`humancrafter.weights`): ``sv3d/``, the checkpoint in ``humancrafter/`` (else the
committed one), DINOv2 when that checkpoint uses it. The splats are rigged to the fitted
body as in ``fast``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from PIL import Image

from .. import weights as wf
from ..errors import InputError
from .base import ModeContext, ModeOutput, PhotoView, ReconstructOptions, StepFn
from .network import _NetworkRunner

if TYPE_CHECKING:  # torch is imported when a job runs, not when the module loads
    import torch

    from ..cameras import Cameras
    from ..sv3d import SV3D

GENERATED_AZIMUTHS = (90.0, 180.0, 270.0)
"""Orbit azimuths (degrees, 90 = the person's left) whose frames join the photo."""
SV3D_STEPS = 50
GUIDE_STRENGTH = 0.85
"""Share of SV3D's noise schedule run from the body-prior guide (1 = plain SV3D)."""
WHITE_THRESHOLD = 0.06
"""A generated pixel is the person where it is this far from white (and near the body)."""
_LARGE_UNET = 320
"""First-block width of the real SV3D-p UNet; that size needs CUDA."""


class FullRunner(_NetworkRunner):
    """Mode ``full``: one photo, SV3D views, the network (see the module docstring)."""

    name: ClassVar[str] = "full"
    stages: ClassVar[tuple[tuple[str, float], ...]] = (
        ("photo", 0.05),
        ("fit", 0.03),
        ("camera", 0.04),
        ("guide", 0.03),
        ("sv3d", 0.6),
        ("prior", 0.05),
        ("network", 0.08),
        ("splats", 0.02),
    )

    def __init__(self, context: ModeContext) -> None:
        super().__init__(context)
        self.root = wf.weights_root(context.weights)
        if self.root is not None and context.checkpoint is None:
            found = wf.checkpoint(self.root)
            if found.found:
                self.checkpoint = found.path
        self._sv3d: SV3D | None = None

    def available(self) -> str | None:
        if self.context.photo_missing:
            return self.context.photo_missing
        if self.root is None:
            return wf.not_set_message()
        sv3d = wf.sv3d(self.root)
        if not sv3d.found:
            return f"needs SV3D in {sv3d.path} (docs/weights.md); {sv3d.describe()}"
        if self.context.device != "cuda" and _unet_width(sv3d.path) >= _LARGE_UNET:
            return "needs a CUDA GPU for the real-size SV3D (this machine has none)"
        if not self.checkpoint.is_file():
            return f"needs the HumanCrafter checkpoint {self.checkpoint}, which is missing"
        from ..model.checkpoint import CheckpointError, read_metadata

        try:
            opt, _ = read_metadata(self.checkpoint)
        except CheckpointError as e:
            return f"needs a readable checkpoint: {e}"
        if opt.semantic_encoder == "external":
            dino = wf.dino(self.root)
            if not dino.found:
                return f"needs DINOv2 for {self.checkpoint.name}; {dino.describe()}"
        return None

    def check_images(self, images: list[Image.Image]) -> None:
        if len(images) != 1:
            raise InputError(f"mode 'full' takes exactly one photo, not {len(images)}")

    def generator(self) -> SV3D:
        """SV3D, loaded once and kept (float16 on CUDA)."""
        if self._sv3d is None:
            import torch

            from ..sv3d import load_sv3d

            assert self.root is not None  # available() said so
            dtype = torch.float16 if self.context.device == "cuda" else torch.float32
            self._sv3d = load_sv3d(self.root / wf.SV3D_DIR, self.context.device, dtype)
        return self._sv3d

    def run(
        self, images: list[Image.Image], options: ReconstructOptions, step: StepFn
    ) -> ModeOutput:
        import torch

        from ..body.mannequin import Appearance, build_primitives
        from ..body.raycast import raycast_primitives
        from ..body.skinning import rig_to_body
        from ..model.predict import predict_splats
        from ..photo_views import output_size, place_cameras, turned, views_from_images
        from ..prior import fit_body
        from ..sv3d import generate_orbit, orbit_azimuths

        timings: dict[str, float] = {}
        current: list = []  # [stage, start time] of the stage that is running

        def stage(name: str | None) -> None:
            if current:
                timings[current[0]] = time.perf_counter() - current[1]
            if name is not None:
                step(name)
                current[:] = [name, time.perf_counter()]

        front_end = self.context.photo
        assert front_end is not None  # available() said so
        stage("photo")
        analysis = front_end.analyze(images[0])
        stage("fit")
        params = fit_body(analysis)
        stage("camera")
        photo_view = place_cameras([analysis], [0.0], params, options.seed)
        cam0 = photo_view.cameras  # (1) at the crop size
        stage("guide")
        sv3d = self.generator()
        R = sv3d.resolution
        azimuths = orbit_azimuths(sv3d.num_frames)
        orbit = turned(cam0, azimuths).resized(R, R)
        with torch.no_grad():
            ray = raycast_primitives(build_primitives(params, Appearance.plain()), orbit)
        guide = _clay(ray.normal, ray.depth > 0, orbit)  # (F, 3, R, R)
        photo = analysis.image.astype(np.float32) / 255
        on_white = photo * analysis.mask[..., None] + (1 - analysis.mask[..., None])
        photo_t = torch.from_numpy(on_white).permute(2, 0, 1)[None]
        photo_t = torch.nn.functional.interpolate(photo_t, size=(R, R), mode="area")[0]
        stage("sv3d")
        frames = generate_orbit(
            sv3d, photo_t, _elevation_deg(cam0), guide=guide, strength=GUIDE_STRENGTH,
            steps=SV3D_STEPS, seed=options.seed,
            on_step=lambda done, total: step("sv3d", done / total),
        )  # fmt: skip
        stage("prior")
        picks = [_nearest(azimuths, a) for a in GENERATED_AZIMUTHS]
        body = torch.nn.functional.max_pool2d(
            (ray.depth > 0).float()[:, None], kernel_size=2 * (R // 24) + 1, stride=1,
            padding=R // 24,
        )[:, 0]  # fmt: skip  # (F, R, R) body silhouette, dilated
        gen_images = [frames[k].permute(1, 2, 0).cpu().numpy() for k in picks]
        gen_masks = [
            ((1 - frames[k].min(0).values > WHITE_THRESHOLD) & (body[k] > 0)).float().numpy()
            for k in picks
        ]
        views = turned(cam0, [0.0] + [azimuths[k] for k in picks])
        net = self.network()
        size = net.opt.image_size
        all_images, all_masks = [photo, *gen_images], [analysis.mask, *gen_masks]
        inputs = views_from_images(all_images, all_masks, views, params, size)
        out_size = output_size(
            float(inputs.mask[:, :1].sum()), net.opt.layers_per_pixel, options.num_gaussians,
            size, analysis.image.shape[0],
        )  # fmt: skip
        out = None
        if out_size != size:
            out = views_from_images(all_images, all_masks, views, params, out_size)
        stage("network")
        with torch.no_grad():
            (splats,) = predict_splats(
                net,
                inputs.to(self.context.device),
                None if out is None else out.to(self.context.device),
            )
        stage("splats")
        splats = rig_to_body(splats, params, self.context.smpl_body, options.seed)
        warnings = list(analysis.warnings)
        if self.context.device != "cuda":
            warnings.append("SV3D ran on the CPU: fine for tiny test weights, slow otherwise")
        stage(None)
        orbit_views = [(azimuths[k], _to_image(frames[k])) for k in range(len(azimuths))]
        return ModeOutput(
            splats, timings, list(dict.fromkeys(warnings)), orbit_views,
            PhotoView.of(cam0, analysis),
        )  # fmt: skip


def _unet_width(sv3d_dir: Path) -> int:
    """The first block width in the UNet's config (320 for SV3D-p), 0 if unreadable."""
    try:
        config = json.loads((sv3d_dir / "unet" / "config.json").read_text())
        return int(config["block_out_channels"][0])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 0


def _clay(normal: torch.Tensor, hit: torch.Tensor, cams: Cameras) -> torch.Tensor:
    """(F, H, W, 3) world normals and (F, H, W) hits -> (F, 3, H, W) grey clay renders on
    white: Lambert shading from a light at the camera, raised above the camera."""
    import torch

    R = cams.viewmats[:, :3, :3]  # (F, 3, 3) world -> camera
    light = torch.tensor([0.0, -0.5, -1.0])  # camera frame (OpenCV: y down, z forward)
    light = light / light.norm()
    light_world = torch.einsum("fji,j->fi", R, light)  # (F, 3)
    shade = (normal * light_world[:, None, None]).sum(-1).clamp(min=0)
    grey = 0.25 + 0.65 * shade
    img = torch.where(hit, grey, torch.ones_like(grey))
    return img[:, None].expand(-1, 3, -1, -1).contiguous()


def _elevation_deg(cam: Cameras) -> float:
    """Elevation of the camera centre above the pelvis's horizontal plane, degrees."""
    c = cam.centers[0]
    return math.degrees(math.atan2(float(c[1]), math.hypot(float(c[0]), float(c[2]))))


def _nearest(azimuths: list[float], target: float) -> int:
    """Index of the azimuth closest to ``target`` on the circle."""
    return min(range(len(azimuths)), key=lambda k: abs((azimuths[k] - target + 180) % 360 - 180))


def _to_image(frame: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> an RGB image."""
    pixels = (frame.permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255)
    return Image.fromarray(pixels.astype(np.uint8))
