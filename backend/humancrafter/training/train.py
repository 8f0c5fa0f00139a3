"""The training loop (``humancrafter train --config FILE [--resume]``).

One process, or one per GPU / CPU slot under ``torchrun`` (DistributedDataParallel, NCCL
on CUDA, gloo on CPU; every process draws different samples, rank 0 writes the files).

The run folder (``[train] out``) holds:

- ``model.safetensors``: the latest weights with options and facts (see
  :mod:`humancrafter.model.checkpoint`), written every ``checkpoint_every`` steps;
- ``state.pt``: optimiser, schedule and data position, so ``--resume`` continues exactly
  where the last checkpoint was written (the one documented command after an interrupt);
- ``log.csv``: step, losses, learning rate, seconds since the start.

Seeds: weights from ``seed``; the order of subjects per epoch and every augmentation from
(seed, epoch, index); the background colour of each step's renders from (seed, step).
"""

from __future__ import annotations

import csv
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..cameras import Cameras
from ..model.checkpoint import load_model, save_model
from ..model.network import HumanCrafterNet
from ..model.predict import render_semantic
from .config import Config
from .data import Sample, SynthDataset, collate, stack_inputs
from .losses import reconstruction_losses

LOG_FIELDS = ("step", "total", "mse", "mask", "ce", "lpips", "dist", "lr", "seconds")


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("[train] device = 'cuda' but torch sees no CUDA GPU")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) alone."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1, 0
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])


