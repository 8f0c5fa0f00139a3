"""Model checkpoints: safetensors weights with the options and training facts as metadata.

A checkpoint file holds the network's tensors (float32 or float16) and, in its string
metadata, ``options`` (JSON of :class:`.options.ModelOptions`) and ``info`` (JSON: step,
seed, data, command ...). :func:`load_model` rebuilds the network from the options alone,
so any checkpoint of any configuration loads without code changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .network import HumanCrafterNet
from .options import ModelOptions

DEFAULT_CHECKPOINT = (
    Path(__file__).resolve().parent.parent / "assets" / "humancrafter_tiny.safetensors"
)
"""The committed default checkpoint of the ``fast`` and ``multiview`` modes."""


class CheckpointError(ValueError):
    """The file is not a HumanCrafter checkpoint; the message says why."""


def save_model(
    path: str | Path, net: HumanCrafterNet, info: dict | None = None, half: bool = False
) -> None:
    """Write ``net``'s weights (float16 when ``half``) and options to ``path`` (atomically:
    a temporary file renamed into place, so an interrupted write never leaves half a file)."""
    path = Path(path)
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in net.state_dict().items()
        if not k.startswith("semantic.") or net.opt.semantic_encoder == "small"
    }
    meta = {"options": json.dumps(net.opt.to_dict()), "info": json.dumps(info or {})}
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(path)


def read_metadata(path: str | Path) -> tuple[ModelOptions, dict]:
    """(options, info) of a checkpoint without loading its tensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path} is not a readable safetensors file ({e})") from None
    if "options" not in meta:
        raise CheckpointError(f"{path} has no HumanCrafter options in its metadata")
    return ModelOptions.from_dict(json.loads(meta["options"])), json.loads(meta.get("info", "{}"))


def load_model(
    path: str | Path, device: str = "cpu", semantic_encoder: torch.nn.Module | None = None
) -> tuple[HumanCrafterNet, dict]:
    """Rebuild the network a checkpoint was saved from, in eval mode, float32.

    Returns:
        (network, info). Raises :class:`CheckpointError` for a file that is not one.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    opt, info = read_metadata(path)
    net = HumanCrafterNet(opt, semantic_encoder=semantic_encoder)
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [
        k for k in missing if not k.startswith("semantic.") or opt.semantic_encoder == "small"
    ]
    if missing or unexpected:
        raise CheckpointError(
            f"{path} does not match its options: missing {missing[:3]}, unexpected {unexpected[:3]}"
        )
    return net.to(device).eval(), info


def load_network(
    path: str | Path, device: str = "cpu", weights: str | Path | None = None
) -> tuple[HumanCrafterNet, dict]:
    """:func:`load_model` with the frozen semantic encoder a checkpoint needs: for
    ``semantic_encoder == "external"`` (the ``paper`` preset) DINOv2 with registers from the
    weights folder (:mod:`humancrafter.weights`); raises :class:`CheckpointError` saying what
    is missing."""
    from .dino import dino_from_weights

    opt, _ = read_metadata(path)
    if opt.semantic_encoder != "external":
        return load_model(path, device)
    try:
        encoder = dino_from_weights(weights, opt.patch_size, opt.semantic_dim, device, str(path))
    except ValueError as e:
        raise CheckpointError(str(e)) from None
    return load_model(path, device, semantic_encoder=encoder)
