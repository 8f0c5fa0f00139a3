"""The network's training run on one GPU machine, in one prepared command.

    python tools/gpu_train.py --minutes 5                 # on the GPU machine, repo root

Steps, each timed: (1) write the synthetic dataset with every CPU core (by default the
one of the results tables: 1,500 subjects, 6 views, 128 px, seed 0, so its test split
stays held out); (2) time a few training steps of ``--config`` and set ``[train] steps``
to what fits ``--minutes``; (3) train that many steps (a fresh run, checkpoints every
``checkpoint_every`` steps); (4) evaluate the result on the test split
(``humancrafter eval``). Everything lands in ``--out`` (default ``$OUT``): the float16
``model.safetensors`` (the committed checkpoint's format, with the run's config and step
inside), ``log.csv``, ``eval.md`` and ``gpu_train.json`` (machine, versions, seconds per
stage and per step, the steps chosen).

Needs only torch, numpy, pillow, scipy, safetensors, tqdm and torchmetrics: the package is
imported from ``backend/`` when it is not installed, so it runs with a machine's own
PyTorch. Without gsplat the renders use the project's pure-PyTorch rasterizer, on the GPU.
``--device cpu --minutes 0.3 --subjects 12 --views 4 --batch-size 2 --workers 1`` is a dry
run on any machine (the test split of 12 subjects leaves 10 to train on).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
try:
    import humancrafter  # noqa: F401 - installed (a venv)
except ImportError:  # a machine with only its own PyTorch: the package from the checkout
    sys.path.insert(0, str(ROOT / "backend"))

TIMING_STEPS = 30
"""Steps of the timing run; the rate is taken from the log rows after its first third."""


def seconds_per_step(log_csv: Path) -> float:
    """Training seconds per step from a run's ``log.csv``, over the rows after the first
    third of the run (the first steps pay for start-up and the data workers' launch)."""
    rows = [(int(r["step"]), float(r["seconds"])) for r in csv.DictReader(log_csv.open())]
    if len(rows) < 2:
        raise ValueError(f"{log_csv} has too few rows to time a step")
    (s0, t0), (s1, t1) = rows[len(rows) // 3], rows[-1]  # distinct rows: len(rows) >= 2
    return (t1 - t0) / (s1 - s0)


def steps_for(budget_s: float, per_step_s: float, minimum: int = 10) -> int:
    """Steps that fit ``budget_s`` at ``per_step_s``, rounded down to a multiple of 10."""
    return max(minimum, int(budget_s / per_step_s) // 10 * 10)


def main(argv: list[str] | None = None) -> int:
    """The four steps of the module docstring; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, default=ROOT / "configs/gpu_finetune.toml")
    p.add_argument("--minutes", type=float, default=5.0, help="training time budget")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out/gpu_train")))
    p.add_argument("--work", type=Path, default=Path("/tmp/hc_gpu_train"),
                   help="scratch folder: dataset and run folders (emptied first)")  # fmt: skip
    p.add_argument("--subjects", type=int, default=1500)
    p.add_argument("--views", type=int, default=6)
    p.add_argument("--res", type=int, default=128)
    p.add_argument("--seed", type=int, default=0, help="the dataset's seed")
    p.add_argument("--eval-limit", type=int, default=20, help="test subjects to evaluate")
    p.add_argument("--device", help="override [train] device (cpu for a dry run)")
    p.add_argument("--batch-size", type=int, help="override [train] batch_size")
    p.add_argument("--workers", type=int, help="override [data] workers")
    args = p.parse_args(argv)

    import torch

    from humancrafter.evaluation import evaluate, markdown
    from humancrafter.model.checkpoint import load_model, save_model
    from humancrafter.synth import write_dataset
    from humancrafter.training.config import Config, load_config
    from humancrafter.training.train import train

    args.out, args.work, args.config = (a.resolve() for a in (args.out, args.work, args.config))
    os.chdir(ROOT)  # the config's relative paths (init) are from the repository root
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.work, ignore_errors=True)
    data = args.work / "data"
    report: dict = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "cpus": os.cpu_count(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "seconds": {},
    }

    def note(**kw: object) -> None:
        report.update(kw)
        (args.out / "gpu_train.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(kw), flush=True)

    t = time.perf_counter()
    write_dataset(data, args.subjects, args.views, args.res, args.seed, workers=os.cpu_count())
    report["seconds"]["data"] = round(time.perf_counter() - t, 1)
    note(stage="data", seconds=report["seconds"])

    overrides: dict[str, dict] = {"data": {"root": str(data)}, "train": {}}
    if args.device:
        overrides["train"]["device"] = args.device
    if args.batch_size:
        overrides["train"]["batch_size"] = args.batch_size
    if args.workers is not None:
        overrides["data"]["workers"] = args.workers

    def config(out: Path, steps: int, **train_keys: object) -> Config:
        o = {k: dict(v) for k, v in overrides.items()}
        o["train"].update(out=str(out), steps=steps, log_every=10, **train_keys)
        return load_config(args.config, o)

    t = time.perf_counter()
    train(config(args.work / "timing", TIMING_STEPS, checkpoint_every=TIMING_STEPS))
    per_step = seconds_per_step(args.work / "timing/log.csv")
    report["seconds"]["timing"] = round(time.perf_counter() - t, 1)
    steps = steps_for(args.minutes * 60, per_step)
    cfg = config(args.work / "run", steps)
    warmup = min(cfg.train.warmup, max(1, steps // 10))
    cfg = replace(cfg, train=replace(cfg.train, warmup=warmup))
    note(stage="timing", seconds_per_step=round(per_step, 4), steps=steps, warmup=warmup)

    t = time.perf_counter()
    model_path = train(cfg)
    report["seconds"]["train"] = round(time.perf_counter() - t, 1)
    shutil.copy(args.work / "run/log.csv", args.out / "log.csv")
    net, info = load_model(model_path)
    save_model(args.out / "model.safetensors", net, info, half=True)
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    note(stage="train", seconds=report["seconds"], peak_gpu_gib=peak)

    t = time.perf_counter()
    results = evaluate(args.out / "model.safetensors", data, limit=args.eval_limit)
    (args.out / "eval.md").write_text(markdown(results) + "\n")
    report["seconds"]["eval"] = round(time.perf_counter() - t, 1)
    note(stage="eval", seconds=report["seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
