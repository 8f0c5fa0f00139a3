"""Jobs run in a worker process, never in a thread of the server.

:class:`ProcessPipeline` stands in for a :class:`~humancrafter.pipeline.Pipeline` in the
job manager (``run_job``). It owns one child process (``multiprocessing`` *forkserver*:
forked from a clean process that imported the pipeline's modules once, nothing
inherited from the server) that builds the pipeline once and
keeps it warm between jobs. For each job the child gets the stored image bytes and the
options over a pipe, decodes the images, calls ``Pipeline.run`` (any mode, nothing
mode-specific here), writes the result files into the data folder itself and answers
with the result's meta; progress comes back as messages while it runs. A preview request
whose twin without the preview is stored only draws the sheet of the stored splats
(:func:`.jobs.preview_from_store`).

- Cancel (or shutdown): the child is killed at once and a new one started; the job ends
  without waiting for a stage boundary.
- A child that dies (out of memory, a crash in native code) fails that job alone, with
  the exit code in the message; the next job gets a new child.
- Memory budget: while a job runs, the child's resident memory is checked every
  ``MEMORY_CHECK_S``; beyond ``memory_limit_bytes`` it is killed and the job fails with
  "the job needed more than N GB of memory".
- The server's event loop never runs model code, so status polls stay fast under load.
- The worker and the fork server end with the server, however it ends (SIGKILL
  included), within a few tens of milliseconds and without a traceback. The process tree
  is server -> fork server -> worker, plus server -> multiprocessing's resource tracker.
  A thread of the worker waits on ``multiprocessing.parent_process().sentinel``, a pipe
  whose other end only the server holds, so the kernel closes it when the server dies;
  the thread then SIGKILLs the fork server (its own exit, tearing down torch, takes most
  of a second) and ends the worker with ``os._exit`` (a native call that holds the
  interpreter lock delays that thread until it returns). The resource tracker ends by
  itself once neither holds its pipe. (``PR_SET_PDEATHSIG`` would not do: the worker's
  parent is the fork server, which stays alive while the worker holds its "alive" pipe.)
  Sends to a server that is gone end the worker quietly too. With no worker alive (at
  start-up, before the first one is forked), the fork server ends by itself once the
  server is gone, after its imports.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..errors import Cancelled, InputError
from ..pipeline import CancelFn, ProgressFn

log = logging.getLogger("humancrafter.server")

POLL_S = 0.02
"""How often the waiting server thread checks for cancel while the child works."""
START_TIMEOUT_S = 600.0
MEMORY_CHECK_S = 0.25
PRELOAD = ["torch", "mediapipe", "cv2", "humancrafter.pipeline", "humancrafter.server.jobs"]
"""Imported once by the fork server (none starts a thread or touches CUDA on import);
a missing one is skipped."""


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 where /proc is not there)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class WorkerDied(RuntimeError):
    """The worker process ended while it ran a job (out of memory, or a crash)."""


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = ", most likely out of memory" if -code == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint}"
    return f"the worker process ended unexpectedly (exit code {code})"


def _end_with_server() -> None:
    """In the worker: start a daemon thread that, as soon as the server process is gone,
    kills the fork server and ends this process with exit status 0 (see the module
    docstring)."""
    server = mp.parent_process()
    if server is None:  # not started by multiprocessing
        return
    fork_server = os.getppid()

    def watch() -> None:
        wait([server.sentinel])
        # Still our parent (not reaped, so its pid is not reused), and not the server.
        if os.getppid() == fork_server and fork_server != server.pid:
            os.kill(fork_server, signal.SIGKILL)
        os._exit(0)

    threading.Thread(target=watch, name="humancrafter-server-watch", daemon=True).start()


def _child_main(conn: Connection, factory: Callable[[], Any]) -> None:
    """The worker process: build the pipeline once, then run jobs until told to stop or
    until the server is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when this ends
    _end_with_server()
    pipeline = factory()
    try:
        conn.send(("ready", pipeline.device, pipeline.available_modes()))
        _serve(conn, pipeline)
    except (BrokenPipeError, ConnectionResetError):
        return  # the server is gone; the watching thread may already have ended us


def _serve(conn: Connection, pipeline: Any) -> None:
    """Run the jobs the server sends until it sends None or closes the pipe."""
    from ..pipeline import ReconstructOptions
    from .images import ImageRejected, open_image
    from .jobs import Store, preview_from_store

    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        root, key, data, options, max_pixels, preview_of = message
        try:

            def progress(stage: str, fraction: float) -> None:
                conn.send(("progress", stage, float(fraction)))

            store = Store(Path(root))
            if preview_of is not None:
                meta = preview_from_store(pipeline, store, key, preview_of, progress)
                if meta is not None:
                    conn.send(("done", meta))
                    continue
            images = [open_image(d, f"image {i + 1}", max_pixels) for i, d in enumerate(data)]
            del data
            result = pipeline.run(images, ReconstructOptions(**options), progress, None)
            meta = store.save_result(key, result)
            del result, images
            conn.send(("done", meta))
        except (InputError, ImageRejected) as e:
            conn.send(("input", str(e)))
        except MemoryError:
            conn.send(("error", "the job ran out of memory", ""))
        except Exception as e:  # reported to the server, which fails the job
            conn.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))


