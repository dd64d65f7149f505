"""The bucket's key layout, in one place. Local folders use the very same keys."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime, timezone
from typing import Mapping

UPLOADED_IMAGES = "images/uploaded/"
GENERATED_IMAGES = "images/generated/"
GENERATED_ASSETS = "3d_assets/generated/"
MODEL_ASSETS = "3d_assets/model/"
# Gallery index: one empty object per asset whose key sorts newest first and carries a name slug,
# so the first page and name search read a few keys instead of every manifest in the bucket.
ASSET_INDEX = "3d_assets/index/"
# The gallery's first page, cached as one object, and the marker every publish/delete touches.
GALLERY_CACHE = "3d_assets/gallery/"
# The job registry's journal: one JSON object per generation job (and the worker pool's settings),
# so a restarted registry still knows every job.
JOB_JOURNAL = "jobs/journal/"
JOB_POOL_KEY = "jobs/pool.json"
# Each batch's results: JSON lines in parts, then summary.json, under its own folder.
BATCH_REPORTS = "reports/batches/"
# Who did what (deletions, regenerations, settings tests): one small JSON object per record, per day.
AUDIT_LOG = "audit/"

# Source image files, by suffix: the only formats the generators read (nothing else is even
# parsed; an animation of at most a few frames gives its first frame, 16-bit TIFF is scaled to
# 8 bits). The one list for all.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Object names inside a version folder, per file kind of AssetVersion.files.
FILE_NAMES = {
    "glb": "model.glb",
    "thumbnail": "thumbnail.png",
    "preview": "preview.glb",  # a decimated copy for the inline preview, only for large models
    "mask": "mask.png",  # what the segmentation stage took as the object, at working resolution
    "obj": "model_obj.zip",
    "ply": "model.ply",
    "stl": "model.stl",
}

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ASSET_ID = re.compile(r"^[0-9a-f]{32}$")
_FILE_KIND = re.compile(r"^[a-z0-9_]{1,32}$")
_INDEX_TIME_DIGITS = 13
_SLUG_CHARS = 48


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(value) -> str:
    """JSON that is the same for equal values: sorted keys, no spaces, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def check_sha256(image_sha256: str) -> str:
    if not isinstance(image_sha256, str) or not _SHA256.match(image_sha256):
        raise ValueError(f"{image_sha256!r} is not a SHA-256 hex digest. Pass sha256_hex(image_bytes).")
    return image_sha256


def is_asset_id(asset_id: str) -> bool:
    return isinstance(asset_id, str) and bool(_ASSET_ID.match(asset_id))


def check_asset_id(asset_id: str) -> str:
    if not is_asset_id(asset_id):
        raise ValueError(f"{asset_id!r} is not an asset id. Asset ids are 32 hex characters, as shown by `assets`.")
    return asset_id


def asset_id_for(image_sha256: str, settings: Mapping) -> str:
    """The asset made from this image with these generator settings (settings include "generator")."""
    check_sha256(image_sha256)
    try:
        identity = canonical_json({"image_sha256": image_sha256, "settings": dict(settings)})
    except (TypeError, ValueError) as error:
        raise ValueError(f"Generator settings must be plain JSON values ({error}).") from None
    return hashlib.sha256(identity.encode("ascii")).hexdigest()[:32]


def batch_report_prefix(name: str) -> str:
    """The folder of one batch's report; names are Ray Job ids or batch-<time>-<hex>."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", name or ""):
        raise ValueError(f"{name!r} is not a batch report name. Use letters, digits, '-' and '_' only.")
    return f"{BATCH_REPORTS}{name}/"


def job_journal_key(job_id: str) -> str:
    if not re.fullmatch(r"[a-z]+-[0-9a-f]{6,32}", job_id or ""):
        raise ValueError(f"{job_id!r} is not a generation job id. Job ids look like gen-0123456789ab.")
    return f"{JOB_JOURNAL}{job_id}.json"


def asset_prefix(asset_id: str) -> str:
    return f"{GENERATED_ASSETS}{check_asset_id(asset_id)}/"


def manifest_key(asset_id: str) -> str:
    return asset_prefix(asset_id) + "manifest.json"


def identity_key(asset_id: str) -> str:
    """Written once, by the first publish: what the asset is and when it was created."""
    return asset_prefix(asset_id) + "asset.json"


def version_prefix(asset_id: str, version: int) -> str:
    return f"{asset_prefix(asset_id)}v{version}/"


def claim_key(asset_id: str, version: int) -> str:
    """Created if absent before a version's files: two writers can never take the same number."""
    return version_prefix(asset_id, version) + "claim.json"


