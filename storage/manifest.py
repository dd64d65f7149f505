"""What an asset is: its versions and files, as stored in ``manifest.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from storage.errors import CorruptManifest

SCHEMA = 1


@dataclass
class AssetFile:
    key: str
    size: int
    content_type: str


@dataclass
class AssetVersion:
    version: int
    created_at: str  # ISO-8601 UTC
    files: dict[str, AssetFile]  # "glb" always, "thumbnail" (PNG), optionally "obj", "ply", "stl"
    timings: dict[str, float] = field(default_factory=dict)
    quality: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AssetVersion":
        files = {kind: AssetFile(str(f["key"]), int(f["size"]), str(f["content_type"])) for kind, f in data["files"].items()}
        if "glb" not in files:
            raise ValueError("version has no glb file")
        version = int(data["version"])
        if version < 1:
            raise ValueError(f"version number {version} is below 1")
        datetime.fromisoformat(str(data["created_at"]).replace("Z", "+00:00"))
        return cls(version, str(data["created_at"]), files, dict(data.get("timings") or {}), dict(data.get("quality") or {}))


@dataclass
class Manifest:
    asset_id: str
    source_sha256: str
    name: str
    generator: str
    settings: dict
    created_at: str
    updated_at: str
    latest: int
    versions: list[AssetVersion]
    source_key: str | None = None

    @property
    def latest_version(self) -> AssetVersion:
        return self.version(self.latest)

    def version(self, number: int) -> AssetVersion:
        for version in self.versions:
            if version.version == number:
                return version
        known = ", ".join(str(v.version) for v in self.versions)
        raise KeyError(f"Asset {self.asset_id} has no version {number}. Known versions: {known}.")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["schema"] = SCHEMA
        return data

    @classmethod
    def from_dict(cls, data: dict, *, key: str = "manifest") -> "Manifest":
        """Parse and check a manifest; anything missing or malformed raises CorruptManifest."""
        try:
            versions = sorted((AssetVersion.from_dict(v) for v in data["versions"]), key=lambda v: v.version)
            manifest = cls(
                asset_id=str(data["asset_id"]),
                source_sha256=str(data["source_sha256"]),
                name=str(data["name"]),
                generator=str(data["generator"]),
                settings=dict(data["settings"]),
                created_at=str(data["created_at"]),
                updated_at=str(data["updated_at"]),
                latest=int(data["latest"]),
                versions=versions,
                source_key=data.get("source_key"),
            )
            if not versions:
                raise ValueError("it lists no versions")
            manifest.version(manifest.latest)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise CorruptManifest(
                f"Manifest {key} is damaged ({type(error).__name__}: {error})",
                "Delete the asset and generate it again (python -m ray_jobs assets --delete ASSET_ID).",
            ) from None
        return manifest


@dataclass
class AssetPage:
    items: list[Manifest]
    next_cursor: str | None
    skipped: list[str]  # "<manifest key>: <why>" for damaged manifests left out of this page


def parse_manifest(data: bytes, key: str) -> Manifest:
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
