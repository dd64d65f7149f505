"""The asset catalog: find an asset by image hash + settings, publish versions, list newest first.

Layout of one asset (see storage.keys):
    3d_assets/generated/<id>/asset.json          identity, created once (if absent) by the first publish
    3d_assets/generated/<id>/v<n>/claim.json     taken if absent before version n's files are written
    3d_assets/generated/<id>/v<n>/model.glb ...  the version's files
    3d_assets/generated/<id>/v<n>/version.json   written after the files: version n is complete
    3d_assets/generated/<id>/manifest.json       written last, rebuilt from all version.json records
    3d_assets/index/<inverted time>-<id>-<slug>  gallery entry, newest first
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping

from storage import keys
from storage.errors import CorruptManifest, KeyExists, KeyNotFound, StoreError
from storage.gallery_cache import MAX_AGE_S, FirstPageCache
from storage.manifest import AssetFile, AssetPage, AssetVersion, Manifest
from storage.sources import SourceImage, list_source_images, save_source_image
from storage.store import Store

__all__ = ["AssetCatalog", "AssetFile", "AssetPage", "AssetVersion", "Manifest", "SourceImage"]

_MAX_CLAIM_TRIES = 100
_MAX_MANIFEST_ROUNDS = 20
DEFAULT_PAGE = 24  # the gallery's page size; its first page is rebuilt by every publish and delete
_FETCH_THREADS = 16  # manifests of one page fetched at once


class AssetCatalog:
    def __init__(self, store: Store, *, first_page_max_age_s: float = MAX_AGE_S) -> None:
        """``first_page_max_age_s`` bounds how long edits made behind the catalog's back stay unseen."""
        self.store = store
        self._first_page = FirstPageCache(store, max_age_s=first_page_max_age_s)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    # -- lookup ------------------------------------------------------------------------------------

    def find(self, image_sha256: str, settings: Mapping) -> Manifest | None:
        """The asset for this image and settings (which include "generator"), in one store request."""
        return self.get(keys.asset_id_for(image_sha256, settings))

    def get(self, asset_id: str) -> Manifest | None:
        key = keys.manifest_key(asset_id)
        try:
            data = self.store.get(key)
        except KeyNotFound:
            return None
        return _parse_manifest(data, key)

    def read(self, key: str) -> bytes:
        return self.store.get(key)

    def url(self, key: str, *, expires_s: int | None = None) -> str:
        return self.store.url(key, expires_s=expires_s)

    # -- publish -----------------------------------------------------------------------------------

    def publish(self, *, image_sha256: str, name: str, generator: str, settings: Mapping,
                files: Mapping[str, tuple[bytes, str]], timings: Mapping | None = None,
                quality: Mapping | None = None, source_key: str | None = None) -> Manifest:
        """Write a new version's files, its record, then the manifest; on failure remove what was written."""
        identity_settings = _identity_settings(generator, settings)
        asset_id = keys.asset_id_for(image_sha256, identity_settings)
        planned = _planned_files(files)
        name = _display_name(name)
        timings = {str(k): float(v) for k, v in (timings or {}).items()}
        quality = _plain_json(dict(quality or {}), "quality")

        identity, created_identity = self._identity(asset_id, image_sha256, name, identity_settings, source_key)
        written: list[str] = []
        number = None
        try:
            number = self._claim_version(asset_id, written)
            prefix = keys.version_prefix(asset_id, number)
            meta = {"source-sha256": image_sha256, "asset-id": asset_id, "version": str(number)}
            stored: dict[str, AssetFile] = {}
            for kind, (file_name, data, content_type) in planned.items():
                key = prefix + file_name
                written.append(key)
                self.store.put(key, data, content_type=content_type, metadata=meta)
                stored[kind] = AssetFile(key, len(data), content_type)
            version = AssetVersion(number, keys.iso(keys.utc_now()), stored, timings, quality)
            record_key = keys.version_record_key(asset_id, number)
            written.append(record_key)
            self.store.put(record_key, json.dumps(version.to_dict()).encode(), content_type="application/json")
            manifest = self._write_manifest(asset_id, identity, must_include=number)
        except BaseException:
            if not self._manifest_lists(asset_id, number):  # once listed, the files belong to the asset
                self._clean_up(asset_id, written, identity if created_identity else None)
            raise
        self._gallery_changed()
        return manifest

    def _identity(self, asset_id, image_sha256, name, settings, source_key) -> tuple[dict, bool]:
        key = keys.identity_key(asset_id)
        identity = {
            "asset_id": asset_id,
            "source_sha256": image_sha256,
            "name": name,
            "generator": settings["generator"],
            "settings": settings,
            "created_at": keys.iso(keys.utc_now()),
            "source_key": source_key,
        }
        try:
            self.store.put(key, json.dumps(identity).encode(), content_type="application/json", if_absent=True)
            return identity, True
        except KeyExists:
            pass
        try:
            stored = json.loads(self.store.get(key))
            keys.parse_iso(stored["created_at"])
            str(stored["name"])
            return stored, False
        except (ValueError, KeyError, TypeError):
            raise CorruptManifest(
                f"Asset record {key} is damaged", f"Delete the asset (python -m ray_jobs assets --delete {asset_id}) and retry."
            ) from None

    def _claim_version(self, asset_id: str, written: list[str]) -> int:
        """Take the next free version number; a claim is an exclusive create, read back to be sure."""
        taken = [parsed[0] for info in self.store.iter_keys(keys.asset_prefix(asset_id))
                 if (parsed := keys.parse_version_key(info.key))]
        number = max(taken, default=0) + 1
        token = uuid.uuid4().hex
        for _ in range(_MAX_CLAIM_TRIES):
            key = keys.claim_key(asset_id, number)
            try:
                self.store.put(key, json.dumps({"writer": token}).encode(), content_type="application/json", if_absent=True)
            except KeyExists:
                number += 1
                continue
            # Some S3-compatible servers check and write in two steps; reading back closes most of that gap.
            if json.loads(self.store.get(key)).get("writer") == token:
                written.append(key)
                return number
            number += 1
        raise StoreError(f"Could not claim a version number for asset {asset_id}", "Too many writers at once; retry.")

    def _write_manifest(self, asset_id: str, identity: dict, *, must_include: int | None = None) -> Manifest:
        """Rebuild the manifest from every complete version until a fresh listing agrees with it.

        Whoever writes the manifest last re-lists afterwards and sees every version completed
        before that write, so the final manifest never drops a version that has files.
        """
        for _ in range(_MAX_MANIFEST_ROUNDS):
            versions = self._complete_versions(asset_id)
            if must_include is not None and must_include not in {v.version for v in versions}:
                raise KeyNotFound(f"Version {must_include} of asset {asset_id} vanished while publishing",
                                  "The asset was probably deleted meanwhile; publish again.")
            manifest = _build_manifest(identity, versions)
            self.store.put(_index_key(manifest), b"", content_type="application/octet-stream")
            self.store.put(keys.manifest_key(asset_id), json.dumps(manifest.to_dict(), indent=1).encode(),
                           content_type="application/json")
            listed = {parsed[0] for info in self.store.iter_keys(keys.asset_prefix(asset_id))
                      if (parsed := keys.parse_version_key(info.key)) and parsed[1] == "version.json"}
            if listed <= {v.version for v in manifest.versions}:
                return manifest
        raise StoreError(f"The manifest of asset {asset_id} kept changing under us", "Retry the publish.")

    def _complete_versions(self, asset_id: str) -> list[AssetVersion]:
        versions = []
        for info in list(self.store.iter_keys(keys.asset_prefix(asset_id))):
            parsed = keys.parse_version_key(info.key)
            if not parsed or parsed[1] != "version.json":
                continue
            try:
                versions.append(AssetVersion.from_dict(json.loads(self.store.get(info.key))))
            except KeyNotFound:
                continue  # deleted after the listing
            except (ValueError, KeyError, TypeError):
                continue  # a damaged record is not a complete version
        return sorted(versions, key=lambda v: v.version)

    def _manifest_lists(self, asset_id: str, number: int | None) -> bool:
        try:
            manifest = self.get(asset_id) if number is not None else None
        except StoreError:
            return False
        return manifest is not None and number in {v.version for v in manifest.versions}

    def _clean_up(self, asset_id: str, written: list[str], created_identity: dict | None) -> None:
        """Best effort: remove a failed publish's objects so no partial version is left behind."""
        try:
            for key in reversed(written):
                self.store.delete(key)
            if created_identity is not None:
                remaining = [info.key for info in self.store.iter_keys(keys.asset_prefix(asset_id))]
                if remaining == [keys.identity_key(asset_id)]:
                    self.store.delete(keys.identity_key(asset_id))
        except StoreError:
            pass  # the store is down; leftovers have no version record or manifest, so stay invisible

    # -- delete ------------------------------------------------------------------------------------

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
                index_entries.add(_index_key(manifest))
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
        """Mark the gallery changed, then rebuild its first page so the next viewer finds it ready."""
        self._first_page.touch()
        try:
            self.list_assets(limit=DEFAULT_PAGE)
        except StoreError:
            pass  # the next viewer rebuilds it

    # -- gallery -----------------------------------------------------------------------------------

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
                    elif outcome is not None and _index_key(outcome) == entry_key and needle in outcome.name.casefold():
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

    # -- source images -----------------------------------------------------------------------------

    def save_source_image(self, data: bytes, name: str) -> SourceImage:
        return save_source_image(self.store, data, name)

    def list_source_images(self, *, limit: int = 48, cursor: str | None = None,
                           name_contains: str | None = None) -> tuple[list[SourceImage], str | None]:
        return list_source_images(self.store, limit=limit, cursor=cursor, name_contains=name_contains)


