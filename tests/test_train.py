"""Training: a few steps on tiny data, exact resume, the CLI, torchrun + gloo DDP, eval."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tiny_weights import write_lpips_weights

from humancrafter.cli import main
from humancrafter.synth import write_dataset
from humancrafter.training.config import load_config
from humancrafter.training.data import SynthDataset
from humancrafter.training.train import lr_at, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODEL = """
[model]
preset = "tiny"
image_size = 32
dim = 32
depth = 1
heads = 2
kv_heads = 1
semantic_dim = 8
decoder_channels = 8
embed_dim = 8
"""


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 4, views=4, res=32, seed=5, workers=1, progress=False)
    return root


def config(tmp_path: Path, data: Path, out: str, steps: int, extra: str = "") -> Path:
    path = tmp_path / f"{out}.toml"
    path.write_text(
        MODEL
        + f"""
[data]
root = "{data}"
input_views = [1, 2]
supervise_views = 2
workers = 0

[train]
out = "{tmp_path / out}"
steps = {steps}
warmup = 2
checkpoint_every = 2
log_every = 1
device = "cpu"
{extra}
"""
    )
    return path


def test_samples_carry_the_fitted_prior_not_the_truth(tiny_data):
    ds = SynthDataset(tiny_data, "train", input_views=2, supervise_views=2, seed=1)
    s = ds[0]
    assert s.inputs.rgb.shape == (1, 2, 3, 32, 32) and s.target_rgb.shape == (2, 32, 32, 3)
    assert torch.equal(s.inputs.viewmats[0, 0], s.target_viewmats[0])  # first target = input
    # The prior is a different body from the truth: its coverage differs from the mask.
    hit, mask = s.inputs.prior_hit[0, :, 0] > 0, s.target_mask[0] > 0
    assert hit.any() and not torch.equal(hit[0], mask)
    assert torch.equal(ds[0].inputs.rgb, s.inputs.rgb)  # seeded augmentation


def test_train_resume_is_exact_and_logs(tmp_path, tiny_data):
    """Training 2 steps then resuming to 4 gives the same weights as 4 steps at once."""
    straight = train(load_config(config(tmp_path, tiny_data, "a", 4)), log=lambda s: None)
    cfg_b = config(tmp_path, tiny_data, "b", 2)
    train(load_config(cfg_b), log=lambda s: None)
    resumed = train(load_config(cfg_b, {"train": {"steps": 4}}), resume=True, log=lambda s: None)
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "b" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(float(r["total"]) > 0 and float(r["ce"]) > 0 for r in rows)
    with pytest.raises(ValueError, match="already holds a run"):
        train(load_config(cfg_b), log=lambda s: None)


def test_fine_tune_starts_from_init(tmp_path, tiny_data, capsys):
    """``--init`` starts a new run (step 0, fresh optimiser) from another run's weights:
    with a learning rate of 0 the new run's weights are exactly the old ones."""
    first = train(load_config(config(tmp_path, tiny_data, "base", 2)), log=lambda s: None)
    path = config(tmp_path, tiny_data, "tuned", 2, "lr = 0.0\nseed = 9")
    assert main(["train", "--config", str(path), "--init", str(first)]) == 0
    a, b = load_file(str(first)), load_file(str(tmp_path / "tuned" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader((tmp_path / "tuned" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2]
    other = config(tmp_path, tiny_data, "other", 1, "")
    other.write_text(other.read_text().replace("dim = 32", "dim = 16"))
    assert main(["train", "--config", str(other), "--init", str(first)]) == 2
    assert "other model options" in capsys.readouterr().err


def test_loss_goes_down_on_one_subject(tmp_path, tiny_data):
    extra = "lr = 3e-3\nseed = 1"
    path = config(tmp_path, tiny_data, "c", 30, extra)
    cfg = load_config(path, {"data": {"input_views": [1], "augment": False}})
    train(cfg, log=lambda s: None)
    rows = list(csv.DictReader((tmp_path / "c" / "log.csv").open()))
    first = sum(float(r["total"]) for r in rows[:5]) / 5
    last = sum(float(r["total"]) for r in rows[-5:]) / 5
    assert last < first


def test_config_errors_name_the_key(tmp_path, tiny_data):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nstepz = 3\n")
    with pytest.raises(ValueError, match=r"\[train\] has unknown keys: stepz"):
        load_config(path)
    path.write_text("[trian]\n")
    with pytest.raises(ValueError, match="unknown tables: trian"):
        load_config(path)
    path.write_text("[model\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(path)


def test_cli_train_and_resume(tmp_path, tiny_data, capsys):
    path = config(tmp_path, tiny_data, "cli", 2)
    assert main(["train", "--config", str(path)]) == 0
    assert main(["train", "--config", str(path), "--steps", "3", "--resume"]) == 0
    assert (tmp_path / "cli" / "model.safetensors").is_file()
    assert main(["train", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "error" in capsys.readouterr().err


def test_learning_rate_schedule(tmp_path, tiny_data):
    cfg = load_config(config(tmp_path, tiny_data, "lr", 100))
    lrs = [lr_at(s, cfg) for s in range(100)]
    assert (
        lrs[0] < lrs[1] and lrs[10] > lrs[50] > lrs[99] and max(lrs) == pytest.approx(cfg.train.lr)
    )
    assert lrs[-1] == pytest.approx(cfg.train.lr / 20, rel=0.05)


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path, tiny_data):
    """DistributedDataParallel on the CPU: two processes, gloo, rank 0 writes."""
    path = config(tmp_path, tiny_data, "ddp", 2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "humancrafter.cli", "train", "--config", str(path)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader((tmp_path / "ddp" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2]


def test_eval_table(tmp_path, tiny_data, capsys):
    path = config(tmp_path, tiny_data, "ev", 1)
    assert main(["train", "--config", str(path)]) == 0
    ckpt = tmp_path / "ev" / "model.safetensors"
    assert main(["eval", "--checkpoint", str(ckpt), "--data", str(tiny_data), "--split", "train",
                 "--limit", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for needle in ("| 1 view | network |", "| 1 view | prior |", "| 2 views | network |", "mIoU"):
        assert needle in out


def test_lpips_in_training_and_eval(tmp_path, tiny_data, capsys):
    """With a local LPIPS file (random weights in the lpips package's layout) the loss
    has its LPIPS term and eval its LPIPS column; without one, neither."""
    weights = write_lpips_weights(tmp_path / "lpips_vgg.pth")
    path = config(tmp_path, tiny_data, "lp", 2, f'lpips_weights = "{weights}"')
    train(load_config(path), log=lambda s: None)
    rows = list(csv.DictReader((tmp_path / "lp" / "log.csv").open()))
    assert all(float(r["lpips"]) > 0 for r in rows)
    ckpt = str(tmp_path / "lp" / "model.safetensors")
    args = ["eval", "--checkpoint", ckpt, "--data", str(tiny_data), "--split", "train",
            "--limit", "1"]  # fmt: skip
    assert main([*args, "--lpips-weights", str(weights)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| setting | method | PSNR | SSIM | LPIPS | mIoU | Acc | 3D cons. |"
    lpips_cells = [float(line.split("|")[5]) for line in table[2:6]]
    assert all(0 < x < 10 for x in lpips_cells)
    assert main([*args, "--lpips-weights", str(tmp_path / "missing.pth")]) == 2
    assert "do not exist" in capsys.readouterr().err
    assert main(args) == 0  # without the file: no column
    assert "LPIPS" not in capsys.readouterr().out.splitlines()[0]
    with pytest.warns(UserWarning, match="LPIPS is off"):  # and no loss term
        train(load_config(config(tmp_path, tiny_data, "nolp", 1)), log=lambda s: None)
    row = next(csv.DictReader((tmp_path / "nolp" / "log.csv").open()))
    assert row["lpips"] == "nan"


def test_a_batch_larger_than_the_data_is_refused(tmp_path, tiny_data):
    path = config(tmp_path, tiny_data, "big", 1, "batch_size = 50")
    with pytest.raises(ValueError, match="fewer than one step takes"):
        train(load_config(path), log=lambda s: None)
