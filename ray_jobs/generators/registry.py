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
from typing import TYPE_CHECKING, Any

from ray_jobs.generators.base import Generator

if TYPE_CHECKING:
    from ray_jobs.generators.weights import S3Access

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


def identity_settings(name: str = DEFAULT_GENERATOR, overrides: Mapping[str, Any] | None = None,
                      s3: "S3Access | None" = None) -> dict[str, Any]:
    """The settings that identify an asset: the generator's name and version, all its settings, for a
    learned model the identity of its weights (WeightsMissing when they cannot be found), and what
    decides its object mask (the segmenters the setting can pick, with their versions)."""
    generator = get_generator(name)
    identity = {"generator": name, "generator_version": generator.version, **generator.normalize_settings(overrides)}
    if generator.weights is not None:
        from ray_jobs.generators.weights import weights_identity

        identity["weights_id"] = weights_identity(generator, identity[generator.weights.setting], s3)
    if "segmenter" in identity:
        from ray_jobs.generators.segmentation import segmenter_identity

        identity["segmenter_id"] = segmenter_identity(identity, s3)
    return identity


def describe_generator(name: str, s3: "S3Access | None" = None) -> dict[str, Any]:
    """What a generator declares, and whether it is ready here: its weights found (or why not)."""
    from dataclasses import asdict

    generator = get_generator(name)
    info: dict[str, Any] = {"name": name, "version": generator.version, "needs": asdict(generator.needs),
                            "settings": generator.setting_specs(), "weights": None, "ready": True, "problem": None}
    if generator.weights is not None:
        from ray_jobs.generators.weights import WeightsMissing, weights_identity

        source = generator.weights.default_source()
        info["weights"] = {"source": source, "identity": None, "env": generator.weights.env,
                           "hub_id": generator.weights.hub_id}
        try:
            info["weights"]["identity"] = weights_identity(generator, source, s3)
        except WeightsMissing as error:
            info["ready"], info["problem"] = False, str(error)
    return info


def setting_specs(name: str = DEFAULT_GENERATOR) -> dict[str, dict[str, Any]]:
    """Each setting of generator ``name`` as {"default", "type", "min", "max"}: the limits a form's
    widgets take, which are the very ones ``normalize_settings`` enforces."""
    return get_generator(name).setting_specs()


def forget_loaded() -> None:
    """Drop cached instances, e.g. after a generator package was installed into a running process."""
    _instance.cache_clear()
