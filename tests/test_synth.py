"""The synthetic dataset writer and its ``humancrafter synth`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from humancrafter.body.mannequin import BodyParams
from humancrafter.body.raycast import raycast
from humancrafter.cameras import Cameras
from humancrafter.cli import main
from humancrafter.synth import (
    DEPTH_SCALE,
    fitted_prior,
    load_view,
    photo_like_cameras,
    sample_subject,
    splits,
    write_dataset,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_cli_writes_the_documented_layout(tmp_path, capsys):
    out = tmp_path / "ds"
    code = main(["synth", "--subjects", "4", "--views", "3", "--res", "64", "--seed", "7",
                 "-o", str(out), "--workers", "1"])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    assert "wrote 4 subjects x 3 views" in captured.out
    assert "100%" in captured.err  # the progress bar ran to the end
    meta = json.loads((out / "meta.json").read_text())
    assert meta["subjects"] == 4 and meta["views"] == 3 and meta["res"] == 64
    assert len(meta["classes"]) == 28 and meta["depth_scale"] == DEPTH_SCALE
    listed = [s for ids in meta["splits"].values() for s in ids]
    assert sorted(listed) == sorted(
        str(p.parent.relative_to(out)) for p in out.glob("*/*/body.json")
    )
    for rel in listed:
        d = out / rel
        body = json.loads((d / "body.json").read_text())
        assert np.array(body["pose"]).shape == (24, 3) and len(body["shape"]) == 10
        assert np.array(body["joints"]).shape == (24, 3) and body["pose_kind"]
        cams = json.loads((d / "cameras.json").read_text())
        assert np.array(cams["viewmats"]).shape == (3, 4, 4)
        assert np.array(cams["Ks"]).shape == (3, 3, 3)
        assert np.array(body["prior"]["pose"]).shape == (24, 3)
        for v in range(3):
            view = load_view(d, v)
            assert view["rgb"].shape == (64, 64, 3) and view["part"].max() < 28
            assert np.array_equal(view["mask"], view["part"] > 0)
            assert np.array_equal(view["mask"], view["depth"] > 0)
            assert (view["depth_back"][view["mask"]] >= view["depth"][view["mask"]]).all()
            assert view["mask"].sum() > 100
            prior = view["prior_part"] > 0
            assert np.array_equal(prior, view["prior_depth"] > 0) and prior.sum() > 100
            iou = (prior & view["mask"]).sum() / (prior | view["mask"]).sum()
            assert 0.3 < iou < 1.0  # close to the person, but not the person


def test_files_match_the_renderer(tmp_path):
    """Depth, labels and cameras read back from disk are what the ray caster produced."""
    write_dataset(tmp_path, 1, views=2, res=48, seed=3, workers=1, progress=False)
    d = next(tmp_path.glob("*/*/body.json")).parent
    body = json.loads((d / "body.json").read_text())
    cams_json = json.loads((d / "cameras.json").read_text())
    cams = Cameras(torch.tensor(cams_json["viewmats"]), torch.tensor(cams_json["Ks"]), 48, 48)
    sub = sample_subject(3, 0, 2)
    params = BodyParams.from_json(body)
    assert torch.allclose(params.pose, sub.params.pose, atol=1e-5)
    out = raycast(sub.params, sub.appearance, cams)
    for v in range(2):
        view = load_view(d, v)
        assert np.array_equal(view["part"], out.part[v].numpy())
        assert np.abs(view["depth"] - out.depth[v].numpy()).max() < 1.0 / DEPTH_SCALE
        assert np.abs(view["depth_back"] - out.back_depth[v].numpy()).max() < 1.0 / DEPTH_SCALE


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_dataset(a, 3, views=2, res=40, seed=11, workers=1, progress=False)
    write_dataset(b, 3, views=2, res=40, seed=11, workers=2, progress=False)
    write_dataset(c, 3, views=2, res=40, seed=12, workers=1, progress=False)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert fa == fb
    assert fa.keys() != fc.keys() or any(fa[k] != fc[k] for k in fa)


def test_splits_are_disjoint_and_complete():
    for n in (1, 2, 3, 10, 57):
        s = splits(n, seed=5)
        ids = s["train"] + s["val"] + s["test"]
        assert sorted(ids) == list(range(n))
        if n >= 3:
            assert s["val"] and s["test"] and len(s["train"]) >= n - 2 * max(1, round(0.1 * n))
    assert splits(57, 5) == splits(57, 5) and splits(57, 5) != splits(57, 6)


def test_at_least_20_classes_in_generated_images(tmp_path):
    write_dataset(tmp_path, 8, views=4, res=128, seed=3, workers=1, progress=False)
    seen: set[int] = set()
    for body in tmp_path.glob("*/*/body.json"):
        for v in range(4):
            seen |= set(np.unique(load_view(body.parent, v)["part"]).tolist())
    assert len(seen) >= 20, sorted(seen)


def test_subjects_vary():
    subs = [sample_subject(0, i, 4) for i in range(12)]
    assert len({s.pose_kind for s in subs}) >= 3
    assert len({s.appearance.top for s in subs}) >= 3
    # View 0 is the frontal-ish input view; the others go around the person.
    for s in subs:
        assert min(s.azimuth_deg[0], 360 - s.azimuth_deg[0]) <= 40
        gaps = np.diff(np.sort(np.mod(s.azimuth_deg - s.azimuth_deg[0], 360)))
        assert gaps.min() > 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--subjects", "0"], "--subjects must be between"),
        (["--subjects", "2", "--views", "0"], "--views must be between"),
        (["--subjects", "2", "--res", "8"], "--res must be between"),
        (["--subjects", "2", "--seed", "-1"], "--seed must be"),
        (["--subjects", "2", "--workers", "0"], "--workers must be"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, capsys, args, message):
    out = tmp_path / "ds"
    assert main(["synth", *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "error" in err
    assert not out.exists()  # nothing written


def test_refuses_a_non_empty_directory(tmp_path, capsys):
    keep = tmp_path / "precious.txt"
    keep.write_text("do not lose me")
    assert main(["synth", "--subjects", "1", "-o", str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert keep.read_text() == "do not lose me" and len(list(tmp_path.iterdir())) == 1


def test_non_numeric_argument_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["synth", "--subjects", "many", "-o", str(tmp_path / "x")])
    assert e.value.code == 2


def test_every_view_frames_the_whole_person():
    """Tall poses (raised arms) move the cameras back: no person pixel on the image border."""
    for i in range(16):
        s = sample_subject(1, i, 4)
        cams = photo_like_cameras(s, 64)
        m = raycast(s.params, s.appearance, cams).mask
        border = m[:, 0].any() | m[:, -1].any() | m[:, :, 0].any() | m[:, :, -1].any()
        assert not bool(border), (i, s.pose_kind)
        # ... and fills the frame as a photo crop does (longer side 55-95 % of the image).
        rows, cols = m.any(2), m.any(1)
        for v in range(4):
            r, c = rows[v].nonzero(), cols[v].nonzero()
            side = max(int(r.max() - r.min()), int(c.max() - c.min())) + 1
            assert 0.5 <= side / 64 <= 0.95, (i, v, side)


def test_cameras_are_photo_like():
    """Fields of view of 30-60 degrees (real photos), not the 30-degree orbit."""
    fovs = np.concatenate([sample_subject(2, i, 4).fov_deg for i in range(20)])
    assert fovs.min() >= 30 and fovs.max() <= 60 and fovs.std() > 5


def test_prior_is_fitted_from_noisy_landmarks_not_the_true_body():
    s = sample_subject(0, 3, 4)
    prior = fitted_prior(s)
    err = (prior.pose - s.params.pose).abs().max()
    assert float(err) > 1e-3  # not the ground truth
    assert torch.equal(fitted_prior(s).pose, prior.pose)  # but deterministic
