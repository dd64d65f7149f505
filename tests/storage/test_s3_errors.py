"""Errors S3 users meet, each over real HTTP: moto itself, or a loopback proxy injecting S3 errors."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone

import pytest

from storage.errors import AccessDenied, BucketMissing, StoreUnavailable, StoreUnreachable
from storage.s3_store import MAX_ATTEMPTS, S3Store, is_url_expired, presigned_url_expiry

pytestmark = pytest.mark.s3


def test_bucket_missing(moto_reset):
    store = S3Store("no-such-bucket-here", region="us-east-1", endpoint_url=moto_reset)
    with pytest.raises(BucketMissing) as caught:
        store.get("any/key")
    assert "no-such-bucket-here" in caught.value.what
    assert "S3_BUCKET_NAME" in caught.value.hint
    with pytest.raises(BucketMissing):
        store.list_page("")
    with pytest.raises(BucketMissing):
        store.put("a", b"1")


def test_access_denied(proxy, proxied_store):
    proxy.fail(status=403, code="AccessDenied")
    for operation in (lambda: proxied_store.get("k"), lambda: proxied_store.put("k", b"1"),
                      lambda: proxied_store.list_page(""), lambda: proxied_store.head("k")):
        with pytest.raises(AccessDenied) as caught:
            operation()
        assert "403" in caught.value.what and "AWS_ACCESS_KEY_ID" in caught.value.hint


def test_throttling_is_retried_then_succeeds(proxy, proxied_store, s3_store):
    s3_store.put("busy.bin", b"payload")
    proxy.fail(method="GET", path="busy.bin", status=503, code="SlowDown", times=MAX_ATTEMPTS - 1)
    assert proxied_store.get("busy.bin") == b"payload"
    assert proxy.count("GET", "busy.bin") == MAX_ATTEMPTS


@pytest.mark.parametrize("status,code", [(503, "SlowDown"), (500, "InternalError"), (502, "BadGateway")])
def test_lasting_5xx_is_reported_after_retries(proxy, proxied_store, status, code):
    proxy.fail(status=status, code=code)
    with pytest.raises(StoreUnavailable) as caught:
        proxied_store.put("x.bin", b"1")
    assert str(status) in caught.value.what and "retry" in caught.value.hint.lower()
    assert proxy.count("PUT") == MAX_ATTEMPTS


def test_unreachable_endpoint_fails_within_seconds(fake_aws_credentials):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = S3Store("bucket", region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(StoreUnreachable) as caught:
        store.get("k")
    assert time.monotonic() - started < 15
    assert f"127.0.0.1:{port}" in caught.value.what and "S3_ENDPOINT_URL" in caught.value.hint


def test_glb_content_type_and_source_hash_metadata_reach_s3(s3_store):
    import boto3

    sha = "cd" * 32
    s3_store.put("3d_assets/generated/a/v1/model.glb", b"glTF", content_type="model/gltf-binary",
                 metadata={"source-sha256": sha})
    raw = s3_store.client.head_object(Bucket=s3_store.bucket, Key="3d_assets/generated/a/v1/model.glb")
    assert raw["ContentType"] == "model/gltf-binary"
    assert raw["Metadata"]["source-sha256"] == sha
    assert isinstance(boto3.__version__, str)


def test_presigned_url_expiry_is_ours_to_check(s3_store):
    s3_store.put("k.bin", b"1")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    default_url = s3_store.url("k.bin")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in default_url  # SigV4
    expiry = presigned_url_expiry(default_url)
    assert before + timedelta(seconds=3600) <= expiry <= before + timedelta(seconds=3602)
    week_url = s3_store.url("k.bin", expires_s=7 * 24 * 3600)
    assert presigned_url_expiry(week_url) - presigned_url_expiry(default_url) >= timedelta(days=7) - timedelta(hours=1, seconds=2)
    short = s3_store.url("k.bin", expires_s=1)
    assert not is_url_expired(short)
    assert is_url_expired(short, now=datetime.now(timezone.utc) + timedelta(seconds=2))
    assert presigned_url_expiry("https://example.com/plain") is None


def test_store_default_expiry_comes_from_settings(moto_endpoint, s3_bucket):
    store = S3Store(s3_bucket, region="us-east-1", endpoint_url=moto_endpoint, url_expiry_s=120)
    url = store.url("k.bin")
    assert "X-Amz-Expires=120" in url
    with pytest.raises(ValueError, match="7 days"):
        S3Store(s3_bucket, region="us-east-1", endpoint_url=moto_endpoint, url_expiry_s=8 * 24 * 3600)


def test_check_bucket(s3_store, moto_endpoint):
    s3_store.check_bucket()
    with pytest.raises(BucketMissing):
        S3Store("absent-bucket", region="us-east-1", endpoint_url=moto_endpoint).check_bucket()
