"""Optional read-through disk cache for S3 downloads, capped in size (diskcache evicts LRU).

Entries are revalidated with a conditional GET (If-None-Match: etag), so a changed object is never
served stale, yet an unchanged GLB costs one small 304 response instead of a download.
"""

from __future__ import annotations

from pathlib import Path

import diskcache

MB = 1024 * 1024
MIN_CACHED_BYTES = 16 * 1024  # manifests and other small objects are not worth a disk round trip


class DownloadCache:
    def __init__(self, directory: str | Path, *, size_mb: int = 1024, min_bytes: int = MIN_CACHED_BYTES) -> None:
        self.directory = Path(directory)
        self.min_bytes = min_bytes
        self._cache = diskcache.Cache(
            str(self.directory), size_limit=size_mb * MB, eviction_policy="least-recently-used"
        )

    def lookup(self, key: str) -> tuple[str, bytes] | None:
        entry = self._cache.get(key)
        return entry if isinstance(entry, tuple) else None

    def remember(self, key: str, etag: str | None, data: bytes) -> None:
        if etag and len(data) >= self.min_bytes:
            self._cache.set(key, (etag, data))

    def evict(self, key: str) -> None:
        self._cache.delete(key)

    def volume_bytes(self) -> int:
        return self._cache.volume()

    def close(self) -> None:
        self._cache.close()