def _parse_manifest(data: bytes, key: str) -> Manifest:
    try:
        payload = json.loads(data)
    except ValueError as error:
        raise CorruptManifest(
            f"Manifest {key} is not valid JSON ({error})",
            "Delete the asset and generate it again (python -m ray_jobs assets --delete ASSET_ID).",
        ) from None
    if not isinstance(payload, dict):
        raise CorruptManifest(f"Manifest {key} is not a JSON object", "Delete the asset and generate it again.")
    return Manifest.from_dict(payload, key=key)


def _index_key(manifest: Manifest) -> str:
    return keys.index_key(keys.parse_iso(manifest.created_at), manifest.asset_id, manifest.name)


def _build_manifest(identity: dict, versions: list[AssetVersion]) -> Manifest:
    return Manifest(
        asset_id=identity["asset_id"],
        source_sha256=identity["source_sha256"],
        name=identity["name"],
        generator=identity["generator"],
        settings=identity["settings"],
        created_at=identity["created_at"],
        updated_at=max(v.created_at for v in versions),
        latest=max(v.version for v in versions),
        versions=versions,
        source_key=identity.get("source_key"),
    )


def _identity_settings(generator: str, settings: Mapping) -> dict:
    if not generator or not isinstance(generator, str):
        raise ValueError("publish() needs the generator's name, e.g. generator='inflate'.")
    identity = dict(settings or {})
    if identity.setdefault("generator", generator) != generator:
        raise ValueError(f"settings say generator={identity['generator']!r} but generator={generator!r}. Pass one name.")
    keys.canonical_json(identity)
    return identity


