"""A warm generation worker: a Ray actor that keeps generators loaded and runs one job at a time.

Resources (`num_gpus`, `num_cpus`, name) are chosen at the edge with `.options()` by the
worker pool, so the same class runs on a laptop and on a GPU node. It runs with two
threads (`max_concurrency=2`): one runs the job, the other answers `stop()` (cancel or
timeout), which sets a flag the job checks between steps, with no round trip. Progress
goes to the registry fire-and-forget. Files are written first and the manifest last, and
once publishing has begun `stop()` answers False, so a stopped job never leaves an asset.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from typing import Any

import ray

from ray_jobs import jobs

logger = logging.getLogger(__name__)

class _Stopped(Exception):
    """The registry said the job is cancelled or out of time."""


class StopFlags:
    """Per-job stop requests, and the point after which a job can no longer be stopped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped: set[str] = set()
        self._publishing: set[str] = set()

    def request_stop(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._publishing:
                return False
            self._stopped.add(job_id)
            return True

    def is_stopped(self, job_id: str) -> bool:
        return job_id in self._stopped

    def begin_publish(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._stopped:
                return False
            self._publishing.add(job_id)
            return True

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._stopped.discard(job_id)
            self._publishing.discard(job_id)


class GenerationWorker:
    def __init__(self, registry: ray.actor.ActorHandle):
        self._registry = registry
        self._stores: dict[Any, Any] = {}
        self._flags = StopFlags()

    def stop(self, job_id: str) -> bool:
        """Ask the job to stop at its next step; False once it has begun publishing."""
        return self._flags.request_stop(job_id)

    def warm(self, generator_names: list[str]) -> dict[str, Any]:
        """Load the generators now so the first job does not pay for it; say where we run."""
        import ray_jobs.generators.export  # noqa: F401 - imported now, not during the first job
        import ray_jobs.generators.image_io  # noqa: F401
        import ray_jobs.generators.thumbnail  # noqa: F401
        from ray_jobs.generators.registry import get_generator

        for name in generator_names:
            get_generator(name).warm_up()
        return self.describe()

    def describe(self) -> dict[str, Any]:
        context = ray.get_runtime_context()
        return {
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "gpu_ids": [str(gpu) for gpu in ray.get_gpu_ids()],
            "pid": os.getpid(),
        }

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run one job; always answers with an outcome dict instead of raising."""
        from ray_jobs.generators.base import GenerationCancelled

        run = _JobRun(self._registry, job, self._catalog_for(job["storage_settings"]), self._flags)
        try:
            return run.execute()
        except (_Stopped, GenerationCancelled):
            return {"outcome": "stopped", "step_seconds": run.step_seconds}
        except ValueError as error:  # bad image or settings: the message says what to do
            return {"outcome": "failed", "error": str(error), "step_seconds": run.step_seconds}
        except Exception as error:  # noqa: BLE001 - the job must end failed, never stuck
            logger.error("job %s failed:\n%s", job["job_id"], traceback.format_exc())
            return {
                "outcome": "failed",
                "error": f"{type(error).__name__}: {error}",
                "step_seconds": run.step_seconds,
            }
        finally:
            self._flags.forget(job["job_id"])

    def _catalog_for(self, storage_settings: Any) -> Any:
        from storage.catalog import AssetCatalog
        from storage.store import open_store

        if storage_settings not in self._stores:
            self._stores[storage_settings] = AssetCatalog(open_store(storage_settings))
        return self._stores[storage_settings]


class _JobRun:
    """The steps of one job: load image, generate (mask, geometry, texture...), export, upload."""

    def __init__(self, registry: ray.actor.ActorHandle, job: dict[str, Any], catalog: Any, flags: StopFlags):
        self._registry = registry
        self._job = job
        self._catalog = catalog
        self._flags = flags
        self.step_seconds: dict[str, float] = {}

    def execute(self) -> dict[str, Any]:
        from ray_jobs.generators.export import CONTENT_TYPES, export_mesh
        from ray_jobs.generators.image_io import load_image
        from ray_jobs.generators.registry import get_generator
        from ray_jobs.generators.thumbnail import render_thumbnail

        job = self._job
        settings = dict(job["settings"])
        generator = get_generator(settings["generator"])

        self._step("load image", 0.0, "loading the image")
        started = time.perf_counter()
        if not job["force"]:
            # A job queued before someone else published the same asset must not build it again.
            existing = self._catalog.find(job["image_sha256"], settings)
            if existing is not None:
                return {"outcome": "done", "manifest": existing.to_dict(), "generated": False,
                        "step_seconds": self.step_seconds, "device": None}
        image = load_image(self._catalog.read(job["source_key"]))
        self.step_seconds["load image"] = time.perf_counter() - started

        def on_generator_progress(step: str, fraction: float) -> None:
            self._report(jobs.worker_percent("generate", fraction), step, f"{step}")

        started = time.perf_counter()
        result = generator.generate(
            image,
            {key: value for key, value in settings.items() if key != "generator"},
            progress=on_generator_progress,
            should_cancel=self._should_stop,
        )
        self.step_seconds.update(result.timings)
        self.step_seconds["generate"] = time.perf_counter() - started

        self._step("export", 0.0, "exporting the model and its thumbnail")
        started = time.perf_counter()
        files = {"glb": (export_mesh(result.mesh, "glb"), CONTENT_TYPES["glb"])}
        for fmt in job.get("formats") or ():  # other formats only when asked: they cost time per job
            if fmt != "glb":
                files[fmt] = (export_mesh(result.mesh, fmt), CONTENT_TYPES[fmt])
        files["thumbnail"] = (render_thumbnail(result.mesh), "image/png")
        self.step_seconds["export"] = time.perf_counter() - started

        self._step("upload", 0.0, "writing the files, then the manifest")
        if not self._flags.begin_publish(job["job_id"]):
            raise _Stopped()
        started = time.perf_counter()
        manifest = self._catalog.publish(
            image_sha256=job["image_sha256"],
            name=job["name"],
            generator=settings["generator"],
            settings=settings,
            files=files,
            timings=dict(self.step_seconds),
            quality=dict(result.quality),
            source_key=job["source_key"],
        )
        self.step_seconds["upload"] = time.perf_counter() - started
        return {"outcome": "done", "manifest": manifest.to_dict(), "generated": True,
                "step_seconds": self.step_seconds, "device": result.device}

    def _step(self, step: str, fraction: float, message: str) -> None:
        if self._should_stop():
            raise _Stopped()
        self._report(jobs.worker_percent(step, fraction), step, message)

    def _report(self, percent: float, stage: str, message: str) -> None:
        # Fire and forget: progress must not slow the work down.
        self._registry.report.remote(self._job["job_id"], percent, stage, message, dict(self.step_seconds))

    def _should_stop(self) -> bool:
        return self._flags.is_stopped(self._job["job_id"])
