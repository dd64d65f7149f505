"""The worker's side of a job's end: one lock decides whether it ends done, cancelled or timed out.

A job runs through `working` -> `publishing` -> `finished`. Stop requests (a cancel) and the
deadline are honoured only while it is `working`; `begin_publish` is the point of no return,
checked under the same lock, so a stop that loses the race is told so and the registry reports
what really happened. A stop may arrive before the job starts here (the registry's stop and
run calls travel separately); it is kept and the job stops at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

REMEMBER_FINISHED = 1000  # late stop requests for recent jobs still get a true answer


class StopReason(StrEnum):
    CANCEL = "cancel"
    TIMEOUT = "timeout"
    SUPERSEDED = "superseded"  # the registry no longer counts on this worker for the job (it restarted)


class StopAnswer(StrEnum):
    STOPPING = "stopping"  # the job will end cancelled at its next check
    PUBLISHING = "publishing"  # past the point of no return: it ends as the publish ends
    FINISHED = "finished"  # it has ended already; its outcome stands


class Stopped(Exception):
    def __init__(self, reason: StopReason):
        super().__init__(str(reason))
        self.reason = reason


@dataclass
class _Run:
    deadline: float | None = None  # time.monotonic() value; None until the job starts
    stop_reason: StopReason | None = None
    phase: str = "waiting"  # waiting -> working -> publishing -> finished


class JobControl:
    def __init__(self, clock=time.monotonic) -> None:
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, _Run] = OrderedDict()
        self._clock = clock

    def start(self, job_id: str, timeout_s: float) -> None:
        with self._lock:
            run = self._runs.setdefault(job_id, _Run())
            run.deadline = self._clock() + timeout_s
            run.phase = "working"

    def request_stop(self, job_id: str, reason: StopReason = StopReason.CANCEL) -> StopAnswer:
        with self._lock:
            run = self._runs.setdefault(job_id, _Run())
            if run.phase == "publishing":
                return StopAnswer.PUBLISHING
            if run.phase == "finished":
                return StopAnswer.FINISHED
            run.stop_reason = run.stop_reason or reason
            self._forget_oldest()
            return StopAnswer.STOPPING

    def check(self, job_id: str) -> None:
        """Raise Stopped when the job was asked to stop or is past its deadline."""
        with self._lock:
            self._check_locked(self._runs[job_id])

    def should_stop(self, job_id: str) -> bool:
        try:
            self.check(job_id)
        except Stopped:
            return True
        return False

    def begin_publish(self, job_id: str) -> None:
        """The point of no return: from here the job ends as its publish ends. Raises Stopped instead
        when a stop or the deadline came first."""
        with self._lock:
            run = self._runs[job_id]
            self._check_locked(run)
            run.phase = "publishing"

    def finish(self, job_id: str) -> None:
        with self._lock:
            self._runs.setdefault(job_id, _Run()).phase = "finished"
            self._runs.move_to_end(job_id)
            self._forget_oldest()

    def _check_locked(self, run: _Run) -> None:
        if run.stop_reason is None and run.deadline is not None and self._clock() >= run.deadline:
            run.stop_reason = StopReason.TIMEOUT
        if run.stop_reason is not None:
            raise Stopped(run.stop_reason)

    def _forget_oldest(self) -> None:
        while len(self._runs) > REMEMBER_FINISHED:
            job_id, run = next(iter(self._runs.items()))
            if run.phase in ("working", "publishing"):
                self._runs.move_to_end(job_id)  # never forget a live job
                if all(r.phase in ("working", "publishing") for r in self._runs.values()):
                    return
                continue
            del self._runs[job_id]
