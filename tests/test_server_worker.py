"""The job worker process (``server/worker.py``) with a stand-in pipeline: a job's result
is stored by the worker, cancel kills it at once, a job over the memory limit and a
worker that dies fail that job alone, and the next job runs in a new worker."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from server_fixtures import FakePipeline, png_bytes

from humancrafter.errors import Cancelled
from humancrafter.server.jobs import Store
from humancrafter.server.worker import ProcessPipeline, WorkerDied

pytestmark = pytest.mark.timeout(120)

KEY = "ab" * 32


@pytest.fixture(scope="module")
def worker() -> ProcessPipeline:
    w = ProcessPipeline(FakePipeline, memory_limit_bytes=400_000_000)
    yield w
    w.close()


def _run(w: ProcessPipeline, root: Path, hog: int, ms: int, cancel=lambda: False) -> dict:  # noqa: ANN001
    image = png_bytes(Image.new("RGB", (300, 300), (120, 90, 60)))
    options = {"mode": "prior", "num_gaussians": hog, "seed": ms}
    stages: list[str] = []
    meta = w.run_job(root, KEY, [image], options, 10_000_000, lambda s, f: stages.append(s), cancel)
    assert stages == ["hog"]
    return meta


def test_job_runs_and_stores_its_result(worker: ProcessPipeline, tmp_path: Path) -> None:
    meta = _run(worker, tmp_path, 1000, 0)
    assert meta["num_splats"] == 4
    assert Store(tmp_path).has_result(KEY)


def test_cancel_kills_then_a_new_worker_runs(worker: ProcessPipeline, tmp_path: Path) -> None:
    pid = worker.pid
    flag = threading.Event()
    threading.Timer(0.5, flag.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        _run(worker, tmp_path, 1000, 30_000, flag.is_set)
    assert time.monotonic() - start < 3.0
    assert not Path(f"/proc/{pid}").exists() or b") Z " in Path(f"/proc/{pid}/stat").read_bytes()
    assert _run(worker, tmp_path, 1000, 0)["num_splats"] == 4
    assert worker.pid != pid


def test_over_the_memory_limit_fails_that_job(worker: ProcessPipeline, tmp_path: Path) -> None:
    with pytest.raises(WorkerDied, match="more than 0.4 GB"):
        _run(worker, tmp_path, 700_000_000, 5_000)
    assert _run(worker, tmp_path, 1000, 0)["num_splats"] == 4


def test_a_worker_that_dies_fails_that_job(worker: ProcessPipeline, tmp_path: Path) -> None:
    threading.Timer(0.5, lambda: os.kill(worker.pid, signal.SIGKILL)).start()
    with pytest.raises(WorkerDied, match="SIGKILL"):
        _run(worker, tmp_path, 1000, 30_000)
    assert _run(worker, tmp_path, 1000, 0)["num_splats"] == 4


def test_a_preview_request_draws_the_stored_twin_or_reconstructs(
    worker: ProcessPipeline, tmp_path: Path
) -> None:
    """A preview request whose twin without the preview is stored: the worker only draws
    the twin's sheet; when the twin is gone (evicted before the job ran), it runs the job."""
    image = png_bytes(Image.new("RGB", (300, 300), (120, 90, 60)))
    options = {"mode": "prior", "num_gaussians": 1000, "seed": 0}
    twin, key = "cd" * 32, "ef" * 32
    _run(worker, tmp_path, 1000, 0)  # stores a 4-splat result under KEY: the twin
    for preview_of, expected in ((KEY, ["preview", "preview"]), (twin, ["hog"])):
        stages: list[str] = []
        meta = worker.run_job(
            tmp_path, key if preview_of == KEY else twin, [image], options, 10_000_000,
            lambda s, f, seen=stages: seen.append(s), lambda: False, preview_of=preview_of,
        )  # fmt: skip
        assert stages == expected and meta["num_splats"] == 4
    store = Store(tmp_path)
    assert set(store.result_meta(key)["timings"]) == {"preview"}
    assert store.result_file(key, "splats.ply") == store.result_file(KEY, "splats.ply")
    assert Image.open(io.BytesIO(store.result_file(key, "preview.png"))).size == (4, 2)
