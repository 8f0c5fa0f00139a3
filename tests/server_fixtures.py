"""Helpers for the service tests: the real ``humancrafter serve`` process on a free port,
and image files (good, broken and malicious) built in memory."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import requests
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 300.0
"""Loading the pipeline (torch, mediapipe) on a busy 2-core machine can take a while."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ``humancrafter serve`` subprocess.

    Args:
        workdir: holds ``config/`` (the token; ``HUMANCRAFTER_CONFIG_DIR``), ``data/`` and
            the log file; reuse it to restart a server on the same data.
        args: extra command line arguments.
        host: the ``--host`` to bind.
        small_preview: make 4 preview views of 96 px instead of 8 of 256 (faster jobs).
        serve_options: run the same server through ``python -m humancrafter.server.main``
            with these :class:`~humancrafter.server.main.ServeOptions` fields (limits the
            command line does not expose); ``args`` are then ignored.
    """

    def __init__(
        self,
        workdir: Path,
        *args: str,
        host: str = "127.0.0.1",
        small_preview: bool = True,
        serve_options: dict | None = None,
    ) -> None:
        self.workdir = workdir
        self.config_dir = workdir / "config"
        self.data_dir = workdir / "data"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = workdir / f"server-{self.port}.log"
        env = {**os.environ, "HUMANCRAFTER_CONFIG_DIR": str(self.config_dir)}
        cmd = [sys.executable, "-m", "humancrafter.cli", "serve", "--host", host]
        cmd += ["--port", str(self.port), "--data-dir", str(self.data_dir), *args]
        if small_preview:
            cmd += ["--preview-views", "4", "--preview-size", "96"]
        if serve_options is not None:
            fields = {"host": host, "port": self.port, "data_dir": str(self.data_dir)}
            if small_preview:
                fields.update(preview_views=4, preview_size=96)
            fields.update(serve_options)
            cmd = [sys.executable, "-m", "humancrafter.server.main", json.dumps(fields)]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.session = requests.Session()
        self._wait_healthy()
        self.token = (self.config_dir / "token").read_text().strip()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited at start:\n{self.log()}")
            try:
                if requests.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not start in {START_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kw: object) -> requests.Response:
        return self.session.get(self.base + path, timeout=60, **kw)

    def post(self, path: str, **kw: object) -> requests.Response:
        return self.session.post(self.base + path, timeout=60, **kw)

    def submit(self, images: list[bytes], options: str | None = None) -> requests.Response:
        files = [("images", (f"view{i}.png", data, "image/png")) for i, data in enumerate(images)]
        data = {} if options is None else {"options": options}
        return self.post("/jobs", files=files, data=data)

    def wait(self, job_id: str, until: tuple[str, ...], timeout_s: float = 120.0) -> dict:
        """Poll the job until its status is one of ``until``; returns its JobInfo."""
        deadline = time.monotonic() + timeout_s
        while True:
            r = self.get(f"/jobs/{job_id}", params={"wait": 1.0})
            assert r.status_code == 200, r.text
            info = r.json()
            if info["status"] in until:
                return info
            assert time.monotonic() < deadline, f"job stuck at {info}"

    def wait_running(self, job_id: str, timeout_s: float = 60.0) -> dict:
        """Poll (every 5 ms) until the job has left the queue; returns its JobInfo."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self.get(f"/jobs/{job_id}").json()
            if info["status"] != "queued":
                return info
            time.sleep(0.005)
        raise AssertionError(f"job {job_id} did not start in {timeout_s} s")

    def worker_pids(self) -> list[int]:
        """Process ids of every descendant of the server (fork server, job worker, ...)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    with contextlib.suppress(OSError):
                        kids = [int(p) for p in (task / "children").read_text().split()]
                        found += kids
                        todo += kids
        return found

    def job_worker_pid(self) -> int | None:
        """The process that runs the jobs: the child of the multiprocessing fork server."""
        for pid in self.worker_pids():
            with contextlib.suppress(OSError):
                if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                    return int(children[0]) if children else None
        return None

    def rss_bytes(self) -> int:
        """Resident memory of the server process and its children, in bytes."""
        total = 0
        for pid in [self.proc.pid, *self.worker_pids()]:
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * 4096
        return total

    def healthy(self) -> bool:
        return requests.get(self.base + "/health", timeout=10).json()["status"] == "ok"

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 60.0) -> int:
        """Stop the process (SIGINT: clean shutdown; SIGKILL: a crash)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.session.close()
        self._log.close()
        return self.proc.returncode


# ---- images ----


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def person_photo() -> bytes:
    """A real photo of a person: the bundled example (a waist-up portrait, 512 x 512
    JPEG), as the file's bytes."""
    from humancrafter.pipeline import DEMO_PHOTO

    return DEMO_PHOTO.read_bytes()


def empty_photo() -> bytes:
    """A 256 x 256 photo of a grey wall with mild noise: a valid image with no person."""
    rng = np.random.default_rng(1)
    pixels = np.clip(128 + rng.normal(0, 4, (256, 256, 3)), 0, 255).astype(np.uint8)
    return png_bytes(Image.fromarray(pixels))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, idat: bytes) -> bytes:
    """A greyscale 8-bit PNG with the given header size and compressed pixel stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def png_bomb(side: int = 20_000) -> bytes:
    """A valid side x side all-black PNG that is about 400 kB on disk (20000 x 20000 = 400
    megapixels once decoded)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    block = row * 64
    parts = [comp.compress(block) for _ in range(side // 64)]
    parts += [comp.compress(row) for _ in range(side % 64)]
    return raw_png(side, side, b"".join(parts) + comp.flush())


def png_40mp() -> bytes:
    """A 6324 x 6324 (40.0 megapixel) mid-grey greyscale PNG of about 50 KB."""
    side = 6324
    comp = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * side
    return raw_png(side, side, b"".join(comp.compress(row) for _ in range(side)) + comp.flush())


def zero_size_png() -> bytes:
    """A PNG whose header says 0 x 0 pixels."""
    return raw_png(0, 0, zlib.compress(b""))


# ---- stand-in pipelines for the worker process tests ----


class FakePipeline:
    """A pipeline for :class:`~humancrafter.server.worker.ProcessPipeline` tests: its
    ``run`` holds ``options.num_gaussians`` bytes of memory, reports one stage, then sleeps
    ``options.seed / 1000`` seconds and returns a tiny result; ``make_preview`` draws a
    blank sheet."""

    device = "cpu"

    def available_modes(self) -> dict[str, str | None]:
        return {"prior": None}

    def run(self, images, options, progress=None, should_cancel=None):  # noqa: ANN001, ANN201
        from humancrafter.pipeline import ReconstructResult
        from humancrafter.portable.splatfile import Splats

        hog = np.ones(options.num_gaussians, np.uint8)
        if progress is not None:
            progress("hog", 0.5)
        time.sleep(options.seed / 1000)
        n = 4
        splats = Splats.from_activated(
            np.zeros((n, 3)), np.full((n, 3), 0.5), np.full(n, 0.5), np.full((n, 3), 0.01),
            np.tile([1.0, 0, 0, 0], (n, 1)),
        )  # fmt: skip
        del hog
        return ReconstructResult(splats=splats, preview_png=png_bytes(Image.new("RGB", (4, 4))))

    def make_preview(self, splats) -> bytes:  # noqa: ANN001
        """A sheet as wide as the splats are many (so a test can tell it drew these)."""
        return png_bytes(Image.new("RGB", (len(splats), 2)))
