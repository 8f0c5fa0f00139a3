"""The ``fast`` and ``multiview`` modes end to end with the shipped checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humancrafter.errors import InputError
from humancrafter.model.checkpoint import DEFAULT_CHECKPOINT, read_metadata
from humancrafter.photo import PhotoFrontEnd, load_image
from humancrafter.photo_views import output_size, place_cameras, turn_y, view_inputs
from humancrafter.pipeline import DEMO_PHOTO, Pipeline, ReconstructOptions
from humancrafter.portable.parts import PART_IDS
from humancrafter.prior import fit_body

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline("cpu", preview_views=4, preview_size=64)


@pytest.fixture(scope="module")
def astronaut():
    return load_image(DEMO_PHOTO)


def test_the_default_checkpoint_is_shipped_and_small():
    assert DEFAULT_CHECKPOINT.is_file()
    assert DEFAULT_CHECKPOINT.stat().st_size < 25 * 2**20
    opt, info = read_metadata(DEFAULT_CHECKPOINT)
    assert opt.image_size == 128 and info["step"] > 0


def test_fast_makes_labelled_splats(pipeline, astronaut):
    stages = []
    result = pipeline.run(
        [astronaut],
        ReconstructOptions(mode="fast", num_gaussians=20_000),
        progress=lambda s, f: stages.append(s),
    )
    s = result.splats
    assert s.labelled and 10_000 < len(s) < 40_000
    assert s.rigged and len(s.skeleton.names) == 24  # the fitted body's skeleton and skin
    face = s.part == PART_IDS["Face_Neck"]
    main = s.skin_joints[np.arange(len(s)), s.skin_weights.argmax(1)]
    neck_and_head = [9, 12, 13, 14, 15]  # spine3, neck, both collars, head
    assert face.sum() > 500 and np.isin(main[face], neck_and_head).mean() > 0.95
    assert stages[:6] == ["photo", "fit", "camera", "prior", "network", "splats"]
    assert stages[-2:] == ["splats", "done"]  # no preview: not asked for
    assert list(result.timings) == ["photo", "fit", "camera", "prior", "network", "splats"]
    assert result.preview_png is None
    # The person's own colours, not the mannequin's: the suit is orange.
    rgb = s.rgb()
    orange = (rgb[:, 0] > 0.6) & (rgb[:, 1] < 0.55) & (rgb[:, 2] < 0.45)
    assert orange.mean() > 0.15
    # About one unit tall, centred near the origin (the model frame).
    lo, hi = np.percentile(s.means, 2, axis=0), np.percentile(s.means, 98, axis=0)
    assert 0.4 < hi[1] - lo[1] < 1.3 and np.abs((lo + hi) / 2).max() < 0.6
    assert any("not visible" in w for w in result.warnings)  # a waist-up photo


def test_more_gaussians_when_asked(pipeline, astronaut):
    few = pipeline.run([astronaut], ReconstructOptions(mode="fast", num_gaussians=20_000)).splats
    many = pipeline.run([astronaut], ReconstructOptions(mode="fast", num_gaussians=80_000)).splats
    assert len(many) > 2.5 * len(few)


def test_multiview_takes_views_with_azimuths(pipeline, astronaut):
    mirrored = astronaut.transpose(0)  # a stand-in second view (left-right flipped)
    opts = ReconstructOptions(mode="multiview", azimuths_deg=[0.0, 180.0], num_gaussians=20_000)
    result = pipeline.run([astronaut, mirrored], opts)
    assert result.splats.labelled and len(result.splats) > 10_000
    for azimuths, message in (
        (None, "needs one azimuth per view"),
        ([0.0], "needs one azimuth per view"),
        ([0.0, 1e9], "between -360 and 360"),
    ):
        with pytest.raises(InputError, match=message):
            pipeline.run(
                [astronaut, mirrored], ReconstructOptions(mode="multiview", azimuths_deg=azimuths)
            )
    with pytest.raises(InputError, match="takes exactly one photo"):
        pipeline.run([astronaut, mirrored], ReconstructOptions(mode="fast"))


def test_cameras_of_a_turnaround_follow_the_azimuth_convention(astronaut):
    """Azimuth 90 puts the camera on the person's left (+x), 180 behind them (-z)."""
    analysis = PhotoFrontEnd().analyze(astronaut)
    params = fit_body(analysis)
    views = place_cameras([analysis] * 3, [0.0, 90.0, 180.0], params, seed=0)
    c = views.cameras.centers
    assert c[0, 2] > 0.5 and abs(float(c[0, 0])) < 0.3 * float(c[0, 2])
    assert c[1, 0] > 0.5 and abs(float(c[1, 2])) < 0.3 * float(c[1, 0])
    assert c[2, 2] < -0.5
    assert torch.allclose(
        turn_y(90.0) @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0, 0]), atol=1e-6
    )
    inputs = view_inputs([analysis], views.cameras[:1], params, 64)
    hit, mask = inputs.prior_hit[0, 0, 0] > 0, inputs.mask[0, 0, 0] > 0
    assert (hit & mask).sum() / (hit | mask).sum() > 0.5  # the prior sits on the person


def test_output_size():
    assert output_size(3000, 2, 6000, 128, 512) == 128
    assert output_size(3000, 2, 24_000, 128, 512) == 256
    assert output_size(3000, 2, 10**7, 128, 512) == 512


def test_asking_for_more_gaussians_than_the_photo_gives_says_so(pipeline, astronaut):
    # Two per person pixel of the 512 x 512 crop: about 185,000 for the astronaut.
    result = pipeline.run([astronaut], ReconstructOptions(mode="fast", num_gaussians=300_000))
    made = len(result.splats)
    assert 100_000 < made < 0.8 * 300_000
    said = f"made {made:,} Gaussians, not the 300,000 asked for: the most this photo gives"
    assert any(said in w for w in result.warnings), result.warnings
