"""The full-scale path with tiny random weights in the real formats: the weights folder and
``humancrafter info``, DINOv2 with registers as the frozen semantic encoder and distillation
teacher, SV3D from diffusers components, and ``--mode full`` end to end on the CPU."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from test_model import views
from tiny_weights import DINO_DIM, write_tiny_weights

from humancrafter import weights as wf
from humancrafter.cli import main
from humancrafter.errors import Cancelled
from humancrafter.model.checkpoint import CheckpointError, load_network, save_model
from humancrafter.model.dino import load_dino
from humancrafter.model.network import HumanCrafterNet
from humancrafter.model.options import ModelOptions
from humancrafter.photo import load_image
from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions
from humancrafter.sv3d import (
    SV3DUNet,
    generate_orbit,
    load_sv3d,
    orbit_azimuths,
    triangle_guidance,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EXTERNAL = ModelOptions(
    image_size=32, patch_size=8, dim=32, depth=1, heads=2, kv_heads=1,
    semantic_encoder="external", semantic_dim=DINO_DIM, decoder_channels=8, embed_dim=8,
)  # fmt: skip


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("weights"))


def test_the_weights_folder_says_exactly_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv(wf.ENV_VAR, raising=False)
    assert wf.weights_root() is None
    monkeypatch.setenv(wf.ENV_VAR, str(tmp_path))
    assert wf.weights_root() == tmp_path and wf.weights_root("/x") == Path("/x")
    found = wf.inventory(tmp_path)
    assert not any(c.found for c in found.values())
    sv3d = found["sv3d"].describe()
    for sub in ("unet/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json"):
        assert str(tmp_path / "sv3d" / sub) in sv3d
    (tmp_path / "humancrafter").mkdir()
    (tmp_path / "humancrafter" / "tiny.safetensors").write_bytes(b"")
    assert wf.checkpoint(tmp_path).path.name == "tiny.safetensors"


def test_info_lists_modes_components_and_gsplat(tmp_path, capsys):
    assert main(["info", "--weights", str(tmp_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"weights folder: {tmp_path}" in out
    assert str(tmp_path / "dinov2-with-registers-small" / "config.json") in out
    assert "fast       ready" in out and "prior      ready" in out
    assert "full       not ready: it needs SV3D in" in out
    assert "gsplat: " in out


def test_dino_features_come_on_the_network_grid_frozen(tiny_root):
    enc = load_dino(tiny_root / wf.DINO_DIR, stride=8)
    x = torch.rand(2, 3, 32, 48)
    f = enc(x)
    assert f.shape == (2, DINO_DIM, 4, 6)
    assert not any(p.requires_grad for p in enc.parameters())
    enc.train()
    assert not enc.model.training
    # The patch tokens, not the CLS or register tokens: a token of the model's own output.
    pixels = torch.nn.functional.interpolate(x, size=(56, 84), mode="bilinear", antialias=True)
    pixels = (pixels - enc.mean) / enc.std
    tokens = enc.model(pixel_values=pixels).last_hidden_state
    assert tokens.shape[1] == 1 + 4 + 4 * 6
    assert torch.allclose(f[1, :, 0, 0], tokens[1, 5], atol=1e-5)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_dino(tiny_root / "nothing", stride=8)


def test_a_dino_checkpoint_loads_from_the_weights_folder(tiny_root, tmp_path):
    enc = load_dino(tiny_root / wf.DINO_DIR, stride=8)
    net = HumanCrafterNet(EXTERNAL, semantic_encoder=enc).eval()
    path = tmp_path / "paper.safetensors"
    save_model(path, net)
    inputs = views(1, 2)
    loaded, _ = load_network(path, weights=tiny_root)
    with torch.no_grad():
        a, b = net(inputs).flat(0), loaded(inputs).flat(0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(CheckpointError, match="uses DINOv2, which is missing"):
        load_network(path, weights=tmp_path)
    wide = dataclasses.replace(EXTERNAL, semantic_dim=32)
    save_model(path, HumanCrafterNet(wide, semantic_encoder=torch.nn.Identity()))
    with pytest.raises(CheckpointError, match="expects 32-wide"):
        load_network(path, weights=tiny_root)


def test_training_distills_from_the_dino_teacher_and_resumes(tiny_root, tmp_path):
    from humancrafter.synth import write_dataset
    from humancrafter.training.config import load_config
    from humancrafter.training.train import train

    data = tmp_path / "synth"
    write_dataset(data, 2, views=3, res=32, seed=2, workers=1, progress=False)
    model = "\n".join(f"{k} = {json.dumps(v)}" for k, v in EXTERNAL.to_dict().items())
    cfg = tmp_path / "dino.toml"
    cfg.write_text(
        f'[model]\n{model}\n[data]\nroot = "{data}"\nsupervise_views = 2\nworkers = 0\n'
        f'[train]\nout = "{tmp_path / "run"}"\nsteps = 2\nwarmup = 1\ncheckpoint_every = 1\n'
        f'log_every = 1\ndevice = "cpu"\nweights = "{tiny_root}"\n'
    )
    train(load_config(cfg), log=lambda s: None)
    train(load_config(cfg, {"train": {"steps": 3}}), resume=True, log=lambda s: None)
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    assert all(0 < float(r["dist"]) < 2 for r in rows)  # 1 - cos is in [0, 2]
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=False)
    assert state["distill"]["weight"].shape == (DINO_DIM, EXTERNAL.embed_dim, 1, 1)
    net, _ = load_network(tmp_path / "run" / "model.safetensors", weights=tiny_root)
    assert net.opt == EXTERNAL
    without = load_config(cfg, {"train": {"weights": str(tmp_path / "none")}})
    with pytest.raises(ValueError, match="uses DINOv2, which is missing"):
        train(without, resume=True, log=lambda s: None)


def test_sv3d_unet_conditions_every_frame_on_its_own_camera(tiny_root):
    unet = load_sv3d(tiny_root / wf.SV3D_DIR).unet
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, 8, 4, 4, generator=g)
    clip = torch.randn(1, 1, 16, generator=g)
    ids = torch.tensor([[[1e-5, 1.4, 0.5], [1e-5, 1.4, 1.5], [1e-5, 1.4, 2.5]]])
    with torch.no_grad():
        out = unet(x, 10.0, clip, ids).sample
        moved = ids.clone()
        moved[0, 2, 2] = 0.1
        other = unet(x, 10.0, clip, moved).sample
    assert out.shape == (1, 3, 4, 4, 4)
    assert not torch.allclose(out, other)
    # One frame's camera for all frames equals SVD's per-clip conditioning of diffusers.
    same = ids[:, :1].expand(1, 3, 3)
    with torch.no_grad():
        ours = unet(x, 10.0, clip, same).sample
        svd = super(SV3DUNet, unet).forward(x, 10.0, clip, ids[:, 0]).sample
    assert torch.allclose(ours, svd, atol=1e-5)


def test_the_real_size_sv3d_unet_has_the_right_shapes_without_weights():
    """SV3D-p's UNet config (diffusers' SVD defaults, 21 frames, 576 px) with fake tensors:
    shapes only, no weights and no memory."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        unet = SV3DUNet(num_frames=21, sample_size=72)
        x = torch.empty(2, 21, 8, 72, 72)
        out = unet(x, 1.0, torch.empty(2, 1, 1024), torch.empty(2, 21, 3)).sample
    assert out.shape == (2, 21, 4, 72, 72)
    assert unet.config.projection_class_embeddings_input_dim == 3 * 256
    assert sum(p.numel() for p in unet.parameters()) > 1.4e9


