"""The download cache holds raw bytes only: nothing planted in its folder can run code."""

from __future__ import annotations

import logging
import sqlite3

import diskcache
import pytest

from storage.cache import DownloadCache

KEY = "3d_assets/generated/a/v1/model.glb"


class _RunsCodeWhenUnpickled:
    """What an attacker plants: unpickling it calls open(marker, "w"), creating the marker file."""

    def __init__(self, marker: str, padding: int) -> None:
        self.marker = marker
        self.padding = padding

    def __reduce__(self):
        return open, (self.marker, "w"), b"x" * self.padding


def _stored_modes(directory) -> list[int]:
    with sqlite3.connect(directory / "cache.db") as db:
        return [mode for (mode,) in db.execute("SELECT mode FROM Cache")]


def test_entries_are_raw_bytes_with_the_etag_beside_them(tmp_path):
    cache = DownloadCache(tmp_path / "cache", min_bytes=1)
    small, big = b"s" * 100, b"b" * 300_000  # one kept inside the database, one in a file of its own
    cache.remember("small.bin", "etag-small", small)
    cache.remember("big.bin", "etag-big", big)
    assert cache.lookup("small.bin") == ("etag-small", small)
    assert cache.lookup("big.bin") == ("etag-big", big)
    cache.close()
    assert sorted(_stored_modes(tmp_path / "cache")) == [diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY]


@pytest.mark.parametrize("padding", [0, 200_000], ids=["in-database", "in-file"])
def test_a_planted_pickle_is_dropped_and_never_unpickled(tmp_path, caplog, padding):
    folder, marker = tmp_path / "cache", tmp_path / "code-ran"
    with diskcache.Cache(str(folder)) as planted:
        planted.set(KEY, _RunsCodeWhenUnpickled(str(marker), padding))
    assert _stored_modes(folder) == [diskcache.core.MODE_PICKLE]

    cache = DownloadCache(folder, min_bytes=1)
    with caplog.at_level(logging.WARNING, logger="storage.cache"):
        assert cache.lookup(KEY) is None  # a miss: the caller downloads the object again
    assert not marker.exists(), "the planted pickle was unpickled"
    assert cache.lookup(KEY) is None and _stored_modes(folder) == []  # dropped, not kept around
    [warning] = [record for record in caplog.records if record.name == "storage.cache"]
    assert KEY in warning.getMessage() and "not raw bytes" in warning.getMessage()

    cache.remember(KEY, "fresh", b"y" * 64)  # the cache keeps working after dropping it
    assert cache.lookup(KEY) == ("fresh", b"y" * 64)


def test_an_entry_from_the_old_tuple_layout_is_a_miss(tmp_path):
    folder = tmp_path / "cache"
    with diskcache.Cache(str(folder)) as old:
        old.set(KEY, ("etag", b"z" * 64))  # what earlier versions stored: a pickled (etag, bytes) tuple
    assert DownloadCache(folder, min_bytes=1).lookup(KEY) is None


def test_a_planted_file_name_outside_the_cache_is_never_read(tmp_path):
    folder, secret = tmp_path / "cache", tmp_path / "secret.txt"
    secret.write_bytes(b"not for the cache")
    cache = DownloadCache(folder, min_bytes=1)
    cache.remember(KEY, "etag", b"b" * 300_000)
    cache.close()
    with sqlite3.connect(folder / "cache.db") as db:  # point the entry at a file outside the folder
        db.execute("UPDATE Cache SET filename = ?", ("../secret.txt",))
    assert DownloadCache(folder, min_bytes=1).lookup(KEY) is None
    assert secret.read_bytes() == b"not for the cache"  # neither served nor removed