class ProcessPipeline:
    """A warm pipeline in a child process (see the module docstring).

    Args:
        factory: builds the pipeline in the child; must be picklable (e.g.
            ``functools.partial(Pipeline, device="cpu")``).
        memory_limit_bytes: resident memory the child may use during a job (0: no limit).
    """

    def __init__(self, factory: Callable[[], Any], memory_limit_bytes: int = 0) -> None:
        self._factory = factory
        self.memory_limit_bytes = memory_limit_bytes
        # forkserver: a clean process (no server threads inherited) that imported the
        # pipeline's modules once, so a new worker after a cancel or a crash only has to
        # build the pipeline, not import torch again.
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._lock = threading.Lock()
        self._proc: Any = None
        self._conn: Connection | None = None
        self.device = "?"
        self._modes: dict[str, str | None] = {}
        self._start()

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=_child_main, args=(child, self._factory), name="humancrafter-worker"
        )
        proc.daemon = True
        proc.start()
        child.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not parent.poll(0.1):
            if not proc.is_alive() or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"the worker process did not start: {_describe_exit(proc.exitcode)}"
                )
        _, self.device, self._modes = parent.recv()
        self._proc, self._conn = proc, parent
        log.info("worker process %d ready (device %s)", proc.pid, self.device)

    def _restart(self) -> None:
        self._kill()
        self._start()

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(10)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def available_modes(self) -> dict[str, str | None]:
        return dict(self._modes)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ProcessPipeline runs stored jobs through run_job")

    def make_preview(self, *args: Any, **kwargs: Any) -> bytes:
        raise NotImplementedError("ProcessPipeline draws previews in the child (run_job)")

    def run_job(
        self,
        root: Path,
        key: str,
        data: list[bytes],
        options: dict[str, Any],
        max_pixels: int,
        progress: ProgressFn,
        should_cancel: CancelFn,
        preview_of: str | None = None,
    ) -> dict[str, Any]:
        """Run one job in the child; returns the stored result's meta. ``preview_of``: the
        stored twin of a preview request (:func:`.jobs.preview_from_store`), or None.

        Raises:
            Cancelled: ``should_cancel`` became true (the child was killed and restarted).
            InputError: the images or options were refused by the pipeline.
            WorkerDied: the child ended during the job (a new one is started).
            RuntimeError: the pipeline raised (the message says what).
        """
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._restart()
            conn = self._conn
            assert conn is not None
            conn.send((str(root), key, data, options, max_pixels, preview_of))
            next_check = 0.0
            while True:
                now = time.monotonic()
                if self.memory_limit_bytes and now >= next_check:
                    next_check = now + MEMORY_CHECK_S
                    used = rss_bytes(self._proc.pid)
                    if used > self.memory_limit_bytes:
                        log.warning("killing worker process %d: %d bytes", self._proc.pid, used)
                        self._kill()
                        threading.Thread(target=self._restart_quietly, daemon=True).start()
                        raise WorkerDied(
                            f"the job needed more than {self.memory_limit_bytes / 1e9:g} GB of "
                            "memory, the server's limit for one job"
                        )
                if should_cancel():
                    log.info("killing worker process %d (job cancelled)", self._proc.pid)
                    self._kill()
                    threading.Thread(target=self._restart_quietly, daemon=True).start()
                    raise Cancelled()
                try:
                    ready = conn.poll(POLL_S)
                    message = conn.recv() if ready else None
                except (EOFError, OSError):
                    message, ready = None, True
                if message is None:
                    if ready or not self._proc.is_alive():
                        self._proc.join(5)
                        reason = _describe_exit(self._proc.exitcode)
                        self._kill()
                        raise WorkerDied(reason)
                    continue
                kind = message[0]
                if kind == "progress":
                    progress(message[1], message[2])
                elif kind == "done":
                    return message[1]
                elif kind == "input":
                    raise InputError(message[1])
                else:
                    log.error("worker process: %s", message[2] or message[1])
                    raise RuntimeError(message[1])

    def _restart_quietly(self) -> None:
        with self._lock:
            if self._proc is None:
                try:
                    self._start()
                except RuntimeError as e:
                    log.error("%s", e)

    def close(self) -> None:
        """End the child process."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.send(None)
                except OSError:
                    pass
            if self._proc is not None:
                self._proc.join(2)
            self._kill()
