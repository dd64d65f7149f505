"""Shared helpers for generator tests: one generation per drawn image, cached for the session."""

from __future__ import annotations

import functools

import pytest

from ray_jobs.generators.registry import get_generator
from tests.plugins.images import object_image


@functools.cache
def _generate(shape: str, size: int, alpha: bool, background: str, target_faces: int):
    image = object_image(shape, size, alpha=alpha, background=background)
    return get_generator("inflate").generate(image, {"resolution": size, "target_faces": target_faces}, device="cpu")


@pytest.fixture(scope="session")
def generated():
    """generated(shape, size=256, alpha=True, background="white", target_faces=20000) -> GenerationResult (cached)."""

    def make(shape: str, size: int = 256, alpha: bool = True, background: str = "white", target_faces: int = 20_000):
        return _generate(shape, size, alpha, background, target_faces)

    return make
