"""The one client API of the studio, used by the dashboard and the CLI alike.

A request walks the stages of DESIGN.md: 5% look the asset up in the store (an existing
one is answered at once, Ray untouched), 10% reach the cluster, 15% settle on GPU or an
explicit CPU fallback, 20% hand the job to the registry actor (joining an identical
one), 25-95% the worker's steps, 100% manifest written.

Every public method raises only the typed errors of `ray_jobs.errors` for faults a user can
meet (store, cluster, input, job); the fronts print them as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ray_jobs.client.audit import AuditTrail
from ray_jobs.client.batches import BatchRuns
from ray_jobs.client.door import door, env_number
from ray_jobs.client.ray_jobs_api import RayJobsApi
from ray_jobs.cluster import job_model as jobs
from ray_jobs.cluster.connection import configured_address, connect, first_line
from ray_jobs.cluster.job_model import JobSpec, JobStatus, ProgressEvent
from ray_jobs.cluster.resources import ClusterStatus, default_pool_size, plan_placement, read_cluster_status
from ray_jobs.errors import (BadInput, BadSettings, BrokenAsset, ClusterProblem, JobCancelled, JobFailed, JobTimedOut, NotFound,
                             RegistryLost, translate)
from storage.catalog import AssetCatalog, AssetPage, AssetVersion, Manifest, SourceImage
from storage.keys import (FILE_NAMES, GENERATED_ASSETS, GENERATED_IMAGES, IMAGE_SUFFIXES, MODEL_ASSETS,
                          UPLOADED_IMAGES, asset_id_for, sha256_hex)
from storage.settings import StorageSettings, env_flag, load_settings
from storage.store import open_store

__all__ = [
    "AssetPage", "AssetVersion", "CheckResult", "ClusterStatus", "IMAGE_SUFFIXES", "JobStatus", "MODEL_FORMATS",
    "Manifest", "ProgressEvent", "SourceImage", "StorageSettings", "StudioClient", "Submission",
    "STORE_PREFIXES", "ray_address_from_env", "storage_settings_from_env",
]

# Model files a version can hold besides its thumbnail and preview, GLB first.
MODEL_FORMATS = tuple(kind for kind in FILE_NAMES if kind not in ("thumbnail", "preview", "mask"))
# The bucket layout, for people.
STORE_PREFIXES = {"Uploaded images": UPLOADED_IMAGES, "Generated images": GENERATED_IMAGES,
                  "Generated 3D assets": GENERATED_ASSETS, "Other 3D models": MODEL_ASSETS}


def ray_address_from_env() -> str | None:
    """The cluster RAY_ADDRESS names, or None for a private local Ray."""
    return configured_address()


@door
def storage_settings_from_env(environ: Mapping[str, str] | None = None) -> StorageSettings:
    """The store settings from the environment (BadSettings names the variable to fix)."""
    return StorageSettings.from_env(environ)


ProgressHandler = Callable[[ProgressEvent], None]
CPU_POOL = "cpu"  # the one pool of CPU workers; GPU generators each have a pool named after them
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


class StudioClient(BatchRuns, RayJobsApi, AuditTrail):
    def __init__(self, *, storage_settings: StorageSettings | None = None, ray_address: str | None = None,
                 allow_cpu_fallback: bool | None = None, pool_size: int | None = None,
                 worker_gpus: float | None = None, worker_cpus: float | None = None):
        try:
            self.storage_settings = storage_settings or load_settings()
            self.allow_cpu_fallback = (env_flag("ASSET_STUDIO_ALLOW_CPU", True) if allow_cpu_fallback is None
                                       else allow_cpu_fallback)
        except ValueError as error:
            raise translate(error) or BadSettings(str(error)) from error
        self.ray_address = configured_address(ray_address)
        self.pool_size = pool_size
        self.worker_gpus = env_number("ASSET_STUDIO_WORKER_GPUS", None) if worker_gpus is None else worker_gpus
        self.worker_cpus = env_number("ASSET_STUDIO_WORKER_CPUS", 1.0) if worker_cpus is None else worker_cpus
        self._store_catalog: AssetCatalog | None = None
        self._where: str | None = None
        self._registry = None
        self._pool_configs: dict[str, tuple] = {}  # per generator, as last sent to the registry
        self._lock = threading.Lock()  # the dashboard calls from several script threads

    # ---- store only --------------------------------------------------------------------

    @property
    def _catalog(self) -> AssetCatalog:
        if self._store_catalog is None:
            self._store_catalog = AssetCatalog(open_store(self.storage_settings))
        return self._store_catalog

    @door
    def store_description(self) -> str:
        """Where assets live, for people: s3://bucket or the local folder."""
        return self._catalog.store.describe()

    @door
    def generator_settings(self, generator: str | None = None) -> dict[str, dict[str, Any]]:
        """Each setting of a generator with its default, type and range (what forms offer)."""
        from ray_jobs.generators.registry import DEFAULT_GENERATOR, setting_specs

        try:
            return setting_specs(generator or DEFAULT_GENERATOR)
        except ValueError as error:
            raise BadSettings(str(error)) from None

    @door
    def generators(self, *, check_cluster: bool = False) -> list[dict[str, Any]]:
        """Every installed generator: version, needs (GPU, memory, CPU fallback), settings, and its `status`:
        "ready", "weights missing" (`problem` says how to provide them), "needs a GPU" the cluster lacks
        (with `check_cluster`: then `placement` says where its workers would run), or "cannot be loaded"."""
        from ray_jobs.generators.registry import DEFAULT_GENERATOR, available_generators, describe_generator
        from ray_jobs.errors import NoGpuAvailable

        names = sorted(available_generators(), key=lambda name: (name != DEFAULT_GENERATOR, name))
        status = self.cluster_status() if check_cluster else None
        listed = []
        for name in names:
            try:
                info = describe_generator(name, self._s3_access())
            except Exception as error:  # noqa: BLE001 - a broken plugin is listed with its reason, not fatal
                listed.append({"name": name, "version": None, "needs": None, "settings": {}, "weights": None,
                               "ready": False, "status": "cannot be loaded", "placement": None,
                               "problem": f"{type(error).__name__}: {first_line(str(error))}"})
                continue
            info["status"], info["placement"] = ("ready" if info["ready"] else "weights missing"), None
            if status is not None:
                try:
                    info["placement"] = self.placement(status, name).message
                except NoGpuAvailable as error:
                    info.update(ready=False, status="needs a GPU", problem=str(error))
            listed.append(info)
        return listed

    def normalized_settings(self, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The full settings that identify an asset: the generator's name and version, its defaults, the
        overrides, its weights' identity (BadSettings names a wrong one, or how to provide missing weights)."""
        return self._identity(settings)

    @door
    def time_generator(self, image: bytes, settings: Mapping[str, Any], *, device: str | None = None,
                       repeat: int = 5) -> dict[str, Any]:
        """Run the generator here (no cluster) `repeat` times after a warm-up: median seconds per step, CPU
        time, faces, IoU, peak memory, model load time. BadImage when the image cannot be used."""
        from ray_jobs.generators.benchmark import bench_image
        from ray_jobs.generators.registry import get_generator
        from ray_jobs.generators.segmentation import segmenter_model_for_run
        from ray_jobs.generators.weights import weights_for_run

        identity = self._identity(settings)
        generator = get_generator(identity["generator"])
        try:
            weights = weights_for_run(generator, identity, self._s3_access())
            segmenter_model = segmenter_model_for_run(identity, self._s3_access())
        except ValueError as error:
            raise BadSettings(str(error)) from None
        return bench_image(generator, image, identity, device, repeat, weights=weights, segmenter_model=segmenter_model)

    def _s3_access(self):
        """How this client reaches s3:// weights: the store's region and endpoint."""
        from ray_jobs.generators.weights import S3Access

        return S3Access(self.storage_settings.region, self.storage_settings.endpoint_url)

    def _identity(self, settings: Mapping[str, Any] | None) -> dict[str, Any]:
        from ray_jobs.generators.registry import DEFAULT_GENERATOR, identity_settings

        overrides = dict(settings or {})
        name = overrides.pop("generator", DEFAULT_GENERATOR)
        try:
            return identity_settings(name, overrides, self._s3_access())
        except ValueError as error:  # the generator names the bad setting; missing weights say how to provide them
            raise BadSettings(str(error)) from None

    @staticmethod
    def _usable_image(image: bytes) -> None:
        """Refuse what cannot be generated (empty, truncated, not an image, too large) with the reason."""
        from ray_jobs.generators.image_io import load_image

        load_image(image)

    @door
    def check(self, image: bytes, name: str, settings: Mapping[str, Any] | None = None) -> CheckResult:
        """Is there an asset for this image? An image without one must be usable (BadImage if not)."""
        identity = self._identity(settings)
        image_sha256 = sha256_hex(image)
        manifest = self._catalog.find(image_sha256, identity)
        if manifest is None:
            self._usable_image(image)
        key = glb_key(manifest) if manifest else None
        return CheckResult(image=name, image_sha256=image_sha256, asset_id=asset_id_for(image_sha256, identity),
                           exists=manifest is not None, manifest=manifest, key=key,
                           url=self._catalog.url(key) if key else None)

    @door
    def upload_source(self, image: bytes, name: str) -> SourceImage:
        self._usable_image(image)  # refuse what cannot be generated before it lands in the store
        return self._catalog.save_source_image(image, name)

    @door
    def source_images(self, *, limit: int = 48, name_contains: str | None = None,
                      cursor: str | None = None) -> tuple[list[SourceImage], str | None]:
        """Source images already in the store, newest first, a page at a time."""
        return self._catalog.list_source_images(limit=limit, name_contains=name_contains, cursor=cursor)

    def image_keys(self, prefix: str) -> Iterator[str]:
        """Keys of the source images under a store prefix, page by page (never the whole listing at once)."""
        listing = door(self._catalog.store.iter_keys)(prefix)
        while True:
            info = door(next)(listing, None)
            if info is None:
                return
            if info.key.lower().endswith(IMAGE_SUFFIXES):
                yield info.key

    @door
    def list_assets(self, *, limit: int = 24, cursor: str | None = None,
                    name_contains: str | None = None) -> AssetPage:
        """Assets newest first; damaged manifests are left out and named in `skipped`."""
        return self._catalog.list_assets(limit=limit, cursor=cursor, name_contains=name_contains)

    @door
    def get_asset(self, asset_id: str) -> Manifest:
        manifest = self._catalog.get(asset_id)
        if manifest is None:
            raise NotFound(f"No asset {asset_id} in {self.store_description()}",
                           "It may have been deleted; list assets with `python -m ray_jobs assets`.")
        return manifest

    @door
    def delete_asset(self, asset_id: str) -> int:
        """Remove an asset with every version and file; the number of objects removed (NotFound if none)."""
        removed = self._catalog.delete(asset_id)
        if not removed:
            raise NotFound(f"No asset {asset_id} in {self.store_description()}",
                           "List assets with `python -m ray_jobs assets`.")
        return removed

    @door
    def read(self, key: str) -> bytes:
        """Bytes of a stored object (a model, thumbnail or source image)."""
        return self._catalog.read(key)

    @door
    def source_preview(self, key: str, side: int) -> bytes:
        """A stored source image scaled to fit ``side`` px, as PNG (BadImage when it is no image that can
        be read)."""
        from ray_jobs.client.mask_overlay import preview_png

        return preview_png(self._catalog.read(key), side)

    @door
    def url(self, key: str, *, expires_s: int | None = None) -> str:
        """A download link: presigned on S3 (`expires_s`, default S3_URL_EXPIRY_SECONDS), a file URL locally."""
        return self._catalog.url(key, expires_s=expires_s)

    @door
    def model_file(self, manifest: Manifest, fmt: str = "glb",
                   version: int | None = None) -> tuple[str, str | None]:
        """(key, note) of the model in `fmt`: the stored file, else the GLB with a note saying so."""
        self._known_format(fmt)
        chosen = manifest.latest_version if version is None else manifest.version(version)
        if fmt in chosen.files:
            return chosen.files[fmt].key, None
        return chosen.files["glb"].key, (f"this version has no {fmt.upper()} file; the GLB is given instead. "
                                          "Regenerate with --force to store every format")

    @door
    def export_format(self, manifest: Manifest, fmt: str, version: int | None = None) -> bytes:
        """The model in `fmt`: the stored file when the version has one, else converted from its GLB."""
        from ray_jobs.generators.export import export_mesh, load_glb

        self._known_format(fmt)
        chosen = manifest.latest_version if version is None else manifest.version(version)
        if fmt in chosen.files:
            return self._catalog.read(chosen.files[fmt].key)
        return export_mesh(load_glb(self._catalog.read(chosen.files["glb"].key)), fmt)

    @staticmethod
    def _known_format(fmt: str) -> None:
        if fmt not in MODEL_FORMATS:
            raise BadInput(f"Unknown model format '{fmt}'", f"Use one of {', '.join(MODEL_FORMATS)}.")

    @door
    def preview_model(self, manifest: Manifest, version: int | None = None):
        """What the 3D preview draws (plain arrays, decimated when large) for a version's GLB."""
        from dataclasses import replace

        from ray_jobs.client.preview_model import preview_model

        chosen = manifest.latest_version if version is None else manifest.version(version)
        # small, or published before previews were made at job time: the model is its own preview
        stored = chosen.files.get("preview") or chosen.files["glb"]
        data = self._catalog.read(stored.key)
        try:
            model = preview_model(data)
        except Exception as error:  # noqa: BLE001 - whatever a damaged file makes the parser raise
            raise BrokenAsset(f"The model file {stored.key} cannot be shown ({first_line(str(error))})",
                              "Download it to look at it elsewhere, or regenerate the asset.") from None
        if stored is chosen.files["glb"]:
            return model
        return replace(model, source_faces=int(chosen.quality.get("faces") or model.source_faces))

    @door
    def mask_overlay(self, manifest: Manifest, version: int | None = None) -> bytes | None:
        """The source image with what was taken as the object outlined and the rest dimmed (PNG), or None
        for a version stored without its mask (made before masks were kept) or without its source image."""
        from ray_jobs.client.mask_overlay import overlay_png

        chosen = manifest.latest_version if version is None else manifest.version(version)
        if "mask" not in chosen.files or not manifest.source_key:
            return None
        try:
            source = self._catalog.read(manifest.source_key)
        except LookupError:
            return None  # the source image was moved or deleted: the model stays
        return overlay_png(source, self._catalog.read(chosen.files["mask"].key))

    def doctor(self, *, storage_only: bool = False) -> list:
        """Each check of settings, store and cluster as a ✓/✗ line with the fix (never raises for a fault)."""
        return self.store_checks() + ([] if storage_only else self.cluster_checks())

    def store_checks(self) -> list:
        from ray_jobs.client.doctor import storage_checks

        return storage_checks(self.storage_settings)

    def cluster_checks(self) -> list:
        from ray_jobs.client.cluster_checks import cluster_checks

        return cluster_checks(self)

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
                if isinstance(error, RayActorError):  # a worker the registry called died: not the registry itself
                    raise ClusterProblem(f"A worker died while answering: {first_line(str(error)) or type(error).__name__}",
                                         "Check the cluster with `python -m ray_jobs doctor`, then try again.") from error
                raise error.cause from None  # the registry's own error (e.g. WorkerUnavailable), without Ray's wrapper
            except RayActorError as error:
                reason = first_line(str(error)) or type(error).__name__
            self._registry = None  # look it up again: Ray restarts it under the same name
            self._pool_configs = {}  # a restarted registry may need its pools again
            if time.monotonic() > deadline:
                raise RegistryLost(
                    f"The job registry on the cluster did not come back within {REGISTRY_RESTART_WAIT_S:g} s "
                    f"({reason}). Check the cluster (`python -m ray_jobs doctor`), then submit again: "
                    "finished assets are reused."
                )
            time.sleep(RETRY_PAUSE_S)

    def _pool(self) -> list[dict[str, Any]]:
        return self._ask("pool", create=False) or []

    @door
    def cluster_status(self) -> ClusterStatus:
        self.connect()
        return read_cluster_status(self._where, self._pool())

    @door
    def worker_pool(self) -> list[dict[str, Any]]:
        """Each warm worker: its name, node, GPU ids and current job."""
        self.connect()
        return self._pool()

    @door
    def warm_up(self, timeout_s: float = 120.0, generator: str | None = None) -> list[dict[str, Any]]:
        """Start a generator's worker pool now and wait until every worker has it loaded."""
        self._ensure_pool(self.cluster_status(), generator)
        return self._ask("wait_ready", timeout_s)

    @door
    def ping_worker(self, timeout_s: float = 60.0, generator: str | None = None) -> dict[str, Any]:
        """Make sure a generator's pool exists and one worker answers: its name, node and GPU ids."""
        pool, _ = self._ensure_pool(self.cluster_status(), generator)
        return self._ask("ping_worker", pool, timeout_s)

    def placement(self, status: ClusterStatus, generator: str | None = None):
        """Where `generator`'s workers run on this cluster (GPU plan and its message); NoGpuAvailable when
        nowhere: the generator needs a GPU the cluster lacks and may not fall back to CPU."""
        from dataclasses import asdict

        from ray_jobs.generators.registry import DEFAULT_GENERATOR, get_generator

        name = generator or DEFAULT_GENERATOR
        needs = asdict(get_generator(name).needs)
        size_hint = self.pool_size or default_pool_size(status, 1.0 if status.gpus_total and needs["gpu"] else 0.0)
        return plan_placement(name, needs, status, allow_cpu_fallback=self.allow_cpu_fallback, pool_size=size_hint,
                              worker_gpus=self.worker_gpus if needs["gpu"] else None)

    def _ensure_pool(self, status: ClusterStatus, generator: str | None = None) -> tuple[str, str]:
        """Settle GPU vs CPU for this generator (stage 15%) and make sure the pool that runs it has warm
        workers: (pool name, the message for people). Every job placed on CPU shares one pool (warm with
        the default generator, others loaded on first use), so CPUs are not held per generator; each GPU
        generator has a pool of its own (its model stays loaded on its GPUs)."""
        from ray_jobs.generators.registry import DEFAULT_GENERATOR

        name = generator or DEFAULT_GENERATOR
        plan = self.placement(status, name)
        pool, warm = (name, name) if plan.num_gpus else (CPU_POOL, DEFAULT_GENERATOR)
        size = self.pool_size or default_pool_size(status, plan.num_gpus)
        config = (size, plan.num_gpus, self.worker_cpus)
        if self._pool_configs.get(pool) != config:
            self._ask("configure_pool", pool, size, plan.num_gpus, self.worker_cpus, [warm])
            self._pool_configs[pool] = config
        return pool, f"{name}: {plan.message}"

    # ---- jobs --------------------------------------------------------------------------

    @door
    def submit(self, image: bytes, name: str, settings: Mapping[str, Any] | None = None, *, force: bool = False,
               timeout_s: float | None = None, on_progress: ProgressHandler | None = None,
               source_key: str | None = None, formats: tuple[str, ...] = ()) -> Submission:
        """Stages 5-20 of one request; `formats` asks for model files besides the GLB (e.g. "obj").

        `timeout_s` limits the worker's time on it (default ASSET_STUDIO_JOB_TIMEOUT_S, 15 minutes)."""
        try:
            timeout_s = jobs.default_timeout_s() if timeout_s is None else jobs.check_timeout(timeout_s, "timeout_s")
        except ValueError as error:
            raise BadInput(str(error)) from None

        events: list[ProgressEvent] = []

        def emit(event: ProgressEvent) -> None:
            events.append(event)
            if on_progress is not None:
                on_progress(event)

        identity = self._identity(settings)
        image_sha256 = sha256_hex(image)
        asset_id = asset_id_for(image_sha256, identity)
        manifest = None if force else self._catalog.find(image_sha256, identity)
        if manifest is not None:
            key = glb_key(manifest)
            emit(jobs.client_event(jobs.STAGE_LOOKUP, f"already in the store: {key}"))
            emit(ProgressEvent(jobs.DONE_PERCENT, jobs.STAGE_DONE, f"done: {key}"))
            return Submission("exists", asset_id, None, manifest, events)
        self._usable_image(image)  # a bad image fails here, before the cluster or the store sees it
        emit(jobs.client_event(jobs.STAGE_LOOKUP, "not in the store yet" if not force else "regenerating (forced)"))

        self.connect()
        status = self.cluster_status()
        emit(jobs.client_event(jobs.STAGE_CLUSTER, f"{self._where}: {len(status.nodes)} node(s), "
                                                   f"{status.cpus_total:g} CPUs, {status.gpus_total:g} GPUs"))
        pool, placed = self._ensure_pool(status, identity["generator"])
        emit(jobs.client_event(jobs.STAGE_GPU, placed))

        if source_key is None:
            source_key = self._catalog.save_source_image(image, name).key
        spec = JobSpec(
            # Jobs are joined per store: the same image sent to two stores is two assets.
            dedupe_key=f"{self.store_description()}|{asset_id}", asset_id=asset_id, name=name,
            image_sha256=image_sha256, source_key=source_key, settings=identity,
            storage_settings=self.storage_settings, force=force, formats=tuple(f for f in formats if f != "glb"),
            timeout_s=timeout_s, answer_grace_s=jobs.answer_grace_s(), pool=pool,
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

    @door
    def progress(self, job_id: str) -> JobStatus:
        status = self._ask("progress", job_id, create=False)
        if status is None:
            raise _no_such_job(job_id)
        return status

    @door
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
                raise _no_such_job(job_id)
            if on_progress is not None:
                for event in status.events[seen:]:
                    on_progress(event)
            seen = max(seen, len(status.events))
            if status.finished:
                return status

    @door
    def jobs(self, limit: int = 100) -> list[JobStatus]:
        """Newest first; each with its latest event only (`progress` has them all)."""
        return self._ask("list_jobs", limit, create=False) or []

    @door
    def cancel(self, job_id: str) -> bool:
        """True when the job will end cancelled; False when it already ended or is past its point of
        no return (writing its manifest), in which case it ends as that write ends."""
        answer = self._ask("cancel", job_id, create=False)
        if answer is None:
            raise _no_such_job(job_id)
        return answer

    @door
    def result(self, job_id: str) -> Manifest:
        """The finished job's asset; JobFailed, JobTimedOut or JobCancelled when it ended without one."""
        return raise_for_end(self.wait(job_id))


def raise_for_end(status: JobStatus) -> Manifest:
    """The asset of a job that ended done; the job's own reason as a typed error otherwise."""
    if status.state == jobs.DONE and status.manifest is not None:
        return status.manifest
    reason = status.error or status.message or status.state
    if status.state == jobs.CANCELLED:
        raise JobCancelled(f"Job {status.job_id} was cancelled ({reason})", "Submit it again to build the model.")
    if "timed out" in reason:
        raise JobTimedOut(f"Job {status.job_id}: {reason}",
                          "Raise the limit with --timeout (or ASSET_STUDIO_JOB_TIMEOUT_S), or lower the resolution.")
    raise JobFailed(f"Job {status.job_id} failed: {reason}")


def _no_such_job(job_id: str) -> NotFound:
    return NotFound(f"No generation job {job_id} on this cluster",
                    "Finished jobs are kept for a day; list the known ones with `python -m ray_jobs jobs`.")
