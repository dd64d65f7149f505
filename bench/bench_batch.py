"""Batch at scale on one machine: a simulated cluster (a head plus worker nodes that each advertise a
fake GPU; the work itself runs on CPU) runs `batch` over a prefix of tiny images on Ray Data.

    python bench/bench_batch.py                         # 1,000 and 10,000 images, a node removed mid-run
    python bench/bench_batch.py --images 200 --json     # one run (what the multi-node test uses)

Figures: images/s; per worker versus a direct loop that writes the same outputs on one core (wall
time, and CPU time, which stays fair when the simulated nodes share fewer cores than they claim);
the driver's peak RSS per run size (each size runs in its own process); images per node; the
cost of the node removal (images done twice, and the run's time against a run without it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_orchestration import object_image  # noqa: E402

PREFIX = "images/generated/batch-bench/"


def fill_store(store_dir: Path, images: int, size: int) -> None:
    from storage.settings import StorageSettings
    from storage.store import open_store

    store = open_store(StorageSettings.from_env({"LOCAL_STORAGE_DIR": str(store_dir)}))
    for variant in range(images):
        store.put(f"{PREFIX}{variant:06d}.png", object_image(variant, size), content_type="image/png")


def versions_per_asset(store_dir: Path) -> dict[str, int]:
    """Each asset's version count, from its manifest."""
    counts = {}
    for manifest in (store_dir / "3d_assets" / "generated").glob("*/manifest.json"):
        counts[manifest.parent.name] = len(json.loads(manifest.read_text())["versions"])
    return counts


