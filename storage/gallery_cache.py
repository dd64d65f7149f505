"""The gallery's first page kept as one object, valid until the catalog changes.

The landing page is read far more often than assets change, and listing a prefix costs some
S3-compatible servers time in proportion to the whole bucket. Every publish and delete touches a
change marker; a snapshot records the marker's ETag read *before* the page was computed, so any
change made since then invalidates it. A maximum age bounds staleness from edits made behind
the catalog's back (objects deleted by hand).
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import Executor

from storage import keys
from storage.errors import CorruptManifest, KeyNotFound, StoreError
from storage.manifest import AssetPage, Manifest
from storage.store import Store

CHANGE_MARKER = keys.GALLERY_CACHE + "changed"
MAX_AGE_S = 60.0


def snapshot_key(limit: int) -> str:
    return f"{keys.GALLERY_CACHE}first-page-{limit}.json"


class FirstPageCache:
    def __init__(self, store: Store, *, max_age_s: float = MAX_AGE_S) -> None:
        self.store = store
        self.max_age_s = max_age_s

    def touch(self) -> None:
        """Mark the catalog changed (new content, so a new ETag); failing here only delays freshness."""
        try:
            self.store.put(CHANGE_MARKER, uuid.uuid4().hex.encode(), content_type="text/plain")
        except StoreError:
            pass

    def lookup(self, limit: int, pool: Executor) -> tuple[AssetPage | None, str]:
        """(the cached page if still valid, the marker to store with a freshly computed page)."""
        snapshot = pool.submit(self._load, limit)  # both requests in flight at once: one round trip
        marker = self._marker()
        data = snapshot.result()
        if not data or data.get("marker") != marker or time.time() - float(data.get("saved_at", 0)) > self.max_age_s:
            return None, marker
        try:
            items = [Manifest.from_dict(item, key=snapshot_key(limit)) for item in data["items"]]
            return AssetPage(items, data["next_cursor"], list(data["skipped"])), marker
        except (CorruptManifest, KeyError, TypeError):
            return None, marker

    def save(self, limit: int, marker: str, page: AssetPage) -> None:
        payload = {
            "marker": marker,
            "saved_at": time.time(),
            "items": [item.to_dict() for item in page.items],
            "next_cursor": page.next_cursor,
            "skipped": page.skipped,
        }
        try:
            self.store.put(snapshot_key(limit), json.dumps(payload).encode(), content_type="application/json")
        except StoreError:
            pass  # a read-only store still lists, just without the snapshot

    def _marker(self) -> str:
        info = self.store.head(CHANGE_MARKER)
        return info.etag or str(info.last_modified.timestamp()) if info else "never changed"

    def _load(self, limit: int) -> dict | None:
        try:
            data = json.loads(self.store.get(snapshot_key(limit)))
        except (KeyNotFound, ValueError):
            return None
        return data if isinstance(data, dict) else None
