"""``humancrafter serve``: build the pipelines, the token and the app, then run uvicorn."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

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
    if min(opts.queue_size, opts.max_pixels, opts.preview_views, opts.preview_size) < 1 or (
        opts.max_upload_mb <= 0
    ):
        print("humancrafter serve: error: limits must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    import uvicorn

    from ..pipeline import Pipeline
    from .app import ServerSettings, create_app
    from .jobs import JobManager, Limits, Store

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
    pipelines = [
        Pipeline(
            device=opts.device, preview_views=opts.preview_views, preview_size=opts.preview_size
        )
    ]
    limits = Limits(
        queue_capacity=opts.queue_size,
        max_result_bytes=int(opts.max_results_gb * 1e9),
        max_age_s=opts.max_age_days * 86400.0,
    )
    manager = JobManager(store, pipelines, limits, opts.max_pixels)
    settings = ServerSettings(
        token=token,
        allowed_hosts=allowed_host_names(opts.host, opts.allow_hosts),
        max_upload_bytes=int(opts.max_upload_mb * 1e6),
        max_pixels=opts.max_pixels,
    )
    app = create_app(manager, settings)
    config = uvicorn.Config(
        app,
        host=opts.host,
        port=opts.port,
        access_log=opts.access_log,
        server_header=False,
        proxy_headers=False,
        log_level="info",
        timeout_graceful_shutdown=5,  # long polls must not hold up a restart
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1
