"""Typed request and response bodies of the HTTP API (``docs/api.md``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..pipeline import MAX_GAUSSIANS, MIN_GAUSSIANS, Mode, ReconstructOptions

_DEFAULTS = ReconstructOptions()

Azimuth = Annotated[float, Field(ge=-360.0, le=360.0)]


class JobOptions(BaseModel):
    """Options of a reconstruction (the ``options`` form field, as a JSON object; every
    key is optional)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        _DEFAULTS.mode, description="pipeline: prior, fast, multiview or full (see /v1/health)"
    )
    azimuths_deg: list[Azimuth] | None = Field(
        _DEFAULTS.azimuths_deg,
        min_length=1,
        max_length=4,
        description="multiview: the azimuth of each image in degrees (0 = front, 90 = the "
        "person's left), one per image",
    )
    num_gaussians: int = Field(
        _DEFAULTS.num_gaussians,
        ge=MIN_GAUSSIANS,
        le=MAX_GAUSSIANS,
        description="target number of Gaussians in the result",
    )
    seed: int = Field(_DEFAULTS.seed, ge=0, le=2**31 - 1, description="random seed")
    preview: bool = Field(
        _DEFAULTS.preview,
        description="also make the preview contact sheet (GET /jobs/{id}/preview); a few "
        "seconds more per job",
    )


JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class JobInfo(BaseModel):
    """The state of one job."""

    id: str = Field(description="32 hex digits, made by the server")
    status: JobStatus
    stage: str | None = Field(
        description="the stage running now; for a cancelled or failed job the stage it "
        "stopped in; null when queued or done"
    )
    progress: float = Field(ge=0.0, le=1.0, description="fraction of the job done")
    error: str | None = Field(description="why the job failed, in one sentence")
    created_at: float = Field(description="unix time in seconds")
    updated_at: float = Field(description="unix time in seconds")
    options: JobOptions
    num_splats: int | None = Field(description="Gaussians in the result once done")
    warnings: list[str] = Field(description="things the artist should know about the result")
    timings: dict[str, float] = Field(
        description="seconds per stage; 'queued' is the wait before a worker took the job"
    )
    cached: bool = Field(description="true when an identical earlier request gave the result")


class JobList(BaseModel):
    """Recent jobs, most recent first."""

    jobs: list[JobInfo]


class ModeInfo(BaseModel):
    """Whether a pipeline mode can run on this server."""

    available: bool
    missing: str | None = Field(description="what the mode needs that is missing here")


class QueueInfo(BaseModel):
    """The job queue."""

    depth: int = Field(description="jobs waiting for a worker")
    capacity: int = Field(description="jobs that may wait; beyond that a submit gets 429")
    running: int = Field(description="jobs running now")
    workers: int = Field(description="worker threads, one per device")


class LimitsInfo(BaseModel):
    """Upload limits, so that a client can check before sending."""

    max_upload_bytes: int
    max_pixels: int
    max_images: int


class Health(BaseModel):
    """What the server is and what it can do."""

    status: Literal["ok"]
    version: str
    device: str = Field(description="the device(s) the workers run on, e.g. 'cpu', 'cuda:0'")
    modes: dict[str, ModeInfo]
    queue: QueueInfo
    limits: LimitsInfo


class ErrorDetail(BaseModel):
    """Every error: one sentence naming the problem."""

    detail: str
