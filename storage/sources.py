"""Source images: uploads stored content-addressed, listed with images made by other tools."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime

from storage import keys
from storage.errors import KeyExists
from storage.store import Store

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


@dataclass(frozen=True)
class SourceImage:
    key: str
    name: str  # the original file name, for display
    sha256: str  # of the bytes; "" where the key does not carry it (images/generated/ by other tools)
    size: int
    last_modified: datetime


def image_content_type(data: bytes, name: str) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def save_source_image(store: Store, data: bytes, name: str) -> SourceImage:
    """Store under images/uploaded/<sha256>/<name>; the same bytes under the same name are stored once."""
    data = bytes(data)
    if not data:
        raise ValueError(f"Image {name!r} is empty. Upload the image file's contents.")
    sha = keys.sha256_hex(data)
    key = keys.uploaded_image_key(sha, name)
    try:
        info = store.put(key, data, content_type=image_content_type(data, name), metadata={"source-sha256": sha},
                         if_absent=True)
        modified = info.last_modified
    except KeyExists:
        existing = store.head(key)
        modified = existing.last_modified if existing else keys.utc_now()
    return SourceImage(key, key.rsplit("/", 1)[-1], sha, len(data), modified)


def source_image_from_key(key: str, size: int, last_modified: datetime) -> SourceImage:
    parts = key.split("/")
    name = parts[-1]
    sha = next((part for part in parts[:-1] if len(part) == 64 and all(c in "0123456789abcdef" for c in part)), "")
    return SourceImage(key, name, sha, size, last_modified)


def list_source_images(store: Store, *, limit: int = 48, cursor: str | None = None,
                       name_contains: str | None = None) -> tuple[list[SourceImage], str | None]:
    """Images under images/uploaded/ then images/generated/, in key order, ``limit`` at a time."""
    if not 1 <= int(limit) <= 1000:
        raise ValueError(f"limit={limit} is out of range. Ask for 1 to 1000 images per page.")
    prefixes = [keys.UPLOADED_IMAGES, keys.GENERATED_IMAGES]
    if cursor is not None:
        if not cursor.startswith(tuple(prefixes)):
            raise ValueError(f"Cursor {cursor!r} is not from list_source_images. Pass back the returned cursor.")
        if cursor.startswith(keys.GENERATED_IMAGES):
            prefixes = prefixes[1:]
    needle = (name_contains or "").strip().casefold()
    found: list[SourceImage] = []
    for prefix in prefixes:
        after = cursor if cursor and cursor.startswith(prefix) else None
        for info in store.iter_keys(prefix):
            # iter_keys starts at the prefix's first key, so a later page re-lists the keys before it
            # (a list request per 1000 of them): cheap for the image prefixes, and one paging loop for all.
            if after is not None and info.key <= after:
                continue
            if not info.key.lower().endswith(keys.IMAGE_SUFFIXES):
                continue
            image = source_image_from_key(info.key, info.size, info.last_modified)
            if needle not in image.name.casefold():
                continue
            if len(found) == limit:
                return found, found[-1].key
            found.append(image)
    return found, None
