"""A moto S3 server on loopback (real HTTP, fake credentials), shared by the session, reset per test."""

from __future__ import annotations

import logging
import os
import urllib.request

import pytest

TEST_BUCKET = "studio-test-bucket"
TEST_REGION = "us-east-1"
# Fake credentials for the moto server; config files are ignored so a developer's ~/.aws never leaks in.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIATESTFAKEKEYABCD",
    "AWS_SECRET_ACCESS_KEY": "fake-secret-for-moto",
    "AWS_DEFAULT_REGION": TEST_REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture
def fake_aws_credentials(monkeypatch):
    """Fake credentials for S3 clients that talk to loopback peers other than moto."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_endpoint():
    """``http://127.0.0.1:<random port>`` of a moto server running in a thread of this process."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request is noise
    saved = {name: os.environ.get(name) for name in FAKE_AWS_ENV}
    os.environ.update(FAKE_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def moto_reset(moto_endpoint):
    """Empty moto's state (all buckets) through its reset API before the test."""
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    return moto_endpoint


@pytest.fixture
def s3_bucket(moto_reset):
    """A fresh, empty bucket on the moto server; returns its name."""
    from storage.s3_store import make_client

    make_client(TEST_REGION, moto_reset).create_bucket(Bucket=TEST_BUCKET)
    return TEST_BUCKET


@pytest.fixture
def s3_env(moto_endpoint, s3_bucket, tmp_path) -> dict[str, str]:
    """Environment variables that point the app (or a subprocess) at the fresh bucket."""
    return {
        **FAKE_AWS_ENV,
        "USE_S3_STORAGE": "true",
        "S3_BUCKET_NAME": s3_bucket,
        "S3_REGION": TEST_REGION,
        "S3_ENDPOINT_URL": moto_endpoint,
        "LOCAL_STORAGE_DIR": str(tmp_path / "unused-local-store"),
    }


@pytest.fixture
def s3_store(moto_endpoint, s3_bucket):
    from storage.s3_store import S3Store

    return S3Store(s3_bucket, region=TEST_REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def local_store(tmp_path):
    from storage.local_store import LocalStore

    return LocalStore(tmp_path / "local-store")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request):
    """Each test using it runs once per backend: the same suite for LocalStore and S3Store."""
    return request.getfixturevalue(f"{request.param}_store")
