"""Preferences, the client and the asynchronous operators when the backend is absent or
unreachable. (The live-server path is in test_live_backend.py.) Timers do not fire in
headless bpy, so the tests join the worker thread and call ``poll_tasks`` themselves."""

from __future__ import annotations

import socket
import sys

import pytest

ROOT_PHOTO = "photo.png"


def _mod(addon, name):
    return __import__(f"{addon.__name__}.{name}", fromlist=["x"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prefs(addon):
    import bpy

    p = bpy.context.preferences.addons[addon.__name__].preferences
    saved = (p.backend_url, p.token, p.start_command, p.start_wait_s)
    yield p
    p.backend_url, p.token, p.start_command, p.start_wait_s = saved


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / ROOT_PHOTO
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    return path


@pytest.fixture(autouse=True)
def every_mode(addon):
    """Offer every mode (as if the backend had said all were ready) for these tests."""
    props = _mod(addon, "props")
    saved = list(props.AVAILABLE)
    props.AVAILABLE[:] = [m[0] for m in props.MODES]
    yield props
    props.AVAILABLE[:] = saved


def _finish(addon, key):
    ops = _mod(addon, "operators")
    task = ops.TASKS[key]
    assert task.join(30), "worker did not finish"
    assert ops.poll_tasks() is None  # nothing left in flight
    return task


def test_url_validation(addon):
    client = _mod(addon, "client")
    assert client.validate_url(" http://127.0.0.1:8765/ ") == "http://127.0.0.1:8765"
    assert client.validate_url("https://gpu1.studio.lan") == "https://gpu1.studio.lan"
    bad_urls = [
        ("ftp://x:1", "http:// or https://"),
        ("http://", "no host"),
        ("http://h:99999", "invalid port"),
        ("http://h:1/api", "no path"),
    ]
    for bad, why in bad_urls:
        with pytest.raises(ValueError, match=why):
            client.validate_url(bad)
    assert client.is_local("http://localhost:1") and client.is_local("http://[::1]:8")
    assert not client.is_local("http://10.0.0.2:8765")


def test_invalid_url_in_preferences_is_shown(prefs):
    prefs.backend_url = "localhost:8765"
    assert "must start with http" in prefs.url_error
    prefs.backend_url = "http://127.0.0.1:8765"
    assert prefs.url_error == ""


def test_reconstruct_reports_backend_down(scene, addon, prefs, photo):
    import bpy

    prefs.backend_url = f"http://127.0.0.1:{_closed_port()}"
    st = scene.humancrafter
    st.source, st.filepath, st.mode = "FILE", str(photo), "fast"
    assert bpy.ops.humancrafter.reconstruct() == {"FINISHED"}  # returns at once
    assert st.status == "checking"
    _finish(addon, "job")
    assert st.status == "failed"
    assert "refused the connection" in st.message and "humancrafter serve" in st.message
    assert st.connection == st.message and not st.connection_ok
    assert len(bpy.data.objects) == 0


def test_check_connection_reports_backend_down(scene, addon, prefs):
    import bpy

    prefs.backend_url = f"http://127.0.0.1:{_closed_port()}"
    assert bpy.ops.humancrafter.check_connection() == {"FINISHED"}
    _finish(addon, "health")
    st = scene.humancrafter
    assert not st.connection_ok and "is not running" not in st.connection
    assert "refused the connection" in st.connection


def test_remote_host_respects_online_access(scene, addon, prefs):
    import bpy

    assert bpy.app.online_access is False  # the bpy wheel's default
    prefs.backend_url = "http://192.0.2.10:8765"  # TEST-NET: must not even be tried
    bpy.ops.humancrafter.check_connection()
    _finish(addon, "health")
    assert "online access is off" in scene.humancrafter.connection


def test_photo_problems_are_reported(scene, addon, prefs, photo):
    import bpy

    st = scene.humancrafter
    st.source, st.filepath = "FILE", str(photo.parent / "missing.png")
    with pytest.raises(RuntimeError, match="is not a file"):
        bpy.ops.humancrafter.reconstruct()
    st.filepath, st.mode = str(photo), "multiview"
    with pytest.raises(RuntimeError, match="Multi-view needs 2 to 4 views"):
        bpy.ops.humancrafter.reconstruct()
    st.source, st.image = "IMAGE", None
    with pytest.raises(RuntimeError, match="Choose an image"):
        bpy.ops.humancrafter.reconstruct()
    st.source, st.mode = "FILE", "fast"


def test_multiview_sends_every_view_with_its_azimuth(scene, addon, photo):
    import bpy

    st = scene.humancrafter
    st.source, st.filepath, st.mode, st.azimuth = "FILE", str(photo), "multiview", 0.0
    bpy.ops.humancrafter.view_add()
    st.views[0].filepath = str(photo)
    st.views[0].azimuth = 180.0
    images, azimuths = _mod(addon, "operators").collect_images(st)
    assert len(images) == 2 and azimuths == [0.0, 180.0]
    bpy.ops.humancrafter.view_remove(index=0)
    st.mode = "fast"


def test_token_comes_from_the_local_token_file(addon, prefs, tmp_path):
    from humancrafter.portable import config

    config.token_path().parent.mkdir(parents=True, exist_ok=True)
    config.token_path().write_text("local-secret\n")
    make_client = _mod(addon, "preferences").make_client
    prefs.backend_url, prefs.token = "http://127.0.0.1:8765", ""
    assert make_client().token == "local-secret"
    prefs.token = "pasted"
    assert make_client().token == "pasted"
    prefs.backend_url, prefs.token = "http://10.1.2.3:8765", ""
    assert make_client().token is None  # a remote backend never gets the local token
    config.token_path().unlink()


def test_start_backend_reports_a_failing_command(scene, addon, prefs):
    import bpy

    prefs.backend_url = f"http://127.0.0.1:{_closed_port()}"
    prefs.start_command = f"{sys.executable} -c \"import sys; print('no model'); sys.exit(3)\""
    assert bpy.ops.humancrafter.start_backend() == {"FINISHED"}
    _finish(addon, "backend")
    line = scene.humancrafter.connection
    assert "exited with code 3" in line and "no model" in line
    prefs.start_command = "/nonexistent/humancrafter serve"
    with pytest.raises(RuntimeError, match="cannot run"):
        bpy.ops.humancrafter.start_backend()


def test_mode_descriptions(addon):
    describe = _mod(addon, "client").describe_modes
    health = {"version": "0.1.0", "device": "cpu",
              "modes": {"prior": {"available": True, "missing": None},
                        "full": {"available": False, "missing": "a CUDA GPU"}}}  # fmt: skip
    assert describe(health, "prior") == (
        True,
        "Connected: backend 0.1.0 on cpu, mode 'prior' ready.",
    )
    ok, line = describe(health, "full")
    assert not ok and "it needs a CUDA GPU" in line and "Ready now: prior" in line
    assert "has no mode 'fast'" in describe(health, "fast")[1]


def _health(**ready):
    return {"status": "ok", "version": "0.1.0", "device": "cpu",
            "modes": {m: {"available": ok, "missing": None if ok else "a checkpoint"}
                      for m, ok in ready.items()}}  # fmt: skip


def test_mode_menu_offers_what_the_backend_can_run(scene, addon, every_mode):
    props = every_mode
    st = scene.humancrafter
    st.modes_checked = False
    props.set_available_modes(st, _health(prior=True, fast=False, multiview=False, full=False))
    items = props.MODES
    offered = [i[0] for i in props._mode_items(st, None)]
    assert offered == ["prior"] and st.mode == "prior"
    props.set_available_modes(st, _health(prior=True, fast=True, multiview=True, full=False))
    offered = [i[0] for i in props._mode_items(st, None)]
    assert offered == ["prior", "fast", "multiview"]
    assert st.mode == "prior"  # a choice the user already has is kept while it is ready
    st.modes_checked = False
    props.set_available_modes(st, _health(prior=True, fast=True))
    assert st.mode == "prior"  # first answer: prior is the default when available
    tips = {i[0]: i[2] for i in props._mode_items(st, None)}
    assert "trained HumanCrafter network" in tips["fast"] and "no network" in tips["prior"]
    assert "CUDA" in dict((n, tip) for n, _, tip, _ in items)["full"]
    with pytest.raises(TypeError):
        st.mode = "full"  # not offered
    st.mode = "fast"
    props.set_available_modes(st, _health(prior=True, fast=False))
    assert st.mode == "prior"  # fast went away


def test_health_check_updates_modes_and_notifies(scene, addon, prefs, every_mode):
    import bpy

    ops = _mod(addon, "operators")
    jobs = _mod(addon, "jobs")
    st = scene.humancrafter
    st.modes_checked = False

    class FakeClient:
        token = "t"
        base_url = "http://127.0.0.1:1"

        def health(self):
            return _health(prior=True, fast=True, multiview=False, full=False)

        def jobs(self, limit=1):
            return {"jobs": []}

    ops.TASKS["health"] = jobs.HealthCheck(FakeClient(), "prior").start()
    _finish(addon, "health")
    assert st.mode == "prior" and every_mode.AVAILABLE == ["prior", "fast"]
    assert ops.NOTICES[-1][0] == "INFO" and "mode 'prior' ready" in ops.NOTICES[-1][1]
    assert bpy.ops.humancrafter.notify.poll()


def test_failures_reach_the_status_bar(scene, addon, prefs, photo):
    import bpy

    ops = _mod(addon, "operators")
    prefs.backend_url = f"http://127.0.0.1:{_closed_port()}"
    st = scene.humancrafter
    st.source, st.filepath, st.mode = "FILE", str(photo), "prior"
    bpy.ops.humancrafter.reconstruct()
    _finish(addon, "job")
    level, text = ops.NOTICES[-1]
    assert level == "ERROR" and "refused the connection" in text


def test_seed_is_sent(scene, addon, prefs, photo):
    import bpy

    ops = _mod(addon, "operators")
    prefs.backend_url = f"http://127.0.0.1:{_closed_port()}"
    st = scene.humancrafter
    st.source, st.filepath, st.mode, st.seed = "FILE", str(photo), "prior", 42
    bpy.ops.humancrafter.reconstruct()
    assert ops.TASKS["job"].options["seed"] == 42
    _finish(addon, "job")
    st.seed = 0


def test_start_backend_when_the_port_is_taken(scene, addon, prefs):
    """Another backend answers at the URL: say so and start nothing; our command dying
    while someone else answers is reported as its exit, never as success."""
    import http.server
    import json
    import threading

    import bpy

    body = json.dumps(_health(prior=True)).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        prefs.backend_url = f"http://127.0.0.1:{server.server_port}"
        prefs.start_command = f'{sys.executable} -c "import sys; sys.exit(3)"'
        assert bpy.ops.humancrafter.start_backend() == {"FINISHED"}
        _finish(addon, "backend")
        line = scene.humancrafter.connection
        assert "already running" in line and "no new one was started" in line
        # the race: the port's owner answers while our own process exits with code 3
        jobs = _mod(addon, "jobs")
        client = _mod(addon, "preferences").make_client()
        task = jobs.LocalBackend(prefs.start_command, client, 10.0)
        task.health = None
        import subprocess
        import tempfile

        task.log = tempfile.NamedTemporaryFile(delete=False)
        task.process = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"],
                                        stdout=task.log)  # fmt: skip
        task._wait()
        assert task.ok is False and "exited with code 3" in task.line
    finally:
        server.shutdown()


def test_command_not_on_path_gives_a_hint(scene, addon, prefs):
    import bpy

    prefs.backend_url = f"http://127.0.0.1:{_closed_port()}"
    prefs.start_command = "humancrafter-not-installed-here serve"
    with pytest.raises(RuntimeError, match="not on Blender's PATH.*full path"):
        bpy.ops.humancrafter.start_backend()