def version_record_key(asset_id: str, version: int) -> str:
    """Written after a version's files: the version is complete once this exists."""
    return version_prefix(asset_id, version) + "version.json"


def parse_version_key(key: str) -> tuple[int, str] | None:
    """(version, object name) for a key inside a version folder, else None."""
    match = re.match(rf"^{re.escape(GENERATED_ASSETS)}[0-9a-f]{{32}}/v([1-9][0-9]*)/([^/]+)$", key)
    return (int(match.group(1)), match.group(2)) if match else None


def file_name(kind: str) -> str:
    if kind in FILE_NAMES:
        return FILE_NAMES[kind]
    if not _FILE_KIND.match(kind or ""):
        raise ValueError(f"File kind {kind!r} is not a short lowercase name. Use names like glb, thumbnail, obj.")
    return kind + ".bin"


def slugify(name: str) -> str:
    """Lowercase letters and digits joined by '-': a substring of a name keeps a substring slug."""
    folded = unicodedata.normalize("NFC", name or "").casefold()
    slug = re.sub(r"-+", "-", "".join(char if char.isalnum() else "-" for char in folded)).strip("-")
    return slug


def index_key(created_at: datetime, asset_id: str, name: str) -> str:
    """``<inverted ms>-<asset id>-<slug>``: ascending key order is newest first."""
    millis = int(created_at.astimezone(timezone.utc).timestamp() * 1000)
    inverted = 10**_INDEX_TIME_DIGITS - 1 - millis
    slug = slugify(name) or "asset"
    if len(slug) > _SLUG_CHARS:
        slug = slug[: _SLUG_CHARS - 1] + "~"  # marks a cut slug: name search must read the manifest
    return f"{ASSET_INDEX}{inverted:0{_INDEX_TIME_DIGITS}d}-{check_asset_id(asset_id)}-{slug}"


def gallery_key(manifest) -> str:
    """The gallery index key of a manifest (anything with created_at, asset_id and name)."""
    return index_key(parse_iso(manifest.created_at), manifest.asset_id, manifest.name)


def parse_index_key(key: str) -> tuple[str, str] | None:
    """(asset id, slug) of a gallery index key, else None."""
    match = re.match(rf"^{re.escape(ASSET_INDEX)}[0-9]{{{_INDEX_TIME_DIGITS}}}-([0-9a-f]{{32}})-(.+)$", key)
    return (match.group(1), match.group(2)) if match else None


def slug_may_match(slug: str, needle_slug: str) -> bool:
    return not needle_slug or needle_slug in slug or slug.endswith("~")


def display_file_name(name: str) -> str:
    """A single safe file name from whatever a browser or shell sent (kept for display)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(char for char in unicodedata.normalize("NFC", base) if char.isprintable()).strip().strip(".")
    if len(base.encode("utf-8")) > 150:
        stem, dot, suffix = base.rpartition(".")
        suffix = suffix[:10] if dot else ""
        base = (stem or base).encode("utf-8")[: 140].decode("utf-8", "ignore") + ("." + suffix if suffix else "")
    return base or "image"


def uploaded_image_key(image_sha256: str, name: str) -> str:
    return f"{UPLOADED_IMAGES}{check_sha256(image_sha256)}/{display_file_name(name)}"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def audit_key(at: float, suffix: str) -> str:
    """Where one audit record goes: audit/YYYY-MM-DD/<HHMMSSmmm>-<suffix>.json, so a day lists in time order."""
    if not re.fullmatch(r"[0-9a-f]{6,32}", suffix):
        raise ValueError(f"audit record suffix {suffix!r} is not hex")
    moment = datetime.fromtimestamp(at, timezone.utc)
    return f"{AUDIT_LOG}{moment:%Y-%m-%d}/{moment:%H%M%S}{moment.microsecond // 1000:03d}-{suffix}.json"
