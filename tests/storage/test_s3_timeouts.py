"""Bounded waits: a hung S3 endpoint costs seconds and a StoreTimeout, while slow but flowing transfers succeed."""

from __future__ import annotations

import time

import pytest

from storage.catalog import AssetCatalog
from storage.errors import StoreTimeout, StoreUnreachable
from storage.keys import sha256_hex
from storage.s3_store import MAX_ATTEMPTS, READ_TIMEOUT_S, S3Store, make_client
from tests.storage.fault_proxy import FaultProxy

pytestmark = pytest.mark.s3

SETTINGS = {"generator": "inflate", "resolution": 64}


def impatient_store(bucket: str, endpoint: str) -> S3Store:
    """One attempt, half a second per read: the same code paths as the defaults, in a fraction of the time."""
    client = make_client("us-east-1", endpoint, max_attempts=1, read_timeout=0.5)
    return S3Store(bucket, region="us-east-1", endpoint_url=endpoint, client=client)


def test_catalog_lookup_on_a_hung_endpoint_fails_within_seconds(moto_endpoint, s3_bucket):
    with FaultProxy(moto_endpoint) as proxy:
        proxy.hang(method="GET")
        catalog = AssetCatalog(S3Store(s3_bucket, region="us-east-1", endpoint_url=proxy.endpoint))
        started = time.monotonic()
        with pytest.raises(StoreTimeout) as caught:
            catalog.find(sha256_hex(b"image bytes"), SETTINGS)
        elapsed = time.monotonic() - started
        assert proxy.count("GET") == MAX_ATTEMPTS  # every attempt was taken and left unanswered
    assert proxy.hanging == 0  # leaving the proxy released every hung connection
    assert elapsed < 12, f"a hung endpoint held the lookup for {elapsed:.1f} s"
    message = str(caught.value)
    assert "\n" not in message
    assert proxy.endpoint in caught.value.what and f"did not answer within {READ_TIMEOUT_S} s" in caught.value.what
    assert "S3_ENDPOINT_URL" in caught.value.hint and "status" in caught.value.hint
    assert isinstance(caught.value, StoreUnreachable)  # callers that handle "unreachable" keep working


def test_every_operation_on_a_hung_endpoint_raises_store_timeout(proxy, s3_bucket):
    proxy.hang()
    store = impatient_store(s3_bucket, proxy.endpoint)
    for operation in (lambda: store.head("k"), lambda: store.get("k"), lambda: store.put("k", b"1"),
                      lambda: store.list_page(""), lambda: store.delete("k"), store.check_bucket):
        with pytest.raises(StoreTimeout, match="did not answer within 0.5 s"):
            operation()


def test_a_body_that_stalls_halfway_raises_store_timeout(proxy, s3_store, s3_bucket):
    s3_store.put("big.bin", bytes(256 * 1024))
    proxy.hang(method="GET", path="big.bin", mid_body=True)
    with pytest.raises(StoreTimeout) as caught:
        impatient_store(s3_bucket, proxy.endpoint).get("big.bin")
    assert "big.bin" in caught.value.what and "\n" not in str(caught.value)


def test_a_slow_but_flowing_download_outlasts_the_read_timeout(proxy, s3_store, s3_bucket):
    data = bytes(range(256)) * (4 * 1024)  # 1 MiB
    s3_store.put("slow.bin", data)
    proxy.slow(method="GET", path="slow.bin", bytes_per_s=512 * 1024)  # about 2 s, four read timeouts
    started = time.monotonic()
    assert impatient_store(s3_bucket, proxy.endpoint).get("slow.bin") == data
    assert time.monotonic() - started > 1  # it really trickled: the timeout is per read, not per transfer


def test_an_endpoint_that_refuses_connections_is_unreachable_not_slow(fake_aws_credentials):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreUnreachable) as caught:
        S3Store("bucket", region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}").head("k")
    assert not isinstance(caught.value, StoreTimeout)
