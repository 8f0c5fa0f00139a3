"""Small-scale ablations of the paper's claims: the same short training run with one piece
removed at a time, evaluated on the same held-out subjects.

    .venv/bin/python tools/ablations.py --data data/synth128w --steps 300 --limit 10

(the run in ``docs/results.md``, "Ablations": about 50 minutes on 2 CPU cores)

Variants: the full ``tiny`` model; without pixel-aligned aggregation; without the
cross-entropy loss (lambda_seg = 0); without the body prior (no prior channels, depth
and colours predicted outright). Prints one markdown table (1 view and 2 views).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from humancrafter.evaluation import evaluate
from humancrafter.training.config import load_config
from humancrafter.training.train import train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "tiny.toml"
VARIANTS: dict[str, dict[str, dict]] = {
    "full": {},
    "no pixel-aligned aggregation": {"model": {"pixel_aligned_aggregation": False}},
    "no CE loss": {"loss": {"seg": 0.0}},
    "no body prior": {"model": {"use_prior": False, "prior_skip": False}},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--limit", type=int, default=20, help="test subjects")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, changes in VARIANTS.items():
            over = {k: dict(v) for k, v in changes.items()}
            over.setdefault("data", {})["root"] = str(args.data)
            over.setdefault("train", {}).update(
                {"steps": args.steps, "out": str(Path(tmp) / name.replace(" ", "_")),
                 "checkpoint_every": args.steps, "warmup": min(50, args.steps // 3)}
            )  # fmt: skip
            ckpt = train(load_config(CONFIG, over), log=print)
            res = evaluate(ckpt, args.data, limit=args.limit, progress=False)
            for setting, methods in res.items():
                rows.append((name, setting, methods["network"].summary()))
    print(f"\n{args.steps} steps each, {args.limit} test subjects\n")
    print("| variant | setting | PSNR | SSIM | mIoU | Acc |")
    print("|---|---|---|---|---|---|")
    for name, setting, v in rows:
        print(f"| {name} | {setting} | {v['PSNR']:.2f} | {v['SSIM']:.3f} | "
              f"{v['mIoU']:.3f} | {v['Acc']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
