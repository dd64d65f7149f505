"""A store in an S3 bucket (AWS, MinIO or any S3-compatible endpoint) through boto3."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from storage.errors import (
    AccessDenied,
    BucketMissing,
    KeyExists,
    KeyNotFound,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    StoreUnreachable,
)
from storage.settings import DEFAULT_URL_EXPIRY_S
from storage.store import (
    MAX_PAGE,
    ObjectInfo,
    ObjectPage,
    Store,
    check_expiry,
    check_key,
    check_limit,
    check_metadata,
    check_prefix,
)

if TYPE_CHECKING:
    from storage.cache import DownloadCache

# Every store call is bounded: an endpoint that accepts connections and never answers costs
# MAX_ATTEMPTS x READ_TIMEOUT_S = 9 s plus standard mode's backoff between attempts (under 0.2 s
# for timeouts in current botocore, at most 3 s in older ones), so about 10 s, not minutes.
# The read timeout bounds each wait for bytes, not a whole transfer: a multi-MB object on a slow
# link keeps flowing; 3 s is far above S3's usual time to first byte. An endpoint that takes no
# connection at all costs 3 x 2 s. Three attempts also ride out a short burst of throttling or 5xx.
MAX_ATTEMPTS = 3
CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 3

_ACCESS_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled", "403"}
_BUSY_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "ServiceUnavailable", "InternalError"}
_CONNECTION_ERRORS = (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError)


def make_client(region: str, endpoint_url: str | None = None, *, max_attempts: int = MAX_ATTEMPTS,
                connect_timeout: float = CONNECT_TIMEOUT_S, read_timeout: float = READ_TIMEOUT_S):
    """An S3 client that signs with SigV4, retries in standard mode and gives up on dead endpoints fast."""
    config = Config(
        signature_version="s3v4",
        region_name=region,
        retries={"mode": "standard", "total_max_attempts": max_attempts},  # attempts, first one included
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        # Custom endpoints (MinIO, moto, an IP address) rarely resolve bucket subdomains.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        max_pool_connections=32,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


class S3Store(Store):
    def __init__(self, bucket: str, *, region: str, endpoint_url: str | None = None,
                 url_expiry_s: int = DEFAULT_URL_EXPIRY_S, client=None, cache: "DownloadCache | None" = None) -> None:
        if not bucket:
            raise ValueError("S3Store needs a bucket name. Set S3_BUCKET_NAME.")
        self.bucket = bucket
        self.region = region
        self.endpoint_url = endpoint_url
        self.url_expiry_s = check_expiry(url_expiry_s, DEFAULT_URL_EXPIRY_S)
        self.client = client or make_client(region, endpoint_url)
        self.cache = cache

    # -- errors ------------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"s3://{self.bucket}" + (f" at {self.endpoint_url}" if self.endpoint_url else f" ({self.region})")

    def _bucket_missing(self) -> BucketMissing:
        return BucketMissing(
            f"Bucket {self.bucket!r} does not exist at {self.endpoint_url or 'AWS ' + self.region}",
            f"Create it (aws s3 mb s3://{self.bucket}) or set S3_BUCKET_NAME to an existing bucket.",
        )

    def _timed_out(self, action: str, target: str, *, attempts: int | None = None) -> StoreTimeout:
        """The connection was taken but no answer came: a hung server or a stalled link, not a wrong address."""
        config = self.client.meta.config
        attempts = attempts or (config.retries or {}).get("total_max_attempts") or MAX_ATTEMPTS
        endpoint = self.endpoint_url or self.client.meta.endpoint_url
        tries = f" ({attempts} attempts)" if attempts > 1 else ""
        return StoreTimeout(
            f"The S3 endpoint {endpoint} accepted the connection but did not answer within "
            f"{config.read_timeout:g} s{tries} to {action} {target}",
            "Check S3_ENDPOINT_URL, the network to the store and the service's status "
            "(AWS Health Dashboard, or that the MinIO server is not overloaded); then retry.",
        )

    def _translate(self, error: Exception, action: str, key: str | None = None) -> StoreError:
        target = f"s3://{self.bucket}/{key}" if key else f"s3://{self.bucket}"
        if isinstance(error, (ReadTimeoutError, TimeoutError)):
            return self._timed_out(action, target)
        if isinstance(error, _CONNECTION_ERRORS):
            return StoreUnreachable(
                f"Cannot reach the S3 endpoint {self.endpoint_url or 'of AWS'} to {action} {target} ({error})",
                "Check S3_ENDPOINT_URL, the network and that the server is running.",
            )
        if isinstance(error, NoCredentialsError):
            return AccessDenied(
                f"No AWS credentials found to {action} {target}",
                "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or configure a profile or instance role.",
            )
        if isinstance(error, ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code == "NoSuchBucket":
                return self._bucket_missing()
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                return KeyNotFound(f"Object {target} does not exist", "It may have been deleted; refresh the listing.")
            if code in _ACCESS_CODES or status == 403:
                return AccessDenied(
                    f"Access denied (403 {code}) to {action} {target}",
                    "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and that the IAM policy allows "
                    "s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on this bucket.",
                )
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                return KeyExists(f"Object {target} already exists", "Another writer created it first; read it or use a new key.")
            if code in _BUSY_CODES or status == 429 or status >= 500:
                return StoreUnavailable(
                    f"S3 kept failing to {action} {target} ({status} {code}) after {MAX_ATTEMPTS} attempts",
                    "The store is throttling or unwell; wait a minute and retry, or lower the request rate.",
                )
            return StoreError(f"S3 refused to {action} {target} ({status} {code}: {error})", "Check the bucket settings.")
        if isinstance(error, BotoCoreError):
            return StoreUnreachable(f"S3 request to {action} {target} failed ({error})", "Check S3_ENDPOINT_URL and the network.")
        return StoreError(f"Could not {action} {target} ({error})", "Retry, and report it if it persists.")

    def _call(self, action: str, key: str | None, operation, **kwargs):
        try:
            return operation(Bucket=self.bucket, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise self._translate(error, action, key) from error

    # -- operations --------------------------------------------------------------------------------

    def put(self, key, data, *, content_type=None, metadata=None, if_absent=False) -> ObjectInfo:
        check_key(key)
        meta = check_metadata(metadata)
        data = bytes(data)
        extra = {"ContentType": content_type} if content_type else {}
        if if_absent:
            extra["IfNoneMatch"] = "*"  # S3 conditional write: fails with 412 if the key exists
        response = self._call("write", key, self.client.put_object, Key=key, Body=data, Metadata=meta, **extra)
        if self.cache is not None:
            self.cache.evict(key)
        return ObjectInfo(key, len(data), datetime.now(timezone.utc), _etag(response), content_type, meta)

    def get(self, key: str) -> bytes:
        check_key(key)
        cached = self.cache.lookup(key) if self.cache is not None else None
        extra = {"IfNoneMatch": f'"{cached[0]}"'} if cached else {}
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as error:
            if cached and error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 304:
                return cached[1]  # unchanged since we cached it: one small request, no download
            raise self._translate(error, "read", key) from error
        except BotoCoreError as error:
            raise self._translate(error, "read", key) from error
        try:
            data = response["Body"].read()
        except (ReadTimeoutError, TimeoutError) as error:  # stalled mid-body: botocore does not retry this
            raise self._timed_out("read", f"s3://{self.bucket}/{key}", attempts=1) from error
        except (BotoCoreError, OSError) as error:
            raise self._translate(error, "read", key) from error
        if self.cache is not None:
            self.cache.remember(key, _etag(response), data)
        return data

    def head(self, key: str) -> ObjectInfo | None:
        check_key(key)
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            translated = self._translate(error, "inspect", key)
            if isinstance(translated, KeyNotFound):
                return None
            raise translated from error
        except BotoCoreError as error:
            raise self._translate(error, "inspect", key) from error
        return ObjectInfo(
            key,
            int(response.get("ContentLength", 0)),
            response["LastModified"],
            _etag(response),
            response.get("ContentType"),
            dict(response.get("Metadata") or {}),
        )

    def list_page(self, prefix: str, *, token: str | None = None, limit: int = MAX_PAGE) -> ObjectPage:
        check_prefix(prefix)
        check_limit(limit)
        extra = {"StartAfter": token} if token else {}
        response = self._call("list", prefix or None, self.client.list_objects_v2, Prefix=prefix, MaxKeys=limit, **extra)
        items = [
            ObjectInfo(entry["Key"], int(entry["Size"]), entry["LastModified"], _etag(entry), None, {})
            for entry in response.get("Contents", [])
        ]
        more = bool(response.get("IsTruncated")) and bool(items)
        return ObjectPage(items, items[-1].key if more else None)

    def delete(self, key: str) -> None:
        check_key(key)
        self._call("delete", key, self.client.delete_object, Key=key)
        if self.cache is not None:
            self.cache.evict(key)

    def url(self, key: str, *, expires_s: int | None = None) -> str:
        check_key(key)
        expires_s = check_expiry(expires_s, self.url_expiry_s)
        try:
            return self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
            )
        except (ClientError, BotoCoreError) as error:
            raise self._translate(error, "sign a URL for", key) from error

    def describe(self) -> str:
        return f"s3://{self.bucket} ({self.region}" + (f", {self.endpoint_url})" if self.endpoint_url else ")")

    def check_bucket(self) -> None:
        """One cheap request proving the bucket exists and these credentials may use it."""
        try:
            self._call("open", None, self.client.head_bucket)
        except KeyNotFound:  # HEAD answers a bare 404 without the NoSuchBucket code
            raise self._bucket_missing() from None


def _etag(response: dict) -> str | None:
    etag = response.get("ETag")
    return etag.strip('"') if etag else None


def presigned_url_expiry(url: str) -> datetime | None:
    """When a SigV4 presigned URL stops working (X-Amz-Date + X-Amz-Expires), or None if unsigned."""
    query = parse_qs(urlparse(url).query)
    try:
        signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        return signed_at + timedelta(seconds=int(query["X-Amz-Expires"][0]))
    except (KeyError, ValueError, IndexError):
        return None


def is_url_expired(url: str, now: datetime | None = None) -> bool:
    expiry = presigned_url_expiry(url)
    return expiry is not None and (now or datetime.now(timezone.utc)) >= expiry