def test_generate_orbit_is_seeded_guided_and_reports_steps(tiny_root):
    sv3d = load_sv3d(tiny_root / wf.SV3D_DIR)
    R, Fr = sv3d.resolution, sv3d.num_frames
    assert (R, Fr) == (32, 6)
    assert orbit_azimuths(4) == [90.0, 180.0, 270.0, 0.0]
    tri = triangle_guidance(5)
    assert tri[0] == tri[-1] == 1.0 and tri[2] == 2.5
    image = torch.rand(3, R, R, generator=torch.Generator().manual_seed(1))
    steps: list[tuple[int, int]] = []
    a = generate_orbit(sv3d, image, 10.0, steps=4, on_step=lambda i, n: steps.append((i, n)))
    b = generate_orbit(sv3d, image, 10.0, steps=4)
    assert a.shape == (Fr, 3, R, R) and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, b) and steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    guide = torch.ones(Fr, 3, R, R)
    steps.clear()
    c = generate_orbit(sv3d, image, 10.0, guide=guide, strength=0.5, steps=4,
                       on_step=lambda i, n: steps.append((i, n)))  # fmt: skip
    assert steps[-1] == (2, 2) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="must be"):
        generate_orbit(sv3d, torch.rand(3, 16, 16), 10.0, steps=1)


