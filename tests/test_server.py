"""The backend service, tested as a real ``humancrafter serve`` process with the real
pipeline (``prior`` mode, small Gaussian counts): jobs, cache, cancel, load, restart, bad
inputs and the security checks."""

from __future__ import annotations

import io
import json
import signal
import stat
import struct
import threading
from pathlib import Path

import pytest
import requests
from PIL import Image
from server_fixtures import (
    Server,
    empty_photo,
    person_photo,
    png_bomb,
    png_bytes,
    zero_size_png,
)

from humancrafter.portable import splatfile
from humancrafter.spz import spz_to_splats

pytestmark = pytest.mark.timeout(300)

SMALL = json.dumps({"mode": "prior", "num_gaussians": 20_000})
"""The fewest Gaussians the pipeline makes: a job of about a second on a laptop CPU."""


def small(seed: int) -> str:
    return json.dumps({"mode": "prior", "num_gaussians": 20_000, "seed": seed})


@pytest.fixture(scope="module")
def photo() -> bytes:
    return person_photo()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    srv = Server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


def assert_clear_error(r: requests.Response, status: int, words: str) -> None:
    """A 4xx answer with a one-sentence ``detail`` that mentions ``words``."""
    assert r.status_code == status, (r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, str) and words in detail, detail
    assert "\n" not in detail and len(detail) < 300


# ---- the happy path ----


def test_health_is_public_and_lists_modes(server: Server) -> None:
    r = requests.get(server.base + "/health", timeout=10)
    assert r.status_code == 200
    h = r.json()
    assert h["status"] == "ok" and h["version"] == "0.1.0" and h["device"]
    assert set(h["modes"]) == {"prior", "fast", "multiview", "full"}
    assert h["modes"]["prior"] == {"available": True, "missing": None}
    for info in h["modes"].values():
        assert info["available"] == (info["missing"] is None)
    assert h["queue"]["capacity"] == 8 and h["queue"]["depth"] >= 0
    assert h["limits"]["max_upload_bytes"] == 20_000_000


