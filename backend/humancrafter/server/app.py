"""The FastAPI application: routes under ``/v1``, typed bodies, one-sentence errors.

The routes live on the module-level :data:`router` and only translate HTTP to
:class:`~humancrafter.server.jobs.JobManager` calls; they reach the manager and the
settings of their application through FastAPI dependencies (:func:`app_state`, kept on
``app.state`` by :func:`create_app`). The checks that must run before a body is read
(Host, token, size) are in :mod:`humancrafter.server.security`. ``docs/api.md`` describes
the API with curl examples.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from .. import __version__, mesh_export
from ..portable import splatfile
from ..portable.config import API_PREFIX
from ..spz import splats_to_spz
from .images import DEFAULT_MAX_PIXELS, ImageRejected, open_image
from .jobs import FINAL, JOB_ID_RE, MAX_INPUTS, Job, JobManager, QueueFull
from .schemas import (
    ErrorDetail,
    Health,
    JobInfo,
    JobList,
    JobOptions,
    LimitsInfo,
    ModeInfo,
    QueueInfo,
)
from .security import OPENAPI_PATH, PUBLIC_PATHS, GuardMiddleware

DEFAULT_MAX_UPLOAD_BYTES = 20_000_000
MAX_WAIT_S = 60.0
MAX_OPTIONS_CHARS = 4096
"""Longest ``options`` field accepted (bounds JSON nesting and number lengths too)."""
MAX_OPTIONS_DEPTH = 8
DECODE_SLOTS = 2
"""Uploads read and decoded at the same time (each costs its bytes plus up to 4 bytes a
pixel, 160 MB for a 40-megapixel image); further uploads wait for a slot."""
MESH_SLOTS = 1
"""Mesh conversions (``/jobs/{id}/mesh``) run in the server process one at a time (each
at most about 0.65 GB, at the largest grid :data:`~humancrafter.mesh_export.MAX_GRID_POINTS`
allows); further requests wait for the slot."""


@dataclass
class ServerSettings:
    """What the application needs besides the job manager.

    Attributes:
        token: the bearer token.
        allowed_hosts: Host header names accepted (see ``security.allowed_host_names``).
        max_upload_bytes: largest request body in bytes.
        max_pixels: largest image (width * height) accepted.
        body_idle_s, body_total_s: request body time limits (see ``GuardMiddleware``).
    """

    token: str
    allowed_hosts: frozenset[str]
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    body_idle_s: float = 10.0
    body_total_s: float = 120.0


@dataclass
class AppState:
    """What the routes of one application share (``app.state.humancrafter``).

    Attributes:
        manager: the job manager. settings: see :class:`ServerSettings`.
        finished: events of the jobs someone long-polls (``wait``), set when the job is
            final.
    """

    manager: JobManager
    settings: ServerSettings
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    stopping: asyncio.Event | None = None
    """Set when the server begins to shut down (SIGINT / SIGTERM): long polls answer."""
    decode_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(DECODE_SLOTS))
    mesh_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MESH_SLOTS))
    loop: asyncio.AbstractEventLoop | None = None

    def begin_shutdown(self) -> None:
        """Wake every long poll with the job's state; safe from a signal handler or any
        thread (the server calls it as SIGINT / SIGTERM arrives)."""
        if self.loop is not None and self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)


def app_state(request: Request) -> AppState:
    """The dependency that gives a route its application's :class:`AppState`."""
    return request.app.state.humancrafter


State = Annotated[AppState, Depends(app_state)]


def _errors(*codes: int, auth: bool = True) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "bad request (unreadable options, foreign Host header)",
        401: "missing or wrong bearer token",
        404: "no such job",
        409: "the job is not done",
        410: "the result was deleted by the storage limit",
        413: "upload or image too large",
        415: "not a PNG, JPEG or WebP image",
        422: "invalid options or input",
        429: "queue full; see Retry-After",
    }
    always = (400, 401) if auth else (400,)
    return {c: {"model": ErrorDetail, "description": text[c]} for c in (*always, *codes)}


_BINARY = {"schema": {"type": "string", "format": "binary"}}


def job_info(job: Job) -> JobInfo:
    """The API view of a job record."""
    data = asdict(job)
    data["options"] = JobOptions(**job.options)
    for internal in ("key", "num_images", "fetched"):
        data.pop(internal)
    return JobInfo(**data)


