"""One small store interface; backends differ only in how they talk to their storage."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Iterator, Mapping

from storage.errors import InvalidKey
from storage.settings import MAX_URL_EXPIRY_S

if TYPE_CHECKING:
    from storage.settings import StorageSettings

MAX_PAGE = 1000  # S3 returns at most 1000 keys per list request
MAX_KEY_BYTES = 1024  # S3's key length limit


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    last_modified: datetime
    etag: str | None
    content_type: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectPage:
    items: list[ObjectInfo]
    next_token: str | None


class Store(ABC):
    """put, get, head, list a page, delete, sign a URL. Keys use ``/`` and never escape the root."""

    @abstractmethod
    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_absent: bool = False,
    ) -> ObjectInfo:
        """Write ``data`` at ``key``. With ``if_absent`` raise KeyExists if the key exists (atomic)."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; KeyNotFound if it does not exist."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """The object's info, or None if it does not exist."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    @abstractmethod
    def list_page(self, prefix: str, *, token: str | None = None, limit: int = MAX_PAGE) -> ObjectPage:
        """Keys under ``prefix`` in ascending order, at most ``limit`` (<= 1000); ``token`` continues."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    @abstractmethod
    def url(self, key: str, *, expires_s: int | None = None) -> str:
        """A URL a browser or urllib can fetch the object from."""

    @abstractmethod
    def describe(self) -> str:
        """Where the bytes live, for people: ``s3://bucket (region)`` or ``local folder /abs/path``."""

    def iter_keys(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix``, page by page (for a bounded prefix such as one asset's folder or a batch's images, never the whole bucket)."""
        token = None
        while True:
            page = self.list_page(prefix, token=token)
            yield from page.items
            if page.next_token is None:
                return
            token = page.next_token


def check_key(key: str) -> str:
    """Refuse keys that could escape a folder root or that a file system cannot hold."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("The key is empty", "Pass a path like images/uploaded/<sha256>/photo.png.")
    problem = _key_problem(key)
    if problem:
        raise InvalidKey(f"Key {key!r} {problem}", "Use relative keys of non-empty segments joined by '/'.")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"Key {key[:60]!r}... is longer than {MAX_KEY_BYTES} bytes", "Use a shorter name.")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix is a key that may be empty and may end with '/' (or stop mid-segment)."""
    if prefix:
        problem = _key_problem(prefix.rstrip("/") or "/")
        if problem:
            raise InvalidKey(f"Prefix {prefix!r} {problem}", "Use a relative prefix like images/uploaded/.")
    return prefix


def _key_problem(key: str) -> str | None:
    if "\x00" in key:
        return "contains a NUL character"
    if "\\" in key:
        return "contains a backslash"
    if key.startswith("/"):
        return "is absolute (starts with '/')"
    segments = key.split("/")
    if any(segment == "" for segment in segments):
        return "has an empty segment ('//' or a trailing '/')"
    if any(segment in (".", "..") for segment in segments):
        return "has a '.' or '..' segment"
    return None


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit={limit!r} is out of range. Ask for 1 to {MAX_PAGE} keys per page.")
    return limit


def check_expiry(expires_s: int | None, default: int) -> int:
    expires_s = default if expires_s is None else expires_s
    if not isinstance(expires_s, int) or not 1 <= expires_s <= MAX_URL_EXPIRY_S:
        raise ValueError(
            f"URL expiry {expires_s!r} s is out of range. Use 1 to {MAX_URL_EXPIRY_S} seconds (7 days at most)."
        )
    return expires_s


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """S3 user metadata travels in HTTP headers: ASCII only, names lowercased by S3."""
    clean: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        name, value = str(name).lower(), str(value)
        if not name.isascii() or not value.isascii() or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(
                f"Metadata {name!r}={value!r} is not plain ASCII. Use ASCII letters, digits and '-' in names "
                "and ASCII values (percent-encode anything else)."
            )
        clean[name] = value
    return clean


def open_store(settings: "StorageSettings | None" = None) -> Store:
    """The store the settings ask for: S3 (with the optional download cache) or a local folder."""
    from storage.settings import load_settings

    settings = settings or load_settings()
    if not settings.use_s3:
        from storage.local_store import LocalStore

        return LocalStore(settings.local_dir)
    from storage.s3_store import S3Store

    cache = None
    if settings.cache_dir is not None:
        from storage.cache import DownloadCache

        cache = DownloadCache(settings.cache_dir, size_mb=settings.cache_size_mb)
    return S3Store(
        settings.bucket,
        region=settings.region,
        endpoint_url=settings.endpoint_url,
        url_expiry_s=settings.url_expiry_s,
        cache=cache,
    )
