"""The client's batch methods: every image under a prefix through the Ray Data pipeline, and the
reports batches leave in the store. Mixed into StudioClient, whose store and cluster they use."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ray_jobs.client.door import door
from ray_jobs.cluster.resources import ClusterStatus, default_pool_size
from ray_jobs.errors import BadInput

DEFAULT_ROWS_PER_CALL = 4  # images per call of a batch's generation actor: overhead vs even spread


class BatchRuns:
    @door
    def run_batch(self, prefix: str, settings: Mapping[str, Any] | None = None, *, report_name: str | None = None,
                  rows_per_call: int = DEFAULT_ROWS_PER_CALL, progress_bars: bool = False,
                  on_result: Callable[[dict[str, Any]], None] | None = None,
                  on_start: Callable[[str], None] | None = None):
        """Build every missing asset for the images under `prefix`; a rerun does only what is missing.

        Each image's result (key, status, asset_id, glb_key, seconds, error, node) goes to `on_result`
        as it arrives and to the batch's report in the store; the summary is returned."""
        from ray_jobs.cluster.batch_pipeline import run_batch
        from storage.keys import batch_report_prefix

        identity = self._identity(settings)
        if rows_per_call < 1:
            raise BadInput(f"{rows_per_call} images per call is too few", "Use 1 or more.")
        name = report_name or f"batch-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"
        try:
            report_prefix = batch_report_prefix(name)
        except ValueError as error:
            raise BadInput(str(error)) from None
        keys = list(self.image_keys(prefix))  # listed page by page; a bad prefix fails before the cluster
        self.connect()
        plan = self.batch_plan(self.cluster_status(), rows_per_call, identity["generator"])
        if on_start is not None:  # e.g. "no GPU in the cluster: falling back to CPU (slower)"
            on_start(f"{len(keys)} image(s) under {prefix} in {self.store_description()}; {plan.message}")
        return run_batch(keys, prefix=prefix, storage_settings=self.storage_settings, settings=identity, plan=plan,
                         report_prefix=report_prefix, progress_bars=progress_bars, on_result=on_result)

    def batch_plan(self, status: ClusterStatus, rows_per_call: int = DEFAULT_ROWS_PER_CALL,
                   generator: str | None = None):
        """The generation stage's placement, as for single jobs (`placement`): GPU actors for a GPU generator
        when the cluster has (or is getting) GPUs, else CPU actors; between 1 and the pool size actors."""
        from ray_jobs.cluster.batch_pipeline import BatchPlan

        gpus = self.placement(status, generator)
        most = self.pool_size or default_pool_size(status, gpus.num_gpus)
        # Start with what the cluster has free now; grow to `most` as the autoscaler adds nodes.
        free = status.gpus_free / gpus.num_gpus if gpus.num_gpus else status.cpus_free / max(self.worker_cpus, 0.01)
        least = max(1, min(most, int(free)))
        return BatchPlan(num_gpus=gpus.num_gpus, num_cpus=self.worker_cpus, min_actors=least, max_actors=most,
                         rows_per_call=rows_per_call,
                         message=f"{gpus.message}; generation on {least} to {most} actor(s)")

    @door
    def batch_report(self, name: str) -> dict[str, Any] | None:
        """A batch's summary from its report in the store (None while it runs or when there is none)."""
        import json

        from storage.keys import batch_report_prefix

        key = batch_report_prefix(name) + "summary.json"
        try:
            summary = json.loads(self._catalog.read(key))
        except (ValueError, LookupError):
            return None
        return {**summary, "url": self._catalog.url(key)}

    @door
    def batch_failures(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The failed images of a batch (key and reason), from its report, at most `limit`."""
        import json

        from storage.keys import batch_report_prefix

        failures: list[dict[str, Any]] = []
        for info in self._catalog.store.iter_keys(batch_report_prefix(name)):
            if not info.key.endswith(".jsonl"):
                continue
            for line in self._catalog.read(info.key).decode().splitlines():
                row = json.loads(line) if line.strip() else {}
                if row.get("status") == "failed":
                    failures.append(row)
                    if len(failures) >= limit:
                        return failures
        return failures
