"""The Pipeline entry point (what the CLI and the service call) and the CLI commands."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")

from humancrafter.cli import main  # noqa: E402
from humancrafter.photo import load_image  # noqa: E402
from humancrafter.pipeline import (  # noqa: E402
    DEMO_PHOTO,
    Cancelled,
    InputError,
    Pipeline,
    ReconstructOptions,
)
from humancrafter.portable import splatfile  # noqa: E402
from humancrafter.portable.parts import PART_IDS  # noqa: E402

STAGES = ["photo", "outfit", "fit", "surface", "camera", "girth", "colour", "splats", "preview"]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline("cpu", preview_views=4, preview_size=96)


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return load_image(DEMO_PHOTO)


def test_available_modes(pipeline):
    modes = pipeline.available_modes()
    assert set(modes) == {"prior", "fast", "multiview", "full"}
    assert modes["prior"] is None and pipeline.device == "cpu"
    assert modes["fast"] is None and modes["multiview"] is None  # the shipped checkpoint
    assert "weights folder" in modes["full"] or "SV3D" in modes["full"]  # docs/weights.md
    missing = Pipeline("cpu", checkpoint="/nowhere/net.safetensors").available_modes()
    assert "/nowhere/net.safetensors" in missing["fast"] and "missing" in missing["multiview"]


@pytest.mark.parametrize(
    ("images", "options", "message"),
    [
        ("one", ReconstructOptions(mode="full"), "mode 'full' cannot run here: it needs a weights"),
        ("one", ReconstructOptions(mode="multiview"), "takes 2 to 4 views, not 1"),
        ("one", ReconstructOptions(mode="nerf"), "unknown mode 'nerf'"),  # type: ignore[arg-type]
        ("two", ReconstructOptions(), "takes exactly one photo, not 2"),
        ("none", ReconstructOptions(), "takes exactly one photo, not 0"),
        ("array", ReconstructOptions(), "not an image"),
        ("one", ReconstructOptions(num_gaussians=1000), "between 20,000 and 1,000,000"),
        ("noise", ReconstructOptions(), "no person was found"),
    ],
)
def test_bad_input(pipeline, astronaut, images, options, message):
    noise = np.random.default_rng(0).integers(0, 256, (300, 300, 3), dtype=np.uint8)
    given = {
        "one": [astronaut], "two": [astronaut, astronaut], "none": [],
        "array": [np.asarray(astronaut)], "noise": [Image.fromarray(noise)],
    }[images]  # fmt: skip
    with pytest.raises(InputError, match=message):
        pipeline.run(given, options)


def test_cancel_between_stages(pipeline, astronaut):
    seen: list[str] = []
    with pytest.raises(Cancelled):
        pipeline.run(
            [astronaut],
            ReconstructOptions(mode="prior", num_gaussians=20_000),
            progress=lambda stage, fraction: seen.append(stage),
            should_cancel=lambda: "fit" in seen,
        )
    assert seen == ["photo", "outfit", "fit"]  # stopped before the surface was sampled
    with pytest.raises(Cancelled):
        pipeline.run([astronaut], ReconstructOptions(), should_cancel=lambda: True)


def test_prior_on_the_astronaut(pipeline, astronaut, tmp_path):
    calls: list[tuple[str, float]] = []
    result = pipeline.run(
        [astronaut],
        ReconstructOptions(mode="prior", num_gaussians=20_000, seed=0, preview=True),
        progress=lambda stage, fraction: calls.append((stage, fraction)),
    )
    assert [c[0] for c in calls] == STAGES + ["done"]
    fractions = [c[1] for c in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert list(result.timings) == STAGES
    assert any("not visible in the photo" in w and "feet" in w for w in result.warnings)

    splats = result.splats
    assert len(splats) == 20_000 and splats.labelled
    assert ((splats.part_conf >= 0) & (splats.part_conf <= 1)).all()
    assert len(np.unique(splats.part)) >= 12
    # Her suit is orange: the upper clothing takes its colour from the photo.
    r, g, b = np.median(splats.rgb()[splats.part == PART_IDS["Upper_Clothing"]], axis=0)
    assert r > 0.5 and r > g + 0.15 > b + 0.15
    path = tmp_path / "astronaut.ply"
    splatfile.save(path, splats)
    again = splatfile.load(path)
    np.testing.assert_array_equal(again.part, splats.part)
    np.testing.assert_allclose(again.means, splats.means)
    # Rigged to the fitted body: its 24 joints, and the skin of each splat's own limb.
    assert again.rigged and again.skeleton.names[16] == "left_shoulder"
    np.testing.assert_array_equal(again.skin_weights, splats.skin_weights)
    main = splats.skin_joints[np.arange(len(splats)), splats.skin_weights.argmax(1)]
    # The left knee's bone carries the middle of the left shin (away from the blends at
    # the knee and the ankle), bare or in the suit's trousers.
    knee, ankle = splats.skeleton.joints[4], splats.skeleton.joints[7]
    y = splats.means[:, 1]
    mid = (y < knee[1] - 0.3 * (knee[1] - ankle[1])) & (y > ankle[1] + 0.3 * (knee[1] - ankle[1]))
    legs = np.isin(splats.part, [PART_IDS["Left_Lower_Leg"], PART_IDS["Lower_Clothing"]])
    shin = mid & legs & (np.abs(splats.means[:, 0] - knee[0]) < 0.06)
    assert shin.sum() > 100
    assert (main[shin] == 4).mean() > 0.9
    sheet = Image.open(io.BytesIO(result.preview_png))
    assert sheet.size == (4 * 96, 2 * 96)


def test_cli_reconstruct_refuses_clearly(tmp_path, capsys):
    photo = tmp_path / "notes.png"
    photo.write_text("not a picture")
    assert main(["reconstruct", str(photo), "-o", str(tmp_path / "x.ply")]) == 2
    err = capsys.readouterr().err
    assert "humancrafter reconstruct: error: notes.png is not an image" in err
    assert not (tmp_path / "x.ply").exists()


def test_cli_demo(tmp_path, capsys):
    assert main(["demo", "--out-dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    splats_path, preview_path = (
        tmp_path / "demo" / "astronaut.ply",
        tmp_path / "demo" / "astronaut_preview.png",
    )
    assert (
        f"splats:  {splats_path.resolve()}" in out and f"preview: {preview_path.resolve()}" in out
    )
    assert "time: load" in out and "girth" in out and "preview" in out and "mode prior" in out
    splats = splatfile.load(splats_path)
    assert 30_000 < len(splats) < 55_000 and splats.labelled  # about the 40,000 asked for
    assert Image.open(preview_path).size == (8 * 256, 2 * 256)