def parse_options(raw: str | None) -> JobOptions:
    """The ``options`` form field: a JSON object, every key optional.

    Raises:
        HTTPException: 400 for text that is not a JSON object, 422 for a wrong value.
    """
    if raw is None or not raw.strip():
        return JobOptions()
    if len(raw) > MAX_OPTIONS_CHARS:
        raise HTTPException(
            400, f"options is {len(raw)} characters long; at most {MAX_OPTIONS_CHARS} are accepted"
        )
    depth = _nesting(raw)
    if depth > MAX_OPTIONS_DEPTH:
        raise HTTPException(
            400, f"options nests {depth} levels deep; at most {MAX_OPTIONS_DEPTH} are accepted"
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise HTTPException(
            400, f"options is not valid JSON ({e.msg} at character {e.pos})"
        ) from None
    except (ValueError, RecursionError) as e:  # e.g. an integer of more than 4300 digits
        reason = str(e).split(":")[0][:100]
        raise HTTPException(400, f"options is not acceptable JSON ({reason})") from None
    if not isinstance(data, dict):
        raise HTTPException(400, 'options must be a JSON object such as {"mode": "prior"}')
    try:
        return JobOptions.model_validate(data)
    except ValidationError as e:
        raise HTTPException(422, "options: " + _first_error(e.errors())) from None


def _nesting(text: str) -> int:
    """The deepest nesting of brackets in JSON text (strings skipped), found without
    parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _first_error(errors: list[Any]) -> str:
    err = errors[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
    n = len(errors) - 1
    more = f" (and {n} more problem{'s' if n > 1 else ''})" if n else ""
    return f"{loc or 'request'}: {err.get('msg', 'invalid')}{more}"


def _find(state: AppState, job_id: str) -> Job:
    """The job with id ``job_id``, or a 404."""
    job = state.manager.get(job_id) if JOB_ID_RE.fullmatch(job_id) else None
    if job is None:
        raise HTTPException(404, f"there is no job with id {job_id[:64]!r}")
    return job


router = APIRouter(prefix=API_PREFIX)
"""Every route of the API; :func:`create_app` mounts it."""


@router.get("/health", response_model=Health, responses=_errors(auth=False), tags=["server"])
async def health(state: State) -> Health:
    """Version, device, available modes and queue state (no token needed)."""
    manager, settings = state.manager, state.settings
    return Health(
        status="ok",
        version=__version__,
        device=manager.device,
        modes={
            m: ModeInfo(available=missing is None, missing=missing)
            for m, missing in manager.modes.items()
        },
        queue=QueueInfo(
            depth=manager.queue_depth(),
            capacity=manager.limits.queue_capacity,
            running=manager.running(),
            workers=len(manager.pipelines),
        ),
        limits=LimitsInfo(
            max_upload_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_pixels,
            max_images=MAX_INPUTS,
        ),
    )


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobInfo,
    responses=_errors(413, 415, 422, 429),
    tags=["jobs"],
)
async def create_job(
    state: State,
    images: Annotated[
        list[UploadFile],
        File(description="1 to 4 PNG, JPEG or WebP images (multiview: one per view)"),
    ],
    options: Annotated[
        str | None,
        Form(description='JSON object, e.g. {"mode": "prior", "num_gaussians": 40000}'),
    ] = None,
) -> JobInfo:
    """Queue a reconstruction. Answered at once (``cached: true``) when the same images
    with the same options were reconstructed before."""
    manager, max_pixels = state.manager, state.settings.max_pixels
    opts = parse_options(options)
    if not 1 <= len(images) <= MAX_INPUTS:
        raise HTTPException(422, f"send 1 to {MAX_INPUTS} images, not {len(images)}")
    missing = manager.modes.get(opts.mode)
    if missing is not None:
        raise HTTPException(422, f"mode {opts.mode!r} is not available on this server: {missing}")
    if opts.mode == "multiview" and len(images) < 2:
        raise HTTPException(422, "mode 'multiview' takes 2 to 4 images, one per view")
    if opts.mode != "multiview" and len(images) != 1:
        raise HTTPException(
            422, f"mode {opts.mode!r} takes one image, not {len(images)} (see 'multiview')"
        )
    if opts.azimuths_deg is not None and len(opts.azimuths_deg) != len(images):
        raise HTTPException(
            422,
            f"options.azimuths_deg has {len(opts.azimuths_deg)} values for "
            f"{len(images)} images; give one azimuth per image",
        )

    def check(i: int, d: bytes) -> None:
        open_image(d, f"image {i + 1}", max_pixels, check_only=True).close()

    try:
        # At most DECODE_SLOTS uploads are read into memory and decoded at once, whatever
        # the clients send; the others wait (their bodies are spooled to disk meanwhile).
        async with state.decode_slots:
            data = [await f.read() for f in images]
            for i, d in enumerate(data):
                await run_in_threadpool(check, i, d)
            job = await run_in_threadpool(manager.submit, data, opts.model_dump())
            del data
    except ImageRejected as e:
        raise HTTPException(e.status, str(e)) from None
    except QueueFull as e:
        raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    return job_info(job)


@router.get("/jobs", response_model=JobList, responses=_errors(422), tags=["jobs"])
async def list_jobs(
    state: State,
    limit: Annotated[int, Query(ge=1, le=100, description="at most this many")] = 100,
) -> JobList:
    """Recent jobs, most recent first."""
    return JobList(jobs=[job_info(j) for j in state.manager.recent(limit)])


@router.get("/jobs/{job_id}", response_model=JobInfo, responses=_errors(404, 422), tags=["jobs"])
async def get_job(
    state: State,
    job_id: str,
    wait: Annotated[
        float,
        Query(
            ge=0.0,
            le=MAX_WAIT_S,
            description="seconds to wait for the job to finish before answering",
        ),
    ] = 0.0,
) -> JobInfo:
    """The job's status, stage, progress and (once failed) error."""
    job = _find(state, job_id)
    stopping = state.stopping
    if wait > 0 and job.status not in FINAL and not (stopping and stopping.is_set()):
        event = state.finished.setdefault(job_id, asyncio.Event())
        job = _find(state, job_id)  # it may have finished before the event was registered
        if job.status in FINAL:
            state.finished.pop(job_id, None)
        else:
            # Answer when the job ends, the wait is over or the server begins to stop
            # (a shutdown must not cut a long poll off without an answer).
            waiters = [asyncio.ensure_future(event.wait())]
            if stopping is not None:
                waiters.append(asyncio.ensure_future(stopping.wait()))
            try:
                await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
            job = _find(state, job_id)
    return job_info(job)


@router.post("/jobs/{job_id}/cancel", response_model=JobInfo, responses=_errors(404), tags=["jobs"])
async def cancel_job(state: State, job_id: str) -> JobInfo:
    """Cancel a queued or running job (a running one stops at its next stage); a
    finished job is returned unchanged."""
    _find(state, job_id)
    job = await run_in_threadpool(state.manager.cancel, job_id)
    if job is None:
        raise HTTPException(404, f"there is no job with id {job_id[:64]!r}")
    return job_info(job)


async def result_file(state: AppState, job: Job, name: str, what: str) -> Path:
    """The path of a done job's result file ``name`` (409 before, 410 once evicted)."""
    job_id = job.id
    if job.status != "done":
        reason = f": {job.error}" if job.error else ""
        raise HTTPException(
            409, f"job {job_id} is {job.status}{reason}; the {what} exists once it is done"
        )
    data = await run_in_threadpool(state.manager.result_path, job, name)
    if data is None:
        raise HTTPException(
            410, f"the {what} of job {job_id} was deleted by the server's storage limit"
        )
    return data


@router.get(
    "/jobs/{job_id}/result",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": _BINARY}, "description": "PLY"},
        **_errors(404, 409, 410),
    },
    tags=["results"],
)
async def get_result(state: State, job_id: str) -> Response:
    """The semantic splat file (binary PLY with part labels, ``docs/format.md``)."""
    path = await result_file(state, _find(state, job_id), "splats.ply", "result")
    disposition = f'attachment; filename="humancrafter-{job_id}.ply"'
    return _streamed(path, "application/octet-stream", {"Content-Disposition": disposition})