def test_failed_job_then_full_job_result_preview_and_cache(server: Server, photo: bytes) -> None:
    # A photo with no person: accepted (it is a valid image), then the job fails with the
    # pipeline's message, and the worker goes on with the next job.
    r = server.submit([empty_photo()], SMALL)
    assert r.status_code == 202, r.text
    failed = r.json()
    r = server.submit([photo], SMALL)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and not job["cached"]
    expected = {
        "mode": "prior", "azimuths_deg": None, "num_gaussians": 20_000, "seed": 0,
        "preview": False,
    }  # fmt: skip
    assert job["options"] == expected

    info = server.wait(failed["id"], ("done", "failed"))
    assert info["status"] == "failed"
    assert isinstance(info["error"], str) and len(info["error"]) > 10
    assert_clear_error(server.get(f"/jobs/{failed['id']}/result"), 409, "failed")

    info = server.wait(job["id"], ("done", "failed"))
    assert info["status"] == "done", info
    assert info["progress"] == 1.0 and info["error"] is None and info["stage"] is None
    assert info["timings"] and all(v >= 0 for v in info["timings"].values())

    ply = server.get(f"/jobs/{job['id']}/result")
    assert ply.status_code == 200
    assert ply.headers["content-type"] == "application/octet-stream"
    splats = splatfile.loads(ply.content)
    assert len(splats) == info["num_splats"] > 0
    assert splats.labelled
    # No preview was asked for, so none was made.
    assert_clear_error(server.get(f"/jobs/{job['id']}/preview"), 404, '"preview": true')

    listed = [j["id"] for j in server.get("/jobs").json()["jobs"]]
    assert listed[:2] == [job["id"], failed["id"]]

    # Cancelling a finished job changes nothing.
    assert server.post(f"/jobs/{job['id']}/cancel").json()["status"] == "done"

    # The same bytes with the same options: answered from the cache, at once.
    again = server.submit([photo], SMALL).json()
    assert again["status"] == "done" and again["cached"] and again["id"] != job["id"]
    assert again["num_splats"] == info["num_splats"]
    assert server.get(f"/jobs/{again['id']}/result").content == ply.content

    # Asking for the preview is a different request: a new job, which only draws the sheet
    # of the stored splats (no reconstruction stage runs again; the same splats).
    with_preview = server.submit([photo], json.dumps({**json.loads(SMALL), "preview": True}))
    assert with_preview.status_code == 202 and not with_preview.json()["cached"]
    info = server.wait(with_preview.json()["id"], ("done", "failed"))
    assert info["status"] == "done", info
    assert set(info["timings"]) == {"queued", "preview"}, info["timings"]
    assert info["num_splats"] == len(splats)
    assert server.get(f"/jobs/{info['id']}/result").content == ply.content
    preview = server.get(f"/jobs/{info['id']}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (4 * 96, 2 * 96)
    # and that request is now cached in turn
    again = server.submit([photo], json.dumps({**json.loads(SMALL), "preview": True})).json()
    assert again["cached"] and server.get(f"/jobs/{again['id']}/preview").content == preview.content

    # The SPZ converter takes the result file.
    spz = server.post(
        "/convert/spz", data=ply.content, headers={"Content-Type": "application/octet-stream"}
    )
    assert spz.status_code == 200
    assert len(spz_to_splats(spz.content)) == len(splats)
    assert len(spz.content) < len(ply.content) / 3


def test_cancel_running_and_queued_jobs(server: Server, photo: bytes) -> None:
    running = server.submit([photo], small(10)).json()
    waiting = server.submit([photo], small(11)).json()
    assert server.wait_running(running["id"])["status"] == "running"
    r = server.post(f"/jobs/{waiting['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = server.post(f"/jobs/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    # The pipeline stops at its next stage and the worker takes the next job.
    nxt = server.submit([photo], small(12)).json()
    assert server.wait(nxt["id"], ("done", "failed"))["status"] == "done"
    for job in (running, waiting):
        info = server.get(f"/jobs/{job['id']}").json()
        assert info["status"] == "cancelled" and info["num_splats"] is None, info
        assert info["progress"] < 1.0
        assert_clear_error(server.get(f"/jobs/{job['id']}/result"), 409, "cancelled")
    # The queued job never reached the pipeline.
    assert "queued" not in server.get(f"/jobs/{waiting['id']}").json()["timings"]


# ---- bad input: 4xx with a clear message, and the server stays healthy ----


def _truncated_png(png: bytes) -> bytes:
    return png[: len(png) // 2]


BAD_UPLOADS = {
    "not an image": (lambda p: [b"%PDF-1.7 this is not an image"], None, 415, "not a PNG"),
    "image named .png that is a text": (lambda p: [b"hello"], None, 415, "not a PNG"),
    "truncated PNG": (lambda p: [_truncated_png(p)], None, 422, "truncated"),
    "0x0 PNG": (lambda p: [zero_size_png()], None, 422, "cannot be decoded"),
    "tiny image": (lambda p: [png_bytes(Image.new("RGB", (64, 48)))], None, 422, "too small"),
    "PNG bomb": (lambda p: [png_bomb()], None, 413, "pixels"),
    "five images": (lambda p: [p] * 5, None, 422, "1 to 4 images"),
    "two images for one view": (lambda p: [p, p], None, 422, "takes one image"),
    "bad option JSON": (lambda p: [p], '{"mode": "prior",', 400, "not valid JSON"),
    "options not an object": (lambda p: [p], "[1, 2]", 400, "JSON object"),
    "unknown mode": (lambda p: [p], '{"mode": "ultra"}', 422, "mode"),
    "unknown option": (lambda p: [p], '{"num_gausians": 10}', 422, "num_gausians"),
    "too many gaussians": (lambda p: [p], '{"num_gaussians": 99999999}', 422, "num_gaussians"),
    "azimuth per image": (lambda p: [p], '{"azimuths_deg": [0, 90]}', 422, "one azimuth"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_refused_clearly(server: Server, case: str) -> None:
    make, options, status, words = BAD_UPLOADS[case]
    before = len(server.get("/jobs").json()["jobs"])
    assert_clear_error(server.submit(make(empty_photo()), options), status, words)
    assert server.healthy()
    assert len(server.get("/jobs").json()["jobs"]) == before


def test_unavailable_mode_is_refused_with_what_is_missing(server: Server) -> None:
    modes = server.get("/health").json()["modes"]
    missing = {m: info["missing"] for m, info in modes.items() if not info["available"]}
    if not missing:
        pytest.skip("every mode is available on this machine")
    mode, what = next(iter(missing.items()))
    r = server.submit([empty_photo()], json.dumps({"mode": mode}))
    assert_clear_error(r, 422, what)


def test_oversized_upload_is_refused_before_reading(server: Server) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(21_000_000)
    assert_clear_error(server.submit([big]), 413, "20 MB")

    def chunks():  # no Content-Length: counted while it streams in
        for _ in range(25):
            yield bytes(1_000_000)

    r = server.post("/convert/spz", data=chunks())
    assert_clear_error(r, 413, "20 MB")
    assert server.healthy()


def test_mesh_of_a_result_in_each_format(server: Server, photo: bytes) -> None:
    """``GET /jobs/{id}/mesh``: the stored splats as a skinned GLB (the ``prior`` mode
    rigs its result), OBJ or PLY; typed refusals."""
    job = server.submit([photo], SMALL).json()
    assert server.wait(job["id"], ("done", "failed"))["status"] == "done"
    r = server.get(f"/jobs/{job['id']}/mesh", params={"format": "glb", "voxel": 0.03})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "model/gltf-binary"
    assert f"humancrafter-{job['id']}.glb" in r.headers["content-disposition"]
    (jlen,) = struct.unpack_from("<I", r.content, 12)
    doc = json.loads(r.content[20 : 20 + jlen])
    assert r.content[:4] == b"glTF" and len(doc["skins"][0]["joints"]) == 24
    names = {m["name"] for m in doc["meshes"]}
    assert {"Face_Neck", "Upper_Clothing", "Lower_Clothing"} <= names
    attributes = doc["meshes"][0]["primitives"][0]["attributes"]
    assert {"JOINTS_0", "WEIGHTS_0", "COLOR_0"} <= set(attributes)
    obj = server.get(f"/jobs/{job['id']}/mesh", params={"format": "obj", "voxel": 0.03})
    assert obj.status_code == 200 and obj.headers["content-type"] == "model/obj"
    assert {line[2:] for line in obj.text.splitlines() if line.startswith("o ")} == names
    ply = server.get(f"/jobs/{job['id']}/mesh", params={"format": "ply", "voxel": 0.03})
    assert ply.status_code == 200 and ply.content.startswith(b"ply\n")
    assert b"property uchar part" in ply.content[:4000]
    # refusals: an unknown format, a voxel out of range, no such job, a job without result
    assert_clear_error(server.get(f"/jobs/{job['id']}/mesh", params={"format": "fbx"}), 422,
                       "format")  # fmt: skip
    assert_clear_error(server.get(f"/jobs/{job['id']}/mesh", params={"voxel": 0}), 422, "voxel")
    assert_clear_error(server.get("/jobs/" + "0" * 32 + "/mesh"), 404, "no job")
    failed = server.submit([empty_photo()], SMALL).json()
    server.wait(failed["id"], ("done", "failed"))
    assert_clear_error(server.get(f"/jobs/{failed['id']}/mesh"), 409, "failed")


def test_bad_splat_file_for_spz(server: Server) -> None:
    r = server.post("/convert/spz", data=b"ply\nformat nonsense\n")
    assert_clear_error(r, 422, "not a splat PLY")


def test_job_ids_are_never_paths(server: Server) -> None:
    for bad in ("..%2F..%2Fetc%2Fpasswd", "0" * 31 + "g", "x" * 200):
        r = server.get(f"/jobs/{bad}/result")
        assert r.status_code == 404, r.text
    assert server.get("/jobs/" + "0" * 32).status_code == 404
    assert server.post("/jobs/" + "0" * 32 + "/cancel").status_code == 404


# ---- security ----


def test_token_file_is_private_and_its_path_printed(server: Server) -> None:
    path = server.config_dir / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(server.token) >= 40
    assert str(path) in server.log()
    assert server.token not in server.log()


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/jobs"),
        ("POST", "/jobs"),
        ("GET", "/jobs/" + "0" * 32),
        ("POST", "/jobs/" + "0" * 32 + "/cancel"),
        ("GET", "/jobs/" + "0" * 32 + "/result"),
        ("GET", "/jobs/" + "0" * 32 + "/preview"),
        ("POST", "/convert/spz"),
    ],
)
def test_every_route_but_health_needs_the_token(server: Server, method: str, path: str) -> None:
    for auth in (None, "Bearer wrong", f"Basic {server.token}", f"Bearer {server.token}x"):
        headers = {} if auth is None else {"Authorization": auth}
        r = requests.request(method, server.base + path, headers=headers, timeout=10)
        assert_clear_error(r, 401, "bearer token")
        assert r.headers["WWW-Authenticate"] == "Bearer"
    assert server.healthy()


def test_foreign_host_header_is_refused(server: Server) -> None:
    for host in ("evil.example", "attacker.com:8765", "127.0.0.1.nip.io"):
        for path in ("/health", "/jobs"):
            r = server.session.get(server.base + path, headers={"Host": host}, timeout=10)
            assert_clear_error(r, 400, "Host header")
    for host in ("localhost", f"localhost:{server.port}", f"127.0.0.1:{server.port}", "[::1]"):
        assert server.session.get(server.base + "/jobs", headers={"Host": host}).status_code == 200


def test_no_cors_headers(server: Server) -> None:
    origin = {"Origin": "https://evil.example"}
    r = server.session.get(server.base + "/jobs", headers=origin)
    assert r.status_code == 200
    preflight = requests.options(
        server.base + "/jobs",
        headers={**origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert preflight.status_code == 401
    for resp in (r, preflight, requests.get(server.base + "/health", headers=origin)):
        assert not any(k.lower().startswith("access-control-") for k in resp.headers)


def test_remote_bind_needs_an_explicit_flag(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="--allow-remote"):
        Server(tmp_path, host="0.0.0.0")


# ---- load and restart ----


def test_twenty_jobs_at_once_none_lost(tmp_path: Path, photo: bytes) -> None:
    srv = Server(
        tmp_path,
        "--queue-size", "2", "--host", "0.0.0.0", "--allow-remote",
        "--allow-host", "gpu1.studio.example",
    )  # fmt: skip
    try:
        assert "WARNING" in srv.log() and "other machines can reach" in srv.log()
        named = {"Host": "gpu1.studio.example:8765"}
        assert srv.session.get(srv.base + "/jobs", headers=named).status_code == 200
        assert srv.session.get(srv.base + "/jobs", headers={"Host": "x.example"}).status_code == 400
        answers: list[requests.Response] = [None] * 20  # type: ignore[list-item]
        barrier = threading.Barrier(20)

        def send(i: int) -> None:
            barrier.wait()
            opts = small(100 + i)
            files = [("images", ("p.png", photo, "image/png"))]
            answers[i] = requests.post(
                srv.base + "/jobs",
                files=files,
                data={"options": opts},
                headers={"Authorization": f"Bearer {srv.token}"},
                timeout=60,
            )

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = [a.json()["id"] for a in answers if a.status_code == 202]
        refused = [a for a in answers if a.status_code != 202]
        assert 3 <= len(accepted) < 20
        for a in refused:
            assert_clear_error(a, 429, "queue is full")
            assert int(a.headers["Retry-After"]) >= 1
        for job_id in accepted:
            assert srv.wait(job_id, ("done", "failed"), timeout_s=180)["status"] == "done"
        listed = {j["id"] for j in srv.get("/jobs").json()["jobs"]}
        assert listed == set(accepted)
        assert srv.get("/health").json()["queue"] == {
            "depth": 0,
            "capacity": 2,
            "running": 0,
            "workers": 1,
        }
    finally:
        srv.stop()


def test_jobs_and_results_survive_restart(tmp_path: Path, photo: bytes) -> None:
    first = Server(tmp_path)
    try:
        done = first.submit([photo], SMALL).json()
        done = first.wait(done["id"], ("done",))
        result = first.get(f"/jobs/{done['id']}/result").content
        crashed = first.submit([photo], small(20)).json()
        waiting = first.submit([photo], small(21)).json()
        assert first.wait_running(crashed["id"])["status"] == "running"
    finally:
        first.stop(signal.SIGKILL)  # a crash: nothing is written at exit

    # A record from before the preview option (every job then made a preview).
    record_path = first.data_dir / "jobs" / f"{done['id']}.json"
    record = json.loads(record_path.read_text())
    del record["options"]["preview"]
    record_path.write_text(json.dumps(record))
    sheet = png_bytes(Image.new("RGB", (8, 4)))
    (first.data_dir / "results" / record["key"] / "preview.png").write_bytes(sheet)

    second = Server(tmp_path)
    try:
        assert second.token == first.token
        info = second.get(f"/jobs/{done['id']}").json()
        assert info["status"] == "done" and info["num_splats"] == done["num_splats"]
        assert second.get(f"/jobs/{done['id']}/result").content == result
        assert second.get(f"/jobs/{done['id']}/preview").content == sheet
        lost = second.get(f"/jobs/{crashed['id']}").json()
        assert lost["status"] == "failed" and "server stopped" in lost["error"]
        assert second.wait(waiting["id"], ("done", "failed"))["status"] == "done"
        # A clean stop (SIGTERM) puts the running job back into the queue.
        again = second.submit([photo], small(22)).json()
        assert second.wait_running(again["id"])["status"] == "running"
    finally:
        second.stop(signal.SIGTERM)
    assert "queued again for the next start" in second.log()

    third = Server(tmp_path)
    try:
        assert third.wait(again["id"], ("done", "failed"))["status"] == "done"
        assert third.get(f"/jobs/{done['id']}/result").content == result
        ids = {j["id"] for j in third.get("/jobs").json()["jobs"]}
        assert {done["id"], crashed["id"], waiting["id"], again["id"]} <= ids
    finally:
        third.stop()