def run_on_cluster(store_dir: Path, *, workers: int, resolution: int, rows_per_call: int,
                   remove_node_after: int | None) -> dict:
    """In this process: start the simulated cluster, run the batch, remove a node after K results."""
    import ray
    from ray.cluster_utils import Cluster

    from ray_jobs.client import StudioClient
    from ray_jobs.cluster.connection import NAMESPACE
    from storage.settings import StorageSettings

    node_args = {"num_cpus": 1, "object_store_memory": 80 * 1024 * 1024}
    cluster = Cluster(initialize_head=True, head_node_args={**node_args, "num_gpus": 0, "include_dashboard": False})
    nodes = [cluster.add_node(**node_args, num_gpus=1) for _ in range(workers)]
    cluster.wait_for_nodes()
    cluster.connect(namespace=NAMESPACE)
    removed: dict = {}
    seen = 0

    generated_by_node: dict[str, int] = {}

    def on_result(result: dict) -> None:
        nonlocal seen
        seen += 1
        if result["status"] == "generated":
            generated_by_node[result["node"]] = generated_by_node.get(result["node"], 0) + 1
        if remove_node_after is not None and seen >= remove_node_after and not removed and result["node"]:
            # the node that just built an image: its actor is busy, with more images in flight
            victim = next((node for node in nodes if result["node"].endswith(node.node_id[:8])), None)
            if victim is None:
                return
            removed.update(node=victim.node_id[:8], at_result=seen, started=time.perf_counter())
            cluster.remove_node(victim, allow_graceful=False)  # as a machine lost: no goodbye
            removed["seconds"] = time.perf_counter() - removed["started"]
            removed["generated_before"] = dict(generated_by_node)

    try:
        client = StudioClient(storage_settings=StorageSettings.from_env({"LOCAL_STORAGE_DIR": str(store_dir)}),
                              pool_size=workers, allow_cpu_fallback=False)
        summary = client.run_batch(PREFIX, {"resolution": resolution}, rows_per_call=rows_per_call,
                                   on_result=on_result)
        alive = sum(1 for node in ray.nodes() if node["Alive"])
    finally:
        ray.shutdown()
        cluster.shutdown()
    removed.pop("started", None)
    return {"summary": summary.to_dict(), "removed": removed or None, "alive_nodes_after": alive,
            "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def direct_loop(images: int, size: int, resolution: int) -> dict:
    """The same outputs without Ray: generate, export, thumbnail, publish, one image after another."""
    from ray_jobs.generators.export import export_mesh
    from ray_jobs.generators.image_io import load_image
    from ray_jobs.generators.registry import get_generator, identity_settings
    from ray_jobs.generators.thumbnail import render_thumbnail
    from storage.catalog import AssetCatalog
    from storage.keys import sha256_hex
    from storage.settings import StorageSettings
    from storage.store import open_store

    settings = identity_settings("inflate", {"resolution": resolution})
    generator = get_generator("inflate")
    plain = {k: v for k, v in settings.items() if k != "generator"}
    with tempfile.TemporaryDirectory() as folder:
        catalog = AssetCatalog(open_store(StorageSettings.from_env({"LOCAL_STORAGE_DIR": folder})))
        data = [object_image(50_000 + variant, size) for variant in range(images)]
        generator.generate(load_image(data[0]), plain)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        for variant, image in enumerate(data):
            result = generator.generate(load_image(image), plain)
            catalog.publish_first(image_sha256=sha256_hex(image), settings=settings, name=f"{variant}.png",
                                  generator="inflate", files={"glb": (export_mesh(result.mesh, "glb"), "model/gltf-binary"),
                                                             "thumbnail": (render_thumbnail(result.mesh), "image/png")})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images_per_s": images / wall, "images_per_cpu_s": images / cpu}


def one_run(args) -> dict:
    """A fresh store of `args.images` images, the batch on the simulated cluster, the version check."""
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as folder:
        store_dir = Path(folder)
        fill_store(store_dir, args.images, args.size)
        figures = run_on_cluster(store_dir, workers=args.workers, resolution=args.resolution,
                                 rows_per_call=args.rows_per_call, remove_node_after=args.remove_node_after)
        versions = versions_per_asset(store_dir)
    figures["assets"] = len(versions)
    figures["assets_with_one_version"] = sum(1 for count in versions.values() if count == 1)
    return figures


def child(images: int, args, remove: bool) -> dict:
    """One run in its own process, so its driver's peak RSS is its own."""
    command = [sys.executable, __file__, "--images", str(images), "--size", str(args.size), "--resolution",
               str(args.resolution), "--workers", str(args.workers), "--rows-per-call", str(args.rows_per_call),
               "--json"] + (["--remove-node-after", str(images // 4)] if remove else [])
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    if done.returncode != 0:
        raise SystemExit(f"run of {images} images failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=None, help="one run of this many images (default: the full benchmark)")
    parser.add_argument("--size", type=int, default=48, help="image side in pixels (default 48)")
    parser.add_argument("--resolution", type=int, default=64, help="generator resolution (default 64)")
    parser.add_argument("--workers", type=int, default=3, help="worker nodes, one fake GPU each (default 3)")
    parser.add_argument("--rows-per-call", type=int, default=16, help="images per generation call (default 16)")
    parser.add_argument("--remove-node-after", type=int, default=None, metavar="K",
                        help="remove one worker node when K results are in")
    parser.add_argument("--json", action="store_true", help="print the run's figures as one JSON line")
    args = parser.parse_args()
    if args.images is not None:
        figures = one_run(args)
        print(json.dumps(figures) if args.json else figures, flush=True)
        return

    direct = direct_loop(200, args.size, args.resolution)
    small_plain = child(1_000, args, remove=False)
    small = child(1_000, args, remove=True)
    large = child(10_000, args, remove=True)
    rows = []
    for label, run in (("1,000 images", small_plain), ("1,000 images, node removed", small),
                       ("10,000 images, node removed", large)):
        summary = run["summary"]
        rate = summary["images"] / summary["seconds"]
        rows.append(f"{label:<28} {summary['seconds']:8.1f} s  {rate:7.1f} images/s  "
                    f"{rate / args.workers / direct['images_per_s'] * 100:5.1f}% of the direct loop per worker (wall)  "
                    f"failed {summary['failed']}  rerun after the loss and found published {summary['exists']}  one version {run['assets_with_one_version']}/{run['assets']}  "
                    f"driver peak RSS {run['driver_peak_rss_mb']} MB  per node {summary['nodes']}  "
                    f"removed {run['removed']}")
    print(f"direct loop, one core: {direct['images_per_s']:.1f} images/s wall, "
          f"{direct['images_per_cpu_s']:.1f} images per CPU second")
    print(f"machine: {os.cpu_count()} cores for {args.workers} simulated worker nodes (+ head)")
    for row in rows:
        print(row)
    cost = small["summary"]["seconds"] / small_plain["summary"]["seconds"]
    rss = large["driver_peak_rss_mb"] / small["driver_peak_rss_mb"]
    print(f"node removal cost at 1,000 images: {cost:.2f}x the time of the same run without it")
    print(f"driver peak RSS 10,000 / 1,000 images: {rss:.3f}")
    print(f"median seconds per image over the runs: "
          f"{statistics.median(r['summary']['seconds'] / r['summary']['images'] for r in (small_plain, small, large)):.4f}")


if __name__ == "__main__":
    main()
