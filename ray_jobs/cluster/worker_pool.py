"""The warm worker pool the job registry feeds: slots, each filled by one `GenerationWorker`.

Resources are chosen here, at the edge, with `.options()`: `num_gpus` 1 per worker on a GPU
cluster, 0 on CPU. A slot whose worker died or hung gets a fresh worker; a slot whose
resources no longer match the pool's configuration is refilled when idle.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayActorError

from ray_jobs.cluster.connection import NAMESPACE
from ray_jobs.cluster.job_control import StopAnswer
from ray_jobs.cluster.worker import GenerationWorker
from ray_jobs.errors import ClusterProblem

RESTART_PAUSE_S = 1.0  # between attempts when a worker cannot start at all
ALIVE_CHECK_S = 10.0  # a worker that cannot answer a trivial call within this is treated as dead


class WorkerUnavailable(ClusterProblem):
    """A named worker did not answer (dead, or stuck waiting for resources)."""


@dataclass(frozen=True)
class PoolConfig:
    size: int
    num_gpus: float
    num_cpus: float
    generators: tuple[str, ...]


class WorkerSlot:
    """One place in the pool: the actor currently filling it and where it runs."""

    def __init__(self, index: int, pool_token: str, pool_name: str):
        self.index = index
        self.pool_token = pool_token
        self.pool_name = pool_name
        self.generation = 0
        self.actor: ray.actor.ActorHandle | None = None
        self.config: PoolConfig | None = None
        self.info: dict[str, Any] = {}
        self.warm: ray.ObjectRef | None = None  # the worker's answer once its generators are loaded
        self.ready = False
        self.job_id: str | None = None

    @property
    def name(self) -> str:
        # The token tells pools apart: a restarted registry must not collide with its old workers' names
        # while Ray is still taking them down.
        return f"asset_studio_worker_{self.pool_name}_{self.pool_token}_{self.index}_{self.generation}"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "pool": self.pool_name, "job_id": self.job_id,
                "generators": list(self.config.generators) if self.config else [],
                "num_gpus": self.config.num_gpus if self.config else None, **self.info}


class WorkerPool:
    def __init__(self, name: str) -> None:
        self.name = name  # "cpu", or the GPU generator it serves
        self.slots: list[WorkerSlot] = []
        self.config: PoolConfig | None = None
        self.token = uuid.uuid4().hex[:6]

    def configure(self, config: PoolConfig) -> list[WorkerSlot]:
        """Adopt `config`; returns the slots added to reach its size (the pool never shrinks)."""
        self.config = config
        added = []
        while len(self.slots) < config.size:
            slot = WorkerSlot(len(self.slots), self.token, self.name)
            self.slots.append(slot)
            self.start(slot)
            added.append(slot)
        return added

    def describe(self) -> list[dict[str, Any]]:
        return [slot.describe() for slot in self.slots]

    def start(self, slot: WorkerSlot) -> None:
        """Fill the slot with a new worker, which starts loading its generators at once."""
        config = self.config
        slot.generation += 1
        slot.config, slot.info, slot.ready = config, {}, False
        registry = ray.get_runtime_context().current_actor
        slot.actor = (
            ray.remote(GenerationWorker)
            .options(name=slot.name, namespace=NAMESPACE, num_gpus=config.num_gpus, num_cpus=config.num_cpus,
                     max_restarts=0, max_concurrency=2)  # one thread runs the job, one answers stop()
            .remote(registry, slot.name)
        )
        slot.warm = slot.actor.warm.remote(list(config.generators))

    def to_dict(self) -> dict[str, Any] | None:
        return None if self.config is None else {
            "size": self.config.size, "num_gpus": self.config.num_gpus, "num_cpus": self.config.num_cpus,
            "generators": list(self.config.generators)}

    def replace(self, slot: WorkerSlot) -> None:
        if slot.actor is not None:
            ray.kill(slot.actor)
        self.start(slot)

    async def make_ready(self, slot: WorkerSlot) -> bool:
        """Wait for the slot's worker to be warm; False when it had to be restarted."""
        if slot.config != self.config:  # resources changed (e.g. GPUs appeared)
            self.replace(slot)
        if slot.ready:
            return True
        try:
            slot.info = await slot.warm
        except RayActorError:
            self.start(slot)
            await asyncio.sleep(RESTART_PAUSE_S)
            return False
        except Exception as error:  # noqa: BLE001 - its jobs then fail with this reason instead of hanging
            slot.info = {"warm_error": _first_line(error)}
        slot.ready = True
        return True

    async def wait_ready(self, timeout_s: float) -> list[dict[str, Any]]:
        """Wait until every worker has loaded its generators."""
        warming = [asyncio.ensure_future(slot.warm) for slot in self.slots if slot.warm is not None]
        if warming:
            await asyncio.wait(warming, timeout=timeout_s)
        return self.describe()

    async def ping(self, timeout_s: float) -> dict[str, Any]:
        """Ask a worker where it runs: proves the pool can take jobs. Dead workers met on the way are
        replaced, and the error names the worker that did not answer."""
        if not self.slots:
            raise RuntimeError("the worker pool is not configured yet")
        dead = []
        for slot in self.slots:
            try:
                info = await asyncio.wait_for(asyncio.ensure_future(slot.actor.describe.remote()), timeout_s)
                return {"name": slot.name, **info}
            except asyncio.TimeoutError:
                raise WorkerUnavailable(f"worker {slot.name} did not answer within {timeout_s:g} s; the cluster "
                                        "may be out of resources (see `python -m ray_jobs doctor`)") from None
            except RayActorError as error:
                dead.append(f"{slot.name} ({str(error).splitlines()[0]})")
                self.start(slot)
        slot = self.slots[0]  # every worker was dead: wait for the first replacement
        try:
            info = await asyncio.wait_for(asyncio.ensure_future(slot.warm), timeout_s)
        except (RayActorError, asyncio.TimeoutError):
            raise WorkerUnavailable(f"no worker answered: {'; '.join(dead)} died, and {slot.name} did not start "
                                    f"within {timeout_s:g} s (see `python -m ray_jobs doctor`)") from None
        return {"name": slot.name, **info}

    async def is_alive(self, slot: WorkerSlot) -> bool:
        """One cheap round trip before a job is handed over, so a worker that died idle costs no job."""
        try:
            await asyncio.wait_for(asyncio.ensure_future(slot.actor.describe.remote()), ALIVE_CHECK_S)
            return True
        except (RayActorError, asyncio.TimeoutError):
            return False

    @staticmethod
    async def stop_job(slot: WorkerSlot | None, job_id: str) -> StopAnswer | None:
        """Ask the worker to stop the job; its answer, or None when the worker is gone or silent."""
        if slot is None or slot.actor is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.ensure_future(slot.actor.stop.remote(job_id)), ALIVE_CHECK_S)
        except (RayActorError, asyncio.TimeoutError):
            return None


def _first_line(error: BaseException) -> str:
    """A Ray task error's own message, without the remote traceback Ray wraps around it."""
    cause = getattr(error, "cause", None) or error
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}".strip()
