"""Timing a generator on one image: medians per step over repeated runs after a warm-up."""

from __future__ import annotations

import resource
import statistics

# The figure a run is judged by: the mesh and its texture, without decoding, masking or checks.
CORE_STEPS = ("geometry", "texture")


def bench_image(generator, data: bytes, settings: dict, device: str | None, repeat: int, *,
                weights=None, segmenter_model=None) -> dict:
    """Medians over ``repeat`` runs after one warm-up run (which pays for imports, kernel caches and
    loading the model, whose time is reported on its own)."""
    models = {"weights": weights, "segmenter_model": segmenter_model}
    first = generator.generate(data, settings, device=device, **models)
    results = [generator.generate(data, settings, device=device, **models) for _ in range(repeat)]
    result = results[-1]
    runs = [r.timings for r in results]
    steps = {step: statistics.median(run[step] for run in runs) for step in runs[0]}
    core = [step for step in CORE_STEPS if step in steps] or list(steps)
    return {
        "seconds": statistics.median(sum(run[step] for step in core) for run in runs),
        # CPU time of the same steps: what an idle machine would take for single-threaded
        # work (on CUDA it is only the host's share)
        "cpu_seconds": statistics.median(sum(r.cpu_timings.get(step, 0.0) for step in core) for r in results),
        "steps": steps,
        "core_steps": core,
        "faces": result.quality.get("faces"),
        "iou": result.quality.get("iou"),
        "device": result.device,
        "model_load_seconds": first.timings.get("load model"),
        "gpu_peak_mb": _gpu_peak_mb(result.device),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _gpu_peak_mb(device: str | None) -> float | None:
    """Peak GPU memory torch allocated in this process (None on CPU)."""
    if not device or not device.startswith("cuda"):
        return None
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1)
