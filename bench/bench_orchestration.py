"""What Ray and the store add on top of the generator, measured side by side in one run.

Overhead per job on a warm worker: submit -> manifest written, minus the generator's own
time (median over --jobs jobs submitted one after another, so nothing queues). Shown twice: with the
model export and thumbnail counted as overhead, and without them (Ray, registry, store only).
Batch throughput (Ray Data) has its own benchmark: bench/bench_batch.py.

    python bench/bench_orchestration.py [--jobs 15] [--resolution 512]

Uses a private local Ray and a fresh local store; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw  # noqa: E402



def object_image(variant: int, size: int) -> bytes:
    """A distinct coloured object on white per variant."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    margin = size // 6 + variant % 11
    colour = ((variant * 67) % 200 + 30, (variant * 31) % 200 + 30, (variant * 13) % 200 + 30)
    draw.ellipse((margin, margin + variant % 7, size - margin, size - margin), fill=colour)
    draw.rectangle((size // 2 - size // 16, margin // 2, size // 2 + size // 16, margin + size // 10), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def measure_overhead(client, settings: dict, jobs: int, size: int) -> None:
    warm_up = client.submit(object_image(10_000, size), "warm-up.png", settings)
    client.wait(warm_up.job_id)
    total_overheads, orchestration_overheads, generator_times = [], [], []
    for variant in range(jobs):
        image = object_image(20_000 + variant, size)
        started = time.perf_counter()
        submission = client.submit(image, f"overhead-{variant}.png", settings)
        status = client.wait(submission.job_id)
        elapsed = time.perf_counter() - started
        assert status.state == "done", status.error
        generator_s = status.step_seconds["generate"]
        overhead = elapsed - generator_s
        total_overheads.append(overhead)
        orchestration_overheads.append(overhead - status.step_seconds["export"])
        generator_times.append(generator_s)
    print(f"warm-worker jobs: {jobs}, generator median {statistics.median(generator_times) * 1000:.0f} ms")
    print(f"  overhead per job, export + thumbnail included: median "
          f"{statistics.median(total_overheads) * 1000:.0f} ms")
    print(f"  overhead per job, Ray + registry + store only:  median "
          f"{statistics.median(orchestration_overheads) * 1000:.0f} ms   (target <= 150 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=15)
    parser.add_argument("--resolution", type=int, default=None, help="generator resolution (default: its own)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    args = parser.parse_args()
    settings = {"resolution": args.resolution} if args.resolution else {}

    store_dir = tempfile.mkdtemp(prefix="bench-orchestration-")
    os.environ["LOCAL_STORAGE_DIR"] = store_dir
    os.environ["USE_S3_STORAGE"] = "false"
    import ray

    from ray_jobs.client import StudioClient
    from ray_jobs.cluster.connection import NAMESPACE
    from storage.settings import StorageSettings

    ray.init(address="local", namespace=NAMESPACE, log_to_driver=False, configure_logging=False,
             include_dashboard=False)
    resources = ray.cluster_resources()
    print(f"local Ray: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; store {store_dir}")
    client = StudioClient(storage_settings=StorageSettings.from_env())
    try:
        client.warm_up()
        measure_overhead(client, settings, args.jobs, args.size)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
