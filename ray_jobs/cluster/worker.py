"""A warm generation worker: a Ray actor that keeps generators loaded and runs one job at a time.

Resources (`num_gpus`, `num_cpus`, name) are chosen at the edge with `.options()` by the
worker pool, so the same class runs on a laptop and on a GPU node. It runs with two
threads (`max_concurrency=2`): one runs the job, the other answers `stop()`.

The worker is the one authority on how a job ends (see job_control): it checks its stop
flag and the job's deadline at every step and once more at the point of no return (begin
publish); its answer is what the registry reports. Files are written first and the
manifest last, and a stopped job never leaves an asset.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import ray

from ray_jobs.cluster import job_model as jobs
from ray_jobs.cluster.job_control import JobControl, StopAnswer, Stopped, StopReason
from ray_jobs.cluster.job_model import JobSpec

logger = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    """The worker's answer for one job: done, stopped (cancel or timeout) or failed."""

    kind: str  # "done" | "stopped" | "failed"
    step_seconds: dict[str, float] = field(default_factory=dict)
    manifest: dict[str, Any] | None = None
    generated: bool = False
    device: str | None = None
    error: str | None = None
    stop_reason: StopReason | None = None


class GenerationWorker:
    def __init__(self, registry: ray.actor.ActorHandle, name: str = ""):
        self._registry = registry
        self._name = name
        self._stores: dict[Any, Any] = {}
        self._control = JobControl()

    def stop(self, job_id: str) -> StopAnswer:
        """Ask the job to stop (cancel); the answer says whether it will, or how it ends instead."""
        return self._control.request_stop(job_id, StopReason.CANCEL)

    def warm(self, generator_names: list[str]) -> dict[str, Any]:
        """Load the generators now so the first job does not pay for it; say where we run."""
        import ray_jobs.generators.export  # noqa: F401 - imported now, not during the first job
        import ray_jobs.generators.image_io  # noqa: F401
        import ray_jobs.generators.thumbnail  # noqa: F401
        from ray_jobs.generators.registry import get_generator

        for name in generator_names:
            generator = get_generator(name)
            generator.warm_up()
            if generator.weights is not None:
                _preload_default_model(generator)
        return self.describe()

    def describe(self) -> dict[str, Any]:
        context = ray.get_runtime_context()
        return {
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "gpu_ids": [str(gpu) for gpu in ray.get_gpu_ids()],
            "pid": os.getpid(),
        }

    def run(self, spec: JobSpec) -> JobOutcome:
        """Run one job; always answers with an outcome instead of raising."""
        from ray_jobs.generators.base import GenerationCancelled

        self._control.start(spec.job_id, spec.timeout_s)
        run = _JobRun(self._registry, self._name, spec, self._catalog_for(spec.storage_settings), self._control)
        try:
            return run.execute()
        except Stopped as stop:
            return JobOutcome("stopped", run.step_seconds, stop_reason=stop.reason)
        except GenerationCancelled:  # the generator saw our stop flag or the deadline between its steps
            try:
                self._control.check(spec.job_id)
            except Stopped as stop:
                return JobOutcome("stopped", run.step_seconds, stop_reason=stop.reason)
            return JobOutcome("failed", run.step_seconds, error="the generator stopped by itself")
        except ValueError as error:  # bad image or settings: the message says what to do
            return JobOutcome("failed", run.step_seconds, error=str(error))
        except Exception as error:  # noqa: BLE001 - the job must end failed, never stuck
            logger.error("job %s failed:\n%s", spec.job_id, traceback.format_exc())
            return JobOutcome("failed", run.step_seconds, error=f"{type(error).__name__}: {error}")
        finally:
            self._control.finish(spec.job_id)

    def _catalog_for(self, storage_settings: Any) -> Any:
        from storage.catalog import AssetCatalog
        from storage.store import open_store

        if storage_settings not in self._stores:
            self._stores[storage_settings] = AssetCatalog(open_store(storage_settings))
        return self._stores[storage_settings]


def _preload_default_model(generator: Any) -> None:
    """Load the deployer's default model now so the first job does not wait for it; a model that is
    not there is no reason to fail the worker (jobs naming other weights still run)."""
    from ray_jobs.generators.base import resolve_device
    from ray_jobs.generators.weights import resolve_weights

    try:
        weights = resolve_weights(generator, generator.weights.default_source())
        generator.model_for(weights.folder, weights.identity, resolve_device(None))
    except Exception as error:  # noqa: BLE001 - said in the log; the job that needs it says it to the user
        logger.info("not preloading %s's default model: %s", generator.name, error)


