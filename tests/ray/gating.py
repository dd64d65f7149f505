"""Helpers for tests that hold jobs at exact points with the test-only `test-gated` generator."""

from __future__ import annotations

import itertools
import time

import ray

from tests.plugins.gated_generator import gates

_tags = itertools.count()
DEADLINE_S = 60.0


def gated(tag: str, hold: str = "", step_s: float = 0.0) -> dict:
    """Settings for the gated generator; `tag` keeps the asset and gates of one test apart."""
    return {"generator": "test-gated", "tag": tag, "hold": hold, "step_s": step_s}


def new_tag(prefix: str) -> str:
    return f"{prefix}-{next(_tags)}-{time.time_ns()}"


def wait_arrived(tag: str, step: str) -> None:
    assert ray.get(gates().wait_arrived.remote(tag, step, DEADLINE_S)), f"the job never reached '{step}'"


def open_gate(tag: str, step: str) -> None:
    ray.get(gates().open.remote(tag, step))


def wait_for(condition, what: str, deadline_s: float = DEADLINE_S):
    """Poll `condition` until it returns something truthy, or fail after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
