"""LPIPS, the learned perceptual image distance (Zhang et al. 2018, VGG-16 variant, v0.1),
from a local state dict, without torchvision.

The network is the ``lpips`` package's ``LPIPS(net="vgg")``, rebuilt here in plain PyTorch
so that it loads that package's weights file as it is (its keys are mapped, nothing is
converted): VGG-16's 13 convolutions as ``torchvision.models.vgg16().features``, cut after
relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3; each cut's features unit-normalised over
channels, their squared difference weighted per channel by a 1 x 1 convolution (the
learned "lin" layers), averaged over the image and summed over the five cuts. Why not the
package: it imports torchvision, which cannot be installed beside this project's CPU
build of PyTorch, and it downloads VGG's weights when none are given; here the weights
come only from the file the user names (docs/weights.md says how to make it).

Used by training (``[loss] lpips``, ``[train] lpips_weights``) and by ``humancrafter eval
--lpips-weights``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
"""torchvision's VGG-16 ``features`` up to relu5_3: convolution widths, "M" a 2 x 2 max pool."""
CUTS = (4, 9, 16, 23, 30)
"""``features`` indices after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (the lpips slices)."""
CHANNELS = (64, 128, 256, 512, 512)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    c = 3
    for v in VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU()]
            c = int(v)
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """(N, 3, H, W) x 2 images in [-1, 1] -> (N,) distances (0 for equal images)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None])

    def _cuts(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        x = (x.to(self.shift.dtype) - self.shift) / self.scale  # float64 renders too
        for end in CUTS:
            x = self.features[start:end](x)
            out.append(x / (x.square().sum(1, keepdim=True).sqrt() + EPS))
            start = end
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        total = a.new_zeros(a.shape[0])
        for lin, fa, fb in zip(self.lins, self._cuts(a), self._cuts(b), strict=True):
            total = total + lin((fa - fb).square()).mean(dim=(1, 2, 3))
        return total


_KEY = re.compile(
    r"^(?:net\.slice\d\.(\d+)\.(weight|bias)"  # VGG: net.slice2.5.weight -> features.5.weight
    r"|lins?\.?(\d)\.model\.1\.weight"  # lin2.model.1.weight / lins.2.model.1.weight
    r"|scaling_layer\.(shift|scale))$"
)


def _our_key(key: str) -> str | None:
    """The lpips package's state-dict key -> ours (None: a key we do not need). The
    package holds each linear layer twice, as ``linK`` and ``lins.K``; either will do."""
    m = _KEY.match(key)
    if m is None:
        return None
    index, kind, lin, buffer = m.groups()
    if index is not None:
        return f"features.{index}.{kind}"
    if lin is not None:
        return f"lins.{lin}.weight"
    return buffer


def load_lpips(path: str | Path, device: str | torch.device = "cpu") -> LPIPS:
    """The frozen LPIPS network from a local file: the state dict of the ``lpips``
    package's ``LPIPS(net="vgg")`` (``torch.save`` of it, or a safetensors file with the
    same keys).

    Raises:
        ValueError: the file is missing, unreadable, or lacks some of the network's
            weights (the message names them).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"LPIPS weights {path} do not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same message
        raise ValueError(f"LPIPS weights {path} could not be read ({e})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"LPIPS weights {path} hold no state dict")
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        net = LPIPS()
    state = {k2: v for k, v in raw.items() if (k2 := _our_key(str(k))) is not None}
    state.setdefault("shift", torch.tensor(SHIFT)[None, :, None, None])
    state.setdefault("scale", torch.tensor(SCALE)[None, :, None, None])
    missing = [k for k in net.state_dict() if k not in state]
    if missing:
        raise ValueError(
            f"LPIPS weights {path} are not the lpips package's VGG network: "
            f"{len(missing)} weights missing ({', '.join(missing[:4])}, ...)"
        )
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, assign=True)
    except RuntimeError as e:
        raise ValueError(f"LPIPS weights {path} have the wrong shapes ({e})") from None
    return net.to(device).eval().requires_grad_(False)


def lpips_distance(net: LPIPS, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distances of (N, H, W, 3) images in [0, 1] (the renderer's layout): (N,)."""
    return net(a.permute(0, 3, 1, 2) * 2 - 1, b.permute(0, 3, 1, 2) * 2 - 1)
