"""SV3D-p multi-view generation from diffusers components, guided by the body prior.

SV3D (Voleti et al., ECCV 2024) is Stable Video Diffusion fine-tuned to render an orbit
around the object of one image. Its pieces, loaded from the weights folder's ``sv3d/``
(``docs/weights.md``, diffusers format, offline):

- ``unet``: the spatio-temporal UNet (:class:`SV3DUNet`); 8 input channels = the noisy
  latent and the input image's latent; cross-attention on the CLIP image embedding; camera
  conditioning per frame: sinusoidal embeddings of (cond_aug, polar angle, azimuth), 3 x 256
  = 768 values through the ``add_embedding`` MLP.
- ``vae``: ``AutoencoderKLTemporalDecoder`` (SVD's) or a plain ``AutoencoderKL``.
- ``image_encoder``: ``CLIPVisionModelWithProjection`` (its ``image_embeds``).
- ``scheduler``: ``EulerDiscreteScheduler``.

Guidance by the body (HumanCrafter's "SMPL normal maps guide SV3D"; the paper's code is not
public, this is our training-free reading of it): the posed body prior is rendered from every
orbit camera as a grey clay image shaded by its normals on white, encoded by the VAE, and
the sampler starts from those latents noised to ``strength`` (SDEdit) instead of pure noise,
so each generated frame inherits the body's silhouette, pose and shading layout at that
azimuth while SV3D paints the person's appearance. ``strength = 1`` is plain SV3D.

Shapes: images are (F, 3, R, R) in [0, 1] with R the UNet's resolution (576 for SV3D-p,
see :attr:`SV3D.resolution`); latents (1, F, 4, r, r) with r = R / 8 for SV3D-p.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import UNetSpatioTemporalConditionModel
from diffusers.models.unets.unet_spatio_temporal_condition import (
    UNetSpatioTemporalConditionOutput,
)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class SV3DUNet(UNetSpatioTemporalConditionModel):
    """diffusers' SVD UNet with SV3D's per-frame camera conditioning: ``added_time_ids`` is
    (B, F, 3) — (cond_aug, polar rad, azimuth rad) for every frame — instead of SVD's
    (B, 3) for the whole clip. Same weights and config as the converted SV3D-p UNet."""

    def forward(  # type: ignore[override]
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        added_time_ids: torch.Tensor,
        return_dict: bool = True,
    ) -> UNetSpatioTemporalConditionOutput | tuple:
        """sample (B, F, C_in, h, w), timestep scalar, encoder_hidden_states (B, 1, D_clip),
        added_time_ids (B, F, 3) -> noise prediction (B, F, C_out, h, w)."""
        B, Fr = sample.shape[:2]
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1).expand(B)
        emb = self.time_embedding(self.time_proj(t).to(sample.dtype))  # (B, C_t)
        ids = self.add_time_proj(added_time_ids.flatten()).reshape(B * Fr, -1)  # (B F, 768)
        emb = emb.repeat_interleave(Fr, 0) + self.add_embedding(ids.to(emb.dtype))  # (B F, C_t)
        hidden = encoder_hidden_states.repeat_interleave(Fr, 0)  # (B F, 1, D_clip)
        x = self.conv_in(sample.flatten(0, 1))  # (B F, C0, h, w)
        only_image = torch.zeros(B, Fr, dtype=x.dtype, device=x.device)
        skips: tuple[torch.Tensor, ...] = (x,)
        for block in self.down_blocks:
            kw = {"encoder_hidden_states": hidden} if _cross(block) else {}
            x, res = block(hidden_states=x, temb=emb, image_only_indicator=only_image, **kw)
            skips += res
        x = self.mid_block(
            hidden_states=x, temb=emb, encoder_hidden_states=hidden, image_only_indicator=only_image
        )
        for block in self.up_blocks:
            res, skips = skips[-len(block.resnets) :], skips[: -len(block.resnets)]
            kw = {"encoder_hidden_states": hidden} if _cross(block) else {}
            x = block(
                hidden_states=x, temb=emb, res_hidden_states_tuple=res,
                image_only_indicator=only_image, **kw,
            )  # fmt: skip
        x = self.conv_out(self.conv_act(self.conv_norm_out(x)))  # (B F, C_out, h, w)
        x = x.reshape(B, Fr, *x.shape[1:])
        return UNetSpatioTemporalConditionOutput(sample=x) if return_dict else (x,)


@dataclass
class SV3D:
    """The loaded components (see the module docstring)."""

    unet: SV3DUNet
    vae: torch.nn.Module
    image_encoder: torch.nn.Module
    scheduler: object

    @property
    def resolution(self) -> int:
        """Pixel side of the generated frames: the UNet's latent side times the VAE's
        downsampling (72 x 8 = 576 for SV3D-p)."""
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return factor * int(self.unet.config.sample_size)

    @property
    def num_frames(self) -> int:
        """Frames of one orbit (21 for SV3D-p)."""
        return int(self.unet.config.num_frames)


def load_sv3d(folder: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> SV3D:
    """The components from a diffusers-format folder (``unet/``, ``vae/``,
    ``image_encoder/``, ``scheduler/``), offline."""
    from diffusers import AutoencoderKL, AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import CLIPVisionModelWithProjection

    folder = Path(folder)
    vae_config = AutoencoderKL.load_config(str(folder / "vae"))
    vae_class = (
        AutoencoderKLTemporalDecoder
        if vae_config.get("_class_name") == "AutoencoderKLTemporalDecoder"
        else AutoencoderKL
    )
    kw = {"local_files_only": True, "torch_dtype": dtype}
    diffusers_kw = {**kw, "low_cpu_mem_usage": False}  # without accelerate: no warning
    return SV3D(
        unet=SV3DUNet.from_pretrained(str(folder / "unet"), **diffusers_kw).to(device).eval(),
        vae=vae_class.from_pretrained(str(folder / "vae"), **diffusers_kw).to(device).eval(),
        image_encoder=CLIPVisionModelWithProjection.from_pretrained(
            str(folder / "image_encoder"), **kw
        )
        .to(device)
        .eval(),
        scheduler=EulerDiscreteScheduler.from_pretrained(
            str(folder / "scheduler"), local_files_only=True
        ),
    )


def orbit_azimuths(num_frames: int) -> list[float]:
    """SV3D-p's orbit: ``num_frames`` azimuths (degrees, relative to the input view, 90 =
    the person's left) evenly round the circle, the last one the input view itself (0)."""
    return [(360.0 * (k + 1) / num_frames) % 360.0 for k in range(num_frames)]


