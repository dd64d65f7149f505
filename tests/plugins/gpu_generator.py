"""A test-only generator that declares it needs a GPU and may not fall back to CPU, so placement can be
tested on machines without one: its workers must ask for a GPU (a fake one declared by a test node), and
a cluster without GPUs must refuse its jobs at the GPU stage with the reason. The mesh comes from inflate
at a tiny resolution (there is no CUDA device behind a fake GPU)."""

from __future__ import annotations

from typing import Any

from ray_jobs.generators.base import GenerationResult, Generator, Needs, StepRunner


class GpuOnlyGenerator(Generator):
    name = "test-gpu"
    steps = ("build",)
    needs = Needs(gpu=True, num_gpus=1.0, gpu_memory_gib=2.0, cpu_fallback=False)

    def default_settings(self) -> dict[str, Any]:
        return {"resolution": 64}

    def run(self, image, settings: dict[str, Any], runner: StepRunner, device: str | None) -> GenerationResult:
        from ray_jobs.generators.registry import get_generator

        inflated = runner.run("build", get_generator("inflate").generate, image,
                              {"resolution": settings["resolution"], "target_faces": 1_000}, device="cpu")
        return GenerationResult(mesh=inflated.mesh, mask=inflated.mask, quality=dict(inflated.quality), device="cpu")


class GpuPreferredGenerator(GpuOnlyGenerator):
    """Uses a GPU where there is one and may fall back to CPU, if the deployment allows that."""

    name = "test-gpu-preferred"
    needs = Needs(gpu=True, num_gpus=1.0, gpu_memory_gib=2.0, cpu_fallback=True)
