"""Grouped-query attention with an additive bias, and pixel-aligned aggregation.

The paper's cross-view transformer block attends with softmax(Q K^T / sqrt(d) + B) V, where
K and V have fewer heads than Q (grouped-query attention) and B is an additive bias. The
same attention probabilities, with the semantic encoder's features f as the values, give
the *pixel-aligned aggregation* of the semantic prior: no new parameters.

:func:`attention_probabilities` is the readable reference; the model itself uses
``torch.nn.functional.scaled_dot_product_attention`` (fused, never materialises the
probabilities), and tests check the two agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, Hkv, N, d) -> (B, Hkv * groups, N, d): each K/V head serves ``groups`` Q heads."""
    return x.repeat_interleave(groups, dim=1)


def attention_probabilities(q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + B), the reference.

    Args:
        q: (B, H, N, d). k: (B, Hkv, N, d) with Hkv dividing H. bias: (H, N, N) or
            broadcastable to (B, H, N, N).
    Returns:
        (B, H, N, N) attention probabilities (rows sum to 1).
    """
    k = repeat_kv(k, q.shape[1] // k.shape[1])
    logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5 + bias
    return logits.softmax(dim=-1)


def attend(
    q: torch.Tensor, k: torch.Tensor, values: torch.Tensor, bias: torch.Tensor
) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + B) @ values, fused.

    Args:
        q: (B, H, N, d). k: (B, Hkv, N, d). values: (B, Hv, N, dv) with Hv = Hkv (the block's
            own V) or Hv = H (features split across the query heads, as in aggregation).
        bias: (H, N, N), additive.
    Returns:
        (B, H, N, dv).
    """
    groups = q.shape[1] // k.shape[1]
    k = repeat_kv(k, groups)
    if values.shape[1] != q.shape[1]:
        values = repeat_kv(values, groups)
    return F.scaled_dot_product_attention(q, k, values, attn_mask=bias.to(q.dtype))


class GQAttention(nn.Module):
    """Grouped-query self-attention with an additive bias.

    Args:
        dim: token width. heads: query heads. kv_heads: key/value heads (divides heads).
    """

    def __init__(self, dim: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(dim, 2 * kv_heads * self.head_dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def queries_keys(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, dim) -> q (B, H, N, d), k and v (B, Hkv, N, d)."""
        B, N, _ = x.shape
        q = self.q(x).view(B, N, self.heads, self.head_dim).transpose(1, 2)
        k, v = self.kv(x).view(B, N, 2, self.kv_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def forward(
        self, x: torch.Tensor, bias: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(B, N, dim), bias (H, N, N) -> (B, N, dim) and (q, k) for re-use by aggregation."""
        B, N, D = x.shape
        q, k, v = self.queries_keys(x)
        y = attend(q, k, v, bias)  # (B, H, N, d)
        return self.out(y.transpose(1, 2).reshape(B, N, D)), (q, k)


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(RMSNorm(x)), then x + MLP(RMSNorm(x)) (GELU)."""

    def __init__(self, dim: int, heads: int, kv_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(dim), nn.RMSNorm(dim)
        self.attn = GQAttention(dim, heads, kv_heads)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(
        self, x: torch.Tensor, bias: torch.Tensor
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """(B, N, dim) -> (B, N, dim) and the attention's (q, k)."""
        a, qk = self.attn(self.norm1(x), bias)
        x = x + a
        return x + self.mlp(self.norm2(x)), qk


def pixel_aligned_aggregation(
    q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor, features: torch.Tensor
) -> torch.Tensor:
    """Aggregate semantic features with the transformer's own attention (no parameters).

    Args:
        q: (B, H, N, d), k: (B, Hkv, N, d): a block's queries and keys. bias: (H, N, N).
        features: (B, N, F) per-token semantic features f, F divisible by H.
    Returns:
        (B, N, F): for each head h, softmax(Q_h K_h^T / sqrt(d) + B_h) @ f_h, where f_h is
        the h-th slice of F / H channels; the heads' results concatenated.
    """
    B, H, N, _ = q.shape
    f = features.view(B, N, H, -1).transpose(1, 2)  # (B, H, N, F/H)
    return attend(q, k, f, bias).transpose(1, 2).reshape(B, N, -1)


class AttentionBias(nn.Module):
    """The additive attention bias B: a learned bias per head for each relative patch
    offset within a view, and one learned bias per head for pairs in different views.

    Args:
        heads: attention heads. grid: patches per side of a view.
    """

    def __init__(self, heads: int, grid: int) -> None:
        super().__init__()
        self.grid = grid
        self.relative = nn.Parameter(torch.zeros(heads, (2 * grid - 1) ** 2))
        self.cross_view = nn.Parameter(torch.zeros(heads))

    def forward(self, views: int) -> torch.Tensor:
        """(H, N, N) bias for ``views`` views of grid x grid tokens (N = views * grid²),
        tokens ordered view-major, then row-major within a view."""
        g = self.grid
        ij = torch.stack(torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij"), -1).view(
            -1, 2
        )  # (g², 2)
        rel = ij[:, None, :] - ij[None, :, :] + (g - 1)  # (g², g², 2) in [0, 2g-2]
        idx = (rel[..., 0] * (2 * g - 1) + rel[..., 1]).to(self.relative.device)
        within = self.relative[:, idx]  # (H, g², g²)
        view = torch.arange(views, device=idx.device).repeat_interleave(g * g)
        same = view[:, None] == view[None, :]
        return torch.where(same, within.repeat(1, views, views), self.cross_view[:, None, None])
