"""A weights folder of tiny randomly initialised models in the real on-disk formats
(``save_pretrained`` of the real transformers / diffusers classes), laid out as
``docs/weights.md`` says: what the full-scale loaders are tested with in CI. Also an LPIPS
file in the lpips package's state-dict layout, with random values (full size: VGG-16)."""

from __future__ import annotations

from pathlib import Path

import torch

DINO_DIM = 16
"""Feature width of the tiny DINOv2 (the real ViT-S/14 has 384)."""

# The lpips package's LPIPS(net="vgg") layout, written out here rather than imported from
# humancrafter.perceptual, so that a slip in the module's constants cannot agree with
# itself: torchvision's vgg16 features and the package's five slices of them.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
CUTS = (4, 9, 16, 23, 30)
CHANNELS = (64, 128, 256, 512, 512)


def lpips_package_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """What ``lpips.LPIPS(net="vgg").state_dict()`` holds, with random values."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {
        "scaling_layer.shift": torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None],
        "scaling_layer.scale": torch.tensor([0.458, 0.448, 0.450])[None, :, None, None],
    }
    index, c = 0, 3
    for v in VGG16:
        if v == "M":
            index += 1
            continue
        k = next(s for s, end in enumerate(CUTS, 1) if index < end)
        w = torch.randn(int(v), c, 3, 3, generator=g) * (2 / (9 * c)) ** 0.5
        state[f"net.slice{k}.{index}.weight"] = w
        state[f"net.slice{k}.{index}.bias"] = torch.randn(int(v), generator=g) * 0.01
        index, c = index + 2, int(v)  # the convolution and its ReLU
    for k, ch in enumerate(CHANNELS):
        lin = torch.rand(1, ch, 1, 1, generator=g)
        state[f"lin{k}.model.1.weight"] = lin
        state[f"lins.{k}.model.1.weight"] = lin  # the package's ModuleList repeats them
    return state


def write_lpips_weights(path: Path, seed: int = 0) -> Path:
    """``torch.save`` of :func:`lpips_package_state`, as a user would make the file."""
    torch.save(lpips_package_state(seed), path)
    return path


def write_tiny_weights(root: Path, dino: bool = True, sv3d: bool = True) -> Path:
    """Write the tiny models into ``root`` (created); returns ``root``."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import (
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
        Dinov2WithRegistersConfig,
        Dinov2WithRegistersModel,
    )

    from humancrafter import weights as wf
    from humancrafter.sv3d import SV3DUNet

    torch.manual_seed(0)
    root.mkdir(parents=True, exist_ok=True)
    if dino:
        config = Dinov2WithRegistersConfig(
            hidden_size=DINO_DIM, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, patch_size=14, image_size=56, num_register_tokens=4,
        )  # fmt: skip
        Dinov2WithRegistersModel(config).save_pretrained(root / wf.DINO_DIR)
    if sv3d:
        folder = root / wf.SV3D_DIR
        SV3DUNet(
            sample_size=4, in_channels=8, out_channels=4,
            down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
            up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
            block_out_channels=(32, 32), addition_time_embed_dim=8,
            projection_class_embeddings_input_dim=24, layers_per_block=1,
            cross_attention_dim=16, num_attention_heads=(2, 2), num_frames=6,
        ).save_pretrained(folder / "unet")  # fmt: skip
        AutoencoderKLTemporalDecoder(
            down_block_types=("DownEncoderBlock2D",) * 4, block_out_channels=(32,) * 4,
            layers_per_block=1, latent_channels=4,
        ).save_pretrained(folder / "vae")  # fmt: skip
        clip = CLIPVisionConfig(
            hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
            image_size=32, patch_size=8, projection_dim=16,
        )  # fmt: skip
        CLIPVisionModelWithProjection(clip).save_pretrained(folder / "image_encoder")
        EulerDiscreteScheduler(
            prediction_type="v_prediction", use_karras_sigmas=True, timestep_type="continuous",
            sigma_max=700.0, sigma_min=0.002, beta_schedule="scaled_linear",
            beta_start=0.00085, beta_end=0.012,
        ).save_pretrained(folder / "scheduler")  # fmt: skip
    return root
