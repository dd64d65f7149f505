"""The job registry: one detached, named async actor that owns every generation job.

It lives on the cluster (namespace "asset_studio"), so jobs outlive the dashboard or CLI
that submitted them, and any front end can list, watch or cancel them. Being an async
actor it answers progress reads while workers run. It:

- keeps the job table and joins an identical queued/running job instead of starting another;
- feeds a queue to a pool of warm `GenerationWorker` actors (one dispatcher coroutine each);
- enforces per-job timeouts, replaces workers that die, and retries such a job once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import ray
from ray.exceptions import RayActorError

from ray_jobs import jobs
from ray_jobs.connection import NAMESPACE
from ray_jobs.worker_pool import PoolConfig, WorkerPool, WorkerSlot

REGISTRY_NAME = "asset_studio_job_registry"
MAX_ATTEMPTS = 2  # a job whose worker died is retried once
STOP_GRACE_S = 10.0  # how long a timed-out worker may take to notice before it is replaced
KEEP_FINISHED_JOBS = 1000


def _short_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    reason = next((line for line in text if "died" in line or "killed" in line or "exit" in line), None)
    return (reason or (text[0] if text else type(error).__name__)).strip()[:300]


class JobRegistry:
    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._specs: dict[str, dict[str, Any]] = {}
        self._active_by_key: dict[str, str] = {}
        self._stop_requested: set[str] = set()
        self._slot_of_job: dict[str, WorkerSlot] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._pool = WorkerPool()
        self._dispatchers: list[asyncio.Task] = []

    # ---- the pool -----------------------------------------------------------------------

    async def configure_pool(self, size: int, num_gpus: float, num_cpus: float,
                             generators: list[str]) -> list[dict[str, Any]]:
        """Grow the pool to `size` warm workers with these resources (idempotent)."""
        config = PoolConfig(max(1, int(size)), float(num_gpus), float(num_cpus), tuple(generators))
        for slot in self._pool.configure(config):
            self._dispatchers.append(asyncio.create_task(self._serve(slot)))
        return self._pool.describe()

    def pool(self) -> list[dict[str, Any]]:
        return self._pool.describe()

    async def wait_ready(self, timeout_s: float) -> list[dict[str, Any]]:
        return await self._pool.wait_ready(timeout_s)

    async def ping_worker(self, timeout_s: float) -> dict[str, Any]:
        return await self._pool.ping(timeout_s)

    # ---- jobs ---------------------------------------------------------------------------

    async def submit(self, spec: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
        """Queue a job, or join the identical one already queued or running."""
        active = self._active_by_key.get(spec["dedupe_key"])
        if active is not None:
            return {"status": "joined", "job_id": active}
        job_id = f"gen-{uuid.uuid4().hex[:12]}"
        now = time.time()
        record = {
            "job_id": job_id, "asset_id": spec["asset_id"], "name": spec["name"],
            "state": jobs.QUEUED, "stage": jobs.STAGE_SUBMITTED, "percent": 0.0, "message": "",
            "events": list(events), "step_seconds": {}, "created_at": now, "started_at": None,
            "finished_at": None, "error": None, "manifest": None, "worker": None, "attempts": 0,
            "generated": False, "device": None, "timeout_s": spec.get("timeout_s"),
        }
        if events:
            record["percent"] = max(event["percent"] for event in events)
        self._jobs[job_id] = record
        self._specs[job_id] = {**spec, "job_id": job_id}
        self._active_by_key[spec["dedupe_key"]] = job_id
        record["dedupe_key"] = spec["dedupe_key"]
        self._add_event(record, jobs.CLIENT_STAGE_PERCENT[jobs.STAGE_SUBMITTED], jobs.STAGE_SUBMITTED,
                        f"submitted as job {job_id}; {self._queue.qsize()} job(s) ahead")
        self._queue.put_nowait(job_id)
        self._prune()
        return {"status": "submitted", "job_id": job_id}

    def progress(self, job_id: str) -> dict[str, Any] | None:
        return self._jobs.get(job_id)

    async def watch(self, job_id: str, known_events: int, timeout_s: float) -> dict[str, Any] | None:
        """Answer as soon as the job has more than `known_events` events or is finished."""
        record = self._jobs.get(job_id)
        if record is None:
            return None
        if len(record["events"]) <= known_events and record["state"] not in jobs.FINAL_STATES:
            event = self._changed.setdefault(job_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        return self._jobs.get(job_id)

    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        newest = sorted(self._jobs.values(), key=lambda record: record["created_at"], reverse=True)
        return [{**record, "events": record["events"][-1:]} for record in newest[:limit]]

    async def cancel(self, job_id: str) -> bool:
        """Queued jobs end at once; running ones stop at their next step. False when too late."""
        record = self._jobs.get(job_id)
        if record is None or record["state"] in jobs.FINAL_STATES:
            return False
        if record["state"] == jobs.QUEUED:
            self._stop_requested.add(job_id)
            self._finish(record, jobs.CANCELLED, "cancelled before it started")
            return True
        if not await self._pool.stop_job(self._slot_of_job.get(job_id), job_id):
            return False  # already writing its manifest
        self._stop_requested.add(job_id)
        record["message"] = "cancelling at the next step"
        self._notify(job_id)
        return True

    # ---- called by workers --------------------------------------------------------------

    def report(self, job_id: str, percent: float, stage: str, message: str, step_seconds: dict) -> None:
        record = self._jobs.get(job_id)
        if record is None or record["state"] != jobs.RUNNING:
            return  # a late report from a job that already ended
        record["step_seconds"].update(step_seconds)
        self._add_event(record, percent, stage, message)

    # ---- dispatch -----------------------------------------------------------------------

    async def _serve(self, slot: WorkerSlot) -> None:
        """One dispatcher per slot: take the next queued job whenever the slot's worker is free."""
        while True:
            try:
                if not await self._pool.make_ready(slot):
                    continue
            except Exception:  # noqa: BLE001 - a dispatcher must never die; try again shortly
                await asyncio.sleep(1.0)
                continue
            job_id = await self._queue.get()
            record = self._jobs.get(job_id)
            if record is None or record["state"] != jobs.QUEUED:
                continue  # cancelled while it waited
            slot.job_id = job_id
            self._slot_of_job[job_id] = slot
            try:
                await self._run(slot, record)
            except Exception as error:  # noqa: BLE001 - never leave a job 'running'
                if record["state"] not in jobs.FINAL_STATES:
                    self._finish(record, jobs.FAILED, f"internal error: {type(error).__name__}: {error}")
            finally:
                slot.job_id = None
                self._slot_of_job.pop(job_id, None)

    async def _run(self, slot: WorkerSlot, record: dict[str, Any]) -> None:
        job_id = record["job_id"]
        spec = self._specs[job_id]
        record["state"] = jobs.RUNNING
        record["attempts"] += 1
        record["worker"] = slot.name
        record["started_at"] = record["started_at"] or time.time()
        where = slot.info.get("node_ip", "?")
        gpus = slot.info.get("gpu_ids") or []
        self._add_event(record, jobs.WORKER_START_PERCENT, "worker",
                        f"running on {slot.name} at {where} ({'GPU ' + ','.join(gpus) if gpus else 'CPU'})")
        reply = asyncio.ensure_future(slot.actor.run.remote(spec))
        timeout_s = spec.get("timeout_s")
        try:
            outcome = await asyncio.wait_for(asyncio.shield(reply), timeout_s) if timeout_s else await reply
        except asyncio.TimeoutError:
            await self._time_out(slot, record, reply, timeout_s)
            return
        except RayActorError as error:
            self._worker_died(slot, record, error)
            return
        self._settle(record, outcome)

    async def _time_out(self, slot: WorkerSlot, record: dict[str, Any], reply: asyncio.Future, timeout_s: float) -> None:
        if not await self._pool.stop_job(slot, record["job_id"]):  # already writing its manifest: let it land
            try:
                self._settle(record, await reply)
            except RayActorError as error:
                self._worker_died(slot, record, error)
            return
        self._finish(record, jobs.FAILED, f"timed out after {timeout_s:g} s")
        try:  # give the worker a moment to notice at its next step; a hung one is replaced
            await asyncio.wait_for(reply, STOP_GRACE_S)
        except (asyncio.TimeoutError, RayActorError):
            self._pool.replace(slot)

    def _worker_died(self, slot: WorkerSlot, record: dict[str, Any], error: RayActorError) -> None:
        reason = _short_reason(error)
        self._pool.start(slot)
        job_id = record["job_id"]
        if record["attempts"] < MAX_ATTEMPTS and job_id not in self._stop_requested:
            record["state"] = jobs.QUEUED
            self._add_event(record, record["percent"], "retry", f"worker died ({reason}); retrying once")
            self._queue.put_nowait(job_id)
            return
        if job_id in self._stop_requested:
            self._finish(record, jobs.CANCELLED, f"cancelled (its worker died: {reason})")
            return
        self._finish(record, jobs.FAILED, f"worker died: {reason}")

    def _settle(self, record: dict[str, Any], outcome: dict[str, Any]) -> None:
        record["step_seconds"].update(outcome.get("step_seconds") or {})
        kind = outcome["outcome"]
        if kind == "done":
            record["manifest"] = outcome["manifest"]
            record["generated"] = outcome.get("generated", False)
            record["device"] = outcome.get("device")
            latest = record["manifest"]["latest"]
            glb = next(v for v in record["manifest"]["versions"] if v["version"] == latest)["files"]["glb"]["key"]
            built = "generated" if record["generated"] else "already in the store"
            self._finish(record, jobs.DONE, f"{built}: {glb}")
        elif kind == "stopped":
            if record["state"] not in jobs.FINAL_STATES:  # a timeout already said why
                self._finish(record, jobs.CANCELLED, "cancelled")
        else:
            self._finish(record, jobs.FAILED, outcome.get("error") or "failed")

    # ---- bookkeeping --------------------------------------------------------------------

    def _finish(self, record: dict[str, Any], state: str, message: str) -> None:
        job_id = record["job_id"]
        record["state"] = state
        record["finished_at"] = time.time()
        if state == jobs.FAILED:
            record["error"] = message
        percent = jobs.DONE_PERCENT if state == jobs.DONE else record["percent"]
        self._add_event(record, percent, state, message)
        if self._active_by_key.get(record["dedupe_key"]) == job_id:
            del self._active_by_key[record["dedupe_key"]]
        self._stop_requested.discard(job_id)
        self._specs.pop(job_id, None)

    def _add_event(self, record: dict[str, Any], percent: float, stage: str, message: str) -> None:
        percent = max(float(percent), record["percent"])  # progress never goes backwards
        record["events"].append({"percent": percent, "stage": stage, "message": message, "at": time.time()})
        record["percent"], record["stage"], record["message"] = percent, stage, message
        self._notify(record["job_id"])

    def _notify(self, job_id: str) -> None:
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    def _prune(self) -> None:
        finished = [r for r in self._jobs.values() if r["state"] in jobs.FINAL_STATES]
        for record in sorted(finished, key=lambda r: r["created_at"])[: max(0, len(finished) - KEEP_FINISHED_JOBS)]:
            del self._jobs[record["job_id"]]


def get_registry(create: bool = True) -> ray.actor.ActorHandle | None:
    """The one registry of this cluster, created on first use (detached, so it outlives us)."""
    if not create:
        try:
            return ray.get_actor(REGISTRY_NAME, namespace=NAMESPACE)
        except ValueError:
            return None
    return (
        ray.remote(JobRegistry)
        .options(name=REGISTRY_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                 num_cpus=0, max_concurrency=10_000)
        .remote()
    )
