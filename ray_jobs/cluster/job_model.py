"""What a generation job is: its spec, its states and their allowed moves, stages and progress.

The percentages are the ones the user sees (DESIGN.md, "Flow of one request"):
5 lookup, 10 cluster, 15 GPU, 20 submitted, 25-95 the worker's steps, 100 done.

A job's state changes only through `JobRecord.move`, which knows the allowed transitions;
the registry keeps one `JobRecord` per job and hands out `JobStatus` snapshots.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.catalog import Manifest
    from storage.settings import StorageSettings


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    STOPPING = "stopping"  # a cancel reached the worker; it ends at its next step
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


QUEUED, RUNNING, STOPPING = JobState.QUEUED, JobState.RUNNING, JobState.STOPPING
DONE, FAILED, CANCELLED = JobState.DONE, JobState.FAILED, JobState.CANCELLED
FINAL_STATES = frozenset({DONE, FAILED, CANCELLED})
ACTIVE_STATES = frozenset({QUEUED, RUNNING, STOPPING})

# Every allowed move, in one place. RUNNING -> QUEUED is the retry after a worker died;
# STOPPING -> DONE is a worker that was already past its point of no return.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    QUEUED: frozenset({RUNNING, CANCELLED, FAILED}),
    RUNNING: frozenset({STOPPING, DONE, FAILED, CANCELLED, QUEUED}),
    STOPPING: frozenset({DONE, FAILED, CANCELLED}),
    DONE: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A state change the job lifecycle does not allow (a bug, never a user error)."""


# The time limit every job gets unless asked otherwise: nothing waits forever.
DEFAULT_TIMEOUT_S = 15 * 60.0
TIMEOUT_ENV = "ASSET_STUDIO_JOB_TIMEOUT_S"
# How long past its time limit a worker may stay silent before it is replaced (a step is never
# interrupted, so this covers the longest single step of a generator).
DEFAULT_ANSWER_GRACE_S = 60.0
ANSWER_GRACE_ENV = "ASSET_STUDIO_WORKER_GRACE_S"


_LIMIT_HINT = f"every job has a time limit (default {DEFAULT_TIMEOUT_S:g} s); give a larger number for longer jobs"


