"""The service under hostile input, slow clients, cancel, crashes and heavy traffic
(issue 11), tested against the real server process on loopback with small limits so that
each test takes a few seconds."""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from server_fixtures import Server, person_photo, png_40mp

from humancrafter.portable import splatfile
from humancrafter.portable.splatfile import Splats

pytestmark = pytest.mark.timeout(300)

LIMITS = {
    "max_jobs": 4,
    "queue_size": 2,
    "header_timeout_s": 2.0,
    "keep_alive_s": 1.0,
    "body_idle_s": 2.0,
    "body_total_s": 4.0,
    "max_connections": 24,
}


def small(seed: int, n: int = 20_000) -> str:
    return json.dumps({"mode": "prior", "num_gaussians": n, "seed": seed})


@pytest.fixture(scope="module")
def photo() -> bytes:
    return person_photo()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    srv = Server(tmp_path_factory.mktemp("hardened"), serve_options=LIMITS)
    yield srv
    srv.stop()


def clear_error(r: requests.Response, status: int, words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert words in detail and "\n" not in detail and len(detail) < 300, detail


def _ply(means_value: float = 0.0, header_edit: tuple[bytes, bytes] | None = None) -> bytes:
    rng = np.random.default_rng(0)
    n = 50
    s = Splats.from_activated(
        means=rng.normal(size=(n, 3)) * 0.3,
        rgb=rng.random((n, 3)),
        opacity=np.full(n, 0.5),
        scales=np.full((n, 3), 0.01),
        quats=np.tile([1.0, 0, 0, 0], (n, 1)),
        part=rng.integers(0, 28, n),
        part_conf=np.ones(n),
    )
    data = splatfile.dumps(s)
    if means_value:
        head = data.index(b"end_header\n") + len(b"end_header\n")
        body = bytearray(data[head:])
        body[0:4] = np.float32(means_value).tobytes()
        data = data[:head] + bytes(body)
    if header_edit is not None:
        data = data.replace(*header_edit, 1)
    return data


def _spz(server: Server, body: bytes, params: dict[str, str] | None = None) -> requests.Response:
    headers = {"Content-Type": "application/octet-stream"}
    return server.post("/convert/spz", data=body, headers=headers, params=params)


# ---- 1, 2, 8: hostile splat files and options ----


def test_hostile_splat_headers_and_values_get_422_at_once(server: Server) -> None:
    cases = {
        "names part class 50000000": (b"comment part 0 ", b"comment part 50000000 "),
        "5000 digits": (b"comment part 0 ", b"comment part " + b"7" * 5000 + b" "),
        "5001 digits": (b"element vertex 50", b"element vertex 5" + b"0" * 5000),
    }
    before = server.rss_bytes()
    for words, edit in cases.items():
        start = time.perf_counter()
        clear_error(_spz(server, _ply(header_edit=edit)), 422, words)
        assert time.perf_counter() - start < 2.0
    clear_error(_spz(server, _ply(means_value=3e38)), 422, "means has 1 splats with values")
    assert server.rss_bytes() - before < 100_000_000
    assert _spz(server, _ply()).status_code == 200


def test_spz_is_version_2_unless_3_is_asked_for(server: Server) -> None:
    ply = _ply()
    for params, version in (({}, 2), ({"version": "2"}, 2), ({"version": "3"}, 3)):
        r = _spz(server, ply, params)
        assert r.status_code == 200, r.text
        assert gzip.decompress(r.content)[:8] == struct.pack("<II", 0x5053474E, version)
    for bad in ("1", "4", "two"):
        clear_error(_spz(server, ply, {"version": bad}), 422, "version")


def test_hostile_options_get_400(server: Server, photo: bytes) -> None:
    files = [("images", ("p.jpg", photo, "image/jpeg"))]
    big = '{"seed": ' + "9" * 5000 + "}"
    deep = "[" * 100_000 + "]" * 100_000
    for options, words in [(big, "characters long"), (deep, "characters long")]:
        clear_error(server.post("/jobs", files=files, data={"options": options}), 400, words)
    deep_short = '{"mode": ' + "[" * 50 + "]" * 50 + "}"
    clear_error(server.post("/jobs", files=files, data={"options": deep_short}), 400, "nests")
    wide = '{"seed": ' + "9" * 4000 + "}"
    clear_error(server.post("/jobs", files=files, data={"options": wide}), 422, "seed")


# ---- 3: slow clients ----


def _connect(server: Server) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=15)
    return s


def _closed_after(sock: socket.socket, sender: threading.Thread | None = None) -> float:
    """Seconds until the server closes the connection (reads until EOF)."""
    start = time.monotonic()
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass
    return time.monotonic() - start


