"""The stages of a batch, as Ray Data runs them over batches of rows (columns of equal length).

    lookup    (tasks, CPU)   read each image, hash it, look its asset up: existing ones are answered
    generate  (actor pool)   the generator, loaded once per actor, builds the GLB and its thumbnail
    publish   (tasks, CPU)   write the files, then the manifest, as version 1 only (catalog.publish_first)

A row carries `status`: "pending" until a stage settles it as "exists", "generated" or "failed"
(with `error`); later stages pass settled rows through untouched. An image's own problem fails
its row, never the batch; a lost worker or node makes Ray Data run that batch of rows again, and
the catalog's first-version claim keeps a retried row from writing a second version.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import numpy as np

PENDING, EXISTS, GENERATED, FAILED = "pending", "exists", "generated", "failed"
# What reaches the driver for each image (no bytes). Text columns hold "" for "none", never None:
# Arrow gives an all-None column its own type, which then does not join the next block's strings.
RESULT_COLUMNS = ("key", "status", "asset_id", "glb_key", "seconds", "error", "node")


@functools.lru_cache(maxsize=4)
def _catalog(storage_settings):
    """One catalog (and S3 connection pool) per worker process and store."""
    from storage.catalog import AssetCatalog
    from storage.store import open_store

    return AssetCatalog(open_store(storage_settings))


def _node() -> str:
    """The node's address and the start of its id (several nodes may share one machine's address)."""
    import ray

    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:8]}"


def _rows(batch: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    count = len(next(iter(batch.values()))) if batch else 0
    return [{name: column[index] for name, column in batch.items()} for index in range(count)]


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list]:
    return {name: [row.get(name) for row in rows] for name in names}


def _error_text(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if isinstance(error, ValueError) or hasattr(error, "hint") else f"{type(error).__name__}: {text}"


def lookup(batch: dict[str, np.ndarray], *, storage_settings, settings: dict[str, Any]) -> dict[str, list]:
    """Read, hash and look up each image; only missing ones keep their bytes for the next stage."""
    from storage.keys import asset_id_for, sha256_hex

    catalog = _catalog(storage_settings)
    rows = []
    for key in batch["key"]:
        started = time.perf_counter()
        row = {"key": str(key), "status": PENDING, "asset_id": "", "glb_key": "", "error": "",
               "image": b"", "sha256": "", "node": _node()}
        try:
            data = catalog.read(row["key"])
            row["sha256"] = sha256_hex(data)
            row["asset_id"] = asset_id_for(row["sha256"], settings)
            manifest = catalog.find(row["sha256"], settings)
            if manifest is not None:
                row["status"], row["glb_key"] = EXISTS, manifest.latest_version.files["glb"].key
            else:
                row["image"] = data
        except Exception as error:  # noqa: BLE001 - an unreadable image or damaged manifest fails its row
            row["status"], row["error"] = FAILED, _error_text(error)
        row["seconds"] = time.perf_counter() - started
        rows.append(row)
    return _columns(rows, (*RESULT_COLUMNS, "image", "sha256"))


class GenerateModels:
    """The generation stage: one per actor of the pool, the generator warmed in the constructor."""

    def __init__(self, settings: dict[str, Any], device: str | None, s3_region: str = "us-east-1",
                 s3_endpoint_url: str | None = None):
        from ray_jobs.generators.registry import get_generator
        from ray_jobs.generators.segmentation import segmenter_model_for_run
        from ray_jobs.generators.weights import S3Access, weights_for_run

        import ray_jobs.generators.export  # noqa: F401 - imported now, not during the first image
        import ray_jobs.generators.thumbnail  # noqa: F401

        self._settings = settings
        self._device = device
        self._generator = get_generator(settings["generator"])
        self._generator.warm_up()
        # The model once per actor (fetched once per node); a missing one fails every image with its reason.
        self._weights, self._segmenter_model, self._weights_error = None, None, None
        try:
            access = S3Access(s3_region, s3_endpoint_url)
            self._weights = weights_for_run(self._generator, settings, access)
            self._segmenter_model = segmenter_model_for_run(settings, access)
        except ValueError as error:
            self._weights_error = str(error)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        from ray_jobs.generators.export import export_mesh
        from ray_jobs.generators.image_io import load_image
        from ray_jobs.generators.preview import preview_glb
        from ray_jobs.generators.segmentation import mask_png
        from ray_jobs.generators.thumbnail import render_thumbnail

        rows = _rows(batch)
        for row in rows:
            row["glb"] = row["thumbnail"] = row["preview"] = row["mask"] = b""
            row["quality"] = row["timings"] = "{}"
            if row["status"] != PENDING:
                row["image"] = b""
                continue
            started = time.perf_counter()
            try:
                if self._weights_error is not None:
                    raise ValueError(self._weights_error)
                result = self._generator.generate(load_image(bytes(row["image"])), self._settings,
                                                  device=self._device, weights=self._weights,
                                                  segmenter_model=self._segmenter_model)
                row["glb"] = export_mesh(result.mesh, "glb")
                row["thumbnail"] = render_thumbnail(result.mesh)
                row["preview"] = preview_glb(result.mesh) or b""  # large models only
                row["mask"] = mask_png(result.mask)
                row["quality"] = json.dumps(result.quality, default=str)
                row["timings"] = json.dumps(result.timings)
                row["node"] = _node()
            except Exception as error:  # noqa: BLE001 - a bad image (or a generator bug) fails its row alone
                row["status"], row["error"] = FAILED, _error_text(error)
            row["image"] = b""  # not carried further
            row["seconds"] = float(row["seconds"]) + time.perf_counter() - started
        return _columns(rows, (*RESULT_COLUMNS, "sha256", "glb", "thumbnail", "preview", "mask", "quality", "timings"))


def publish(batch: dict[str, np.ndarray], *, storage_settings, settings: dict[str, Any]) -> dict[str, list]:
    """Write each built model as version 1 of its asset, or join the writer that got there first."""
    catalog = _catalog(storage_settings)
    rows = _rows(batch)
    for row in rows:
        if row["status"] != PENDING:
            continue
        started = time.perf_counter()
        files = {"glb": (bytes(row["glb"]), "model/gltf-binary"), "thumbnail": (bytes(row["thumbnail"]), "image/png")}
        if len(row["preview"]):
            files["preview"] = (bytes(row["preview"]), "model/gltf-binary")
        if len(row["mask"]):
            files["mask"] = (bytes(row["mask"]), "image/png")
        try:
            manifest, published = catalog.publish_first(
                image_sha256=str(row["sha256"]), settings=settings, name=str(row["key"]).rsplit("/", 1)[-1],
                generator=settings["generator"], source_key=str(row["key"]),
                files=files,
                timings=json.loads(row["timings"]), quality=json.loads(row["quality"]))
            row["status"] = GENERATED if published else EXISTS
            row["glb_key"] = manifest.latest_version.files["glb"].key
        except Exception as error:  # noqa: BLE001 - a store fault fails this row; the batch carries on
            row["status"], row["error"] = FAILED, _error_text(error)
        row["seconds"] = float(row["seconds"]) + time.perf_counter() - started
    return _columns(rows, RESULT_COLUMNS)
