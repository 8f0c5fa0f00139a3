"""Helpers for the service tests: the real ``humancrafter serve`` process on a free port,
and image files (good, broken and malicious) built in memory."""

from __future__ import annotations

import io
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
START_TIMEOUT_S = 180.0
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
    """

    def __init__(
        self, workdir: Path, *args: str, host: str = "127.0.0.1", small_preview: bool = True
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


def zero_size_png() -> bytes:
    """A PNG whose header says 0 x 0 pixels."""
    return raw_png(0, 0, zlib.compress(b""))