@router.get(
    "/jobs/{job_id}/preview",
    response_class=Response,
    responses={
        200: {"content": {"image/png": _BINARY}, "description": "PNG"},
        **_errors(404, 409, 410),
    },
    tags=["results"],
)
async def get_preview(state: State, job_id: str) -> Response:
    """Contact sheet of the result: turntable views in RGB and in part colours; made only
    for a job submitted with ``{"preview": true}`` in its options (else 404)."""
    job = _find(state, job_id)
    if not job.options.get("preview", True):  # records from before the option all had one
        raise HTTPException(
            404,
            f"job {job_id} was submitted without a preview; submit the request again with "
            '"preview": true in its options to get one',
        )
    path = await result_file(state, job, "preview.png", "preview")
    return _streamed(path, "image/png", {})


@router.get(
    "/jobs/{job_id}/mesh",
    response_class=Response,
    responses={
        200: {
            "content": {media: _BINARY for media in sorted(set(mesh_export.MEDIA_TYPES.values()))},
            "description": "GLB, OBJ or PLY",
        },
        **_errors(404, 409, 410, 422),
    },
    tags=["results"],
)
async def get_mesh(
    state: State,
    job_id: str,
    fmt: Annotated[
        Literal["glb", "obj", "ply"],
        Query(
            alias="format",
            description="glb (skinned to the result's skeleton), obj or ply; all with vertex "
            "colours and one group per body part",
        ),
    ] = "glb",
    voxel: Annotated[
        float,
        Query(
            ge=0.005,
            le=mesh_export.MAX_VOXEL,
            description="grid spacing of the surface in metres, the person 1.75 m tall",
        ),
    ] = mesh_export.DEFAULT_VOXEL,
) -> Response:
    """The result as a closed, vertex-coloured triangle mesh with one group per body part,
    skinned in GLB (``humancrafter mesh``, ``docs/api.md``); made on request, a few
    seconds for 40,000 splats."""
    path = await result_file(state, _find(state, job_id), "splats.ply", "result")

    def convert() -> bytes:
        try:
            splats = splatfile.load(path)
        except OSError:
            raise HTTPException(410, "the file was deleted by the server's storage limit") from None
        try:
            return mesh_export.encode(mesh_export.build(splats, voxel), fmt)
        except ValueError as e:  # no surface at this voxel size, or too large a grid
            raise HTTPException(422, str(e)) from None

    async with state.mesh_slots:
        data = await run_in_threadpool(convert)
    disposition = f'attachment; filename="humancrafter-{job_id}.{fmt}"'
    return Response(
        data, media_type=mesh_export.MEDIA_TYPES[fmt], headers={"Content-Disposition": disposition}
    )