def _planned_files(files: Mapping[str, tuple[bytes, str]]) -> dict[str, tuple[str, bytes, str]]:
    """Check every file before writing any, so bad input leaves nothing behind."""
    if "glb" not in files:
        raise ValueError("publish() needs a 'glb' file. Pass files={'glb': (glb_bytes, 'model/gltf-binary'), ...}.")
    planned = {}
    for kind, value in files.items():
        try:
            data, content_type = value
        except (TypeError, ValueError):
            raise ValueError(f"File {kind!r} must be a (bytes, content_type) pair.") from None
        if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
            raise ValueError(f"File {kind!r} is empty or not bytes. Pass the exported file's bytes.")
        if not content_type or "/" not in content_type:
            raise ValueError(f"File {kind!r} needs a MIME content type such as model/gltf-binary.")
        planned[kind] = (keys.file_name(kind), bytes(data), content_type)
    return planned


def _plain_json(value, where: str):
    """JSON-ready copy: numpy scalars become Python numbers, NaN/inf become null (JSON has neither)."""
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, (dict, list, tuple)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(key): _plain_json(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise ValueError(f"{where} is a {type(value).__name__}, which JSON cannot hold. Pass numbers, text, lists or dicts.")


def _display_name(name: str) -> str:
    name = " ".join(str(name or "").split())
    if not name:
        raise ValueError("An asset needs a name for display. Pass the image's file name.")
    return name[:200]
