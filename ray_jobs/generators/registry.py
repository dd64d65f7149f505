"""Generators by name.

Built-in generators are listed here so they work from a plain checkout; other
packages add theirs through the ``asset_studio.generators`` entry-point group
(``name = "package.module:GeneratorClass"``) without touching this repository.
Nothing heavy (torch) is imported until a generator actually runs.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from ray_jobs.generators.base import Generator

DEFAULT_GENERATOR = "inflate"
ENTRY_POINT_GROUP = "asset_studio.generators"
BUILTIN_GENERATORS = {"inflate": "ray_jobs.generators.inflate:InflateGenerator"}


def _targets() -> dict[str, str]:
    """name -> "module:attribute"; built-ins win over an entry point of the same name."""
    targets = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    targets.update(BUILTIN_GENERATORS)
    return targets


def available_generators() -> list[str]:
    return sorted(_targets())


def get_generator(name: str = DEFAULT_GENERATOR) -> Generator:
    """The (shared) generator instance registered under ``name``."""
    return _instance(name)


@functools.cache
def _instance(name: str) -> Generator:
    targets = _targets()
    if name not in targets:
        raise ValueError(f"unknown generator '{name}': use one of {', '.join(sorted(targets))}")
    module_name, _, attribute = targets[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    generator = factory()
    if not isinstance(generator, Generator):
        raise TypeError(f"entry point '{name}' ({targets[name]}) does not give a Generator")
    return generator


def identity_settings(name: str = DEFAULT_GENERATOR, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings that identify an asset: the generator's name plus all its settings."""
    return {"generator": name, **get_generator(name).normalize_settings(overrides)}


def setting_specs(name: str = DEFAULT_GENERATOR) -> dict[str, dict[str, Any]]:
    """Each setting of generator ``name`` as {"default", "type", "min", "max"}: the limits a form's
    widgets take, which are the very ones ``normalize_settings`` enforces."""
    return get_generator(name).setting_specs()


def forget_loaded() -> None:
    """Drop cached instances, e.g. after a generator package was installed into a running process."""
    _instance.cache_clear()
