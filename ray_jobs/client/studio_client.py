"""The one client API of the studio, used by the dashboard and the CLI alike.

A request walks the stages of DESIGN.md: 5% look the asset up in the store (an existing
one is answered at once, Ray untouched), 10% reach the cluster, 15% settle on GPU or an
explicit CPU fallback, 20% hand the job to the registry actor (joining an identical
one), 25-95% the worker's steps, 100% manifest written.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ray_jobs.cluster import job_model as jobs
from ray_jobs.errors import RegistryLost
from ray_jobs.cluster.resources import ClusterStatus, NoGpuAvailable, env_flag, default_pool_size, plan_gpus, read_cluster_status
from ray_jobs.cluster.connection import ClusterAuthError, ClusterUnreachable, configured_address, connect
from ray_jobs.cluster.job_model import JobSpec, JobStatus, ProgressEvent
from storage.catalog import AssetCatalog, Manifest, SourceImage
from storage.keys import asset_id_for, sha256_hex
from storage.settings import StorageSettings, load_settings
from storage.store import open_store

__all__ = [
    "CheckResult", "ClusterAuthError", "ClusterStatus", "ClusterUnreachable", "JobStatus", "NoGpuAvailable",
    "ProgressEvent", "RegistryLost", "StudioClient", "Submission", "glb_key",
]

ProgressHandler = Callable[[ProgressEvent], None]
WATCH_TIMEOUT_S = 2.0
REGISTRY_RESTART_WAIT_S = 60.0  # how long a call waits for a restarting registry before giving up
RETRY_PAUSE_S = 0.2


@dataclass
class CheckResult:
    image: str
    image_sha256: str
    asset_id: str
    exists: bool
    manifest: Manifest | None
    key: str | None  # the latest version's GLB
    url: str | None


@dataclass
class Submission:
    status: str  # "exists" | "submitted" | "joined"
    asset_id: str
    job_id: str | None
    manifest: Manifest | None
    events: list[ProgressEvent]


def glb_key(manifest: Manifest, version: int | None = None) -> str:
    chosen = manifest.latest_version if version is None else manifest.version(version)
    return chosen.files["glb"].key


class StudioClient:
    def __init__(self, *, storage_settings: StorageSettings | None = None, ray_address: str | None = None,
                 allow_cpu_fallback: bool | None = None, pool_size: int | None = None,
                 worker_gpus: float | None = None, worker_cpus: float = 1.0):
        self.storage_settings = storage_settings or load_settings()
        self.ray_address = configured_address(ray_address)
        self.allow_cpu_fallback = (env_flag("ASSET_STUDIO_ALLOW_CPU", True) if allow_cpu_fallback is None
                                   else allow_cpu_fallback)
        self.pool_size = pool_size
        if worker_gpus is None and os.environ.get("ASSET_STUDIO_WORKER_GPUS", "").strip():
            worker_gpus = float(os.environ["ASSET_STUDIO_WORKER_GPUS"])
        self.worker_gpus = worker_gpus
        self.worker_cpus = worker_cpus
        self._catalog: AssetCatalog | None = None
        self._where: str | None = None
        self._registry = None
        self._pool_config: tuple | None = None
        self._lock = threading.Lock()  # the dashboard calls from several script threads

    # ---- store only --------------------------------------------------------------------

    @property
    def catalog(self) -> AssetCatalog:
        if self._catalog is None:
            self._catalog = AssetCatalog(open_store(self.storage_settings))
        return self._catalog

    def identity_settings(self, resolution: int | None = None, target_faces: int | None = None,
                          generator: str = "inflate") -> dict[str, Any]:
        overrides = {key: value for key, value in (("resolution", resolution), ("target_faces", target_faces))
                     if value is not None}
        return self._identity({"generator": generator, **overrides})

    @staticmethod
    def _identity(settings: Mapping[str, Any] | None) -> dict[str, Any]:
        from ray_jobs.generators.registry import DEFAULT_GENERATOR, identity_settings

        overrides = dict(settings or {})
        name = overrides.pop("generator", DEFAULT_GENERATOR)
        return identity_settings(name, overrides)

    def check(self, image: bytes, name: str, settings: Mapping[str, Any] | None = None) -> CheckResult:
        identity = self._identity(settings)
        image_sha256 = sha256_hex(image)
        manifest = self.catalog.find(image_sha256, identity)
        key = glb_key(manifest) if manifest else None
        return CheckResult(image=name, image_sha256=image_sha256, asset_id=asset_id_for(image_sha256, identity),
                           exists=manifest is not None, manifest=manifest, key=key,
                           url=self.catalog.url(key) if key else None)

    def upload_source(self, image: bytes, name: str) -> SourceImage:
        from ray_jobs.generators.image_io import load_image

        load_image(image)  # refuse what cannot be generated before it lands in the store
        return self.catalog.save_source_image(image, name)

    def export_format(self, manifest: Manifest, fmt: str, version: int | None = None) -> bytes:
        """The model in `fmt`: the stored file when the version has one, else converted from its GLB."""
        from ray_jobs.generators.export import FORMATS, export_mesh, load_glb

        if fmt not in FORMATS:
            raise ValueError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
        chosen = manifest.latest_version if version is None else manifest.version(version)
        if fmt in chosen.files:
            return self.catalog.read(chosen.files[fmt].key)
        return export_mesh(load_glb(self.catalog.read(chosen.files["glb"].key)), fmt)

    # ---- cluster -----------------------------------------------------------------------

    def connect(self) -> None:
        """Reach Ray (ClusterUnreachable within a few seconds when the address is wrong)."""
        with self._lock:
            if self._where is None:
                self._where = connect(self.ray_address)

    def _job_registry(self, create: bool = True):
        from ray_jobs.cluster.job_registry import get_registry

        self.connect()
        if self._registry is None:
            self._registry = get_registry(create=create, journal_settings=self.storage_settings)
        return self._registry

    def _ask(self, method: str, *args: Any, create: bool = True) -> Any:
        """Call the registry actor and wait for its answer (None when there is no registry and
        `create` is False). A registry that restarts is waited for; its journal keeps the jobs."""
        import time

        import ray
        from ray.exceptions import RayActorError, RayTaskError

        deadline = time.monotonic() + REGISTRY_RESTART_WAIT_S
        while True:
            registry = self._job_registry(create=create)
            if registry is None:
                return None
            try:
                return ray.get(getattr(registry, method).remote(*args))
            except RayTaskError as error:
                if isinstance(error, RayActorError):
                    raise  # a worker the registry called died: not the registry itself
                raise error.cause from None  # the registry's own error (e.g. WorkerUnavailable), without Ray's wrapper
            except RayActorError as error:
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            self._registry = None  # look it up again: Ray restarts it under the same name
            self._pool_config = None  # a restarted registry may need its pool again
            if time.monotonic() > deadline:
                raise RegistryLost(
                    f"The job registry on the cluster did not come back within {REGISTRY_RESTART_WAIT_S:g} s "
                    f"({reason}). Check the cluster (`python -m ray_jobs doctor`), then submit again: "
                    "finished assets are reused."
                )
            time.sleep(RETRY_PAUSE_S)

    def _pool(self) -> list[dict[str, Any]]:
        return self._ask("pool", create=False) or []

    def cluster_status(self) -> ClusterStatus:
        self.connect()
        return read_cluster_status(self._where, self._pool())

    def worker_pool(self) -> list[dict[str, Any]]:
        """Each warm worker: its name, node, GPU ids and current job."""
        self.connect()
        return self._pool()

    def warm_up(self, timeout_s: float = 120.0) -> list[dict[str, Any]]:
        """Start the worker pool now and wait until every worker has its generator loaded."""
        self._ensure_pool(self.cluster_status())
        return self._ask("wait_ready", timeout_s)

    def ping_worker(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Make sure the pool exists and one worker answers: its name, node and GPU ids."""
        self._ensure_pool(self.cluster_status())
        return self._ask("ping_worker", timeout_s)

    def _ensure_pool(self, status: ClusterStatus) -> str:
        """Settle GPU vs CPU (stage 15%) and make sure the registry has warm workers."""
        from ray_jobs.generators.registry import DEFAULT_GENERATOR

        size_hint = self.pool_size or default_pool_size(status, 1.0 if status.gpus_total else 0.0)
        plan = plan_gpus(status, allow_cpu_fallback=self.allow_cpu_fallback, pool_size=size_hint,
                         worker_gpus=self.worker_gpus)
        size = self.pool_size or default_pool_size(status, plan.num_gpus)
        config = (size, plan.num_gpus, self.worker_cpus)
        if self._pool_config != config:
            self._ask("configure_pool", size, plan.num_gpus, self.worker_cpus, [DEFAULT_GENERATOR])
            self._pool_config = config
        return plan.message

    # ---- jobs --------------------------------------------------------------------------

    def submit(self, image: bytes, name: str, settings: Mapping[str, Any] | None = None, *, force: bool = False,
               timeout_s: float | None = None, on_progress: ProgressHandler | None = None,
               source_key: str | None = None, formats: tuple[str, ...] = ()) -> Submission:
        """Stages 5-20 of one request; `formats` asks for model files besides the GLB (e.g. "obj").

        `timeout_s` limits the worker's time on it (default ASSET_STUDIO_JOB_TIMEOUT_S, 15 minutes)."""
        from ray_jobs.generators.image_io import load_image

        timeout_s = jobs.default_timeout_s() if timeout_s is None else jobs.check_timeout(timeout_s, "timeout_s")

        events: list[ProgressEvent] = []

        def emit(event: ProgressEvent) -> None:
            events.append(event)
            if on_progress is not None:
                on_progress(event)

        identity = self._identity(settings)
        image_sha256 = sha256_hex(image)
        asset_id = asset_id_for(image_sha256, identity)
        manifest = None if force else self.catalog.find(image_sha256, identity)
        if manifest is not None:
            key = glb_key(manifest)
            emit(jobs.client_event(jobs.STAGE_LOOKUP, f"already in the store: {key}"))
            emit(ProgressEvent(jobs.DONE_PERCENT, jobs.STAGE_DONE, f"done: {key}"))
            return Submission("exists", asset_id, None, manifest, events)
        load_image(image)  # a bad image fails here, before the cluster or the store sees it
        emit(jobs.client_event(jobs.STAGE_LOOKUP, "not in the store yet" if not force else "regenerating (forced)"))

        self.connect()
        status = self.cluster_status()
        emit(jobs.client_event(jobs.STAGE_CLUSTER, f"{self._where}: {len(status.nodes)} node(s), "
                                                   f"{status.cpus_total:g} CPUs, {status.gpus_total:g} GPUs"))
        emit(jobs.client_event(jobs.STAGE_GPU, self._ensure_pool(status)))

        if source_key is None:
            source_key = self.catalog.save_source_image(image, name).key
        spec = JobSpec(
            # Jobs are joined per store: the same image sent to two stores is two assets.
            dedupe_key=f"{self.catalog.store.describe()}|{asset_id}", asset_id=asset_id, name=name,
            image_sha256=image_sha256, source_key=source_key, settings=identity,
            storage_settings=self.storage_settings, force=force, formats=tuple(f for f in formats if f != "glb"),
            timeout_s=timeout_s, answer_grace_s=jobs.answer_grace_s(),
        )
        answer = self._ask("submit", spec, list(events))
        job_id = answer["job_id"]
        if answer["status"] == "joined":
            emit(ProgressEvent(jobs.CLIENT_STAGE_PERCENT[jobs.STAGE_SUBMITTED], jobs.STAGE_SUBMITTED,
                               f"joined job {job_id}, already queued or running"))
        else:
            emit(ProgressEvent(jobs.CLIENT_STAGE_PERCENT[jobs.STAGE_SUBMITTED], jobs.STAGE_SUBMITTED,
                               f"submitted as job {job_id}"))
        return Submission(answer["status"], asset_id, job_id, None, events)

    def progress(self, job_id: str) -> JobStatus:
        status = self._ask("progress", job_id, create=False)
        if status is None:
            raise KeyError(_no_such_job(job_id))
        return status

    def wait(self, job_id: str, *, poll_s: float = 0.2, on_progress: ProgressHandler | None = None,
             known_events: int = 0) -> JobStatus:
        """Follow a job to its end, handing each new progress event to `on_progress`.

        The registry answers as soon as something changes (a long poll), so `poll_s` only
        bounds how long one call may wait when nothing happens.
        """
        seen = known_events
        while True:
            status = self._ask("watch", job_id, seen, max(poll_s, WATCH_TIMEOUT_S), create=False)
            if status is None:
                raise KeyError(_no_such_job(job_id))
            if on_progress is not None:
                for event in status.events[seen:]:
                    on_progress(event)
            seen = max(seen, len(status.events))
            if status.finished:
                return status

    def jobs(self, limit: int = 100) -> list[JobStatus]:
        """Newest first; each with its latest event only (`progress` has them all)."""
        return self._ask("list_jobs", limit, create=False) or []

    def cancel(self, job_id: str) -> bool:
        """True when the job will end cancelled; False when it already ended or is past its point of
        no return (writing its manifest), in which case it ends as that write ends."""
        answer = self._ask("cancel", job_id, create=False)
        if answer is None:
            raise KeyError(_no_such_job(job_id))
        return answer

    def result(self, job_id: str) -> Manifest | None:
        return self.progress(job_id).manifest

    def ray_jobs(self, address: str | None = None) -> list[dict[str, Any]]:
        from ray_jobs.cluster.ray_job_api import list_ray_jobs

        return list_ray_jobs(address)


def _no_such_job(job_id: str) -> str:
    return (f"no generation job {job_id} on this cluster: finished jobs are kept for a day; "
            "list the known ones with `python -m ray_jobs jobs`")
