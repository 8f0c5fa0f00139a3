"""``humancrafter serve``: build the pipelines, the token and the app, then run uvicorn.

Besides the command line, ``python -m humancrafter.server.main '<json>'`` runs the same
server from a JSON object of :class:`ServeOptions` fields, including the limits the
command line does not expose yet (time limits, connection cap, job records); the tests
use it to run the real server with small limits.
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from ..portable.config import DEFAULT_HOST, DEFAULT_PORT, token_path
from .images import DEFAULT_MAX_PIXELS
from .security import allowed_host_names, ensure_token, is_loopback


@dataclass
class ServeOptions:
    """The ``serve`` command line (see ``humancrafter serve --help``)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path | None = None
    allow_remote: bool = False
    allow_hosts: list[str] = field(default_factory=list)
    device: str = "auto"
    preview_views: int = 8
    preview_size: int = 256
    queue_size: int = 8
    max_upload_mb: float = 20.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_results_gb: float = 2.0
    max_age_days: float = 30.0
    access_log: bool = False
    max_jobs: int = 1000
    """finished job records kept, and undownloaded results that may wait"""
    max_connections: int = 64
    """open connections plus running requests; beyond, requests get 503"""
    header_timeout_s: float = 10.0
    """a request's headers must arrive within this (also: idle new connections)"""
    keep_alive_s: float = 5.0
    """an idle keep-alive connection is closed after this"""
    body_idle_s: float = 10.0
    """a request body that sends nothing for this long gets 408"""
    body_total_s: float = 120.0
    """a request body must arrive in full within this, else 408"""
    max_job_gb: float = 8.0
    """resident memory the worker process may use during a job; beyond, the job fails"""
    weights: Path | None = None
    """the weights folder of mode full (None: $HUMANCRAFTER_WEIGHTS)"""


def default_data_dir() -> Path:
    """The per-user data folder for jobs and results."""
    import platformdirs

    return platformdirs.user_data_path("humancrafter", appauthor=False)


def serve(opts: ServeOptions) -> int:
    """Run the service until interrupted; returns the exit status."""
    if not is_loopback(opts.host) and not opts.allow_remote:
        print(
            f"humancrafter serve: error: --host {opts.host} accepts connections from other "
            "machines; add --allow-remote if that is what you want (see docs/deploy.md)",
            file=sys.stderr,
        )
        return 2
    numbers = (opts.queue_size, opts.max_pixels, opts.preview_views, opts.preview_size)
    numbers += (opts.max_jobs, opts.max_connections)
    times = (opts.header_timeout_s, opts.keep_alive_s, opts.body_idle_s, opts.body_total_s)
    if min(numbers) < 1 or min(opts.max_upload_mb, opts.max_job_gb, *times) <= 0:
        print("humancrafter serve: error: limits must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    import uvicorn

    from ..pipeline import Pipeline
    from .app import ServerSettings, create_app
    from .http import protocol_class
    from .jobs import JobManager, Limits, Store
    from .worker import ProcessPipeline

    path = token_path()
    token, created = ensure_token(path)
    print(f"access token {'created in' if created else 'read from'} {path}", flush=True)
    if not is_loopback(opts.host):
        print(
            f"WARNING: listening on {opts.host}: other machines can reach this server. Anyone "
            "with the token can run jobs; keep the port behind a firewall (docs/deploy.md).",
            file=sys.stderr,
            flush=True,
        )
    data_dir = opts.data_dir or default_data_dir()
    store = Store(data_dir)
    print(f"data folder {data_dir}", flush=True)
    print(f"loading the pipeline (device {opts.device}) ...", flush=True)
    factory = functools.partial(
        Pipeline,
        device=opts.device,
        preview_views=opts.preview_views,
        preview_size=opts.preview_size,
        weights=None if opts.weights is None else str(opts.weights),
    )
    pipelines = [
        ProcessPipeline(factory, int(opts.max_job_gb * 1e9))
    ]  # the warm pipeline lives in a worker process
    limits = Limits(
        queue_capacity=opts.queue_size,
        max_result_bytes=int(opts.max_results_gb * 1e9),
        max_age_s=opts.max_age_days * 86400.0,
        max_jobs=opts.max_jobs,
    )
    manager = JobManager(store, pipelines, limits, opts.max_pixels)
    settings = ServerSettings(
        token=token,
        allowed_hosts=allowed_host_names(opts.host, opts.allow_hosts),
        max_upload_bytes=int(opts.max_upload_mb * 1e6),
        max_pixels=opts.max_pixels,
        body_idle_s=opts.body_idle_s,
        body_total_s=opts.body_total_s,
    )
    app = create_app(manager, settings)
    state = app.state.humancrafter
    config = uvicorn.Config(
        app,
        host=opts.host,
        port=opts.port,
        access_log=opts.access_log,
        server_header=False,
        proxy_headers=False,
        log_level="info",
        timeout_graceful_shutdown=5,  # long polls are answered at once (begin_shutdown)
        http=protocol_class(opts.header_timeout_s),
        timeout_keep_alive=max(1, round(opts.keep_alive_s)),
        limit_concurrency=opts.max_connections,
        h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            state.begin_shutdown()  # answer long polls before connections are drained
            super().handle_exit(sig, frame)

    server = Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    import json

    raw = json.loads(sys.argv[1])
    for name in ("data_dir",):
        if raw.get(name) is not None:
            raw[name] = Path(raw[name])
    sys.exit(serve(ServeOptions(**raw)))