def test_full_mode_end_to_end_with_progress_and_cancel(tiny_root, tmp_path):
    pipe = Pipeline("cpu", preview_views=2, preview_size=48, weights=str(tiny_root))
    assert pipe.available_modes()["full"] is None
    photo = load_image(DEMO_PHOTO)
    seen: list[tuple[str, float]] = []
    result = pipe.run(
        [photo], ReconstructOptions(mode="full", num_gaussians=20_000),
        progress=lambda stage, f: seen.append((stage, f)),
    )  # fmt: skip
    assert result.splats.labelled and len(result.splats) > 10_000
    assert result.splats.skeleton is not None  # rigged to the fitted body, as fast
    stages = [s for s, _ in seen]
    assert stages[0] == "photo" and stages[-1] == "done" and stages.count("sv3d") > 10
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert "sv3d" in result.timings and "network" in result.timings
    assert any("CPU" in w for w in result.warnings)
    calls = {"n": 0}

    def cancel_in_sv3d() -> bool:
        calls["n"] += 1
        return any(s == "sv3d" for s, _ in seen[-1:]) and calls["n"] > 8

    seen.clear()
    with pytest.raises(Cancelled, match="during stage 'sv3d'"):
        pipe.run(
            [photo], ReconstructOptions(mode="full", num_gaussians=20_000),
            progress=lambda stage, f: seen.append((stage, f)), should_cancel=cancel_in_sv3d,
        )  # fmt: skip
    assert [a for a, _ in result.views] == orbit_azimuths(6)
    assert all(image.size == (32, 32) for _, image in result.views)
    empty = Pipeline("cpu", weights=str(tmp_path))
    assert "needs SV3D in" in empty.available_modes()["full"]


def test_cli_full_mode_writes_the_generated_views(tiny_root, tmp_path, capsys):
    out = tmp_path / "person.ply"
    args = ["reconstruct", str(DEMO_PHOTO), "-o", str(out), "--mode", "full", "--device", "cpu",
            "--weights", str(tiny_root), "--save-views", str(tmp_path / "views")]  # fmt: skip
    assert main(args) == 0
    names = sorted(p.name for p in (tmp_path / "views").iterdir())
    assert names == ["view_000.png", "view_060.png", "view_120.png", "view_180.png",
                     "view_240.png", "view_300.png"]  # fmt: skip
    assert out.is_file() and "generated views" in capsys.readouterr().out


def test_full_mode_refuses_the_real_size_unet_without_cuda(tmp_path):
    root = write_tiny_weights(tmp_path / "w", dino=False)
    config = root / "sv3d" / "unet" / "config.json"
    data = json.loads(config.read_text())
    data["block_out_channels"] = [320, 640, 1280, 1280]
    config.write_text(json.dumps(data))
    missing = Pipeline("cpu", weights=str(root)).available_modes()["full"]
    assert missing == "needs a CUDA GPU for the real-size SV3D (this machine has none)"
