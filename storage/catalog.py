"""The asset catalog: find an asset by image hash + settings, publish versions, list newest first.

Each asset lives under 3d_assets/generated/<id>/ (manifest.json, v<n>/ folders; see
storage.publisher) and has one gallery entry 3d_assets/index/<inverted time>-<id>-<slug>.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

from storage import keys
from storage.errors import CorruptManifest, FirstVersionTaken, KeyNotFound, StoreError
from storage.gallery_cache import MAX_AGE_S, FirstPageCache
from storage.manifest import AssetFile, AssetPage, AssetVersion, Manifest, parse_manifest
from storage.publisher import VersionPublisher
from storage.sources import SourceImage, list_source_images, save_source_image
from storage.store import Store

__all__ = ["AssetCatalog", "AssetFile", "AssetPage", "AssetVersion", "Manifest", "SourceImage"]

DEFAULT_PAGE = 24  # the gallery's page size; its first page is rebuilt by every publish and delete
_FETCH_THREADS = 16  # manifests of one page fetched at once
FIRST_VERSION_WAIT_S = 120.0  # a writer that claimed version 1 has its files ready: it only uploads them
ABANDONED_CLAIM_S = 60.0  # a version-1 claim this old without a manifest: its writer is gone


class AssetCatalog:
    def __init__(self, store: Store, *, first_page_max_age_s: float = MAX_AGE_S) -> None:
        """``first_page_max_age_s`` bounds how long edits made behind the catalog's back stay unseen."""
        self.store = store
        self._first_page = FirstPageCache(store, max_age_s=first_page_max_age_s)
        self._publisher = VersionPublisher(store)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()


    def find(self, image_sha256: str, settings: Mapping) -> Manifest | None:
        """The asset for this image and settings (which include "generator"), in one store request."""
        return self.get(keys.asset_id_for(image_sha256, settings))

    def get(self, asset_id: str) -> Manifest | None:
        key = keys.manifest_key(asset_id)
        try:
            data = self.store.get(key)
        except KeyNotFound:
            return None
        return parse_manifest(data, key)

    def read(self, key: str) -> bytes:
        return self.store.get(key)

    def url(self, key: str, *, expires_s: int | None = None) -> str:
        return self.store.url(key, expires_s=expires_s)


    def publish(self, *, image_sha256: str, name: str, generator: str, settings: Mapping,
                files: Mapping[str, tuple[bytes, str]], timings: Mapping | None = None,
                quality: Mapping | None = None, source_key: str | None = None,
                first_only: bool = False) -> Manifest:
        """Write a new version's files, its record, then the manifest; on failure remove what was written.
        With `first_only`, only as version 1 (FirstVersionTaken when another writer has it)."""
        manifest = self._publisher.publish(image_sha256=image_sha256, name=name, generator=generator,
                                           settings=settings, files=files, timings=timings, quality=quality,
                                           source_key=source_key, first_only=first_only)
        self._gallery_changed()
        return manifest


    def publish_first(self, *, image_sha256: str, settings: Mapping, wait_s: float = FIRST_VERSION_WAIT_S,
                      **publish_args) -> tuple[Manifest, bool]:
        """Publish a missing asset as version 1, or, when another writer (a batch, a dashboard request)
        claimed it first, wait for that writer's manifest: (manifest, whether this call published it)."""
        asset_id = keys.asset_id_for(image_sha256, settings)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return self.publish(image_sha256=image_sha256, settings=settings, first_only=True,
                                    **publish_args), True
            except FirstVersionTaken:
                pass
            manifest = self.find(image_sha256, settings)
            if manifest is not None:
                return manifest, False
            age = self._publisher.first_claim_age_s(asset_id)
            if age is not None and age > ABANDONED_CLAIM_S:  # its writer died (a lost node): build it as v2
                return self.publish(image_sha256=image_sha256, settings=settings, **publish_args), True
            if time.monotonic() > deadline:
                raise StoreError(f"Another writer claimed asset {asset_id} but did not finish it within {wait_s:g} s",
                                 "Run the request again once it ends.")
            time.sleep(0.2)

    def delete(self, asset_id: str) -> int:
        """Remove the manifest first (the asset vanishes at once), then every file and its index entry."""
        prefix = keys.asset_prefix(asset_id)
        index_entries = set()
        try:
            identity = json.loads(self.store.get(keys.identity_key(asset_id)))
            index_entries.add(keys.index_key(keys.parse_iso(identity["created_at"]), asset_id, identity["name"]))
        except (KeyNotFound, ValueError, KeyError, TypeError):
            pass
        try:
            manifest = self.get(asset_id)
            if manifest is not None:
                index_entries.add(keys.gallery_key(manifest))
        except CorruptManifest:
            pass
        removed = 0
        manifest_key = keys.manifest_key(asset_id)
        if self.store.exists(manifest_key):
            self.store.delete(manifest_key)
            removed += 1
        for entry in index_entries:
            if self.store.exists(entry):
                self.store.delete(entry)
                removed += 1
        for info in list(self.store.iter_keys(prefix)):
            self.store.delete(info.key)
            removed += 1
        if removed:
            self._gallery_changed()
        return removed

    def _gallery_changed(self) -> None:
        """Mark the gallery changed; its next viewer rebuilds the first page.

        Not rebuilt here: a batch publishes far more often than people look, and a rebuild
        costs a listing plus a page of manifest reads per publish.
        """
        self._first_page.touch()


    def list_assets(self, *, limit: int = DEFAULT_PAGE, cursor: str | None = None, name_contains: str | None = None) -> AssetPage:
        """Newest first, ``limit`` at a time; reads index keys, then only the manifests it shows.

        The first page without a search comes from a snapshot while nothing has changed.
        """
        if not 1 <= int(limit) <= 1000:
            raise ValueError(f"limit={limit} is out of range. Ask for 1 to 1000 assets per page.")
        if cursor is not None and not cursor.startswith(keys.ASSET_INDEX):
            raise ValueError(f"Cursor {cursor!r} is not from list_assets. Pass back next_cursor unchanged.")
        needle = (name_contains or "").strip().casefold()
        if cursor is not None or needle:
            return self._scan_index(limit, cursor, needle)
        cached, marker = self._first_page.lookup(limit, self._executor())
        if cached is not None:
            return cached
        page = self._scan_index(limit, None, "")
        self._first_page.save(limit, marker, page)
        return page

    def _scan_index(self, limit: int, cursor: str | None, needle: str) -> AssetPage:
        needle_slug = keys.slugify(needle)
        items: list[Manifest] = []
        skipped: list[str] = []
        token = cursor
        batch = 1000 if needle else min(1000, limit + 8)  # a few spare for stale entries
        while True:
            page = self.store.list_page(keys.ASSET_INDEX, token=token, limit=batch)
            entries = [(info.key, parsed) for info in page.items
                       if (parsed := keys.parse_index_key(info.key)) and keys.slug_may_match(parsed[1], needle_slug)]
            for start in range(0, len(entries), limit):
                chunk = entries[start:start + limit]
                for (entry_key, (asset_id, _)), outcome in zip(chunk, self._fetch_manifests([a for _, (a, _) in chunk])):
                    if isinstance(outcome, str):
                        skipped.append(outcome)
                    elif outcome is not None and keys.gallery_key(outcome) == entry_key and needle in outcome.name.casefold():
                        items.append(outcome)
                    if len(items) == limit:
                        more = entry_key != page.items[-1].key or page.next_token is not None
                        return AssetPage(items, entry_key if more else None, skipped)
            if page.next_token is None:
                return AssetPage(items, None, skipped)
            token = page.next_token

    def _fetch_manifests(self, asset_ids: list[str]) -> list[Manifest | str | None]:
        """Manifests read in parallel: a Manifest, None (gone or not yet written) or why it was skipped."""
        def fetch(asset_id: str) -> Manifest | str | None:
            try:
                return self.get(asset_id)
            except CorruptManifest as error:
                return f"{keys.manifest_key(asset_id)}: {error.what}"

        if len(asset_ids) <= 1:
            return [fetch(a) for a in asset_ids]
        return list(self._executor().map(fetch, asset_ids))

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="catalog")
            return self._pool


    def save_source_image(self, data: bytes, name: str) -> SourceImage:
        return save_source_image(self.store, data, name)

    def list_source_images(self, *, limit: int = 48, cursor: str | None = None,
                           name_contains: str | None = None) -> tuple[list[SourceImage], str | None]:
        return list_source_images(self.store, limit=limit, cursor=cursor, name_contains=name_contains)