def test_slow_clients_are_cut_off_and_others_served(server: Server) -> None:
    host = f"127.0.0.1:{server.port}"
    auth = f"Authorization: Bearer {server.token}\r\n"
    results: dict[str, float] = {}

    def idle() -> None:
        s = _connect(server)
        results["idle"] = _closed_after(s)

    def slow_headers() -> None:
        s = _connect(server)
        line = f"GET /v1/health HTTP/1.1\r\nHost: {host}\r\n".encode()
        start = time.monotonic()
        try:
            for b in line:
                s.send(bytes([b]))
                time.sleep(0.5)
        except OSError:
            pass
        results["slow headers"] = time.monotonic() - start + _closed_after(s)

    def short_body() -> None:
        s = _connect(server)
        s.send(
            f"POST /v1/convert/spz HTTP/1.1\r\nHost: {host}\r\n{auth}"
            "Content-Length: 1000\r\n\r\n0123456789".encode()
        )
        results["short body"] = _closed_after(s)

    def endless_chunks() -> None:
        s = _connect(server)
        s.send(
            f"POST /v1/convert/spz HTTP/1.1\r\nHost: {host}\r\n{auth}"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        start = time.monotonic()
        try:
            for _ in range(40):
                s.send(b"10\r\n" + b"x" * 16 + b"\r\n")
                time.sleep(0.5)
        except OSError:
            pass
        results["endless chunks"] = time.monotonic() - start + _closed_after(s)

    threads = [threading.Thread(target=f) for f in (idle, slow_headers, short_body, endless_chunks)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    start = time.perf_counter()
    assert requests.get(server.base + "/health", timeout=5).status_code == 200
    assert time.perf_counter() - start < 3.0  # everyone else is served meanwhile
    for t in threads:
        t.join(30)
    assert set(results) == {"idle", "slow headers", "short body", "endless chunks"}, results
    # Each is cut off within a few seconds of its limit (the finding: still open after 30 s).
    assert results["idle"] < 6.0, results  # header_timeout_s = 2
    assert results["slow headers"] < 6.0, results
    assert results["short body"] < 6.0, results  # body_idle_s = 2
    # body_total_s = 4; sends keep "succeeding" for a moment after the close, so allow for
    # it: a body never cut off would run the full 20 s of chunks.
    assert results["endless chunks"] < 12.0, results


def test_connection_cap_refuses_the_excess_then_recovers(server: Server) -> None:
    # max_connections clients connect and stall: a request beyond gets 503 at once (not
    # a hang), and the server recovers by itself once the stalled ones are cut off.
    stalled = [_connect(server) for _ in range(LIMITS["max_connections"])]
    time.sleep(0.3)
    start = time.monotonic()
    r = requests.get(server.base + "/health", timeout=5)
    assert r.status_code == 503, r.status_code
    assert time.monotonic() - start < 1.0
    deadline = time.monotonic() + 10
    while requests.get(server.base + "/health", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the server did not recover"
        time.sleep(0.2)
    assert time.monotonic() - start < LIMITS["header_timeout_s"] + 3
    for s in stalled:
        s.close()


# ---- 6: records and unfetched results ----


def test_unfetched_results_are_kept_and_cached_submissions_are_limited(
    server: Server, photo: bytes
) -> None:
    first = server.submit([photo], small(101)).json()
    assert server.wait(first["id"], ("done",))["status"] == "done"
    # Identical submissions are answered from the cache; each one's record counts against
    # max_jobs (4) until its client downloads the result; the excess gets 429.
    answers = [server.submit([photo], small(101)) for _ in range(LIMITS["max_jobs"] + 2)]
    codes = [r.status_code for r in answers]
    assert 429 in codes and codes[0] == 202, codes
    refused = answers[codes.index(429)]
    clear_error(refused, 429, "wait to be downloaded")
    assert int(refused.headers["Retry-After"]) >= 1
    # Downloading frees the slots. Then much more cached traffic (each result fetched)
    # trims the other records but never an undownloaded result or its record.
    for r in answers:
        if r.status_code == 202:
            assert server.get(f"/jobs/{r.json()['id']}/result").status_code == 200
    second = server.submit([photo], small(102)).json()
    server.wait(second["id"], ("done",))
    for _ in range(12):
        r = server.submit([photo], small(101))
        assert r.status_code == 202, r.text
        assert server.get(f"/jobs/{r.json()['id']}/result").status_code == 200
    # The first and second results were never downloaded: still there after that traffic.
    assert server.get(f"/jobs/{first['id']}").status_code == 200
    assert server.get(f"/jobs/{second['id']}").status_code == 200
    r = server.get(f"/jobs/{second['id']}/result")
    assert r.status_code == 200 and r.headers["content-length"] == str(len(r.content))
    assert len(server.get("/jobs").json()["jobs"]) <= 2 * LIMITS["max_jobs"] + 2


# ---- 4: cancel, crash, polls under load ----


def _worker_pid(server: Server) -> int:
    pid = server.job_worker_pid()
    assert pid is not None, "no worker process"
    return pid


def test_cancel_kills_the_work_and_a_crash_fails_only_its_job(server: Server, photo: bytes) -> None:
    pid = _worker_pid(server)
    job = server.submit([photo], small(201, 400_000)).json()
    server.wait_running(job["id"])
    # Polls stay fast while the job computes (it runs in another process).
    times = []
    for _ in range(60):
        start = time.perf_counter()
        assert server.get(f"/jobs/{job['id']}").status_code == 200
        times.append(time.perf_counter() - start)
    p99 = float(np.percentile(times, 99))
    assert p99 < 0.25, times
    start = time.perf_counter()
    assert server.post(f"/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    gone = time.perf_counter() - start
    assert not Path(f"/proc/{pid}").exists() or b"Z" in Path(f"/proc/{pid}/stat").read_bytes()
    assert gone < 2.0, gone
    assert server.get("/health").json()["queue"]["running"] == 0
    # A worker that dies mid-job fails that job alone, with a clear message.
    doomed = server.submit([photo], small(202, 400_000)).json()
    deadline = time.monotonic() + 60
    while server.get(f"/jobs/{doomed['id']}").json()["stage"] in (None, "starting"):
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)  # until the (new) worker process reports the job's first stage
    victim = _worker_pid(server)
    os.kill(victim, signal.SIGKILL)
    info = server.wait(doomed["id"], ("failed", "done"))
    assert info["status"] == "failed" and "SIGKILL" in info["error"], info
    after = server.submit([photo], small(203)).json()
    assert server.wait(after["id"], ("done", "failed"), timeout_s=180)["status"] == "done"


# ---- 5: memory under heavy uploads ----


def test_concurrent_40_megapixel_uploads_stay_within_the_budget(server: Server) -> None:
    big = png_40mp()
    before = _rss(server.proc.pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss(server.proc.pid))
            time.sleep(0.01)

    def upload(i: int) -> None:
        r = server.submit([big], small(500 + i))
        assert r.status_code in (202, 429), r.text
        if r.status_code == 202:
            server.post(f"/jobs/{r.json()['id']}/cancel")

    sampler = threading.Thread(target=sample)
    sampler.start()
    uploads = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for t in uploads:
        t.start()
    for t in uploads:
        t.join(120)
    done.set()
    sampler.join()
    # 2 decode slots of a 40 MP greyscale image (40 MB each) plus the uploads' bytes; the
    # old server decoded all at once to RGB (about 170 MB each).
    assert peak[0] - before < 400_000_000, (before, peak[0])


def _rss(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- 7: shutdown with a long poll open ----


def test_long_poll_during_sigterm_gets_the_job_state(tmp_path: Path, photo: bytes) -> None:
    srv = Server(tmp_path, serve_options={"queue_size": 1})
    try:
        job = srv.submit([photo], small(301, 400_000)).json()
        srv.wait_running(job["id"])
        # A full queue says when to come back, from what it measures.
        assert srv.submit([photo], small(302)).status_code == 202
        full = srv.submit([photo], small(303))
        assert full.status_code == 429 and 1 <= int(full.headers["Retry-After"]) <= 600
        answer: dict[str, requests.Response] = {}

        def poll() -> None:
            answer["r"] = srv.get(f"/jobs/{job['id']}", params={"wait": 60})

        t = threading.Thread(target=poll)
        t.start()
        time.sleep(0.5)
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert time.monotonic() - start < 5.0
        r = answer["r"]
        assert r.status_code == 200, r.text
        assert r.json()["status"] in ("running", "queued", "done")
    finally:
        srv.stop()


# ---- issue 21 item 6: the worker processes end with a killed server ----


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_killed_server_takes_its_worker_processes_along(tmp_path: Path, photo: bytes) -> None:
    """SIGKILL the server while its worker computes a job: the worker, the fork server and
    multiprocessing's resource tracker are gone within a second, and nothing they write
    after the kill is a traceback (the worker used to compute until its next progress
    message and die of BrokenPipeError)."""
    srv = Server(tmp_path)
    try:
        job = srv.submit([photo], small(401, 400_000)).json()
        deadline = time.monotonic() + 60
        while (info := srv.get(f"/jobs/{job['id']}").json())["stage"] in (None, "starting"):
            assert time.monotonic() < deadline, "the job did not start"
            time.sleep(0.05)
        assert info["status"] == "running", info
        worker, pids = srv.job_worker_pid(), srv.worker_pids()
        assert worker in pids and len(pids) >= 2, pids  # fork server, worker, tracker
        logged = srv.log_path.stat().st_size
        srv.proc.kill()
        srv.proc.wait()
        start = time.monotonic()
        while any(_alive(p) for p in pids) and time.monotonic() - start < 10:
            time.sleep(0.005)
        gone = time.monotonic() - start
        assert not [p for p in pids if _alive(p)] and gone < 1.0, gone
        assert "Traceback" not in srv.log_path.read_bytes()[logged:].decode(errors="replace")
    finally:
        srv.stop()
