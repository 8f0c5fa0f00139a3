"""The HumanCrafter network (paper Sec. 3): V views in, semantic 3D Gaussians out.

Read top to bottom; shapes use B objects, V views, H x W pixels, p the patch size,
h = H / p, w = W / p, N = V h w tokens, D the token width, L Gaussians per pixel.

1. Input image per view (:func:`.inputs.input_channels`): photo, mask, Plücker rays and,
   in ``fast`` mode, the posed body prior rendered from the view's camera.
2. Patch tokens from a strided convolution; all views' tokens in one sequence.
3. Cross-view transformer: grouped-query attention blocks, RMSNorm pre-norm, GELU MLP,
   additive attention bias B (:class:`.attention.AttentionBias`).
4. Semantic prior: per-patch features f of the semantic encoder (a small conv encoder
   trained with the network, or a frozen external one such as DINOv2) aggregated with the
   last block's own attention probabilities (pixel-aligned aggregation, no parameters).
5. Per-pixel decoder: tokens and aggregated features back to full resolution (pixel
   shuffle), joined with a full-resolution view of the input, then the Gaussian heads.
6. Activations (:func:`.gaussians.activate`): L Gaussians per person pixel.

The part decoder (a 1x1 convolution from rendered embeddings to NUM_PARTS logits) lives
here too; losses do not (see :mod:`humancrafter.training.losses`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..portable.parts import NUM_PARTS
from .attention import AttentionBias, Block, pixel_aligned_aggregation
from .gaussians import PixelGaussians, activate, head_channels
from .inputs import ViewInputs, input_channels, num_input_channels
from .options import ModelOptions

CODE_SEED = 20251102
"""Seed of the fixed class codes (the part decoder's initial weights)."""
CODE_GAIN = 6.0
"""Initial part-decoder gain: a Gaussian carrying class c's code gets logit 6 for c."""


class SmallSemanticEncoder(nn.Module):
    """A small convolutional encoder trained with the network: (B V, 3, H, W) photo in
    [0, 1] -> (B V, F, h, w) per-patch features (log2(p) stride-2 convolutions, GELU)."""

    def __init__(self, patch: int, out_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        steps = int(round(torch.log2(torch.tensor(float(patch))).item()))
        for i in range(steps):
            nxt = out_dim if i == steps - 1 else min(out_dim, 32 * 2**i)
            layers += [nn.Conv2d(c, nxt, 3, stride=2, padding=1), nn.GELU()]
            c = nxt
        self.net = nn.Sequential(*layers[:-1])  # no activation on the features themselves

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(rgb * 2 - 1)


class HumanCrafterNet(nn.Module):
    """Views in, per-pixel semantic Gaussians out.

    Args:
        opt: the options (:mod:`.options`).
        semantic_encoder: for ``opt.semantic_encoder == "external"``, a frozen module mapping
            (B V, 3, H, W) photos in [0, 1] to (B V, semantic_dim, h, w) features.
    """

    def __init__(self, opt: ModelOptions, semantic_encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.opt = opt
        p, D, C = opt.patch_size, opt.dim, opt.decoder_channels
        c_in = num_input_channels(opt.use_prior)
        grid = opt.image_size // p
        self.patch_embed = nn.Conv2d(c_in, D, p, stride=p)
        self.bias = AttentionBias(opt.heads, grid)
        self.blocks = nn.ModuleList(
            Block(D, opt.heads, opt.kv_heads, opt.mlp_ratio) for _ in range(opt.depth)
        )
        self.norm = nn.RMSNorm(D)
        if opt.semantic_encoder == "small":
            self.semantic = SmallSemanticEncoder(p, opt.semantic_dim)
        elif semantic_encoder is None:
            raise ValueError("semantic_encoder 'external' needs the encoder module passed in")
        else:
            self.semantic = semantic_encoder.requires_grad_(False).eval()
        f_dim = opt.semantic_dim if opt.pixel_aligned_aggregation else 0
        self.unpatch = nn.Conv2d(D + f_dim, C * p * p, 1)
        self.skip = nn.Sequential(nn.Conv2d(c_in, C, 3, padding=1), nn.GELU())
        self.decoder = nn.Sequential(
            nn.Conv2d(2 * C, C, 3, padding=1), nn.GELU(),
            nn.Conv2d(C, C, 3, padding=1), nn.GELU(),
        )  # fmt: skip
        self.head = nn.Conv2d(C, head_channels(opt), 1)
        nn.init.zeros_(self.head.weight)  # step 0: the prior and the photo's own colours
        nn.init.zeros_(self.head.bias)
        gen = torch.Generator().manual_seed(CODE_SEED)
        codes = F.normalize(torch.randn(NUM_PARTS, opt.embed_dim, generator=gen), dim=-1)
        self.register_buffer("codes", codes)
        self.part_decoder = nn.Conv2d(opt.embed_dim, NUM_PARTS, 1)
        with torch.no_grad():
            self.part_decoder.weight.copy_(CODE_GAIN * codes[:, :, None, None])
            self.part_decoder.bias.zero_()

    def forward(self, inputs: ViewInputs, out: ViewInputs | None = None) -> PixelGaussians:
        """Views -> Gaussians (see the module docstring for the steps and shapes).

        Args:
            inputs: the views at ``image_size``.
            out: optionally the same views at a finer resolution (same cameras, intrinsics
                scaled; photo, mask and prior at that resolution): the raw head outputs are
                upsampled bilinearly to it, so there are L Gaussians per *output* pixel,
                coloured from the finer photo. None: Gaussians at ``image_size``.
        """
        opt = self.opt
        B, V, H, W = inputs.shape
        p = opt.patch_size
        h, w = H // p, W // p
        if H != opt.image_size or W != opt.image_size:
            raise ValueError(f"views must be {opt.image_size} px square, got {W}x{H}")
        x_in = input_channels(inputs, opt.use_prior)  # (B V, C_in, H, W)
        tokens = self.patch_embed(x_in)  # (B V, D, h, w)
        x = tokens.flatten(2).transpose(1, 2).reshape(B, V * h * w, -1)  # (B, N, D)
        bias = self.bias(V)  # (heads, N, N)
        for block in self.blocks:
            x, (q, k) = block(x, bias)  # (B, N, D); q (B, H, N, d), k (B, Hkv, N, d)
        x = self.norm(x)
        grids = [x.reshape(B * V, h * w, -1).transpose(1, 2).reshape(B * V, -1, h, w)]
        if opt.pixel_aligned_aggregation:
            f = self.semantic(inputs.rgb.flatten(0, 1))  # (B V, F, h, w)
            f = f.flatten(2).transpose(1, 2).reshape(B, V * h * w, -1)  # (B, N, F)
            agg = pixel_aligned_aggregation(q, k, bias, f)  # (B, N, F)
            grids.append(agg.reshape(B * V, h * w, -1).transpose(1, 2).reshape(B * V, -1, h, w))
        y = F.pixel_shuffle(self.unpatch(torch.cat(grids, 1)), p)  # (B V, C, H, W)
        y = self.decoder(torch.cat([y, self.skip(x_in)], 1))  # (B V, C, H, W)
        raw = self.head(y)  # (B V, L c, H, W)
        target = inputs if out is None else out
        Ho, Wo = target.shape[2:]
        if (Ho, Wo) != (H, W):
            raw = F.interpolate(raw, size=(Ho, Wo), mode="bilinear", align_corners=False)
        raw = raw.view(B, V, opt.layers_per_pixel, -1, Ho, Wo)  # (B, V, L, c, H', W')
        return activate(raw, target, opt, self.codes)

    def part_logits(self, embed: torch.Tensor) -> torch.Tensor:
        """Semantic embeddings -> part logits with the 1x1 part decoder.

        Args:
            embed: (..., E) per Gaussian or (N, E, H, W) rendered maps.
        Returns:
            (..., NUM_PARTS) or (N, NUM_PARTS, H, W).
        """
        if embed.dim() == 4 and embed.shape[1] == self.opt.embed_dim:
            return self.part_decoder(embed)
        weight = self.part_decoder.weight[:, :, 0, 0]
        return embed @ weight.T + self.part_decoder.bias
