"""The mode-runner interface: what a runner declares, and how the pipeline dispatches to a
runner, reports its stages, appends the preview and refuses what the runner refuses (with
a stand-in mode, so no network or photo model is needed)."""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from humancrafter import pipeline as pipeline_module
from humancrafter.errors import InputError
from humancrafter.modes.base import MODES, ModeContext, ModeOutput, ReconstructOptions
from humancrafter.pipeline import RUNNERS, Pipeline
from humancrafter.portable.splatfile import Splats


def test_every_runner_declares_its_mode_and_stages() -> None:
    assert "prior" in RUNNERS
    for name, runner in RUNNERS.items():
        assert runner.name == name and name in MODES
        stages = [stage for stage, _ in runner.stages]
        assert len(set(stages)) == len(stages) and "preview" not in stages
        shares = [share for _, share in runner.stages]
        assert all(s > 0 for s in shares) and sum(shares) < 1.0


class _Blob:
    """A stand-in mode: a ball of labelled splats, two stages, exactly two images."""

    name: ClassVar[str] = "fast"
    stages: ClassVar[tuple[tuple[str, float], ...]] = (("think", 0.25), ("splats", 0.25))

    def __init__(self, context: ModeContext) -> None:
        self.context = context
        self.bad_stage = False

    def available(self) -> str | None:
        return None

    def check_images(self, images: list[Image.Image]) -> None:
        if len(images) != 2:
            raise InputError(f"mode 'fast' (stand-in) takes two images, not {len(images)}")

    def run(self, images, options: ReconstructOptions, step) -> ModeOutput:
        step("think")
        rng = np.random.default_rng(options.seed)
        n = 500
        points = rng.normal(0, 0.2, (n, 3))
        splats = Splats.from_activated(
            means=points,
            rgb=np.full((n, 3), 0.5),
            opacity=np.full(n, 0.9),
            scales=np.full((n, 3), 0.02),
            quats=np.tile([1.0, 0, 0, 0], (n, 1)),
            part=np.full(n, 21),
            part_conf=np.ones(n),
        )
        step("splats" if not self.bad_stage else "surprise")
        return ModeOutput(splats, {"think": 0.1, "splats": 0.2}, ["a stand-in warning"])


@pytest.fixture
def blob_pipeline(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.setitem(pipeline_module.RUNNERS, "fast", _Blob)
    return Pipeline("cpu", preview_views=2, preview_size=32)


def _images(k: int) -> list[Image.Image]:
    return [Image.new("RGB", (200, 300)) for _ in range(k)]


def test_the_pipeline_dispatches_to_the_mode_runner(blob_pipeline: Pipeline) -> None:
    assert blob_pipeline.available_modes()["fast"] is None
    assert blob_pipeline.available_modes()["full"] is not None  # still no runner
    calls: list[tuple[str, float]] = []
    result = blob_pipeline.run(
        _images(2),
        ReconstructOptions(mode="fast", num_gaussians=20_000, seed=1, preview=True),
        progress=lambda stage, fraction: calls.append((stage, fraction)),
    )
    assert calls == [("think", 0.0), ("splats", 0.25), ("preview", 0.5), ("done", 1.0)]
    assert list(result.timings) == ["think", "splats", "preview"]
    assert result.warnings == ["a stand-in warning"] and len(result.splats) == 500
    assert Image.open(io.BytesIO(result.preview_png)).size == (2 * 32, 2 * 32)


def test_without_a_preview_the_runner_stages_fill_the_job(blob_pipeline: Pipeline) -> None:
    calls: list[tuple[str, float]] = []
    result = blob_pipeline.run(
        _images(2),
        ReconstructOptions(mode="fast", num_gaussians=20_000, seed=1),
        progress=lambda stage, fraction: calls.append((stage, fraction)),
    )
    assert calls == [("think", 0.0), ("splats", 0.5), ("done", 1.0)]
    assert list(result.timings) == ["think", "splats"] and result.preview_png is None


def test_the_runner_checks_its_images_and_the_pipeline_the_rest(blob_pipeline: Pipeline) -> None:
    with pytest.raises(InputError, match="takes two images, not 1"):
        blob_pipeline.run(_images(1), ReconstructOptions(mode="fast"))
    with pytest.raises(InputError, match="image 2 is not an image"):
        blob_pipeline.run([_images(1)[0], "x"], ReconstructOptions(mode="fast"))  # type: ignore[list-item]
    with pytest.raises(InputError, match="between 20,000 and 1,000,000"):
        blob_pipeline.run(_images(2), ReconstructOptions(mode="fast", num_gaussians=10))


def test_a_stage_the_runner_did_not_declare_is_a_bug(blob_pipeline: Pipeline) -> None:
    blob_pipeline._runners["fast"].bad_stage = True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="stage 'surprise', not in its stages"):
        blob_pipeline.run(_images(2), ReconstructOptions(mode="fast"))
