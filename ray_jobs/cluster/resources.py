"""What the connected cluster offers, and how many GPUs each worker should ask for (stage 15%)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ray_jobs.errors import NoGpuAvailable
from storage.settings import env_flag


@dataclass
class ClusterStatus:
    address: str
    nodes: list[dict[str, Any]]
    cpus_total: float
    cpus_free: float
    gpus_total: float
    gpus_free: float
    gpu_names: list[str]
    workers: int
    pool: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class GpuPlan:
    num_gpus: float  # per worker
    message: str


def read_cluster_status(address: str, pool: list[dict[str, Any]]) -> ClusterStatus:
    import ray  # here, not at the top: commands that never reach the cluster skip its 1-2 s import

    total, free = ray.cluster_resources(), ray.available_resources()
    nodes = []
    gpu_names: set[str] = set()
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        names = [key.split(":", 1)[1] for key in resources if key.startswith("accelerator_type:")]
        gpu_names.update(names)
        nodes.append({
            "node_id": node["NodeID"],
            "address": node.get("NodeManagerAddress"),
            "cpus": resources.get("CPU", 0.0),
            "gpus": resources.get("GPU", 0.0),
            "gpu_names": names,
            "head": "node:__internal_head__" in resources,
        })
    return ClusterStatus(
        address=address,
        nodes=nodes,
        cpus_total=total.get("CPU", 0.0),
        cpus_free=free.get("CPU", 0.0),
        gpus_total=total.get("GPU", 0.0),
        gpus_free=free.get("GPU", 0.0),
        gpu_names=sorted(gpu_names),
        workers=len(pool),
        pool=pool,
    )


def plan_gpus(status: ClusterStatus, *, allow_cpu_fallback: bool, pool_size: int,
              worker_gpus: float | None = None, gpu_autoscale: bool | None = None) -> GpuPlan:
    """Decide `num_gpus` per worker: 1 with GPUs (present or on the way), 0 as an explicit fallback."""
    if worker_gpus is not None:
        kind = f"{worker_gpus:g} GPU per worker" if worker_gpus else "CPU workers"
        return GpuPlan(float(worker_gpus), f"{kind} (set explicitly)")
    if status.gpus_total > 0:
        names = f" ({', '.join(status.gpu_names)})" if status.gpu_names else ""
        return GpuPlan(1.0, f"GPU available: {status.gpus_free:g} of {status.gpus_total:g} free{names}")
    if gpu_autoscale is None:
        gpu_autoscale = env_flag("ASSET_STUDIO_GPU_AUTOSCALE", False)
    if gpu_autoscale:
        from ray.autoscaler.sdk import request_resources

        request_resources(bundles=[{"GPU": 1}] * max(1, pool_size))
        return GpuPlan(1.0, f"no GPU node yet: asked the autoscaler for {max(1, pool_size)} GPU worker(s)")
    if allow_cpu_fallback:
        return GpuPlan(0.0, "no GPU in the cluster: falling back to CPU (slower)")
    raise NoGpuAvailable(
        f"No GPU in the Ray cluster at {status.address} and CPU fallback is off. Add GPU nodes "
        "(the gpu_workers group of cluster.yaml, or set ASSET_STUDIO_GPU_AUTOSCALE=1 on an "
        "autoscaling cluster), or allow the CPU fallback (ASSET_STUDIO_ALLOW_CPU=1)."
    )


def plan_placement(generator: str, needs: dict[str, Any], status: ClusterStatus, *, allow_cpu_fallback: bool,
                   pool_size: int, worker_gpus: float | None = None, gpu_autoscale: bool | None = None) -> GpuPlan:
    """Where one generator's workers run (stage 15%): CPU workers for a generator that uses no GPU;
    GPU workers with its declared `num_gpus` for one that does, or CPU workers when both the deployment
    and the generator allow the fallback; NoGpuAvailable with the reason when neither can."""
    if not needs.get("gpu"):
        return GpuPlan(0.0, f"CPU workers ({generator} does not use a GPU)")
    if allow_cpu_fallback and not needs.get("cpu_fallback", True) and worker_gpus is None:
        try:
            plan = plan_gpus(status, allow_cpu_fallback=False, pool_size=pool_size, gpu_autoscale=gpu_autoscale)
        except NoGpuAvailable:
            raise NoGpuAvailable(
                f"Generator {generator} needs a GPU and the Ray cluster at {status.address} has none",
                "Add GPU nodes (the gpu_workers group of cluster.yaml, or ASSET_STUDIO_GPU_AUTOSCALE=1 on an "
                "autoscaling cluster), or choose a generator that runs on CPU (`python -m ray_jobs generators`).",
            ) from None
    else:
        plan = plan_gpus(status, allow_cpu_fallback=allow_cpu_fallback, pool_size=pool_size,
                         worker_gpus=worker_gpus, gpu_autoscale=gpu_autoscale)
    if plan.num_gpus and worker_gpus is None:
        memory = float(needs.get("gpu_memory_gib") or 0)
        note = f"; {generator} takes about {memory:g} GiB of GPU memory" if memory else ""
        return GpuPlan(float(needs.get("num_gpus") or 1.0), plan.message + note)
    return plan


def default_pool_size(status: ClusterStatus, num_gpus: float) -> int:
    """One worker per GPU, or per CPU (leaving one free for the driver) on a CPU cluster."""
    configured = os.environ.get("ASSET_STUDIO_WORKERS")
    if configured and configured.strip():
        return max(1, int(configured))
    if num_gpus > 0:
        return max(1, int(status.gpus_total // num_gpus) if status.gpus_total else 1)
    return max(1, int(status.cpus_total) - 1) if status.cpus_total > 2 else max(1, int(status.cpus_total))
