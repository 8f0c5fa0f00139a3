"""Background work for the add-on: reconstruction jobs and starting a local backend.

Pure Python (no bpy): a worker thread does the network I/O and writes a small state
record under a lock; the main thread reads :meth:`snapshot` from a timer or a modal
operator and makes every Blender change itself. Nothing here touches Blender data.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace

from .client import BackendError, Client, _sentence, describe_modes


@dataclass
class JobState:
    """What the panel shows. ``status``: idle, checking, submitting, queued, running,
    downloading, done, failed, cancelled."""

    status: str = "idle"
    stage: str = ""
    progress: float = 0.0
    message: str = ""
    job_id: str | None = None
    result: bytes | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    error_kind: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class ReconstructTask:
    """One reconstruction: health check, upload, poll, download, on a worker thread.

    Args:
        client: the backend (its timeouts apply to each request).
        images: 1-4 (file name, bytes) pairs, read on the main thread beforehand.
        options: the job options JSON (``mode``, ``azimuths_deg``, ...).
        poll_s: seconds between status requests.
    """

    def __init__(self, client: Client, images: list[tuple[str, bytes]], options: dict,
                 poll_s: float = 0.5):  # fmt: skip
        self.client = client
        self.images = images
        self.options = options
        self.poll_s = poll_s
        self._state = JobState()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="humancrafter-job", daemon=True)
        self.health: dict | None = None  # the backend's /v1/health answer, once it came

    def start(self) -> ReconstructTask:
        self._set(status="checking", message="Contacting the backend…")
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop (the backend is told on the worker thread)."""
        self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker (tests use this instead of a timer); True if it ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> JobState:
        with self._lock:
            return replace(self._state, warnings=list(self._state.warnings))

    def _set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self._state, k, v)

    def _run(self) -> None:
        try:
            self._work()
        except BackendError as e:
            self._set(status="failed", message=str(e), error_kind=e.kind)
        except Exception as e:  # a bug or an unexpected answer: say it, never hang
            self._set(status="failed", message=f"Reconstruction failed: {e}", error_kind="bug")

    def _work(self) -> None:
        mode = self.options.get("mode", "prior")
        self.health = self.client.health()
        ok, line = describe_modes(self.health, mode)
        if not ok:
            self._set(status="failed", message=line, error_kind="mode")
            return
        if self._cancel.is_set():
            self._set(status="cancelled", message="Cancelled before upload.")
            return
        self._set(status="submitting", message="Uploading the photo…")
        info = self.client.submit(self.images, self.options)
        job_id = info["id"]
        self._set(job_id=job_id)
        while True:
            if self._cancel.is_set():
                info = self.client.cancel(job_id)
                if info.get("status") != "done":
                    self._set(status="cancelled", message="Cancelled.", stage="")
                    return
            status = info.get("status")
            self._set(
                status=status if status in ("queued", "running") else self._state.status,
                stage=info.get("stage") or "",
                progress=float(info.get("progress") or 0.0),
                warnings=list(info.get("warnings") or []),
                message=f"{status}: {info.get('stage') or ''}".strip(": "),
            )
            if status == "done":
                break
            if status == "failed":
                error = info.get("error") or "the backend reported a failure without a reason"
                raise BackendError(_sentence(error), "input")
            if status == "cancelled":
                self._set(status="cancelled", message="Cancelled on the backend.")
                return
            time.sleep(self.poll_s)
            info = self.client.job(job_id)
        self._set(status="downloading", message="Downloading the splats…", progress=1.0)
        data = self.client.result(job_id)
        cached = " (cached)" if info.get("cached") else ""
        n = info.get("num_splats")
        self._set(
            status="done", result=data,
            message=f"Reconstructed {n:,} splats{cached}." if n else "Reconstructed.",
        )  # fmt: skip


class HealthCheck:
    """``GET /v1/health`` on a worker thread; ``line`` is the connection line."""

    def __init__(self, client: Client, mode: str):
        self.client, self.mode = client, mode
        self.ok: bool | None = None
        self.line = "Checking the connection…"
        self.kind: str | None = None
        self.health: dict | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> HealthCheck:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.health = self.client.health()
            ok, line = describe_modes(self.health, self.mode)
            if ok and self.client.token is None:
                ok = False
                line = (
                    "Connected, but there is no token: start the backend once on this "
                    "computer, or paste a remote backend's token in the add-on preferences."
                )
                self.kind = "auth"
            elif ok:  # health needs no token: try it on a route that does
                self.client.jobs(limit=1)
        except BackendError as e:
            self.ok, self.line, self.kind = False, str(e), e.kind
            return
        self.ok, self.line = ok, line
        if not ok and self.kind is None:
            self.kind = "mode"


class LocalBackend:
    """Start ``command`` (e.g. ``humancrafter serve``) and wait until ``client`` answers.

    ``Popen`` runs on the calling (main) thread and returns at once; the waiting happens
    on a worker thread. ``line`` says what is going on. A backend that already answers
    at the URL is reported as such and nothing is started; success is only claimed while
    the started process is still alive (so another process holding the port, which makes
    ours exit, is reported as our exit).
    """

    GRACE_S = 1.0  # how long the started process must survive its first answer

    def __init__(self, command: str, client: Client, wait_s: float = 60.0):
        self.command, self.client, self.wait_s = command, client, wait_s
        self.process: subprocess.Popen | None = None
        self.ok: bool | None = None
        self.line = ""
        self.health: dict | None = None
        self._thread = threading.Thread(target=self._wait, daemon=True)

    def start(self) -> LocalBackend:
        args = shlex.split(self.command)
        if not args:
            raise ValueError("the local backend command in the preferences is empty")
        try:
            self.health = self.client.health()
        except BackendError:
            pass
        else:
            self.ok = True
            self.line = (
                f"A backend is already running at {self.client.base_url} (started "
                "elsewhere), so no new one was started."
            )
            return self
        self.log = tempfile.NamedTemporaryFile(  # open while the process runs
            prefix="humancrafter-backend-", suffix=".log", delete=False
        )
        try:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        except FileNotFoundError:
            hint = (
                " give its full path in Preferences › Add-ons › HumanCrafter › Local backend "
                "command, e.g. /path/to/repo/.venv/bin/humancrafter serve"
            )
            where = "is not on Blender's PATH;" if "/" not in args[0] else "does not exist;"
            raise ValueError(f"cannot run {args[0]!r}: it {where}{hint}") from None
        except OSError as e:
            raise ValueError(f"cannot run {args[0]!r}: {e.strerror or e}") from None
        self.line = f"Starting '{self.command}'…"
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.ident is None:  # never started: nothing to wait for
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _exited(self) -> None:
        self.log.flush()
        with open(self.log.name, "rb") as f:
            err = f.read().decode("utf-8", "replace").strip()
        last = err.splitlines()[-1] if err else "no output"
        self.ok = False
        self.line = f"The backend command exited with code {self.process.returncode}: {last}"

    def _wait(self) -> None:
        if self.ok is not None:  # already answered before starting: nothing to wait for
            return
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._exited()
                return
            try:
                health = self.client.health()
            except BackendError:
                time.sleep(0.25)
                continue
            try:  # an answer while ours dies means someone else holds the port
                self.process.wait(self.GRACE_S)
            except subprocess.TimeoutExpired:
                self.health = health
                self.ok, self.line = True, f"Local backend is up at {self.client.base_url}."
                return
            self._exited()
            return
        self.ok = False
        self.line = f"The backend did not answer within {self.wait_s:.0f} s of starting."
