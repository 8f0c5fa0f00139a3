"""The network's options: one dataclass, a comment per field, named presets.

``tiny`` is the embedded default (trained on a CPU, committed as the default checkpoint);
``paper`` is the paper's scale (GPU training). A checkpoint stores its options, so a
loaded model always has the shape it was trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class ModelOptions:
    """Shape and behaviour of :class:`humancrafter.model.network.HumanCrafterNet`."""

    # --- input views
    image_size: int = 128  # side of each square input view, pixels (a multiple of patch_size)
    patch_size: int = 8  # side of one patch token, pixels
    use_prior: bool = True  # feed the posed body prior (depth, normals, parts) as channels
    prior_skip: bool = True  # depth, colour and parts start from prior / pixel (tiny) or not
    # --- cross-view transformer
    dim: int = 256  # token width
    depth: int = 4  # number of transformer blocks
    heads: int = 8  # query heads
    kv_heads: int = 2  # key/value heads (grouped-query attention; divides heads)
    mlp_ratio: float = 4.0  # feed-forward width / dim
    # --- semantic prior
    semantic_encoder: str = "small"  # "small" (trained with the net) or "external" (frozen, given)
    semantic_dim: int = 64  # width of the encoder's per-patch features f (divisible by heads)
    pixel_aligned_aggregation: bool = True  # re-use the attention probabilities with f
    # --- per-pixel heads
    decoder_channels: int = 48  # width of the full-resolution decoder convs
    layers_per_pixel: int = 2  # Gaussians per person pixel: front surface, back surface, ...
    embed_dim: int = 16  # semantic embedding per Gaussian, decoded to part logits by a 1x1 conv
    depth_residual: float = 0.08  # bound (model units) of the depth correction to the prior
    offset_scale: float = 0.03  # bound (model units) of the 3D offset Delta
    mask_dilation: int = 1  # person mask dilation (pixels) where Gaussians are made

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError("image_size must be a multiple of patch_size")
        if self.heads % self.kv_heads:
            raise ValueError("kv_heads must divide heads")
        if self.dim % self.heads:
            raise ValueError("heads must divide dim")
        if self.semantic_dim % self.heads:
            raise ValueError("heads must divide semantic_dim")
        if self.layers_per_pixel < 1:
            raise ValueError("layers_per_pixel must be at least 1")
        if self.semantic_encoder not in ("small", "external"):
            raise ValueError("semantic_encoder is 'small' or 'external'")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> ModelOptions:
        """Options from a dict; unknown keys are refused with their names."""
        known = {f.name for f in fields(ModelOptions)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown model options: {', '.join(unknown)}")
        return ModelOptions(**d)


PRESETS: dict[str, ModelOptions] = {
    "tiny": ModelOptions(),
    "paper": ModelOptions(
        image_size=512,
        patch_size=16,
        prior_skip=False,
        dim=768,
        depth=12,
        heads=12,
        kv_heads=4,
        semantic_encoder="external",  # DINOv2-S/14 with registers (full-scale path)
        semantic_dim=384,
        decoder_channels=64,
        embed_dim=32,
    ),
}
"""Named configurations (``--preset`` in the training config)."""


def preset(name: str, **overrides: object) -> ModelOptions:
    """A named preset with some fields replaced."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)  # type: ignore[arg-type]
