"""Optional read-through disk cache for S3 downloads, capped in size (diskcache evicts LRU).

Entries are revalidated with a conditional GET (If-None-Match: etag), so a changed object is never
served stale, yet an unchanged GLB costs one small 304 response instead of a download.

The folder is often a shared temporary one, so whoever can write there must not be able to run
code here: an entry is the object's raw bytes with its ETag as the entry's tag, nothing is ever
pickled, and anything else found in the folder (a pickle diskcache would load, a file name
pointing out of the folder) is dropped unread and counts as a miss.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

MB = 1024 * 1024
MIN_CACHED_BYTES = 16 * 1024  # manifests and other small objects are not worth a disk round trip
MIN_FILE_BYTES = 32 * 1024  # smaller entries live inside the cache's database, larger ones in files
# The value files diskcache names itself: two levels of hex folders, 28 hex digits, ".val".
_VALUE_FILE = re.compile(r"^[0-9a-f]{2}[/\\][0-9a-f]{2}[/\\][0-9a-f]{28}\.val$")

logger = logging.getLogger(__name__)


class UnsafeEntry(Exception):
    """A cache entry that is not raw bytes in the cache's own keeping; it is dropped, never loaded."""


class RawBytesDisk(diskcache.Disk):
    """diskcache's serialiser for text keys and bytes values only: it can neither pickle nor unpickle."""

    def __init__(self, directory, min_file_size=MIN_FILE_BYTES, **_untrusted) -> None:
        # Other disk_* settings come from the folder's database, which anyone with write access can edit.
        super().__init__(directory, min_file_size=min_file_size)

    def put(self, key):
        if type(key) is not str:
            raise TypeError(f"download cache keys are store keys (text), not {type(key).__name__}")
        return super().put(key)

    def get(self, key, raw):
        if not raw:
            raise UnsafeEntry("a pickled key")
        return super().get(key, raw)

    def store(self, value, read, key=UNKNOWN):
        if type(value) is not bytes or read:
            raise TypeError(f"the download cache keeps bytes only, not {type(value).__name__}")
        return super().store(value, read, key)

    def fetch(self, mode, filename, value, read):
        if mode == MODE_RAW and type(value) is bytes:
            return value
        if mode == MODE_BINARY and not read and _VALUE_FILE.match(filename or ""):
            return self._read_value_file(filename)
        raise UnsafeEntry(f"stored with mode {mode!r}")

    def _read_value_file(self, filename: str) -> bytes:
        try:  # O_NOFOLLOW: a value file swapped for a link to some other file is not served
            fd = os.open(os.path.join(self._directory, filename), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise  # evicted by another process in the meantime: diskcache answers a miss
        except OSError as error:
            raise UnsafeEntry(f"its value file cannot be opened safely ({error.strerror})") from None
        with os.fdopen(fd, "rb") as reader:
            return reader.read()

    def remove(self, file_path):
        if _VALUE_FILE.match(file_path or ""):  # never delete a file the cache did not name itself
            super().remove(file_path)


class DownloadCache:
    def __init__(self, directory: str | Path, *, size_mb: int = 1024, min_bytes: int = MIN_CACHED_BYTES) -> None:
        self.directory = Path(directory)
        self.min_bytes = min_bytes
        self._cache = diskcache.Cache(
            str(self.directory), disk=RawBytesDisk, disk_min_file_size=MIN_FILE_BYTES,
            size_limit=size_mb * MB, eviction_policy="least-recently-used",
        )

    def lookup(self, key: str) -> tuple[str, bytes] | None:
        """(etag, bytes) of a cached object, or None (also for an entry that is not raw bytes)."""
        try:
            data, etag = self._cache.get(key, tag=True)
        except UnsafeEntry as problem:
            self._drop(key, str(problem))
            return None
        if data is None:
            return None
        if type(etag) is not str or not etag:
            self._drop(key, "its ETag is not text")
            return None
        return etag, data

    def _drop(self, key: str, why: str) -> None:
        logger.warning("dropped download cache entry %r in %s: it is not raw bytes (%s); written by an older "
                       "version, or by someone else who can write to that folder", key, self.directory, why)
        self._cache.delete(key)

    def remember(self, key: str, etag: str | None, data: bytes) -> None:
        if etag and len(data) >= self.min_bytes:
            self._cache.set(key, bytes(data), tag=etag)

    def evict(self, key: str) -> None:
        self._cache.delete(key)

    def volume_bytes(self) -> int:
        return self._cache.volume()

    def close(self) -> None:
        self._cache.close()
