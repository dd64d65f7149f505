"""The interface every image-to-3D generator implements.

A generator turns one object image plus a settings dict into a textured, closed
triangle mesh. It knows nothing about storage, Ray or the dashboard: callers hand
it bytes (or a PIL image) and get a :class:`GenerationResult` back.

Contract for implementers. A package adds a generator without touching this
repository by declaring an entry point (see ``registry.py``)::

    [project.entry-points."asset_studio.generators"]
    my_model = "my_package.generator:MyGenerator"

* ``name`` is the registry name and part of an asset's identity.
* ``steps`` names the stages of one run, in order. Subclasses implement ``run``
  and execute each step through ``runner.run(step, func, *args)``; the public
  ``generate`` wraps ``run`` and must not be overridden.
* Progress: before each step, ``progress(step, fraction)`` is called, where
  ``fraction`` (0..1) is the share of the whole run already done (weighted by
  ``step_weights``); when the run ends the last step is reported with 1.0.
* Cancellation: ``should_cancel()`` is polled before each step and once after the
  last; when it returns True the run stops with :class:`GenerationCancelled`.
  A step itself is never interrupted, so keep steps short.
* ``default_settings()`` lists every setting with its default; the default's type
  (int, float, bool or str) is the setting's type. ``setting_ranges`` gives the
  (min, max) of numeric settings, either side None when open; ``setting_choices`` the
  allowed values of a setting that has a fixed few (the form shows them as a list). ``setting_specs()``
  reads both back as plain data (what a form needs for its widgets), and
  ``normalize_settings(overrides)`` enforces exactly those types and bounds, then
  ``validate_settings`` for any further rules, returning the full dict (raising
  ``ValueError`` that names the bad key). It identifies an asset, so it must be
  stable: the same overrides always give the same dict.
* Bad images raise :class:`ImageError` with a message that tells the user what to do.
* The mesh follows glTF conventions: Y up, the image is the view from +Z, image
  right = +X, image up = +Y, bounding box centred at the origin, longest side 1.0.
  It is watertight and carries a PBR base-colour texture.
* ``device`` is "cpu", "cuda" (or "cuda:N"), or None for "cuda when available".

Version 2 of the contract adds what a learned model needs (all optional; a generator that
declares none of it is a version 1 generator and runs unchanged):

* ``version`` (text) is part of an asset's identity: raise it whenever the same image and
  settings would give a different model, so old assets are never answered for new output.
* ``needs`` (:class:`Needs`) says where it can run: on CPU workers only, or on GPU workers
  with ``num_gpus`` GPUs and ``gpu_memory_gib`` of GPU memory each, and whether it may fall
  back to CPU workers on a cluster without GPUs.
* ``weights`` (:class:`WeightsSpec`) declares a learned model. The generator then has a
  ``weights`` setting naming where the model is: a local folder, ``s3://bucket/prefix``, or
  a model hub id. The studio resolves it (syncs from S3 once per node, fetches from the hub
  only where the deployer allows it), records its identity in the asset's identity, and
  calls ``load_model(folder, device)`` once per worker and model; ``run`` finds the loaded
  model as ``runner.model``. The generator never touches S3 or the hub itself.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # keep imports light: the registry is used by fast CLI commands
    from pathlib import Path

    import numpy as np
    import trimesh
    from PIL import Image

ProgressCallback = Callable[[str, float], None]
Bound = int | float | None  # one side of a setting's range; None = open

# Keys an asset's identity adds to a generator's settings (registry.identity_settings).
IDENTITY_ONLY_KEYS = frozenset({"generator_version", "weights_id", "segmenter_id"})

# Setting types by the Python type of their default; bool first, as a bool is also an int.
_SETTING_TYPES = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"))


@dataclass(frozen=True)
class Needs:
    """Where a generator can run. ``gpu`` False: CPU workers only (fast enough there). ``gpu`` True:
    GPU workers with ``num_gpus`` each; on a cluster without GPUs, CPU workers when
    ``cpu_fallback`` is allowed (slower), else the job is refused with the reason."""

    gpu: bool = False
    num_gpus: float = 1.0  # per worker, when on GPU
    gpu_memory_gib: float = 0.0  # what one loaded model takes, for people and for placement
    cpu_fallback: bool = True


@dataclass(frozen=True)
class WeightsSpec:
    """A learned model's files. ``required_files`` must all be present in a usable folder;
    ``hub_id`` is where the model hub has them; ``env`` names the variable a deployer sets to
    the default location (a folder or s3://bucket/prefix)."""

    hub_id: str  # "" when the model is not on the hub
    env: str
    required_files: tuple[str, ...] = ()
    setting: str = "weights"
    home: str = ""  # the folder used when neither the variable nor a hub id names one

    def default_source(self) -> str:
        """The deployer's location when set, else the hub id (else ``home``)."""
        import os

        return os.environ.get(self.env, "").strip() or self.hub_id or self.home


class ImageError(ValueError):
    """The input image cannot be used; the message says what to do instead."""


class GenerationCancelled(Exception):
    """The caller asked to stop; raised between steps."""


@dataclass
class GenerationResult:
    mesh: "trimesh.Trimesh"
    mask: "np.ndarray"  # bool, the object's mask at working resolution (rows = image rows)
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per step
    quality: dict[str, Any] = field(default_factory=dict)  # faces, vertices, watertight, iou
    device: str = "cpu"
    # CPU seconds of this process per step: close to the wall time an idle machine would
    # show for single-threaded steps, so benchmarks stay meaningful on a busy machine
    cpu_timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedWeights:
    """A model's files on this machine and their identity (a content hash or a hub revision)."""

    folder: "Path"
    identity: str
    source: str  # what the weights setting said


def resolve_device(device: str | None) -> str:
    """"cuda" when available for None/"auto"; ValueError for a device this machine lacks."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' was requested but CUDA is not available here: use device 'cpu'")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"unknown device '{device}': use 'cpu', 'cuda' or leave it empty for automatic")
    return device


class StepRunner:
    """Runs named steps in order: reports progress, checks cancellation, times each step.

    ``weights`` gives each step's expected share of the run so the reported
    fraction moves roughly with time.
    """

    def __init__(
        self,
        steps: tuple[str, ...],
        weights: Mapping[str, float] | None,
        progress: ProgressCallback | None,
        should_cancel: Callable[[], bool] | None,
    ):
        self.steps = steps
        raw = [float((weights or {}).get(step, 1.0)) for step in steps]
        total = sum(raw) or 1.0
        self._starts = {}
        done = 0.0
        for step, weight in zip(steps, raw):
            self._starts[step] = done / total
            done += weight
        self._progress = progress
        self._should_cancel = should_cancel
        self.timings: dict[str, float] = {}
        self.cpu_timings: dict[str, float] = {}
        self.model: Any = None  # what load_model gave for this run's weights (None without weights)
        self.segmenter_model: "ResolvedWeights | None" = None  # the learned segmenter's model, when it is used

    def run(self, step: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._check_cancel(f"before step '{step}'")
        if self._progress is not None:
            self._progress(step, self._starts[step])
        started, cpu_started = time.perf_counter(), time.process_time()
        result = func(*args, **kwargs)
        self.timings[step] = time.perf_counter() - started
        self.cpu_timings[step] = time.process_time() - cpu_started
        return result

    def _check_cancel(self, where: str) -> None:
        if self._should_cancel is not None and self._should_cancel():
            raise GenerationCancelled(f"generation cancelled {where}")

    def finish(self) -> None:
        self._check_cancel("after the last step")
        if self._progress is not None:
            self._progress(self.steps[-1], 1.0)


def _checked_value(key: str, value: Any, spec: Mapping[str, Any]) -> Any:
    """``value`` coerced to the setting's type (256.0 -> 256, 1 -> 1.0), or ValueError naming ``key``."""
    value = _typed_value(key, value, spec)
    if spec.get("choices") and value not in spec["choices"]:
        raise ValueError(f"setting '{key}' must be one of {', '.join(map(str, spec['choices']))}, got {value!r}")
    return value


def _typed_value(key: str, value: Any, spec: Mapping[str, Any]) -> Any:
    kind, low, high = spec["type"], spec["min"], spec["max"]
    if kind is None:
        return value
    if kind in ("int", "float"):
        if not _finite_number(value) or (kind == "int" and value != int(value)):
            wanted = "a whole number" if kind == "int" else "a number"
            raise ValueError(f"setting '{key}' must be {wanted}{_range_text(low, high)}, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"setting '{key}' must be{_range_text(low, high)}, got {value!r}")
        return int(value) if kind == "int" else float(value)
    wanted = {"bool": bool, "str": str}[kind]
    if not isinstance(value, wanted):
        raise ValueError(f"setting '{key}' must be {'true or false' if kind == 'bool' else 'text'}, got {value!r}")
    return value


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def _range_text(low: Bound, high: Bound) -> str:
    if low is not None and high is not None:
        return f" between {low} and {high}"
    if low is not None:
        return f" no less than {low}"
    return f" no more than {high}" if high is not None else ""


class Generator(ABC):
    """Image + settings in, textured closed mesh out. See the module docstring."""

    name: str = ""
    version: str = "1"
    needs: Needs = Needs()
    weights: WeightsSpec | None = None  # None: no learned model
    steps: tuple[str, ...] = ()
    step_weights: Mapping[str, float] = {}  # expected share of each step, for progress fractions
    setting_ranges: Mapping[str, tuple[Bound, Bound]] = {}  # (min, max) of numeric settings, inclusive
    setting_choices: Mapping[str, tuple[Any, ...]] = {}  # the allowed values of a setting that has a fixed few

    @abstractmethod
    def default_settings(self) -> dict[str, Any]:
        """Every setting this generator understands, with its default value."""

    def setting_specs(self) -> dict[str, dict[str, Any]]:
        """Each setting as plain data: {"default", "type", "min", "max", "choices"}.

        ``type`` is "int", "float", "bool" or "str" (None for a default of another JSON
        type, which is then not checked); ``min``/``max`` are None when unbounded; ``choices``
        lists the allowed values of a setting that has a fixed few (else None).
        """
        defaults = self.default_settings()
        choices = dict(self.setting_choices)
        if "segmenter" in defaults:  # the segmentation stage's own setting
            from ray_jobs.generators.segmentation import SEGMENTERS

            choices.setdefault("segmenter", SEGMENTERS)
        specs = {}
        for key, default in defaults.items():
            low, high = self.setting_ranges.get(key, (None, None))
            kind = next((name for cls, name in _SETTING_TYPES if isinstance(default, cls)), None)
            specs[key] = {"default": default, "type": kind, "min": low, "max": high,
                          "choices": list(choices[key]) if key in choices else None}
        unknown = (set(self.setting_ranges) | set(self.setting_choices)) - set(specs)
        if unknown:
            names = ", ".join(sorted(unknown))
            raise TypeError(f"generator '{self.name}' declares ranges for unknown settings: {names}")
        return specs

    def normalize_settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults merged with ``overrides``, validated; ValueError names the bad key.

        The keys an identity dict adds (see ``registry.identity_settings``) are accepted and
        dropped, so one can be passed back in; a ``"generator"`` must name this generator.
        """
        settings = self.default_settings()
        for key, value in dict(overrides or {}).items():
            if key == "generator":
                if value != self.name:
                    raise ValueError(f"settings are for generator '{value}', not '{self.name}'")
                continue
            if key in IDENTITY_ONLY_KEYS:
                continue
            if key not in settings:
                known = ", ".join(sorted(settings))
                raise ValueError(f"unknown setting '{key}' for generator '{self.name}': use one of {known}")
            settings[key] = value
        for key, spec in self.setting_specs().items():
            settings[key] = _checked_value(key, settings[key], spec)
        return self.validate_settings(settings)

    def validate_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Rules beyond the declared types and ranges (already enforced); override to add them."""
        return settings

    def segmentation_settings(self) -> dict[str, Any]:
        """The segmentation stage's settings (``segmenter``, ``segmenter_model``), for ``default_settings``
        of a generator that finds its object with ``segmentation.segment`` (see segmentation.py)."""
        from ray_jobs.generators.segmentation import segmentation_settings

        return segmentation_settings()

    def weights_settings(self) -> dict[str, Any]:
        """The ``weights`` setting with its default, for ``default_settings`` of a generator with weights."""
        return {} if self.weights is None else {self.weights.setting: self.weights.default_source()}

    def load_model(self, folder: "Path", device: str) -> Any:
        """Load the model from a resolved weights folder onto ``device``; called once per worker and
        model, the result is kept and handed to ``run`` as ``runner.model``. Raise ValueError with
        what to do when the folder does not hold a usable model."""
        raise NotImplementedError(f"generator '{self.name}' declares weights but cannot load them")

    def model_for(self, folder: "Path", identity: str, device: str) -> Any:
        """The loaded model for these weights on ``device``: loaded on first use, then kept (the
        last one only: a worker holds one model in memory)."""
        key = (identity, device)
        if self._loaded_key != key:
            self._loaded_key, self._loaded = None, None  # free the old model before loading the new one
            self._loaded = self.load_model(folder, device)
            self._loaded_key = key
            self.model_loads += 1
        return self._loaded

    _loaded_key: tuple[str, str] | None = None
    _loaded: Any = None
    model_loads: int = 0  # how often this instance loaded a model (a worker should load once)

    def generate(
        self,
        image: "bytes | Image.Image",
        settings: Mapping[str, Any] | None = None,
        *,
        progress: ProgressCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
        device: str | None = None,
        weights: "ResolvedWeights | None" = None,
        segmenter_model: "ResolvedWeights | None" = None,
    ) -> GenerationResult:
        """Build the mesh. Raises ImageError, ValueError (settings) or GenerationCancelled.

        A generator with weights needs ``weights`` (resolved by the studio, see ``weights.py``)."""
        settings = self.normalize_settings(settings)
        runner = StepRunner(self.steps, self.step_weights, progress, should_cancel)
        runner.segmenter_model = segmenter_model
        if self.weights is not None:
            if weights is None:
                raise ValueError(f"generator '{self.name}' needs its weights resolved before it runs")
            device = resolve_device(device)
            loads, started = self.model_loads, time.perf_counter()
            runner.model = self.model_for(weights.folder, weights.identity, device)
            if self.model_loads != loads:  # only the job that loaded it pays, and shows it
                runner.timings["load model"] = time.perf_counter() - started
        result = self.run(image, settings, runner, device)
        runner.finish()
        result.timings = dict(runner.timings)
        result.cpu_timings = dict(runner.cpu_timings)
        return result

    def warm_up(self) -> None:
        """Load what the first generation would otherwise pay for (libraries, kernels).

        Warm workers call this once when they start; the default does nothing.
        """

    @abstractmethod
    def run(self, image: "bytes | Image.Image", settings: dict[str, Any], runner: StepRunner, device: str | None) -> GenerationResult:
        """The generation itself, each of ``steps`` through ``runner.run(step, func, ...)``.

        ``settings`` are already normalised; timings and the final progress report are
        handled by ``generate``.
        """
