import pytest

from tests.storage.fault_proxy import FaultProxy


@pytest.fixture
def proxy(moto_endpoint, s3_bucket):
    """A loopback HTTP proxy in front of moto that can inject S3 errors and counts requests."""
    with FaultProxy(moto_endpoint) as running:
        yield running


@pytest.fixture
def proxied_store(proxy, s3_bucket):
    from storage.s3_store import S3Store

    return S3Store(s3_bucket, region="us-east-1", endpoint_url=proxy.endpoint)
