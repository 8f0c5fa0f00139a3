"""LPIPS from a local file (humancrafter.perceptual): random weights in the lpips
package's own state-dict layout (the real file format; its trained weights are not
here), against an explicit recomputation of the lpips recipe from the raw tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tiny_weights import CUTS, VGG16, lpips_package_state

from humancrafter.perceptual import load_lpips, lpips_distance


def _reference(state: dict[str, torch.Tensor], a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The lpips recipe written out: scale, VGG slices, unit-normalise, lin, mean, sum."""

    def cuts(x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - state["scaling_layer.shift"]) / state["scaling_layer.scale"]
        out, index = [], 0
        for v in VGG16:
            if v == "M":
                x, index = F.max_pool2d(x, 2, 2), index + 1
                continue
            k = next(s for s, end in enumerate(CUTS, 1) if index < end)
            w, bias = state[f"net.slice{k}.{index}.weight"], state[f"net.slice{k}.{index}.bias"]
            x, index = F.relu(F.conv2d(x, w, bias, padding=1)), index + 2
            if index in CUTS:
                out.append(x / (torch.sqrt((x**2).sum(1, keepdim=True)) + 1e-10))
        return out

    total = torch.zeros(a.shape[0])
    for k, (fa, fb) in enumerate(zip(cuts(a), cuts(b), strict=True)):
        total += F.conv2d((fa - fb) ** 2, state[f"lin{k}.model.1.weight"]).mean(dim=(1, 2, 3))
    return total


def test_lpips_loads_the_package_layout_and_matches_the_recipe(tmp_path):
    state = lpips_package_state()
    path = tmp_path / "lpips_vgg.pth"
    torch.save(state, path)
    net = load_lpips(path)
    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 32, 32, 3, generator=g)
    b = (a + 0.2 * torch.randn(2, 32, 32, 3, generator=g)).clamp(0, 1)
    d = lpips_distance(net, a, b)
    ref = _reference(state, a.permute(0, 3, 1, 2) * 2 - 1, b.permute(0, 3, 1, 2) * 2 - 1)
    assert d.shape == (2,)
    assert torch.allclose(d, ref, rtol=1e-4, atol=1e-6)
    assert float(lpips_distance(net, a, a).abs().max()) == 0.0
    further = (a + 0.5 * torch.randn(2, 32, 32, 3, generator=g)).clamp(0, 1)
    assert (lpips_distance(net, a, further) > d).all()  # more noise, further away
    # frozen, but differentiable in the images (it is a training loss)
    assert not any(p.requires_grad for p in net.parameters())
    x = b.clone().requires_grad_(True)
    lpips_distance(net, a, x).sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_lpips_safetensors_and_bad_files(tmp_path):
    state = lpips_package_state()
    st = tmp_path / "lpips_vgg.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if not k.startswith("lins.")}, str(st))
    a = torch.rand(1, 32, 32, 3)
    pth = tmp_path / "lpips_vgg.pth"
    torch.save(state, pth)
    assert torch.allclose(
        lpips_distance(load_lpips(st), a, 1 - a), lpips_distance(load_lpips(pth), a, 1 - a)
    )
    only_lins = tmp_path / "only_lins.pth"  # the ModuleList's copy of the linear layers
    torch.save({k: v for k, v in state.items() if not k.startswith(("lin0", "lin1", "lin2",
                "lin3", "lin4"))}, only_lins)  # fmt: skip
    assert torch.equal(
        lpips_distance(load_lpips(only_lins), a, 1 - a), lpips_distance(load_lpips(pth), a, 1 - a)
    )
    with pytest.raises(ValueError, match="do not exist"):
        load_lpips(tmp_path / "nothing.pth")
    lin_only = tmp_path / "vgg.pth"  # the package's bundled file: lin layers only
    torch.save({k: v for k, v in state.items() if k.startswith("lin")}, lin_only)
    with pytest.raises(ValueError, match="26 weights missing"):
        load_lpips(lin_only)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a state dict")
    with pytest.raises(ValueError, match="could not be read"):
        load_lpips(garbage)
