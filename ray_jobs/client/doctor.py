"""The original design's debug steps as checks: each a ✓ or ✗ line with the fix.

``doctor`` output is composed from lists of CheckLine, one list per part of the system.
"""

from __future__ import annotations

import urllib.request
import uuid
from dataclasses import asdict, dataclass

PROBE_PREFIX = "probes/"


@dataclass
class CheckLine:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def render(self) -> str:
        line = f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"
        return line + (f"\n    fix: {self.fix}" if not self.ok and self.fix else "")

    def to_dict(self) -> dict:
        return asdict(self)


def storage_checks(settings) -> list[CheckLine]:
    """Settings load, the store answers, and a probe object can be written, read, fetched and deleted."""
    from storage.errors import StoreError

    lines: list[CheckLine] = []
    shown = ", ".join(f"{name}={value}" for name, value in settings.masked().items())
    lines.append(CheckLine("storage settings", True, shown))
    try:
        store = _open_and_reach(settings)
        lines.append(CheckLine("store reachable", True, store.describe()))
    except StoreError as error:
        lines.append(CheckLine("store reachable", False, error.what, error.hint))
        return lines
    except (OSError, ValueError) as error:
        lines.append(CheckLine("store reachable", False, str(error), "Check LOCAL_STORAGE_DIR or the S3 settings."))
        return lines
    lines.extend(_probe(store))
    return lines


def _open_and_reach(settings):
    """Open the configured store and make one cheap request that proves it answers."""
    from storage.errors import StoreError
    from storage.keys import GENERATED_ASSETS
    from storage.store import open_store

    store = open_store(settings)
    if settings.use_s3:
        store.check_bucket()
    else:
        root = settings.local_dir
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"Cannot create the local store folder {root} ({error.strerror})",
                             "Set LOCAL_STORAGE_DIR to a folder you can write.") from None
    store.list_page(GENERATED_ASSETS, limit=1)
    return store


def _probe(store) -> list[CheckLine]:
    from storage.errors import StoreError

    key = f"{PROBE_PREFIX}doctor-{uuid.uuid4().hex}.txt"
    payload = f"asset studio doctor probe {uuid.uuid4()}".encode()
    steps = [
        ("probe object written", lambda: _written(store, key, payload)),
        ("probe object read back", lambda: _same(store.get(key), payload, "read back")),
        ("download URL works", lambda: _same(_fetch(store.url(key, expires_s=60)), payload, "fetched over its URL")),
        ("probe object deleted", lambda: _deleted(store, key)),
    ]
    lines = []
    try:
        for name, step in steps:
            try:
                lines.append(CheckLine(name, True, step()))
            except StoreError as error:
                lines.append(CheckLine(name, False, error.what, error.hint))
                return lines
            except (OSError, ValueError) as error:
                lines.append(CheckLine(name, False, str(error), _url_fix(store)))
                return lines
    finally:
        try:
            store.delete(key)
        except StoreError:
            pass
    return lines


def _written(store, key: str, payload: bytes) -> str:
    info = store.put(key, payload, content_type="text/plain")
    return f"wrote {info.size} bytes at {key}"


def _same(data: bytes, expected: bytes, how: str) -> str:
    if data != expected:
        raise ValueError(f"{how}: got {len(data)} bytes that differ from the {len(expected)} written")
    return f"{how}: {len(data)} identical bytes"


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def _deleted(store, key: str) -> str:
    store.delete(key)
    if store.exists(key):
        raise ValueError(f"{key} still exists after delete")
    return f"deleted {key}"


def _url_fix(store) -> str:
    if store.describe().startswith("s3://"):
        return "Presigned URLs must reach the endpoint from here: check S3_ENDPOINT_URL, S3_REGION and the clock."
    return "Check that the local store folder is readable."


def failed(lines: list[CheckLine]) -> bool:
    return any(not line.ok for line in lines)