def check_timeout(value: Any, where: str = "--timeout", hint: str = _LIMIT_HINT) -> float:
    """A time limit in seconds: positive and finite, else ValueError saying what to give."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{where} must be a positive number of seconds, not {value!r}: {hint}")
    return seconds


def default_timeout_s() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    return check_timeout(raw, TIMEOUT_ENV) if raw else DEFAULT_TIMEOUT_S


def answer_grace_s() -> float:
    raw = os.environ.get(ANSWER_GRACE_ENV, "").strip()
    hint = f"it is how long a worker may stay silent past a job's limit (default {DEFAULT_ANSWER_GRACE_S:g})"
    return check_timeout(raw, ANSWER_GRACE_ENV, hint) if raw else DEFAULT_ANSWER_GRACE_S


# Stage name -> percent at which the stage is reported.
STAGE_LOOKUP = "lookup"
STAGE_CLUSTER = "cluster"
STAGE_GPU = "gpu"
STAGE_SUBMITTED = "submitted"
STAGE_DONE = "done"
CLIENT_STAGE_PERCENT = {STAGE_LOOKUP: 5.0, STAGE_CLUSTER: 10.0, STAGE_GPU: 15.0, STAGE_SUBMITTED: 20.0}
DONE_PERCENT = 100.0

# The worker's own steps fill 25-95 %. Each step owns a share of that span; the
# generator's steps (mask, geometry, texture, ...) share the "generate" part in
# proportion to the fraction the generator reports.
WORKER_START_PERCENT, WORKER_END_PERCENT = 25.0, 95.0
WORKER_STEP_SPANS = {
    "load image": (0.00, 0.05),
    "generate": (0.05, 0.80),
    "export": (0.80, 0.92),
    "upload": (0.92, 1.00),
}


def worker_percent(step: str, fraction_of_step: float = 0.0) -> float:
    """Percent of the whole request for a point inside one worker step."""
    start, end = WORKER_STEP_SPANS[step]
    fraction_of_step = min(max(fraction_of_step, 0.0), 1.0)
    overall = start + (end - start) * fraction_of_step
    return WORKER_START_PERCENT + (WORKER_END_PERCENT - WORKER_START_PERCENT) * overall


@dataclass
class ProgressEvent:
    percent: float
    stage: str
    message: str
    at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"percent": self.percent, "stage": self.stage, "message": self.message, "at": self.at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressEvent:
        return cls(float(data["percent"]), str(data["stage"]), str(data["message"]), float(data["at"]))


def client_event(stage: str, message: str) -> ProgressEvent:
    return ProgressEvent(CLIENT_STAGE_PERCENT[stage], stage, message)


@dataclass(frozen=True)
class JobSpec:
    """Everything a worker needs to run a job; journalled so a restarted registry can run it again."""

    dedupe_key: str  # the store plus the asset id: jobs are joined per store
    asset_id: str
    name: str
    image_sha256: str
    source_key: str
    settings: dict[str, Any]
    storage_settings: StorageSettings
    force: bool = False
    formats: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S  # counted by the worker from when it starts the job
    answer_grace_s: float = DEFAULT_ANSWER_GRACE_S  # then a silent worker is replaced
    job_id: str = ""
    pool: str = "cpu"  # the worker pool that runs it: "cpu", or a GPU generator's own pool

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        # Where the store is, never with which credentials: workers use their own (IAM role, environment).
        data["storage_settings"] = self.storage_settings.shareable()
        data["formats"] = list(self.formats)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        from storage.settings import StorageSettings

        stored = StorageSettings.from_shareable(data["storage_settings"])  # older entries' key ids are dropped
        return cls(**{**data, "storage_settings": stored, "formats": tuple(data["formats"])})


@dataclass
class JobStatus:
    """A snapshot of one job, as the registry answers it."""

    job_id: str
    asset_id: str
    name: str
    state: JobState
    stage: str
    percent: float
    message: str
    events: list[ProgressEvent]
    step_seconds: dict[str, float]
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None
    manifest: Manifest | None
    worker: str | None
    attempts: int = 0
    generated: bool = False  # False when the worker found the asset already published by someone else
    device: str | None = None
    timeout_s: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES


@dataclass
class JobRecord:
    """The registry's own, mutable view of one job. Its state moves only through `move`."""

    job_id: str
    asset_id: str
    name: str
    timeout_s: float
    state: JobState = QUEUED
    stage: str = STAGE_SUBMITTED
    percent: float = 0.0
    message: str = ""
    events: list[ProgressEvent] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    manifest: dict[str, Any] | None = None
    worker: str | None = None
    attempts: int = 0
    generated: bool = False
    device: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    def move(self, state: JobState, message: str, *, percent: float | None = None, stage: str | None = None) -> None:
        """Change state (only along TRANSITIONS) and record why as a progress event."""
        if state not in TRANSITIONS[self.state]:
            raise IllegalTransition(f"job {self.job_id} cannot go from {self.state} to {state} ({message})")
        self.state = state
        if state in FINAL_STATES:
            self.finished_at = time.time()
            if state == FAILED:
                self.error = message
        self.add_event(self.percent if percent is None else percent, stage or str(state), message)

    def add_event(self, percent: float, stage: str, message: str) -> None:
        percent = max(float(percent), self.percent)  # progress never goes backwards
        self.events.append(ProgressEvent(percent, stage, message))
        self.percent, self.stage, self.message = percent, stage, message

    def status(self, *, last_event_only: bool = False) -> JobStatus:
        from storage.catalog import Manifest

        events = self.events[-1:] if last_event_only else list(self.events)
        return JobStatus(
            job_id=self.job_id, asset_id=self.asset_id, name=self.name, state=self.state, stage=self.stage,
            percent=self.percent, message=self.message, events=events, step_seconds=dict(self.step_seconds),
            created_at=self.created_at, started_at=self.started_at, finished_at=self.finished_at,
            error=self.error, manifest=Manifest.from_dict(self.manifest) if self.manifest else None,
            worker=self.worker, attempts=self.attempts, generated=self.generated, device=self.device,
            timeout_s=self.timeout_s,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["state"] = str(self.state)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        fields = {f.name for f in dataclasses.fields(cls)}
        known = {key: value for key, value in data.items() if key in fields}
        known["state"] = JobState(known["state"])
        known["events"] = [ProgressEvent.from_dict(event) for event in known.get("events", [])]
        return cls(**known)
