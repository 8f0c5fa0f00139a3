"""The training configuration: one TOML file, four tables (``humancrafter train --config``).

    [model]            preset = "tiny" | "paper", plus any ModelOptions field to override
    [data]             root (a ``humancrafter synth`` folder), input_views, supervise_views ...
    [train]            steps, batch_size, lr, seed, out, checkpoint_every, device, bf16 ...
    [loss]             mse, mask, lpips, dist, seg (weights; paper defaults)

Relative paths are taken from the working directory. ``configs/tiny.toml`` is the
default checkpoint's recipe.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from ..model.options import ModelOptions, preset
from .losses import LossWeights


@dataclass(frozen=True)
class DataOptions:
    """Where the samples come from."""

    root: str = "data/synth128"  # a folder written by ``humancrafter synth``
    split: str = "train"  # the split to train on
    input_views: tuple[int, ...] = (1,)  # view counts to draw from per batch (1 = a photo)
    supervise_views: int = 3  # rendered views per sample (the first is an input view)
    augment: bool = True  # photo-realism augmentation (see training.data)
    workers: int = 1  # DataLoader worker processes


@dataclass(frozen=True)
class TrainOptions:
    """How the optimisation runs."""

    out: str = "runs/tiny"  # run folder: checkpoints, state, log.csv
    steps: int = 20000  # optimiser steps in all (a resumed run continues to this)
    batch_size: int = 1  # objects per step (per process)
    lr: float = 4e-4  # peak AdamW learning rate
    warmup: int = 200  # linear warm-up steps, then cosine decay to lr / 20
    weight_decay: float = 0.05
    grad_clip: float = 1.0  # max gradient norm
    seed: int = 0  # seeds weights, data order and augmentation
    checkpoint_every: int = 100  # steps between checkpoints (and at the end)
    log_every: int = 10  # steps between rows of log.csv
    device: str = "auto"  # auto, cpu or cuda
    bf16: bool = True  # bfloat16 autocast of the network on CUDA (ignored on CPU)
    render_backend: str = "auto"  # auto (gsplat on CUDA), cpu or gsplat
    lpips_weights: str = ""  # a local LPIPS state dict; empty = LPIPS off (one warning)
    threads: int = 0  # torch CPU threads (0 = torch's default)
    weights: str = ""  # weights folder (docs/weights.md) for DINOv2; "" = $HUMANCRAFTER_WEIGHTS
    init: str = ""  # fine-tune: start from this checkpoint's weights (same model options)


@dataclass(frozen=True)
class Config:
    model: ModelOptions
    data: DataOptions = field(default_factory=DataOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    loss: LossWeights = field(default_factory=LossWeights)


def _build(cls: type, table: dict, where: str) -> object:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ValueError(f"[{where}] has unknown keys: {', '.join(unknown)}")
    values = {}
    for k, v in table.items():
        if k == "input_views":
            v = tuple(v) if isinstance(v, list) else (int(v),)
        values[k] = v
    return cls(**values)


def load_config(path: str | Path, overrides: dict[str, dict] | None = None) -> Config:
    """Read a TOML config (see the module docstring); ``overrides`` replaces keys per table.

    Raises:
        ValueError: unknown tables or keys, bad values (one sentence naming them).
    """
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path} is not valid TOML: {e}") from None
    for table, values in (overrides or {}).items():
        raw.setdefault(table, {}).update(values)
    unknown = sorted(set(raw) - {"model", "data", "train", "loss"})
    if unknown:
        raise ValueError(f"{path} has unknown tables: {', '.join(unknown)}")
    model = dict(raw.get("model", {}))
    model_opt = preset(str(model.pop("preset", "tiny")), **model)
    data = _build(DataOptions, raw.get("data", {}), "data")
    train = _build(TrainOptions, raw.get("train", {}), "train")
    return Config(model_opt, data, train, _build(LossWeights, raw.get("loss", {}), "loss"))
