"""A test-only generator whose steps wait on gates the test opens, so a test can hold a job at an
exact point (before a step, after the last one) instead of hoping the machine is slow enough.

It is registered through the `asset_studio.generators` entry-point group by the dist-info folder
next to this file (tests/plugins/entry_points is put on the path of the test process and of every
Ray worker). Gates live in one named Ray actor, so a worker process and the test share them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray

from ray_jobs.generators.base import GenerationResult, Generator, StepRunner

GATES_NAME = "asset_studio_test_gates"
GATES_NAMESPACE = "asset_studio"


class Gates:
    """Named points a job stops at until the test opens them. An opened gate stays open."""

    def __init__(self) -> None:
        self._arrived: dict[tuple[str, str], asyncio.Event] = {}
        self._opened: dict[tuple[str, str], asyncio.Event] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def _event(self, table: dict, tag: str, point: str) -> asyncio.Event:
        return table.setdefault((tag, point), asyncio.Event())

    async def pass_through(self, tag: str, point: str) -> None:
        """Called by the generator: say we are here, then wait until the gate is opened."""
        self._counts[(tag, point)] = self._counts.get((tag, point), 0) + 1
        self._event(self._arrived, tag, point).set()
        await self._event(self._opened, tag, point).wait()

    async def wait_arrived(self, tag: str, point: str, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._event(self._arrived, tag, point).wait(), timeout_s)
            return True
        except asyncio.TimeoutError:
            return False

    def open(self, tag: str, point: str) -> None:
        self._event(self._opened, tag, point).set()

    def arrivals(self, tag: str, point: str) -> int:
        return self._counts.get((tag, point), 0)


def gates() -> ray.actor.ActorHandle:
    """The shared gates actor (created by the first caller)."""
    return (ray.remote(Gates)
            .options(name=GATES_NAME, namespace=GATES_NAMESPACE, get_if_exists=True, lifetime="detached",
                     num_cpus=0, max_concurrency=1000)
            .remote())


class GatedGenerator(Generator):
    """Two steps, "first" and "last"; a step named in `hold` waits for the test to open its gate.

    `tag` makes each test's asset (and gates) its own; `step_s` is a fixed time per step, for a
    job whose length is known exactly. The mesh comes from inflate at a tiny resolution.
    """

    name = "test-gated"
    steps = ("first", "last")

    def default_settings(self) -> dict[str, Any]:
        return {"tag": "", "hold": "", "step_s": 0.0}

    def validate_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        settings["tag"], settings["hold"], settings["step_s"] = (
            str(settings["tag"]), str(settings["hold"]), float(settings["step_s"]))
        unknown = set(filter(None, settings["hold"].split(","))) - set(self.steps)
        if unknown:
            raise ValueError(f"hold names unknown steps {sorted(unknown)}: use {', '.join(self.steps)}")
        return settings

    def run(self, image, settings: dict[str, Any], runner: StepRunner, device: str | None) -> GenerationResult:
        held = set(filter(None, settings["hold"].split(",")))
        for step in self.steps:
            runner.run(step, self._step, settings["tag"], step, step in held, settings["step_s"])
        from ray_jobs.generators.registry import get_generator

        inflated = get_generator("inflate").generate(image, {"resolution": 64, "target_faces": 1_000})
        return GenerationResult(mesh=inflated.mesh, mask=inflated.mask, quality=dict(inflated.quality), device="cpu")

    @staticmethod
    def _step(tag: str, step: str, hold: bool, step_s: float) -> None:
        if hold:
            ray.get(gates().pass_through.remote(tag, step))
        if step_s:
            time.sleep(step_s)  # the job's fixed length, not a wait for something else
