"""A batch over a store prefix as one Ray Data pipeline: lookup -> generate (actor pool) -> publish.

Ray Data streams rows through the stages with backpressure, so the driver holds keys and small
result rows, never image bytes; the generation stage is a pool of actors between a minimum and a
maximum (GPUs when the plan has them); tasks and actors are retried when a worker or a node is
lost. Each result row is handed to `on_result` as it arrives and written to the batch's report
in the store (JSON lines, a part per REPORT_PART_ROWS rows, then a summary).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ray_jobs.cluster.batch_stages import RESULT_COLUMNS, GenerateModels, lookup, publish

LOOKUP_ROWS = 32  # images per lookup task: a few store round trips each
KEYS_PER_BLOCK = 64  # the key list is cut into blocks of this many rows
IO_TASKS = 4  # lookup and publish tasks at once (they wait on the store, not the CPU)
REPORT_PART_ROWS = 1000


@dataclass(frozen=True)
class BatchPlan:
    """Where the generation stage runs: GPUs per actor and how many actors (between min and max)."""

    num_gpus: float
    num_cpus: float
    min_actors: int
    max_actors: int
    rows_per_call: int
    message: str  # for people: what was decided and why


@dataclass
class BatchSummary:
    prefix: str
    images: int = 0
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: {"exists": 0, "generated": 0, "failed": 0})
    nodes: dict[str, int] = field(default_factory=dict)  # images generated per node
    report: str | None = None
    plan: str = ""  # where the generation stage ran, and why

    def to_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "images": self.images, "seconds": round(self.seconds, 3), **self.counts,
                "nodes": dict(sorted(self.nodes.items())), "report": self.report, "plan": self.plan}


class BatchReport:
    """The batch's results in the store: `<prefix>part-00001.jsonl`... then `summary.json`."""

    def __init__(self, store, prefix: str | None):
        self._store, self._prefix = store, prefix
        self._lines: list[str] = []
        self._parts = 0

    def add(self, row: dict[str, Any]) -> None:
        if self._prefix is None:
            return
        self._lines.append(json.dumps(row))
        if len(self._lines) >= REPORT_PART_ROWS:
            self._flush()

    def close(self, summary: BatchSummary) -> None:
        if self._prefix is None:
            return
        self._flush()
        summary.report = self._prefix
        self._store.put(f"{self._prefix}summary.json", json.dumps(summary.to_dict()).encode(),
                        content_type="application/json")

    def _flush(self) -> None:
        if self._lines:
            self._parts += 1
            self._store.put(f"{self._prefix}part-{self._parts:05d}.jsonl", ("\n".join(self._lines) + "\n").encode(),
                            content_type="application/x-ndjson")
            self._lines = []


def run_batch(keys: Iterable[str], *, prefix: str, storage_settings, settings: dict[str, Any], plan: BatchPlan,
              device: str | None = None, report_prefix: str | None = None, progress_bars: bool = False,
              on_result: Callable[[dict[str, Any]], None] | None = None) -> BatchSummary:
    """Run the pipeline over `keys` (listed page by page by the caller) and summarise it."""
    import ray.data

    from storage.store import open_store

    _quiet_ray_data(progress_bars)
    started = time.perf_counter()
    rows = [{"key": key} for key in keys]  # keys only: bytes are read by the lookup stage
    summary = BatchSummary(prefix=prefix, images=len(rows), plan=plan.message)
    report = BatchReport(open_store(storage_settings), report_prefix)
    if rows:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress_bars
        context.enable_operator_progress_bars = progress_bars
        context.execution_options.preserve_order = False  # answer whichever image is done first
        context.max_errored_blocks = 0  # our stages never raise for one image; anything else is a real fault
        stage_args = {"storage_settings": storage_settings, "settings": settings}
        # Ray Data's defaults retry what a lost worker or node was doing: tasks without limit, actors
        # restarted and their calls re-sent. Our stages never raise for one image.
        io_tasks = ray.data.TaskPoolStrategy(size=IO_TASKS)
        dataset = (
            ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(len(rows) / KEYS_PER_BLOCK)))
            .map_batches(lookup, fn_kwargs=stage_args, batch_size=LOOKUP_ROWS, num_cpus=0, compute=io_tasks)
            .map_batches(GenerateModels, fn_constructor_kwargs={"settings": settings, "device": device,
                                                                 "s3_region": storage_settings.region,
                                                                 "s3_endpoint_url": storage_settings.endpoint_url},
                         batch_size=plan.rows_per_call, num_gpus=plan.num_gpus, num_cpus=plan.num_cpus,
                         compute=ray.data.ActorPoolStrategy(min_size=plan.min_actors, max_size=plan.max_actors))
            .map_batches(publish, fn_kwargs=stage_args, batch_size=plan.rows_per_call, num_cpus=0, compute=io_tasks)
        )
        for row in dataset.iter_rows():  # streams: the driver holds one block of results at a time
            result = {name: _plain(row.get(name)) for name in RESULT_COLUMNS}
            summary.counts[result["status"]] = summary.counts.get(result["status"], 0) + 1
            if result["status"] == "generated":
                summary.nodes[result["node"]] = summary.nodes.get(result["node"], 0) + 1
            report.add(result)
            if on_result is not None:
                on_result(result)
    summary.seconds = time.perf_counter() - started
    report.close(summary)
    return summary


def _quiet_ray_data(progress_bars: bool) -> None:
    """Ray Data's own log lines and hints stay in its log files: the terminal shows our lines (and
    its progress bars on a terminal)."""
    import logging
    import warnings

    if not progress_bars:
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    for chatty in ("ray.data._internal.util", "ray.data._internal.progress",  # deprecation notes, "bars off",
                   "ray.data._internal.execution.operators.map_operator"):  # "CPUs and GPUs together is new"
        logging.getLogger(chatty).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data\..*")


def _plain(value: Any) -> Any:
    """numpy scalars as plain JSON values; the stages' "" (none) as None."""
    if value is None or (isinstance(value, str) and not value):
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
