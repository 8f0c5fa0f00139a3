"""Benchmark: the backend service's own cost, measured on the real ``humancrafter serve``
process with the real ``prior`` pipeline.

1. Status-poll latency: 50 concurrent clients (5 processes x 10 keep-alive connections,
   a minimal asyncio HTTP/1.1 client so that the client costs little) poll
   ``GET /v1/jobs/{id}`` as fast as they can, once while the worker is idle and once
   while it reconstructs; p50 / p99 / max latency and requests per second.
2. Overhead per job: the same jobs (distinct seeds, so no cache hits) through HTTP
   (submit with a preview, long-poll until done, download result and preview) and as direct
   ``Pipeline.run`` calls in one process. The pipeline's stage times vary a lot on a
   shared machine, so the overhead is measured per job as (wall time - sum of the job's
   stage times) and the service's overhead is the difference of the medians of that
   slack, HTTP minus direct.

Writes ``benchmarks/results/server.md``. With ``--load`` it measures the hardening figures
instead (issue 11) and writes ``benchmarks/results/server_load.md``: peak memory of the
server process (and of its job worker) while 8 clients upload a 40-megapixel PNG at once,
poll p99 while a job computes, and the time from cancel to a free worker. The photo is
the bundled example (512 x 512 JPEG, ``humancrafter demo``'s), or ``--photo``. Jobs that
ask for a preview get the server's default one (8 views of 256 px).

    .venv/bin/python benchmarks/bench_server.py [--jobs 8] [--seconds 8] [--load]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from server_fixtures import Server, png_40mp  # noqa: E402

from humancrafter.pipeline import DEMO_PHOTO  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "server.md"
PROCESSES = 5
CONNECTIONS = 10  # per process: 50 clients in all
PACED_S = 0.1


# ---- 1. poll latency ----


async def _poll(
    port: int, request: bytes, stop_at: float, interval: float, out: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    next_at = time.perf_counter() + interval * random.random()
    while time.perf_counter() < stop_at:
        if interval:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        t0 = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out.append(time.perf_counter() - t0)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.decode(errors="replace"))
    writer.close()


def _client_process(
    port: int, path: str, token: str, start_at: float, seconds: float, interval: float, q
) -> None:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()
    latencies: list[float] = []

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *(_poll(port, request, stop_at, interval, latencies) for _ in range(CONNECTIONS))
        )

    asyncio.run(main())
    q.put(latencies)


def poll_latency(server: Server, job_id: str, seconds: float, interval: float) -> dict[str, float]:
    """Latencies of 50 clients polling one job, each every ``interval`` seconds (0: as
    fast as the server answers)."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    start_at = time.time() + 1.5  # let every process start first
    procs = [
        ctx.Process(
            target=_client_process,
            args=(server.port, f"/v1/jobs/{job_id}", server.token, start_at, seconds, interval, q),
        )
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    lat = sorted(x for _ in procs for x in q.get())
    for p in procs:
        p.join()
    n = len(lat)
    return {
        "requests": n,
        "rps": n / seconds,
        "p50_ms": 1000 * lat[n // 2],
        "p99_ms": 1000 * lat[min(n - 1, int(n * 0.99))],
        "max_ms": 1000 * lat[-1],
    }


# ---- 2. overhead per job ----


def stage_sum(timings: dict[str, float]) -> float:
    return sum(v for k, v in timings.items() if k != "queued")


def service_jobs(server: Server, photo: bytes, seeds: list[int]) -> list[dict[str, float]]:
    rows = []
    for seed in seeds:
        opts = json.dumps({"mode": "prior", "num_gaussians": 20_000, "seed": seed, "preview": True})
        t0 = time.perf_counter()
        r = server.submit([photo], opts)
        t_submit = time.perf_counter() - t0
        job_id = r.json()["id"]
        while True:
            info = server.get(f"/jobs/{job_id}", params={"wait": 30}).json()
            if info["status"] in ("done", "failed", "cancelled"):
                break
        assert info["status"] == "done", info
        t_done = time.perf_counter() - t0
        ply = server.get(f"/jobs/{job_id}/result").content
        png = server.get(f"/jobs/{job_id}/preview").content
        total = time.perf_counter() - t0
        assert ply and png
        stages = stage_sum(info["timings"])
        rows.append(
            {
                "submit": t_submit,
                "done_seen": t_done,
                "total": total,
                "stages": stages,
                "slack": total - stages,
            }
        )
    return rows


def direct_jobs(photo: bytes, seeds: list[int]) -> list[dict[str, float]]:
    from humancrafter.pipeline import Pipeline, ReconstructOptions
    from humancrafter.server.images import open_image

    pipeline = Pipeline()
    image = open_image(photo)

    def options(seed: int) -> ReconstructOptions:  # the same job as service_jobs asks for
        return ReconstructOptions(mode="prior", num_gaussians=20_000, seed=seed, preview=True)

    pipeline.run([image], options(999))  # warm up
    rows = []
    for seed in seeds:
        t0 = time.perf_counter()
        result = pipeline.run([image], options(seed))
        total = time.perf_counter() - t0
        stages = stage_sum(result.timings)
        rows.append({"total": total, "stages": stages, "slack": total - stages})
    return rows


def med(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


# ---- 3. hardening figures (--load) ----

LOAD_OUT = ROOT / "benchmarks" / "results" / "server_load.md"


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _peak_during(server: Server, work) -> tuple[int, int, int, int]:
    """(server idle, server peak, worker idle, worker peak) bytes while ``work()`` runs."""
    import threading

    worker = server.job_worker_pid() or 0
    idle, widle = _rss(server.proc.pid), _rss(worker)
    peak, wpeak = [idle], [widle]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss(server.proc.pid))
            wpeak[0] = max(wpeak[0], _rss(server.job_worker_pid() or 0))
            time.sleep(0.01)

    t = threading.Thread(target=sample)
    t.start()
    try:
        work()
    finally:
        done.set()
        t.join()
    return idle, peak[0], widle, wpeak[0]


def load_figures(photo: bytes) -> int:
    from concurrent.futures import ThreadPoolExecutor

    import requests

    lines = [
        "# Backend service under load (issue 11)",
        "",
        f"`benchmarks/bench_server.py --load`, {time.strftime('%Y-%m-%d')}: "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the start "
        "(a training run shared the machine).",
        "",
    ]
    big = png_40mp()
    with tempfile.TemporaryDirectory(prefix="hc-bench-load-") as tmp:
        server = Server(Path(tmp), serve_options={"queue_size": 8})
        try:
            warm = server.submit([photo], json.dumps({"num_gaussians": 20_000, "seed": 1}))
            server.wait(warm.json()["id"], ("done", "failed"), timeout_s=600)
            codes: list[int] = []

            def upload(i: int) -> None:
                files = [("images", (f"big{i}.png", big, "image/png"))]
                options = json.dumps({"mode": "prior", "num_gaussians": 20_000, "seed": 100 + i})
                r = requests.post(
                    server.base + "/jobs",
                    files=files,
                    data={"options": options},
                    headers=server.session.headers,
                    timeout=300,
                )
                codes.append(r.status_code)
                if r.status_code == 202:
                    server.post(f"/jobs/{r.json()['id']}/cancel")

            def eight() -> None:
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(upload, range(8)))

            t0 = time.perf_counter()
            idle, peak, widle, wpeak = _peak_during(server, eight)
            t_up = time.perf_counter() - t0
            lines += [
                "## 8 concurrent uploads of a 40-megapixel PNG (6324 x 6324, "
                f"{len(big) / 1000:.0f} KB)",
                "",
                "| process | before | peak | peak - before |",
                "|---|---|---|---|",
                f"| server (HTTP, checks) | {idle / 1e6:.0f} MB | {peak / 1e6:.0f} MB "
                f"| {(peak - idle) / 1e6:.0f} MB |",
                f"| job worker | {widle / 1e6:.0f} MB | {wpeak / 1e6:.0f} MB "
                f"| {(wpeak - widle) / 1e6:.0f} MB |",
                "",
                f"All 8 answered in {t_up:.1f} s (status codes {sorted(codes)}); the accepted "
                "jobs were cancelled at once.",
                "",
            ]
            # Poll latency while a job computes, and cancel -> free worker.
            job = server.submit([photo], json.dumps({"num_gaussians": 400_000, "seed": 7}))
            job_id = job.json()["id"]
            while server.get(f"/jobs/{job_id}").json()["stage"] in (None, "starting"):
                time.sleep(0.02)
            times = []
            for _ in range(300):
                t = time.perf_counter()
                server.get(f"/jobs/{job_id}")
                times.append(time.perf_counter() - t)
                time.sleep(0.01)
            times.sort()
            p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99) - 1]
            old = server.job_worker_pid()
            t0 = time.perf_counter()
            server.post(f"/jobs/{job_id}/cancel")
            while old is not None and Path(f"/proc/{old}/stat").exists():
                if b") Z " in Path(f"/proc/{old}/stat").read_bytes():
                    break
                time.sleep(0.005)
            t_kill = time.perf_counter() - t0
            nxt = server.submit([photo], json.dumps({"num_gaussians": 20_000, "seed": 8}))
            nxt_id = nxt.json()["id"]
            while server.get(f"/jobs/{nxt_id}").json()["stage"] in (None, "starting"):
                time.sleep(0.005)
            t_free = time.perf_counter() - t0
            server.wait(nxt_id, ("done", "failed"), timeout_s=600)
            lines += [
                "## A job computing, then cancelled",
                "",
                "| figure | value |",
                "|---|---|",
                f"| `GET /v1/jobs/{{id}}` p50 / p99 while a 400,000-Gaussian job computes "
                f"(300 polls, one client) | {1000 * p50:.1f} / {1000 * p99:.1f} ms |",
                f"| cancel -> the worker process is gone | {1000 * t_kill:.0f} ms |",
                f"| cancel -> the next job runs its first stage in a new worker | {t_free:.2f} s |",
                "",
            ]
        finally:
            server.stop()
    LOAD_OUT.parent.mkdir(parents=True, exist_ok=True)
    LOAD_OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {LOAD_OUT}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=DEMO_PHOTO)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--load", action="store_true", help="the hardening figures instead")
    args = parser.parse_args()
    photo = args.photo.read_bytes()
    if args.load:
        return load_figures(photo)
    load_before = os.getloadavg()
    seeds = list(range(1, args.jobs + 1))

    with tempfile.TemporaryDirectory(prefix="hc-bench-server-") as tmp:
        server = Server(Path(tmp), small_preview=False)
        try:
            warm = server.submit([photo], json.dumps({"num_gaussians": 20_000, "seed": 999}))
            warm_id = warm.json()["id"]
            server.wait(warm_id, ("done",))
            polls = {("idle", PACED_S): poll_latency(server, warm_id, args.seconds, PACED_S)}
            polls["idle", 0.0] = poll_latency(server, warm_id, args.seconds, 0.0)
            # Keep the worker busy for the second run: queue several jobs.
            busy_ids = [
                server.submit([photo], json.dumps({"num_gaussians": 20_000, "seed": s})).json()
                for s in range(500, 505)
            ]
            busy_id = busy_ids[0]["id"]
            polls["reconstructing", PACED_S] = poll_latency(server, busy_id, args.seconds, PACED_S)
            polls["reconstructing", 0.0] = poll_latency(server, busy_id, args.seconds, 0.0)
            for job in busy_ids:
                server.wait(job["id"], ("done",), timeout_s=600)
            via_http = service_jobs(server, photo, seeds)
            t0 = time.perf_counter()
            cached = server.submit([photo], json.dumps({"num_gaussians": 20_000, "seed": 1}))
            t_cached = time.perf_counter() - t0
            assert cached.json()["cached"]
        finally:
            server.stop()
    direct = direct_jobs(photo, seeds)
    load_after = os.getloadavg()

    overhead_ms = 1000 * (med(via_http, "slack") - med(direct, "slack"))
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        "# Backend service benchmark",
        "",
        f"`benchmarks/bench_server.py`, {time.strftime('%Y-%m-%d')}: {os.cpu_count()} CPU "
        f"cores ({cpu}, {platform.machine()}), Python {platform.python_version()}, CPU only; "
        f"the clients run on the same machine. Load average before / after: "
        f"{load_before[0]:.1f} / {load_after[0]:.1f} (other work was running on this "
        "shared machine, so the pipeline's own times vary a lot).",
        "",
        f"## Status-poll latency, {PROCESSES * CONNECTIONS} concurrent clients",
        "",
        f"`GET /v1/jobs/{{id}}` on keep-alive connections, {args.seconds:g} s per run. "
        f"Paced: each client polls every {1000 * PACED_S:.0f} ms (the add-on polls far "
        "less often); flat out: each client sends its next request as soon as the last "
        "answer arrives, so latency there is 50 / throughput.",
        "",
        "| worker | clients poll | requests | req/s | p50 | p99 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, interval), r in polls.items():
        pace = f"every {1000 * interval:.0f} ms" if interval else "flat out"
        lines.append(
            f"| {name} | {pace} | {r['requests']:,} | {r['rps']:.0f} | {r['p50_ms']:.1f} ms "
            f"| {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms |"
        )
    lines += [
        "",
        f"## Overhead per job ({args.jobs} jobs, `prior`, 20,000 Gaussians, {args.photo.name})",
        "",
        "slack = wall time - the job's own stage times; overhead = median slack through "
        "HTTP - median slack of a direct `Pipeline.run` call.",
        "",
        "| path | median wall time | median stage time | median slack |",
        "|---|---|---|---|",
        f"| HTTP: submit, long-poll, download PLY + PNG | {med(via_http, 'total'):.2f} s "
        f"| {med(via_http, 'stages'):.2f} s | {1000 * med(via_http, 'slack'):.1f} ms |",
        f"| direct `Pipeline.run` | {med(direct, 'total'):.2f} s "
        f"| {med(direct, 'stages'):.2f} s | {1000 * med(direct, 'slack'):.1f} ms |",
        "",
        f"Service overhead per job: **{overhead_ms:.1f} ms** (target <= 30 ms: "
        f"{'met' if overhead_ms <= 30 else 'NOT met'}).",
        "",
        f"Parts of it: submit (upload, checks, queue) median "
        f"{1000 * med(via_http, 'submit'):.1f} ms; an identical request answered from the "
        f"cache: {1000 * t_cached:.1f} ms.",
        "",
        "Per-job slack through HTTP: "
        + ", ".join(f"{1000 * r['slack']:.0f} ms" for r in via_http)
        + "; direct: "
        + ", ".join(f"{1000 * r['slack']:.0f} ms" for r in direct)
        + ".",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
