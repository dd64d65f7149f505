"""Catalog behaviour that needs S3's wire: request counts, failures half-way, the download cache."""

from __future__ import annotations

import pytest

from storage.cache import DownloadCache
from storage.catalog import AssetCatalog
from storage.errors import BucketMissing, StoreUnavailable
from storage.keys import sha256_hex
from storage.s3_store import S3Store
from tests.storage.test_catalog import SETTINGS, all_keys, publish

pytestmark = pytest.mark.s3


def test_find_is_one_request(proxy, proxied_store):
    catalog = AssetCatalog(proxied_store)
    manifest = publish(catalog)
    for sha in (manifest.source_sha256, sha256_hex(b"never published")):
        before = len(proxy.requests)
        catalog.find(sha, SETTINGS)
        assert len(proxy.requests) - before == 1


def test_failure_half_way_leaves_no_partial_version(proxy, proxied_store, s3_store):
    catalog = AssetCatalog(proxied_store)
    first = publish(catalog, glb=b"version one")
    keys_before = all_keys(s3_store)
    proxy.fail(method="PUT", path="/thumbnail.png", status=503, code="SlowDown")
    with pytest.raises(StoreUnavailable):
        publish(catalog, glb=b"version two")
    assert all_keys(s3_store) == keys_before  # the claim, GLB and record of v2 were removed
    assert AssetCatalog(s3_store).find(first.source_sha256, SETTINGS) == first


def test_failed_first_publish_leaves_nothing(proxy, proxied_store, s3_store):
    proxy.fail(method="PUT", path="/version.json", status=500, code="InternalError")
    with pytest.raises(StoreUnavailable):
        publish(AssetCatalog(proxied_store))
    assert all_keys(s3_store) == []


def test_find_in_missing_bucket_says_so(moto_reset):
    catalog = AssetCatalog(S3Store("missing-bucket", region="us-east-1", endpoint_url=moto_reset))
    with pytest.raises(BucketMissing):
        catalog.find(sha256_hex(b"x"), SETTINGS)


def test_download_cache_revalidates_with_one_small_request(proxy, s3_bucket, tmp_path):
    cache = DownloadCache(tmp_path / "cache", size_mb=1, min_bytes=1024)
    store = S3Store(s3_bucket, region="us-east-1", endpoint_url=proxy.endpoint, cache=cache)
    big = b"G" * 300_000
    store.put("3d_assets/generated/a/v1/model.glb", big, content_type="model/gltf-binary")
    assert store.get("3d_assets/generated/a/v1/model.glb") == big  # downloaded and cached
    assert cache.lookup("3d_assets/generated/a/v1/model.glb") is not None
    assert store.get("3d_assets/generated/a/v1/model.glb") == big  # answered 304, served from disk
    assert proxy.count("GET", "model.glb") == 2
    changed = b"H" * 300_000
    S3Store(s3_bucket, region="us-east-1", endpoint_url=proxy.endpoint).put("3d_assets/generated/a/v1/model.glb", changed)
    assert store.get("3d_assets/generated/a/v1/model.glb") == changed  # another writer's change is seen


def test_download_cache_respects_its_size_cap(s3_store, tmp_path):
    cache = DownloadCache(tmp_path / "cache", size_mb=1, min_bytes=1024)
    store = S3Store(s3_store.bucket, region="us-east-1", endpoint_url=s3_store.endpoint_url, cache=cache)
    for n in range(8):
        store.put(f"big/{n}.bin", bytes([n]) * 400_000)
        assert store.get(f"big/{n}.bin") == bytes([n]) * 400_000
    assert cache.volume_bytes() <= 1.5 * 1024 * 1024  # 8 x 400 KB fetched, cap 1 MB (+ sqlite overhead)
    assert cache.lookup("big/0.bin") is None and cache.lookup("big/7.bin") is not None
    small = b"tiny manifest"
    store.put("m.json", small)
    store.get("m.json")
    assert cache.lookup("m.json") is None


def test_unchanged_first_page_is_one_round_trip(proxy, proxied_store):
    catalog = AssetCatalog(proxied_store)
    for n in range(5):
        publish(catalog, image=f"image {n}".encode(), name=f"item {n}.png")
    cold = len(proxy.requests)
    assert len(catalog.list_assets(limit=3).items) == 3
    computed = len(proxy.requests) - cold  # snapshot + marker + listing + 3 manifests + saving
    warm = len(proxy.requests)
    page = catalog.list_assets(limit=3)
    assert [m.name for m in page.items] == ["item 4.png", "item 3.png", "item 2.png"] and page.next_cursor
    assert len(proxy.requests) - warm == 2 < computed  # snapshot GET + marker HEAD, sent together


def test_failure_after_the_manifest_keeps_the_published_version(proxy, proxied_store, s3_store):
    # Publishing lists the asset's folder three times: to claim, to gather versions, to verify.
    proxy.fail(method="GET", path=r"list-type=2.*generated|generated.*list-type=2", status=503, skip=2)
    with pytest.raises(StoreUnavailable):
        publish(AssetCatalog(proxied_store), glb=b"kept glb")
    manifest = AssetCatalog(s3_store).find(sha256_hex(b"image bytes"), SETTINGS)
    assert manifest is not None and manifest.latest == 1
    assert s3_store.get(manifest.latest_version.files["glb"].key) == b"kept glb"