def lr_at(step: int, cfg: Config) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``lr / 20`` at ``steps``."""
    t = cfg.train
    if step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    progress = min(1.0, (step - t.warmup) / max(1, t.steps - t.warmup))
    return t.lr / 20 + (t.lr - t.lr / 20) * 0.5 * (1 + math.cos(math.pi * progress))


def _teacher(cfg: Config, device: torch.device) -> torch.nn.Module | None:
    """The frozen DINOv2 of a model with ``semantic_encoder = "external"`` (from the weights
    folder, [train] weights or $HUMANCRAFTER_WEIGHTS), else None."""
    if cfg.model.semantic_encoder != "external":
        return None
    from ..model.dino import dino_from_weights

    m = cfg.model
    return dino_from_weights(
        cfg.train.weights or None, m.patch_size, m.semantic_dim, str(device), "the model"
    )


def _perceptual(cfg: Config, device: torch.device) -> Callable | None:
    """LPIPS (:mod:`humancrafter.perceptual`) from the local file ``[train] lpips_weights``,
    or None (with one warning) when none is named; nothing is ever downloaded."""
    if cfg.loss.lpips <= 0:
        return None
    if not cfg.train.lpips_weights:
        warnings.warn("LPIPS is off: no local weights ([train] lpips_weights)", stacklevel=2)
        return None
    from ..perceptual import load_lpips

    return load_lpips(cfg.train.lpips_weights, device)


def _batches(
    dataset: SynthDataset, cfg: Config, rank: int, world: int, start: int
) -> Iterator[list[Sample]]:
    """Endless batches: each epoch a seeded permutation of the subjects, split across
    processes; skips the first ``start`` batches (so a resumed run sees what it would
    have seen)."""
    B = cfg.train.batch_size
    per_epoch = max(1, len(dataset) // (B * world))
    epoch, offset = divmod(start, per_epoch)
    loader_kwargs = {"num_workers": cfg.data.workers, "collate_fn": collate}
    if cfg.data.workers > 0:
        loader_kwargs["persistent_workers"] = False
    while True:
        dataset.epoch = epoch
        g = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + epoch)
        order = torch.randperm(len(dataset), generator=g)[: per_epoch * B * world]
        mine = order.view(per_epoch, world, B)[offset:, rank].reshape(-1).tolist()
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, mine), batch_size=B, shuffle=False, **loader_kwargs
        )
        yield from loader
        epoch, offset = epoch + 1, 0


def _weights_of(path: str | Path, cfg: Config, teacher: torch.nn.Module | None) -> HumanCrafterNet:
    """The network saved at ``path`` (a run's own checkpoint, or one to fine-tune from),
    refused when it was trained with other model options than ``cfg``."""
    net, _ = load_model(path, semantic_encoder=teacher)
    if net.opt != cfg.model:
        raise ValueError(f"{path} was trained with other model options than the config")
    return net


def train(cfg: Config, resume: bool = False, log: Callable[[str], None] = print) -> Path:
    """Run (or resume) the training described by ``cfg``; returns the checkpoint path."""
    from tqdm import tqdm

    rank, world, local_rank = _distributed()
    device = _resolve_device(cfg.train.device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    out = Path(cfg.train.out)
    model_path, state_path, log_path = out / "model.safetensors", out / "state.pt", out / "log.csv"
    torch.manual_seed(cfg.train.seed)
    perceptual = _perceptual(cfg, device)  # first: a bad weights file is refused at once
    teacher = _teacher(cfg, device)
    # Distillation (paper Sec. 3.4): rendered semantic embeddings, projected to the teacher's
    # width by a training-only 1x1 conv, against the teacher's features of the target view.
    distill = None if teacher is None else torch.nn.Conv2d(cfg.model.embed_dim, teacher.dim, 1)
    start_step = 0
    state = None
    if resume:
        if not model_path.is_file() or not state_path.is_file():
            raise ValueError(f"nothing to resume in {out}: no model.safetensors and state.pt")
        net = _weights_of(model_path, cfg, teacher)
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        start_step = int(state["step"])
    elif model_path.exists() and rank == 0:
        raise ValueError(f"{out} already holds a run; use --resume, or choose another [train] out")
    elif cfg.train.init:  # fine-tuning: the weights of another run, a fresh optimiser and step 0
        net = _weights_of(cfg.train.init, cfg, teacher)
    else:  # a new run: weights from the seed (set above)
        net = HumanCrafterNet(cfg.model, semantic_encoder=teacher)
    net = net.to(device).train()
    params = [p for p in net.parameters() if p.requires_grad]
    if distill is not None:
        if state is not None:
            distill.load_state_dict(state["distill"])
        distill = distill.to(device)
        params += list(distill.parameters())
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optim = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.train.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.train.lr, betas=(0.9, 0.95),
    )  # fmt: skip
    if state is not None:
        optim.load_state_dict(state["optimizer"])
    model = net
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[local_rank] if device.type == "cuda" else None
        )
    project = distill
    if world > 1 and distill is not None:  # its gradients are averaged like the network's
        project = torch.nn.parallel.DistributedDataParallel(
            distill, device_ids=[local_rank] if device.type == "cuda" else None
        )
    data = cfg.data
    datasets = {
        n: SynthDataset(
            data.root, data.split, n, data.supervise_views, data.augment, cfg.train.seed + n
        )
        for n in data.input_views
    }
    subjects = len(datasets[data.input_views[0]])  # the same split for every view count
    if subjects < cfg.train.batch_size * world:
        raise ValueError(
            f"{data.root} has {subjects} {data.split} subjects, fewer than one step takes "
            f"(batch_size {cfg.train.batch_size} x {world} processes)"
        )

    def used_before(n: int) -> int:  # batches stream n gave before start_step
        return sum(1 for s in range(start_step) if data.input_views[s % len(data.input_views)] == n)

    streams = {n: _batches(d, cfg, rank, world, used_before(n)) for n, d in datasets.items()}
    autocast = device.type == "cuda" and cfg.train.bf16
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if not log_path.exists():
            with log_path.open("w", newline="") as f:
                csv.writer(f).writerow(LOG_FIELDS)
    t0 = time.perf_counter() - (state["seconds"] if state else 0.0)
    bar = tqdm(
        total=cfg.train.steps, initial=start_step, unit="step", desc="train", disable=rank != 0
    )
    sums: dict[str, float] = {}
    count = 0
    step = start_step
    for step in range(start_step, cfg.train.steps):
        n_views = data.input_views[step % len(data.input_views)]
        samples = next(streams[n_views])
        lr = lr_at(step, cfg)
        for group in optim.param_groups:
            group["lr"] = lr
        inputs = stack_inputs(samples).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            gaussians = model(inputs)
        g = torch.Generator().manual_seed(cfg.train.seed * 7919 + step)
        total = torch.zeros((), device=device)
        for b, s in enumerate(samples):
            flat = {k: v.float() for k, v in gaussians.flat(b).items()}
            H, W = s.target_mask.shape[-2:]
            cams = Cameras(s.target_viewmats, s.target_Ks, W, H).to(device)
            bg = torch.rand(3, generator=g).to(device)
            rendered = render_semantic(flat, cams, bg, backend=cfg.train.render_backend)
            features = target_features = None
            if project is not None and teacher is not None:
                target_features = teacher(s.target_rgb.to(device).permute(0, 3, 1, 2))
                features = F.adaptive_avg_pool2d(
                    project(rendered.embed), target_features.shape[-2:]
                )  # (S, F, h, w)
            terms = reconstruction_losses(
                rendered,
                net.part_logits(rendered.embed),
                s.target_rgb.to(device),
                s.target_mask.to(device),
                s.target_part.to(device),
                bg,
                cfg.loss,
                perceptual=perceptual,
                features=features,
                teacher=target_features,
            )
            total = total + terms["total"] / len(samples)
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / len(samples)
        count += 1
        optim.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
        optim.step()
        bar.update(1)
        bar.set_postfix(loss=f"{float(total.detach()):.4f}")
        done = step + 1
        if rank == 0 and (done % cfg.train.log_every == 0 or done == cfg.train.steps):
            row = {k: sums.get(k, float("nan")) / count for k in LOG_FIELDS[1:-2]}
            with log_path.open("a", newline="") as f:
                csv.writer(f).writerow(
                    [done, *(f"{row[k]:.6f}" for k in LOG_FIELDS[1:-2]), f"{lr:.3e}",
                     f"{time.perf_counter() - t0:.1f}"]
                )  # fmt: skip
            sums, count = {}, 0
        if rank == 0 and (done % cfg.train.checkpoint_every == 0 or done == cfg.train.steps):
            _checkpoint(
                net, optim, distill, cfg, done, time.perf_counter() - t0, model_path, state_path
            )
    bar.close()
    if world > 1:
        dist.barrier()
    log(
        f"trained to step {max(step + 1, start_step)} of {cfg.train.steps}; weights in {model_path}"
    )
    return model_path


def _checkpoint(
    net: HumanCrafterNet,
    optim: torch.optim.Optimizer,
    distill: torch.nn.Module | None,
    cfg: Config,
    step: int,
    seconds: float,
    model_path: Path,
    state_path: Path,
) -> None:
    """Weights, then the state, each written atomically: an interrupt between the two
    leaves the previous state, and ``--resume`` repeats at most one checkpoint interval."""
    info = {
        "step": step,
        "seconds": round(seconds, 1),
        "seed": cfg.train.seed,
        "data": cfg.data.root,
        "config": {"data": asdict(cfg.data), "train": asdict(cfg.train), "loss": asdict(cfg.loss)},
    }
    save_model(model_path, net, info)
    tmp = state_path.with_name(state_path.name + ".tmp")
    state = {"step": step, "seconds": seconds, "optimizer": optim.state_dict()}
    if distill is not None:
        state["distill"] = distill.state_dict()
    torch.save(state, tmp)
    tmp.replace(state_path)
