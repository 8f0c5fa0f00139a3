"""DINOv2 with registers as the frozen semantic encoder (paper Sec. 3.3), through
``transformers`` from a local folder — never downloaded.

The network's pixel-aligned aggregation needs per-patch features f on its own patch grid
(h x w = image_size / patch_size). DINOv2 has 14-pixel patches, so each view is resized to
(14 h) x (14 w) pixels, normalised with the ImageNet mean and std DINOv2 was trained with,
and its patch tokens (CLS and register tokens dropped) come back as a (N, hidden, h, w)
grid, one feature per network patch. The same features of the *target* views are the
distillation target in training (1 - cos, lambda_dist = 0.5).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DinoEncoder(nn.Module):
    """Frozen ``Dinov2WithRegistersModel``: (N, 3, H, W) photos in [0, 1] ->
    (N, hidden, H / stride, W / stride) patch features.

    Args:
        model: a loaded ``transformers.Dinov2WithRegistersModel``.
        stride: the network's patch size in pixels (features come on its grid).
    Attributes:
        dim: the feature width (hidden size: 384 for ViT-S/14).
    """

    def __init__(self, model: nn.Module, stride: int) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.stride = stride
        self.patch = int(model.config.patch_size)
        self.registers = int(getattr(model.config, "num_register_tokens", 0))
        self.dim = int(model.config.hidden_size)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def train(self, mode: bool = True) -> DinoEncoder:
        """Always frozen: stays in eval mode whatever the network around it does."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) in [0, 1] -> (N, dim, H // stride, W // stride)."""
        N, _, H, W = images.shape
        h, w = H // self.stride, W // self.stride
        x = F.interpolate(
            images.float(), size=(h * self.patch, w * self.patch), mode="bilinear",
            align_corners=False, antialias=True,
        )  # fmt: skip
        x = (x - self.mean) / self.std
        tokens = self.model(pixel_values=x).last_hidden_state  # (N, 1 + R + h w, dim)
        patches = tokens[:, 1 + self.registers :]  # (N, h w, dim)
        return patches.transpose(1, 2).reshape(N, self.dim, h, w)


def load_dino(folder: str | Path, stride: int, device: str = "cpu") -> DinoEncoder:
    """The encoder from a Hugging Face folder (``config.json`` + ``model.safetensors``),
    offline. Raises ``FileNotFoundError`` naming the folder when it is not one."""
    from transformers import Dinov2WithRegistersModel

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no DINOv2 model in {folder} (config.json is missing)")
    model = Dinov2WithRegistersModel.from_pretrained(str(folder), local_files_only=True)
    return DinoEncoder(model, stride).to(device)


def dino_from_weights(
    weights: str | Path | None, stride: int, width: int, device: str, user: str
) -> DinoEncoder:
    """The DINOv2 of the weights folder (:mod:`humancrafter.weights`; None is
    ``$HUMANCRAFTER_WEIGHTS``) for a model with ``width``-wide semantic features. Raises
    ``ValueError`` saying what is missing or wrong; ``user`` names who needs it."""
    from .. import weights as wf

    root = wf.weights_root(weights)
    if root is None:
        raise ValueError(f"{user} uses DINOv2 and {wf.not_set_message()}")
    component = wf.dino(root)
    if not component.found:
        raise ValueError(f"{user} uses DINOv2, which is {component.describe()}")
    encoder = load_dino(component.path, stride, device)
    if encoder.dim != width:
        raise ValueError(
            f"{user} expects {width}-wide semantic features; the DINOv2 in "
            f"{component.path} gives {encoder.dim}"
        )
    return encoder
