"""Do job states ever disagree with the store? Jobs whose time limit equals their generation time.

The limit is set to the median time a warm worker needs from starting a job to its point of no
return (load image, generate, export), measured on a batch like the real one, so about half the jobs end just inside it and half just
outside: the race between "finished" and "timed out" is met on every job. Each job's final state
is then checked against the store:

- done      -> the asset is in the store with exactly one version, its GLB readable;
- timed out -> nothing at all under the asset's prefix.

Anything else is a lie and is counted.

    python bench/bench_job_truth.py [--jobs 200] [--resolution 256] [--size 256]

Uses a private local Ray and a fresh local store; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_orchestration import object_image  # noqa: E402
from storage.store import open_store  # noqa: E402


def time_to_point_of_no_return(status) -> float:
    """From dispatch to the start of the publish, as the registry saw it."""
    return status.finished_at - status.started_at - status.step_seconds.get("upload", 0.0)


def calibrate(client, settings: dict, size: int, jobs: int = 40) -> float:
    """Median over a batch submitted at once, so the load matches the measured run."""
    submissions = [client.submit(object_image(50_000 + variant, size), f"calibrate-{variant}.png", settings)
                   for variant in range(jobs)]
    times = []
    for submission in submissions:
        status = client.wait(submission.job_id)
        assert status.state == "done", status.error
        times.append(time_to_point_of_no_return(status))
    return statistics.median(times[4:])  # the first jobs still warm caches


def verdict(client, status, image: bytes, settings: dict) -> str:
    """'done', 'timed out', 'other' (an honest failure), or 'LIE: ...'."""
    check = client.check(image, status.name, settings)
    keys = list(open_store(client.storage_settings).iter_keys(f"3d_assets/generated/{status.asset_id}"))
    if status.state == "done":
        if not check.exists or len(check.manifest.versions) != 1:
            return f"LIE: done but the store has {len(check.manifest.versions) if check.exists else 0} versions"
        if client.read(check.key)[:4] != b"glTF":
            return "LIE: done but the GLB is not readable"
        return "done"
    if check.exists or keys:
        return f"LIE: {status.state} ({status.error}) but the store has {len(keys)} object(s) of the asset"
    return "timed out" if status.error and status.error.startswith("timed out") else "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    args = parser.parse_args()
    settings = {"resolution": args.resolution}

    store_dir = tempfile.mkdtemp(prefix="bench-job-truth-")
    os.environ["LOCAL_STORAGE_DIR"] = store_dir
    os.environ["USE_S3_STORAGE"] = "false"
    import ray

    from ray_jobs.client import StudioClient
    from ray_jobs.cluster.connection import NAMESPACE
    from storage.settings import StorageSettings

    ray.init(address="local", namespace=NAMESPACE, num_gpus=0, log_to_driver=False, configure_logging=False,
             include_dashboard=False)
    client = StudioClient(storage_settings=StorageSettings.from_env())
    try:
        client.warm_up()
        limit = calibrate(client, settings, args.size)
        print(f"time limit = median time to the point of no return: {limit * 1000:.1f} ms")
        images = [object_image(variant, args.size) for variant in range(args.jobs)]
        started = time.perf_counter()
        submissions = [client.submit(image, f"truth-{n}.png", settings, timeout_s=limit)
                       for n, image in enumerate(images)]
        counts: dict[str, int] = {}
        lies = []
        for image, submission in zip(images, submissions):
            status = client.wait(submission.job_id)
            answer = verdict(client, status, image, settings)
            counts[answer if not answer.startswith("LIE") else "lies"] = counts.get(
                answer if not answer.startswith("LIE") else "lies", 0) + 1
            if answer.startswith("LIE"):
                lies.append(f"{submission.job_id}: {answer}")
        print(f"jobs {args.jobs} in {time.perf_counter() - started:.1f} s: done {counts.get('done', 0)}, "
              f"timed out {counts.get('timed out', 0)}, other failures {counts.get('other', 0)}, "
              f"lies {counts.get('lies', 0)}")
        for line in lies[:20]:
            print("  " + line)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
