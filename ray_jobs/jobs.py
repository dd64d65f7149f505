"""What a generation job is and how far along it is: states, stages and progress events.

The percentages are the ones the user sees (DESIGN.md, "Flow of one request"):
5 lookup, 10 cluster, 15 GPU, 20 submitted, 25-95 the worker's steps, 100 done.
The registry actor keeps job records as plain dicts (cheap to ship between
processes); `JobStatus.from_record` turns one into the public dataclass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.catalog import Manifest

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)

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


@dataclass
class JobStatus:
    job_id: str
    asset_id: str
    name: str
    state: str
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

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> JobStatus:
        manifest = None
        if record.get("manifest"):
            from storage.catalog import Manifest

            manifest = Manifest.from_dict(record["manifest"])
        return cls(
            job_id=record["job_id"],
            asset_id=record["asset_id"],
            name=record["name"],
            state=record["state"],
            stage=record["stage"],
            percent=record["percent"],
            message=record["message"],
            events=[ProgressEvent.from_dict(e) for e in record["events"]],
            step_seconds=dict(record["step_seconds"]),
            created_at=record["created_at"],
            started_at=record["started_at"],
            finished_at=record["finished_at"],
            error=record["error"],
            manifest=manifest,
            worker=record["worker"],
            attempts=record.get("attempts", 0),
            generated=record.get("generated", False),
            device=record.get("device"),
        )