def triangle_guidance(num_frames: int, low: float = 1.0, high: float = 2.5) -> torch.Tensor:
    """(F,) classifier-free guidance per frame as SV3D's sampler: ``low`` at the ends of the
    orbit (near the input view), rising to ``high`` half-way round (the unseen back)."""
    k = torch.arange(num_frames, dtype=torch.float32)
    half = (num_frames - 1) / 2
    return low + (high - low) * (1 - (k - half).abs() / max(half, 1e-6))


@torch.no_grad()
def generate_orbit(
    sv3d: SV3D,
    image: torch.Tensor,
    elevation_deg: float,
    guide: torch.Tensor | None = None,
    strength: float = 0.85,
    steps: int = 50,
    seed: int = 0,
    cond_aug: float = 1e-5,
    on_step: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """An orbit of views of the object in ``image``.

    Args:
        image: (3, R, R) in [0, 1], the person on white, centred (R = ``sv3d.resolution``).
        elevation_deg: the input camera's elevation (degrees above the horizon).
        guide: optional (F, 3, R, R) in [0, 1] body-prior renders at
            :func:`orbit_azimuths`; the sampler starts from them noised to ``strength``.
        strength: share of the noise schedule run from the guide (1 = from pure noise).
        steps: Euler steps of the full schedule (``strength * steps`` are run).
        on_step: called as on_step(done, total) after each step (raise to cancel).
    Returns:
        (F, 3, R, R) frames in [0, 1] at :func:`orbit_azimuths`.
    """
    unet, vae, scheduler = sv3d.unet, sv3d.vae, sv3d.scheduler
    device, dtype = unet.device, unet.dtype
    Fr, R = sv3d.num_frames, sv3d.resolution
    gen = torch.Generator().manual_seed(seed)
    if tuple(image.shape) != (3, R, R):
        raise ValueError(f"the image must be (3, {R}, {R}), got {tuple(image.shape)}")
    x = image[None].to(device, torch.float32)  # (1, 3, R, R)
    # CLIP image embedding (cross-attention); zeros for the unconditional half.
    side = int(sv3d.image_encoder.config.image_size)
    clip_in = F.interpolate(x, size=(side, side), mode="bicubic", antialias=True).clamp(0, 1)
    mean = torch.tensor(CLIP_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=device).view(1, 3, 1, 1)
    embeds = sv3d.image_encoder(((clip_in - mean) / std).to(dtype)).image_embeds[:, None]
    embeds = torch.cat([torch.zeros_like(embeds), embeds])  # (2, 1, D)
    # The input image's latent, concatenated to every frame's noisy latent.
    noisy = x * 2 - 1 + cond_aug * torch.randn(x.shape, generator=gen).to(device)
    cond = vae.encode(noisy.to(dtype)).latent_dist.mode()  # (1, 4, r, r)
    cond = cond[:, None].expand(1, Fr, *cond.shape[1:])
    cond = torch.cat([torch.zeros_like(cond), cond])  # (2, F, 4, r, r)
    azimuths = torch.tensor([math.radians(a) for a in orbit_azimuths(Fr)])
    polar = math.radians(90.0 - elevation_deg)
    ids = torch.stack([torch.full((Fr,), cond_aug), torch.full((Fr,), polar), azimuths], -1)
    ids = ids[None].expand(2, Fr, 3).to(device, dtype)  # (2, F, 3)
    scale = triangle_guidance(Fr).to(device, dtype).view(1, Fr, 1, 1, 1)

    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps
    shape = (1, *cond.shape[1:])  # (1, F, 4, r, r)
    noise = torch.randn(shape, generator=gen).to(device, dtype)
    first = 0
    if guide is not None and strength < 1.0:
        first = min(steps - 1, int(round(steps * (1.0 - strength))))
        g = guide.to(device, dtype) * 2 - 1  # (F, 3, R, R)
        g = vae.encode(g).latent_dist.mode() * vae.config.scaling_factor  # (F, 4, r, r)
        scheduler.set_begin_index(first)
        latents = scheduler.add_noise(g[None], noise, timesteps[first : first + 1])
    else:
        scheduler.set_begin_index(0)
        latents = noise * scheduler.init_noise_sigma
    todo = timesteps[first:]
    for i, t in enumerate(todo):
        model_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        model_in = torch.cat([model_in, cond.to(dtype)], dim=2)  # (2, F, 8, r, r)
        pred = unet(model_in, t, embeds, ids, return_dict=False)[0]
        uncond, condl = pred.chunk(2)
        pred = uncond + scale * (condl - uncond)
        latents = scheduler.step(pred, t, latents).prev_sample
        if on_step is not None:
            on_step(i + 1, len(todo))
    z = latents[0] / vae.config.scaling_factor  # (F, 4, r, r)
    temporal = "num_frames" in inspect.signature(vae.decode).parameters
    frames = []
    for k in range(0, Fr, 7):  # decode a few frames at a time (memory)
        chunk = z[k : k + 7]
        kw = {"num_frames": len(chunk)} if temporal else {}
        frames.append(vae.decode(chunk, **kw).sample.float())
    return ((torch.cat(frames) + 1) / 2).clamp(0, 1)


def _cross(block: torch.nn.Module) -> bool:
    """Whether a UNet block takes the CLIP embedding (diffusers marks only those)."""
    return bool(getattr(block, "has_cross_attention", False))