def _streamed(path: Path, media_type: str, headers: dict[str, str]) -> Response:
    """A file answered in chunks from disk (never read whole into memory). The file is
    opened now, so a result evicted after this point still streams completely."""
    try:
        f = path.open("rb")
    except OSError:
        raise HTTPException(410, "the file was deleted by the server's storage limit") from None
    size = os.fstat(f.fileno()).st_size

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await run_in_threadpool(f.read, 256 * 1024):
                yield chunk
        finally:
            f.close()

    return StreamingResponse(
        chunks(), media_type=media_type, headers={**headers, "Content-Length": str(size)}
    )


@router.post(
    "/convert/spz",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": _BINARY}, "description": "SPZ"},
        **_errors(413, 422),
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}
    },
    tags=["convert"],
)
async def convert_spz(
    request: Request,
    version: Annotated[
        int,
        Query(
            ge=2,
            le=3,
            description="SPZ file version: 2 (read by every SPZ loader) or 3 (more precise "
            "rotations, newer loaders only)",
        ),
    ] = 2,
) -> Response:
    """Convert a splat PLY (the body) to SPZ; labels are dropped (SPZ has no place for
    them)."""
    body = await request.body()

    def convert() -> bytes:
        try:
            splats = splatfile.loads(body)
        except splatfile.SplatFileError as e:
            raise HTTPException(422, f"the body is not a splat PLY file: {e}") from None
        return splats_to_spz(splats, version=version)

    data = await run_in_threadpool(convert)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": 'attachment; filename="splats.spz"'},
    )


async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": _first_error(list(exc.errors()))}, status_code=422)


async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    detail = f"internal error of the server ({type(exc).__name__}); see its log"
    return JSONResponse({"detail": detail}, status_code=500)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the manager's workers with the app; wake long polls as jobs finish."""
    state: AppState = app.state.humancrafter
    loop = asyncio.get_running_loop()
    state.loop, state.stopping = loop, asyncio.Event()

    def wake(job_id: str) -> None:
        event = state.finished.pop(job_id, None)
        if event is not None:
            event.set()

    state.manager.on_final = lambda job_id: loop.call_soon_threadsafe(wake, job_id)
    state.manager.start()
    yield
    await run_in_threadpool(state.manager.stop)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema, with the bearer token on every route that needs it."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        for path, operations in schema["paths"].items():
            if path not in PUBLIC_PATHS:
                for op in operations.values():
                    op["security"] = [{"bearer": []}]
        app.openapi_schema = jsonable_encoder(schema)
    return app.openapi_schema


def create_app(manager: JobManager, settings: ServerSettings) -> FastAPI:
    """The ASGI application serving ``manager`` (its workers start with the app)."""
    app = FastAPI(
        title="HumanCrafter backend",
        version=__version__,
        description="A photo of a person in, semantic 3D Gaussian splats out.",
        openapi_url=OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.humancrafter = AppState(manager, settings)
    app.add_middleware(
        GuardMiddleware,
        token=settings.token,
        allowed_hosts=settings.allowed_hosts,
        max_body_bytes=settings.max_upload_bytes,
        body_idle_s=settings.body_idle_s,
        body_total_s=settings.body_total_s,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