class _JobRun:
    """The steps of one job: load image, generate (mask, geometry, texture...), export, upload."""

    def __init__(self, registry: ray.actor.ActorHandle, worker_name: str, spec: JobSpec, catalog: Any,
                 control: JobControl):
        self._registry = registry
        self._worker_name = worker_name
        self._spec = spec
        self._catalog = catalog
        self._control = control
        self.step_seconds: dict[str, float] = {}

    def execute(self) -> JobOutcome:
        from ray_jobs.generators.export import CONTENT_TYPES, export_mesh
        from ray_jobs.generators.image_io import load_image
        from ray_jobs.generators.preview import preview_glb
        from ray_jobs.generators.registry import get_generator
        from ray_jobs.generators.segmentation import mask_png
        from ray_jobs.generators.thumbnail import render_thumbnail

        spec = self._spec
        settings = dict(spec.settings)
        generator = get_generator(settings["generator"])

        self._step("load image", 0.0, "loading the image")
        started = time.perf_counter()
        existing = self._existing()
        if existing is not None:
            return existing
        image = load_image(self._catalog.read(spec.source_key))
        self.step_seconds["load image"] = time.perf_counter() - started
        weights, segmenter_model = self._models(generator, settings)

        def on_generator_progress(step: str, fraction: float) -> None:
            self._report(jobs.worker_percent("generate", fraction), step, f"{step}")

        started = time.perf_counter()
        result = generator.generate(
            image,
            {key: value for key, value in settings.items() if key != "generator"},
            progress=on_generator_progress,
            should_cancel=lambda: self._control.should_stop(spec.job_id),
            weights=weights,
            segmenter_model=segmenter_model,
        )
        self.step_seconds.update(result.timings)
        self.step_seconds["generate"] = time.perf_counter() - started

        self._step("export", 0.0, "exporting the model and its thumbnail")
        started = time.perf_counter()
        files = {"glb": (export_mesh(result.mesh, "glb"), CONTENT_TYPES["glb"])}
        for fmt in spec.formats:  # other formats only when asked: they cost time per job
            if fmt != "glb":
                files[fmt] = (export_mesh(result.mesh, fmt), CONTENT_TYPES[fmt])
        files["thumbnail"] = (render_thumbnail(result.mesh), "image/png")
        files["mask"] = (mask_png(result.mask), "image/png")  # what was taken as the object, for people
        preview = preview_glb(result.mesh)  # large models only: the dashboard never parses the full one
        if preview is not None:
            files["preview"] = (preview, CONTENT_TYPES["glb"])
        self.step_seconds["export"] = time.perf_counter() - started

        self._step("upload", 0.0, "writing the files, then the manifest")
        # Someone else may have published the same asset while we worked: never a second version by accident.
        existing = self._existing()
        if existing is not None:
            return existing
        self._check_still_ours()
        self._control.begin_publish(spec.job_id)  # the point of no return (raises Stopped if too late)
        started = time.perf_counter()
        record = dict(name=spec.name, generator=settings["generator"], files=files, timings=dict(self.step_seconds),
                      quality=dict(result.quality), source_key=spec.source_key)
        if spec.force:
            manifest, generated = self._catalog.publish(image_sha256=spec.image_sha256, settings=settings,
                                                        **record), True
        else:  # a batch (or another request) may be publishing the same asset: one version between us
            manifest, generated = self._catalog.publish_first(image_sha256=spec.image_sha256, settings=settings,
                                                              **record)
        self.step_seconds["upload"] = time.perf_counter() - started
        return JobOutcome("done", self.step_seconds, manifest=manifest.to_dict(), generated=generated,
                          device=result.device)

    def _models(self, generator: Any, settings: dict[str, Any]) -> tuple[Any, Any]:
        """This job's model and its learned segmenter's on this node (fetched from the store once per
        node); None for what the job does not use."""
        from ray_jobs.generators.segmentation import segmenter_model_for_run
        from ray_jobs.generators.weights import S3Access, weights_for_run

        asked = settings.get("generator_version")
        if asked is not None and asked != generator.version:
            raise ValueError(f"this cluster runs version {generator.version} of generator '{generator.name}', "
                             f"the job asked for version {asked}: install the same version on both")
        store = self._spec.storage_settings
        access = S3Access(store.region, store.endpoint_url)
        segmenter_model = segmenter_model_for_run(settings, access)
        if generator.weights is None:
            return None, segmenter_model
        self._step("load image", 1.0, "finding the model weights (fetched once per node)")
        started = time.perf_counter()
        weights = weights_for_run(generator, settings, access)
        self.step_seconds["weights"] = time.perf_counter() - started
        return weights, segmenter_model

    def _existing(self) -> JobOutcome | None:
        """The asset when it is already published (and the job is not forced to build a new version)."""
        if self._spec.force:
            return None
        manifest = self._catalog.find(self._spec.image_sha256, dict(self._spec.settings))
        if manifest is None:
            return None
        return JobOutcome("done", self.step_seconds, manifest=manifest.to_dict(), generated=False)

    def _check_still_ours(self) -> None:
        """A registry that restarted has queued this job again for another worker: this run must not
        publish a second version beside that one (workers can outlive their registry for a moment)."""
        from ray.exceptions import RayActorError

        try:
            ours = ray.get(self._registry.may_publish.remote(self._spec.job_id, self._worker_name))
        except RayActorError:
            ours = False  # the registry is gone for good: nobody waits for this run
        if not ours:
            raise Stopped(StopReason.SUPERSEDED)

    def _step(self, step: str, fraction: float, message: str) -> None:
        self._control.check(self._spec.job_id)
        self._report(jobs.worker_percent(step, fraction), step, message)

    def _report(self, percent: float, stage: str, message: str) -> None:
        # Fire and forget: progress must not slow the work down.
        self._registry.report.remote(self._spec.job_id, percent, stage, message, dict(self.step_seconds))
