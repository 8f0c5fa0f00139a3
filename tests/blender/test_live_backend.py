"""End to end against the real service: the add-on starts ``humancrafter serve`` from its
preferences, checks the connection and the token, reconstructs a photo in ``prior`` mode
(the mode that runs everywhere), imports the result, exports SPZ through the backend and
cancels a job. Skips when the service command is not installed."""

from __future__ import annotations

import gzip
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVE = ROOT / ".venv" / "bin" / "humancrafter"
PHOTO = ROOT / "backend" / "humancrafter" / "assets" / "astronaut.jpg"

pytestmark = pytest.mark.slow


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(addon, tmp_root):
    import bpy

    exe = shutil.which("humancrafter") or (str(SERVE) if SERVE.exists() else None)
    if exe is None:
        pytest.skip("the 'humancrafter' command is not installed")
    if not PHOTO.is_file():
        pytest.skip(f"{PHOTO} is absent")
    prefs = bpy.context.preferences.addons[addon.__name__].preferences
    port = _free_port()
    prefs.backend_url = f"http://127.0.0.1:{port}"
    prefs.token = ""
    prefs.start_wait_s = 120.0
    prefs.start_command = f"{exe} serve --port {port} --data-dir {tmp_root / 'server-data'}"
    ops = _mod(addon, "operators")
    assert bpy.ops.humancrafter.start_backend() == {"FINISHED"}
    backend = ops.TASKS["backend"]
    assert backend.join(150)
    ops.poll_tasks()
    st = bpy.context.scene.humancrafter
    assert st.connection_ok, st.connection
    yield prefs
    backend.process.terminate()
    backend.process.wait(20)


def _wait(addon, key, timeout):
    ops = _mod(addon, "operators")
    task = ops.TASKS[key]
    seen = []
    deadline = time.monotonic() + timeout
    while not task.join(0.2):
        ops.poll_tasks()  # what the timer does in the UI
        st = __import__("bpy").context.scene.humancrafter
        seen.append((st.status, st.stage, st.progress))
        assert time.monotonic() < deadline, f"{key} did not finish: {seen[-1]}"
    ops.poll_tasks()
    return seen


def test_connection_and_token(server, addon):
    import bpy

    st = bpy.context.scene.humancrafter
    st.mode = "prior"
    bpy.ops.humancrafter.check_connection()
    _wait(addon, "health", 30)
    assert st.connection_ok and "mode 'prior' ready" in st.connection, st.connection
    server.token = "not-the-token"
    bpy.ops.humancrafter.check_connection()
    _wait(addon, "health", 30)
    assert not st.connection_ok and "rejected the access token" in st.connection
    server.token = ""


def test_reconstruct_import_and_export_spz(server, addon, tmp_path):
    import bpy

    st = bpy.context.scene.humancrafter
    st.source, st.filepath, st.mode = "FILE", str(PHOTO), "prior"
    st.num_gaussians, st.target_height, st.seed = 20_000, 1.6, 0
    assert bpy.ops.humancrafter.reconstruct() == {"FINISHED"}
    seen = _wait(addon, "job", 240)
    assert st.status == "done", st.message
    assert any(stage for _, stage, _ in seen), "no stage name was ever shown"
    progress = [p for _, _, p in seen]
    assert progress == sorted(progress) or max(progress) > 0
    obj = bpy.context.view_layer.objects.active
    assert obj is not None and obj["hc_splats"]
    assert len(obj.vertex_groups) > 3, "the result should carry part groups"
    assert "Imported" in st.message
    pos = _mod(addon, "meshdata").positions(obj.data)
    assert abs(np.percentile(pos[:, 2], 99.9) - np.percentile(pos[:, 2], 0.1) - 1.6) < 1e-3

    out = tmp_path / "person.spz"
    assert bpy.ops.humancrafter.export_spz(filepath=str(out)) == {"FINISHED"}
    _wait(addon, "spz", 60)
    assert out.is_file(), st.message
    raw = gzip.decompress(out.read_bytes())
    assert raw[:4] == b"NGSP"
    assert int.from_bytes(raw[8:12], "little") == len(obj.data.vertices)


def test_cancel(server, addon):
    import bpy

    st = bpy.context.scene.humancrafter
    st.source, st.filepath, st.mode = "FILE", str(PHOTO), "prior"
    st.num_gaussians, st.seed = 20_000, 12345  # not cached
    n_objects = len(bpy.data.objects)
    bpy.ops.humancrafter.reconstruct()
    task = _mod(addon, "operators").TASKS["job"]
    deadline = time.monotonic() + 60
    while task.snapshot().job_id is None:  # cancel once the backend has the job
        assert not task.join(0.05) and time.monotonic() < deadline, task.snapshot().message
    assert bpy.ops.humancrafter.cancel() == {"FINISHED"}
    _wait(addon, "job", 120)
    assert st.status == "cancelled", st.message
    assert len(bpy.data.objects) == n_objects
    client = _mod(addon, "preferences").make_client()
    assert client.job(task.snapshot().job_id)["status"] == "cancelled"
