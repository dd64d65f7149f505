"""Benchmark the store against a moto S3 server on loopback (figures to quote, not a test).

1. Existence check: median latency of AssetCatalog.find() for a present and an absent asset,
   beside one bare head_object, measured interleaved in the same run (target: within 1.5x).
2. Gallery: first page (24) of a store holding N assets (default 10,000), from its snapshot
   (valid after every publish and delete, which rebuild it) and with a stale snapshot (index
   listing + 24 manifests), beside listing everything (every key under 3d_assets/generated/)
   and, with --naive, a gallery that reads every manifest (target: first page <= 150 ms median).

Run: python bench/bench_store.py [--assets 10000] [--repeats 200] [--naive]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness.browser import stop  # noqa: E402
from storage import keys  # noqa: E402
from storage.catalog import AssetCatalog  # noqa: E402
from storage.manifest import AssetFile, AssetVersion  # noqa: E402
from storage.publisher import build_manifest  # noqa: E402
from storage.s3_store import S3Store  # noqa: E402

BUCKET = "bench-assets"
SETTINGS = {"generator": "inflate", "resolution": 512, "target_faces": 30000, "thickness": 1.0}


def start_moto() -> tuple[subprocess.Popen, str]:
    """moto's server in its own process, so it does not share this process's GIL with the client."""
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIABENCHFAKE0000", "AWS_SECRET_ACCESS_KEY": "bench-fake",
                        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
        os.environ[name] = value
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).read()
            return server, endpoint
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("moto server did not start; is moto[server] installed?")
            time.sleep(0.2)


def timed_ms(function) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def medians(samples: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in samples.items()}


def bench_existence(catalog: AssetCatalog, repeats: int) -> dict[str, float]:
    store = catalog.store
    present = catalog.publish(image_sha256=keys.sha256_hex(b"present image"), name="present.png", generator="inflate",
                              settings=SETTINGS, files={"glb": (b"glTF" * 1000, "model/gltf-binary")})
    absent_sha = keys.sha256_hex(b"absent image")
    manifest_key = keys.manifest_key(present.asset_id)
    operations = {
        "bare head_object": lambda: store.client.head_object(Bucket=store.bucket, Key=manifest_key),
        "find() present": lambda: catalog.find(present.source_sha256, SETTINGS),
        "find() absent": lambda: catalog.find(absent_sha, SETTINGS),
    }
    assert operations["find() present"]() is not None and operations["find() absent"]() is None
    samples: dict[str, list[float]] = {name: [] for name in operations}
    for round_number in range(repeats + 10):
        for name, operation in operations.items():  # interleaved, so drift hits all three alike
            elapsed = timed_ms(operation)
            if round_number >= 10:  # warm-up rounds are not counted
                samples[name].append(elapsed)
    return medians(samples)


def populate(store: S3Store, count: int) -> None:
    """Write N assets' manifests and index entries directly (no big files), in parallel."""
    start = keys.utc_now() - timedelta(days=30)

    def write(number: int) -> None:
        sha = keys.sha256_hex(f"bench image {number}".encode())
        asset_id = keys.asset_id_for(sha, SETTINGS)
        created = keys.iso(start + timedelta(seconds=number * 7))
        glb = AssetFile(keys.version_prefix(asset_id, 1) + "model.glb", 123456, "model/gltf-binary")
        identity = {"asset_id": asset_id, "source_sha256": sha, "name": f"object {number:05d}.png",
                    "generator": "inflate", "settings": SETTINGS, "created_at": created, "source_key": None}
        manifest = build_manifest(identity, [AssetVersion(1, created, {"glb": glb}, {"total": 2.0}, {"faces": 30000})])
        store.put(keys.manifest_key(asset_id), json.dumps(manifest.to_dict(), indent=1).encode(),
                  content_type="application/json")
        store.put(keys.gallery_key(manifest), b"")

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(write, range(count)))


def list_everything(store: S3Store) -> int:
    return sum(1 for _ in store.iter_keys(keys.GENERATED_ASSETS))


def naive_gallery(catalog: AssetCatalog) -> list:
    """What a gallery without an index does: list every manifest, read them all, sort, take 24."""
    manifest_keys = [i.key for i in catalog.store.iter_keys(keys.GENERATED_ASSETS) if i.key.endswith("/manifest.json")]
    with ThreadPoolExecutor(8) as pool:
        manifests = list(pool.map(lambda key: json.loads(catalog.store.get(key)), manifest_keys))
    return sorted(manifests, key=lambda m: m["created_at"], reverse=True)[:24]


def bench_gallery(catalog: AssetCatalog, repeats: int, naive: bool) -> dict[str, float]:
    first_page = catalog.list_assets(limit=24)
    assert len(first_page.items) == 24 and first_page.next_cursor
    names = ("first page (24), snapshot valid", "first page (24), snapshot stale: index + 24 manifests",
             "second page (24), via cursor", "list every key under 3d_assets/generated/")
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(repeats + 2):
        catalog._first_page.touch()  # a change the snapshot did not see (publish/delete also rebuild it)
        timings = (
            timed_ms(lambda: catalog.list_assets(limit=24)),
            timed_ms(lambda: catalog.list_assets(limit=24)),
            timed_ms(lambda: catalog.list_assets(limit=24, cursor=first_page.next_cursor)),
            timed_ms(lambda: list_everything(catalog.store)),
        )
        if round_number >= 2:
            for name, value in zip((names[1], names[0], names[2], names[3]), timings):
                samples[name].append(value)
    figures = medians(samples)
    if naive:
        newest = naive_gallery(catalog)
        assert [m["asset_id"] for m in newest] == [m.asset_id for m in first_page.items]  # same answer
        figures["naive gallery: list + read every manifest (1 run)"] = timed_ms(lambda: naive_gallery(catalog))
    return figures


def report(title: str, figures: dict[str, float], baseline: str) -> None:
    print(f"\n{title}")
    for name, value in figures.items():
        print(f"  {name:<52} {value:9.2f} ms   {value / figures[baseline]:6.2f}x {baseline}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=10_000, help="assets in the gallery store (default 10000)")
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds for the existence check")
    parser.add_argument("--page-repeats", type=int, default=15, help="timed rounds for the gallery page")
    parser.add_argument("--naive", action="store_true", help="also time a gallery that reads every manifest (slow)")
    args = parser.parse_args(argv)

    server, endpoint = start_moto()
    try:
        store = S3Store(BUCKET, region="us-east-1", endpoint_url=endpoint)
        store.client.create_bucket(Bucket=BUCKET)
        catalog = AssetCatalog(store)
        print(f"moto S3 server at {endpoint}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs")

        report(f"Existence check, median of {args.repeats} interleaved rounds:",
               bench_existence(catalog, args.repeats), "bare head_object")

        started = time.perf_counter()
        populate(store, args.assets)
        catalog._first_page.touch()  # populate wrote behind the catalog's back
        print(f"\nPopulated {args.assets} assets (manifest + index entry each) in {time.perf_counter() - started:.1f} s")
        report(f"Gallery of {args.assets} assets, median of {args.page_repeats} rounds:",
               bench_gallery(catalog, args.page_repeats, args.naive), "list every key under 3d_assets/generated/")
    finally:
        stop(server, grace_s=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
