"""A store in a local folder: the key ``a/b.png`` is the file ``<root>/a/b.png``, as in the bucket."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from storage.errors import InvalidKey, KeyExists, KeyNotFound, StoreError
from storage.store import (
    MAX_PAGE,
    ObjectInfo,
    ObjectPage,
    Store,
    check_expiry,
    check_key,
    check_limit,
    check_metadata,
    check_prefix,
)

# Temp files and metadata sidecars live here; no key can name it, so it never shows in listings.
INTERNAL_DIR = ".store"


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self._internal = self.root / INTERNAL_DIR

    # -- paths -------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.split("/", 1)[0] == INTERNAL_DIR:
            raise InvalidKey(f"Key {key!r} names the store's internal folder", f"Use keys that do not start with {INTERNAL_DIR}/.")
        path = self.root / key
        # A symlink inside the root must not lead out of it either.
        real_parent = os.path.realpath(path.parent)
        if real_parent != str(self.root) and not real_parent.startswith(str(self.root) + os.sep):
            raise InvalidKey(f"Key {key!r} leads outside the store folder through a link", "Remove the link or use another key.")
        return path

    def _sidecar(self, key: str) -> Path:
        return self._internal / "meta" / (key + ".json")

    def _temp_dir(self) -> Path:
        path = self._internal / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- writes ------------------------------------------------------------------------------------

    def put(self, key, data, *, content_type=None, metadata=None, if_absent=False) -> ObjectInfo:
        path = self._path(key)
        meta = check_metadata(metadata)
        data = bytes(data)
        fd, temp_name = tempfile.mkstemp(dir=self._temp_dir(), prefix="put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self._commit(key, path, temp_name, if_absent)
        finally:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
        stat = path.stat()
        info = {
            "content_type": content_type,
            "metadata": meta,
            "etag": hashlib.md5(data).hexdigest(),
            "mtime_ns": stat.st_mtime_ns,
            "size": stat.st_size,
        }
        self._write_json(self._sidecar(key), info)
        return self._info(key, stat, info)

    def _commit(self, key: str, path: Path, temp_name: str, if_absent: bool) -> None:
        """Move the finished temp file into place; a reader never sees a half-written file."""
        for _attempt in range(5):  # a concurrent delete may prune the parent folder between steps
            self._make_parents(key, path)
            if path.is_dir():
                raise InvalidKey(f"Key {key!r} is a folder of other keys", "Pick a key that is not a prefix of existing keys.")
            try:
                if if_absent:
                    # link() fails if the target exists: an atomic create-if-absent of a complete file.
                    os.link(temp_name, path)
                else:
                    os.replace(temp_name, path)
                return
            except FileExistsError:
                raise KeyExists(f"Key {key!r} already exists", "Another writer created it first; read it or use a new key.") from None
            except FileNotFoundError:
                continue
        raise StoreError(f"Could not write {key!r}: its folder kept disappearing", "Retry; something deletes folders in the store.")

    def _make_parents(self, key: str, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidKey(
                f"Key {key!r} runs through an existing object", "A key cannot be both an object and a folder; pick another key."
            ) from None

    def _write_json(self, path: Path, payload: dict) -> None:
        fd, temp_name = tempfile.mkstemp(dir=self._temp_dir(), prefix="meta-")
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle)
        for _attempt in range(5):  # a concurrent delete may prune the folder between mkdir and replace
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(temp_name, path)
                return
            except FileNotFoundError:
                continue
        os.unlink(temp_name)

    def delete(self, key: str) -> None:
        path = self._path(key)
        for target in (path, self._sidecar(key)):
            try:
                target.unlink()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                pass
            else:
                self._prune_empty_parents(target.parent)

    def _prune_empty_parents(self, folder: Path) -> None:
        """Drop folders left empty so deleted assets leave nothing behind."""
        while folder != self.root and folder != self._internal and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    # -- reads -------------------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyNotFound(f"Object {key!r} does not exist in {self.describe()}", "It may have been deleted; refresh the listing.") from None

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return self._info(key, stat, self._read_sidecar(key, stat))

    def _read_sidecar(self, key: str, stat: os.stat_result) -> dict:
        try:
            info = json.loads(self._sidecar(key).read_text())
        except (OSError, ValueError):
            return {}
        # A sidecar from an older write of the key does not describe this file.
        if info.get("mtime_ns") != stat.st_mtime_ns or info.get("size") != stat.st_size:
            return {}
        return info

    def _info(self, key: str, stat: os.stat_result, sidecar: dict) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            last_modified=datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc),
            etag=sidecar.get("etag"),
            content_type=sidecar.get("content_type") or mimetypes.guess_type(key)[0],
            metadata=dict(sidecar.get("metadata") or {}),
        )

    def list_page(self, prefix: str, *, token: str | None = None, limit: int = MAX_PAGE) -> ObjectPage:
        check_prefix(prefix)
        check_limit(limit)
        folder_key = prefix[: prefix.rfind("/") + 1]  # deepest folder wholly inside the prefix
        items: list[ObjectInfo] = []
        for key, entry in self._walk_sorted(self.root / folder_key, folder_key, prefix, token):
            if len(items) == limit:
                return ObjectPage(items, items[-1].key)
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted while we walked
            items.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc), None, None, {}))
        return ObjectPage(items, None)

    def _walk_sorted(self, folder: Path, folder_key: str, prefix: str, after: str | None) -> Iterator[tuple[str, os.DirEntry]]:
        """Files under ``folder`` in the same byte order S3 lists keys, skipping subtrees before ``after``.

        Sorting siblings by name with '/' appended to folders gives exactly the order of full keys.
        """
        try:
            with os.scandir(folder) as scan:
                entries = [(entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name, entry) for entry in scan]
        except (FileNotFoundError, NotADirectoryError):
            return
        entries.sort(key=lambda pair: pair[0].encode("utf-8"))
        for name, entry in entries:
            key = folder_key + name
            if folder_key == "" and name == INTERNAL_DIR + "/":
                continue
            if name.endswith("/"):
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if after is not None and key < after and not after.startswith(key):
                    continue  # every key in this subtree sorts before the token
                yield from self._walk_sorted(Path(entry.path), key, prefix, after)
            elif key.startswith(prefix) and (after is None or key > after) and entry.is_file(follow_symlinks=False):
                yield key, entry

    def url(self, key: str, *, expires_s: int | None = None) -> str:
        check_expiry(expires_s, 3600)  # same rules as S3, though a file URI never expires
        return self._path(key).as_uri()

    def describe(self) -> str:
        return f"local folder {self.root}"
