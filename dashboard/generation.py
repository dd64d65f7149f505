"""The Generate page's work, kept out of its layout: bulk check, submit the missing, follow the jobs.

A `Run` is one image's way through a request; the page keeps a list of them in session state and
draws each one. Nothing here draws anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.errors import explain
from ray_jobs.client import Manifest, ProgressEvent, StudioClient

ACTIVE = ("submitting", "queued", "running", "stopping")


@dataclass
class SourceInput:
    name: str
    data: bytes
    source_key: str | None = None  # set when picked from the store: no second copy is saved


@dataclass
class Run:
    name: str
    state: str  # "exists" | "submitting" | "queued" | "running" | "done" | "failed" | "cancelled"
    asset_id: str | None = None
    job_id: str | None = None
    manifest: Manifest | None = None
    error: str | None = None
    percent: float = 0.0
    stage: str = ""
    message: str = ""
    events: list[ProgressEvent] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def check_all(client: StudioClient, inputs: list[SourceInput], settings: Mapping[str, Any]) -> list[Run]:
    """Look every image up in the store first (no cluster call): existing ones are answered at once,
    unusable ones are refused before any cluster is involved."""
    runs = []
    for item in inputs:
        try:
            found = client.check(item.data, item.name, settings)
        except Exception as error:
            runs.append(Run(item.name, "failed", error=explain(error)))
            continue
        if found.exists:
            runs.append(Run(item.name, "exists", asset_id=found.asset_id, manifest=found.manifest,
                            percent=100.0, stage="done", message="already in the store"))
        else:
            runs.append(Run(item.name, "submitting", asset_id=found.asset_id, percent=5.0, stage="lookup",
                            message="not in the store yet"))
    return runs


def submit_missing(client: StudioClient, runs: list[Run], inputs: list[SourceInput], settings: Mapping[str, Any],
                   connect: Callable[[], None],
                   on_event: Callable[[Run, ProgressEvent], None] | None = None) -> None:
    """Hand each image that needs generating to the cluster; `connect` reaches it first (the first
    call may start a local Ray)."""
    try:
        connect()
    except Exception as error:
        for run in runs:
            if run.state == "submitting":
                run.state, run.error = "failed", explain(error)
        return
    for run, item in zip(runs, inputs):
        if run.state != "submitting":
            continue

        def record(event: ProgressEvent, run: Run = run) -> None:
            _apply(run, event)
            if on_event is not None:
                on_event(run, event)

        try:
            submission = client.submit(item.data, item.name, settings, on_progress=record, source_key=item.source_key)
        except Exception as error:
            run.state, run.error = "failed", explain(error)
            continue
        run.asset_id = submission.asset_id
        if submission.status == "exists":  # finished by someone else between check and submit
            run.state, run.manifest, run.percent = "exists", submission.manifest, 100.0
        else:
            run.state, run.job_id = "queued", submission.job_id


def refresh(client: StudioClient, run: Run) -> None:
    """Read the job's state from the cluster (actor state, not logs)."""
    try:
        status = client.progress(run.job_id)
    except Exception as error:
        run.state, run.error = "failed", explain(error)
        return
    known = {(event.stage, event.message) for event in run.events}
    run.events.extend(event for event in status.events if (event.stage, event.message) not in known)
    run.state, run.percent, run.stage, run.message = status.state, status.percent, status.stage, status.message
    if status.state == "done":
        run.manifest = status.manifest  # the registry sets it before it marks the job done
    elif status.state == "failed":
        run.error = status.error or status.message or "the worker stopped without saying why"


def cancel(client: StudioClient, run: Run) -> None:
    try:
        client.cancel(run.job_id)
    except Exception as error:
        run.error = explain(error)


def _apply(run: Run, event: ProgressEvent) -> None:
    run.events.append(event)
    run.percent, run.stage, run.message = event.percent, event.stage, event.message
