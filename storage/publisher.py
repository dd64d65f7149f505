"""Publishing a version of an asset so racing writers never clobber each other.

Under 3d_assets/generated/<asset id>/ (key layout in storage.keys), in this order:
    asset.json          identity, created if absent by the first publish (name, settings, created_at)
    v<n>/claim.json     created if absent: version number n is this writer's alone
    v<n>/model.glb ...  the version's files
    v<n>/version.json   the version's record: version n is complete
    manifest.json       rebuilt from every record, written last, re-checked until a listing agrees
A failure before the manifest lists the new version removes everything this publish wrote.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Mapping

from storage import keys
from storage.errors import CorruptManifest, FirstVersionTaken, KeyExists, KeyNotFound, StoreError
from storage.manifest import AssetFile, AssetVersion, Manifest, parse_manifest
from storage.store import Store

_MAX_CLAIM_TRIES = 100
_MAX_MANIFEST_ROUNDS = 20


class VersionPublisher:
    def __init__(self, store: Store) -> None:
        self.store = store

    def publish(self, *, image_sha256: str, name: str, generator: str, settings: Mapping,
                files: Mapping[str, tuple[bytes, str]], timings: Mapping | None = None,
                quality: Mapping | None = None, source_key: str | None = None, first_only: bool = False) -> Manifest:
        """Write a new version's files, its record, then the manifest; on failure remove what was written.

        `first_only`: publish only as version 1 (FirstVersionTaken when any writer claimed it), so
        writers racing to build a missing asset end with exactly one version between them."""
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
            number = self._claim_version(asset_id, written, first_only)
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
        except FirstVersionTaken:
            raise  # nothing written; the identity belongs to the winner now
        except BaseException:
            if not self._manifest_lists(asset_id, number):  # once listed, the files belong to the asset
                self._clean_up(asset_id, written, identity if created_identity else None)
            raise
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

    def _claim_version(self, asset_id: str, written: list[str], first_only: bool = False) -> int:
        """Take the next free version number (only 1 with `first_only`); a claim is an exclusive
        create, read back to be sure."""
        taken = [parsed[0] for info in self.store.iter_keys(keys.asset_prefix(asset_id))
                 if (parsed := keys.parse_version_key(info.key))]
        number = max(taken, default=0) + 1
        token = uuid.uuid4().hex
        for _ in range(_MAX_CLAIM_TRIES):
            if first_only and number != 1:
                raise FirstVersionTaken(f"Asset {asset_id} already has a version {number - 1} or a writer of it",
                                        "Wait for its manifest instead of publishing another version.")
            key = keys.claim_key(asset_id, number)
            try:
                claim = {"writer": token, "at": keys.iso(keys.utc_now())}
                self.store.put(key, json.dumps(claim).encode(), content_type="application/json", if_absent=True)
            except KeyExists:
                number += 1
                continue
            # Some S3-compatible servers check and write in two steps; reading back closes most of that gap.
            if json.loads(self.store.get(key)).get("writer") == token:
                written.append(key)
                return number
            number += 1
        raise StoreError(f"Could not claim a version number for asset {asset_id}", "Too many writers at once; retry.")

    def first_claim_age_s(self, asset_id: str) -> float | None:
        """Seconds since version 1 was claimed, None when nobody holds it (never claimed, or its writer
        failed and cleaned up). A claim that old without a manifest belongs to a writer that died."""
        try:
            claim = json.loads(self.store.get(keys.claim_key(asset_id, 1)))
            claimed = keys.parse_iso(claim["at"])
        except KeyNotFound:
            return None
        except (ValueError, KeyError, TypeError):
            return float("inf")  # unreadable: treat as abandoned
        return (keys.utc_now() - claimed).total_seconds()

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
            manifest = build_manifest(identity, versions)
            self.store.put(keys.gallery_key(manifest), b"", content_type="application/octet-stream")
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
            manifest = _read_manifest(self.store, asset_id) if number is not None else None
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


def _read_manifest(store: Store, asset_id: str) -> Manifest | None:
    key = keys.manifest_key(asset_id)
    try:
        return parse_manifest(store.get(key), key)
    except KeyNotFound:
        return None


def build_manifest(identity: dict, versions: list[AssetVersion]) -> Manifest:
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
