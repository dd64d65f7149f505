"""The job registry: one detached, named async actor that owns every generation job.

It lives on the cluster (namespace "asset_studio"), so jobs outlive the dashboard or CLI
that submitted them, and any front end can list, watch or cancel them. Being an async
actor it answers progress reads while workers run. It:

- keeps one `JobRecord` per job and joins a request to a queued/running job only when that
  job will produce exactly what was asked (same asset, not forced, formats merged or not joined);
- feeds one queue per pool to that pool's warm `GenerationWorker` actors (one dispatcher coroutine
  each): the CPU pool runs every job placed on CPU, each GPU generator has a pool of its own;
- reports the end each worker decides (done, cancelled, timed out), never its own guess, except
  for a worker silent past its time limit plus a grace period, which is replaced;
- journals submissions and final states to the asset store and restarts itself (`max_restarts`):
  a restarted registry answers finished jobs and queues the unfinished ones again.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import ray
from ray.exceptions import RayActorError

from ray_jobs.cluster import job_model as jobs
from ray_jobs.cluster.connection import NAMESPACE
from ray_jobs.cluster.job_control import StopAnswer, StopReason
from ray_jobs.cluster.job_model import JobRecord, JobSpec, JobState, JobStatus, ProgressEvent
from ray_jobs.cluster.worker import JobOutcome
from ray_jobs.cluster.worker_pool import PoolConfig, WorkerPool, WorkerSlot

logger = logging.getLogger(__name__)

REGISTRY_NAME = "asset_studio_job_registry"
MAX_ATTEMPTS = 2  # a job whose worker died is retried once
KEEP_FINISHED_S = 24 * 3600.0  # finished jobs are answered for a day, however many there are
EXPIRE_EVERY_S = 60.0


def _short_reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    reason = next((line for line in text if "died" in line or "killed" in line or "exit" in line), None)
    return (reason or (text[0] if text else type(error).__name__)).strip()[:300]


class JobRegistry:
    def __init__(self, journal_settings: Any = None) -> None:
        self._records: dict[str, JobRecord] = {}
        self._specs: dict[str, JobSpec] = {}
        self._active_by_key: dict[str, str] = {}
        self._slot_of_job: dict[str, WorkerSlot] = {}
        self._changed: dict[str, asyncio.Event] = {}
        self._queues: dict[str, asyncio.Queue[str]] = {}  # per pool (one pool per generator)
        self._pools: dict[str, WorkerPool] = {}
        self._served: dict[str, set[str]] = {}  # pool -> generators whose jobs it was given
        self._dispatchers: list[asyncio.Task] = []
        self._journal_settings = journal_settings
        self._journal = None
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="journal")
        self._resumed: asyncio.Future | None = None
        self._last_expiry = 0.0

    # ---- start and restart ----------------------------------------------------------------

    async def _ready(self) -> None:
        """Read the journal back once (a restarted registry picks up where it stopped)."""
        if self._resumed is None:
            self._resumed = asyncio.get_running_loop().create_future()
            try:
                await self._resume()
            finally:
                self._resumed.set_result(None)
        await self._resumed

    async def _resume(self) -> None:
        if self._journal_settings is None:
            return
        from ray_jobs.cluster.job_journal import JobJournal
        from storage.store import open_store

        try:
            self._journal = JobJournal(open_store(self._journal_settings))
            entries = await self._in_thread(self._journal.read_all)
            pool = await self._in_thread(self._journal.read_pool)
        except Exception as error:  # noqa: BLE001 - jobs still run; they just are not journalled
            logger.error("cannot read the job journal: %s", error)
            return
        for entry in sorted(entries, key=lambda e: e.record.created_at):
            record, spec = entry.record, entry.spec
            self._records[record.job_id], self._specs[record.job_id] = record, spec
            if record.finished:
                continue
            # The journal is written at submit and at the end, so an unfinished entry is always queued.
            record.add_event(record.percent, "retry", "the job registry restarted; queued again")
            self._active_by_key.setdefault(spec.dedupe_key, record.job_id)
            self._queue_for(spec).put_nowait(record.job_id)
        for name, config in _pool_configs(pool).items():
            self._configure(name, PoolConfig(int(config["size"]), float(config["num_gpus"]),
                                             float(config["num_cpus"]), tuple(config["generators"])))

    async def _in_thread(self, func, *args):
        return await asyncio.get_running_loop().run_in_executor(self._io, func, *args)

    async def _journal_write(self, record: JobRecord) -> None:
        if self._journal is None:
            return
        try:
            await self._in_thread(self._journal.write, self._specs[record.job_id], record)
        except Exception as error:  # noqa: BLE001 - a store hiccup must not fail the job itself
            logger.error("cannot journal job %s: %s", record.job_id, error)

    # ---- the pool -----------------------------------------------------------------------

    async def configure_pool(self, name: str, size: int, num_gpus: float, num_cpus: float,
                             generators: list[str]) -> list[dict[str, Any]]:
        """Grow pool `name` ("cpu", or a GPU generator's) to `size` warm workers with these resources
        (idempotent); `generators` are loaded as each worker starts, others on their first job."""
        await self._ready()
        self._configure(name, PoolConfig(max(1, int(size)), float(num_gpus), float(num_cpus), tuple(generators)))
        if self._journal is not None:
            try:
                pools = {pool_name: pool.to_dict() for pool_name, pool in self._pools.items()}
                await self._in_thread(self._journal.write_pool, {"pools": pools})
            except Exception as error:  # noqa: BLE001
                logger.error("cannot journal the pool settings: %s", error)
        return self._pools[name].describe()

    def _configure(self, name: str, config: PoolConfig) -> None:
        pool = self._pools.setdefault(name, WorkerPool(name))
        for slot in pool.configure(config):
            self._dispatchers.append(asyncio.create_task(self._serve(pool, slot)))

    def _queue_for(self, spec: JobSpec) -> asyncio.Queue[str]:
        self._served.setdefault(spec.pool, set()).add(spec.settings["generator"])
        return self._queues.setdefault(spec.pool, asyncio.Queue())

    def pool(self) -> list[dict[str, Any]]:
        """Every worker of every pool, each naming its pool and the generators it has run jobs for."""
        return [{**worker, "serves": sorted(self._served.get(name, ()))}
                for name, pool in self._pools.items() for worker in pool.describe()]

    async def wait_ready(self, timeout_s: float) -> list[dict[str, Any]]:
        for pool in self._pools.values():
            await pool.wait_ready(timeout_s)
        return self.pool()

    async def ping_worker(self, name: str, timeout_s: float) -> dict[str, Any]:
        if name not in self._pools:
            raise RuntimeError(f"there is no worker pool for {name} yet")
        return await self._pools[name].ping(timeout_s)

    # ---- jobs ---------------------------------------------------------------------------

    async def submit(self, spec: JobSpec, events: list[ProgressEvent]) -> dict[str, Any]:
        """Queue a job, or join one already queued or running that will give exactly this result."""
        await self._ready()
        joined = self._join(spec)
        if joined is not None:
            return {"status": "joined", "job_id": joined}
        job_id = f"gen-{uuid.uuid4().hex[:12]}"
        spec = replace(spec, job_id=job_id)
        record = JobRecord(job_id=job_id, asset_id=spec.asset_id, name=spec.name, timeout_s=spec.timeout_s,
                           events=list(events))
        record.percent = max((event.percent for event in events), default=0.0)
        queue = self._queue_for(spec)
        record.add_event(jobs.CLIENT_STAGE_PERCENT[jobs.STAGE_SUBMITTED], jobs.STAGE_SUBMITTED,
                         f"submitted as job {job_id}; {queue.qsize()} job(s) ahead")
        self._records[job_id], self._specs[job_id] = record, spec
        self._active_by_key.setdefault(spec.dedupe_key, job_id)
        await self._journal_write(record)  # durable before anyone is told the job exists
        queue.put_nowait(job_id)
        await self._expire_old()
        return {"status": "submitted", "job_id": job_id}

    def _join(self, spec: JobSpec) -> str | None:
        if spec.force:
            return None  # a forced request wants a new version, not someone else's
        job_id = self._active_by_key.get(spec.dedupe_key)
        if job_id is None or self._records[job_id].finished:
            return None
        active = self._specs[job_id]
        if set(spec.formats) <= set(active.formats):
            return job_id
        if self._records[job_id].state == JobState.QUEUED:  # not started: it can still write these too
            self._specs[job_id] = replace(active, formats=tuple(sorted({*active.formats, *spec.formats})))
            return job_id
        return None  # it is already making fewer formats; a new job (it reuses the model once published)

    async def progress(self, job_id: str) -> JobStatus | None:
        await self._ready()
        record = self._records.get(job_id)
        return record.status() if record else None

    async def watch(self, job_id: str, known_events: int, timeout_s: float) -> JobStatus | None:
        """Answer as soon as the job has more than `known_events` events or is finished."""
        await self._ready()
        record = self._records.get(job_id)
        if record is None:
            return None
        if len(record.events) <= known_events and not record.finished:
            event = self._changed.setdefault(job_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout_s)
            except asyncio.TimeoutError:
                pass
        return record.status()

    async def list_jobs(self, limit: int = 100) -> list[JobStatus]:
        await self._ready()
        newest = sorted(self._records.values(), key=lambda record: record.created_at, reverse=True)
        return [record.status(last_event_only=True) for record in newest[:limit]]

    async def cancel(self, job_id: str) -> bool | None:
        """True when the job will end cancelled; False when it has ended or is past its point of no return;
        None for a job this registry does not know."""
        await self._ready()
        record = self._records.get(job_id)
        if record is None:
            return None
        if record.finished:
            return False
        if record.state == JobState.STOPPING:
            return True
        if record.state == JobState.QUEUED:
            self._end(record, JobState.CANCELLED, "cancelled before it started")
            await self._journal_write(record)
            return True
        answer = await WorkerPool.stop_job(self._slot_of_job.get(job_id), job_id)
        if record.state == JobState.QUEUED:  # its worker died while we asked and it waits for a retry
            self._end(record, JobState.CANCELLED, "cancelled before it started again")
            await self._journal_write(record)
            return True
        if record.state != JobState.RUNNING:  # it ended while we asked
            return record.state in (JobState.CANCELLED, JobState.STOPPING)
        if answer in (StopAnswer.PUBLISHING, StopAnswer.FINISHED):
            return False  # the worker's answer will say how it really ended
        # STOPPING, or the worker is gone (then the dispatcher sees it die and ends the job cancelled).
        record.move(JobState.STOPPING, "cancelling at the next step")
        self._notify(job_id)
        return True

    # ---- called by workers --------------------------------------------------------------

    async def may_publish(self, job_id: str, worker_name: str) -> bool:
        """Whether `worker_name` still runs `job_id` for this registry (after a restart it does not)."""
        await self._ready()
        record = self._records.get(job_id)
        return (record is not None and record.worker == worker_name
                and record.state in (JobState.RUNNING, JobState.STOPPING))

    def report(self, job_id: str, percent: float, stage: str, message: str, step_seconds: dict) -> None:
        record = self._records.get(job_id)
        if record is None or record.state not in (JobState.RUNNING, JobState.STOPPING):
            return  # a late report from a job that already ended
        record.step_seconds.update(step_seconds)
        record.add_event(percent, stage, message)
        self._notify(job_id)

    # ---- dispatch -----------------------------------------------------------------------

    async def _serve(self, pool: WorkerPool, slot: WorkerSlot) -> None:
        """One dispatcher per slot: take the pool's next queued job whenever the slot's worker is free."""
        queue = self._queues.setdefault(pool.name, asyncio.Queue())
        while True:
            try:
                if not await pool.make_ready(slot):
                    continue
            except Exception:  # noqa: BLE001 - a dispatcher must never die; try again shortly
                await asyncio.sleep(1.0)
                continue
            job_id = await queue.get()
            record = self._records.get(job_id)
            if record is None or record.state != JobState.QUEUED:
                continue  # cancelled while it waited
            try:
                # A worker that died while idle is replaced here, before it can cost this job an attempt.
                while not await pool.is_alive(slot):
                    pool.start(slot)
                    while not await pool.make_ready(slot):
                        pass
                if record.state != JobState.QUEUED:
                    continue
                slot.job_id = job_id
                self._slot_of_job[job_id] = slot
                await self._run(pool, slot, record)
            except Exception as error:  # noqa: BLE001 - never leave a job running
                logger.exception("dispatching %s failed", job_id)
                if not record.finished:
                    self._end(record, JobState.FAILED, f"internal error: {type(error).__name__}: {error}")
                    await self._journal_write(record)
            finally:
                slot.job_id = None
                self._slot_of_job.pop(job_id, None)

    async def _run(self, pool: WorkerPool, slot: WorkerSlot, record: JobRecord) -> None:
        job_id = record.job_id
        spec = self._specs[job_id]
        if slot.info.get("warm_error"):  # the worker could not load its generator: say why, and retry it later
            self._end(record, JobState.FAILED, f"the worker could not start: {slot.info['warm_error']}")
            await self._journal_write(record)
            pool.replace(slot)
            return
        record.attempts += 1
        record.worker = slot.name
        record.started_at = record.started_at or time.time()
        where = slot.info.get("node_ip", "?")
        gpus = slot.info.get("gpu_ids") or []
        record.move(JobState.RUNNING, f"running on {slot.name} at {where} "
                                      f"({'GPU ' + ','.join(gpus) if gpus else 'CPU'})",
                    percent=jobs.WORKER_START_PERCENT, stage="worker")
        self._notify(job_id)
        reply = asyncio.ensure_future(slot.actor.run.remote(spec))
        try:
            # The worker enforces the limit itself; this wait only catches a worker that went silent.
            outcome = await asyncio.wait_for(asyncio.shield(reply), spec.timeout_s + spec.answer_grace_s)
        except asyncio.TimeoutError:
            outcome = await self._silent_worker(pool, slot, record, reply, spec.answer_grace_s)
        except RayActorError as error:
            self._worker_died(pool, slot, record, error)
            outcome = None
        if outcome is not None:
            self._settle(record, outcome)
        if record.finished:
            await self._journal_write(record)

    async def _silent_worker(self, pool: WorkerPool, slot: WorkerSlot, record: JobRecord, reply: asyncio.Future,
                             grace_s: float) -> JobOutcome | None:
        """Past the time limit and the grace period without an answer: publishing still gets to finish."""
        if await pool.stop_job(slot, record.job_id) == StopAnswer.PUBLISHING:
            try:
                return await asyncio.wait_for(asyncio.shield(reply), grace_s)
            except asyncio.TimeoutError:
                pass
            except RayActorError as error:
                self._worker_died(pool, slot, record, error)
                return None
        silent = slot.name
        pool.replace(slot)
        self._end(record, JobState.FAILED,
                  f"worker stopped answering: no answer {grace_s:g} s after the {record.timeout_s:g} s "
                  f"time limit; {silent} was replaced")
        return None

    def _worker_died(self, pool: WorkerPool, slot: WorkerSlot, record: JobRecord, error: RayActorError) -> None:
        reason = _short_reason(error)
        pool.start(slot)
        if record.state == JobState.STOPPING:
            self._end(record, JobState.CANCELLED, f"cancelled (its worker died: {reason})")
        elif record.attempts < MAX_ATTEMPTS:
            record.move(JobState.QUEUED, f"worker died ({reason}); retrying once", stage="retry")
            self._notify(record.job_id)
            self._queue_for(self._specs[record.job_id]).put_nowait(record.job_id)
        else:
            self._end(record, JobState.FAILED, f"worker died: {reason}")

    def _settle(self, record: JobRecord, outcome: JobOutcome) -> None:
        """Record the end the worker decided."""
        record.step_seconds.update(outcome.step_seconds or {})
        if outcome.kind == "done":
            record.manifest, record.generated, record.device = outcome.manifest, outcome.generated, outcome.device
            from storage.catalog import Manifest

            glb = Manifest.from_dict(outcome.manifest).latest_version.files["glb"].key
            built = "generated" if record.generated else "already in the store"
            self._end(record, JobState.DONE, f"{built}: {glb}", percent=jobs.DONE_PERCENT)
        elif outcome.kind == "stopped" and outcome.stop_reason == StopReason.TIMEOUT:
            self._end(record, JobState.FAILED, f"timed out after {record.timeout_s:g} s")
        elif outcome.kind == "stopped" and outcome.stop_reason == StopReason.SUPERSEDED:
            self._end(record, JobState.FAILED, "its worker was no longer counted on to finish it")
        elif outcome.kind == "stopped":
            self._end(record, JobState.CANCELLED, "cancelled")
        else:
            self._end(record, JobState.FAILED, outcome.error or "failed")

    # ---- bookkeeping --------------------------------------------------------------------

    def _end(self, record: JobRecord, state: JobState, message: str, *, percent: float | None = None) -> None:
        record.move(state, message, percent=percent)
        dedupe_key = self._specs[record.job_id].dedupe_key
        if self._active_by_key.get(dedupe_key) == record.job_id:
            del self._active_by_key[dedupe_key]
        self._notify(record.job_id)

    def _notify(self, job_id: str) -> None:
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    async def _expire_old(self) -> None:
        """Forget jobs that finished more than KEEP_FINISHED_S ago (by age, never by count)."""
        now = time.time()
        if now - self._last_expiry < EXPIRE_EVERY_S:
            return
        self._last_expiry = now
        old = [record.job_id for record in self._records.values()
               if record.finished and record.finished_at is not None and now - record.finished_at > KEEP_FINISHED_S]
        for job_id in old:
            del self._records[job_id]
            del self._specs[job_id]
            if self._journal is not None:
                try:
                    await self._in_thread(self._journal.forget, job_id)
                except Exception as error:  # noqa: BLE001
                    logger.error("cannot drop job %s from the journal: %s", job_id, error)


def _pool_configs(journalled: dict | None) -> dict[str, dict]:
    """Pool name -> settings from the journal (a journal from before GPU pools held the CPU pool alone)."""
    if not journalled:
        return {}
    if "pools" in journalled:
        return dict(journalled["pools"])
    return {"cpu": journalled}


def get_registry(create: bool = True, journal_settings: Any = None) -> ray.actor.ActorHandle | None:
    """The one registry of this cluster, created on first use (detached, so it outlives us; restarted
    by Ray when its process dies, reading its journal back from `journal_settings`' store)."""
    if not create:
        try:
            return ray.get_actor(REGISTRY_NAME, namespace=NAMESPACE)
        except ValueError:
            return None
    return (
        ray.remote(JobRegistry)
        .options(name=REGISTRY_NAME, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                 num_cpus=0, max_concurrency=10_000, max_restarts=-1)
        .remote(journal_settings)
    )
