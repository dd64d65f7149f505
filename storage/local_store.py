"""A store in a local folder: the key ``a/b.png`` is the file ``<root>/a/b.png``, as in the bucket.

Every key is walked one name at a time from the root and never through a symbolic link
(`storage.nofollow`): a link anywhere in a key is refused with KeyThroughLink, and listings
neither report nor enter links, so nothing outside the root is ever read or written.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import secrets
import stat as stat_mode
from contextlib import ExitStack, closing, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from storage import nofollow
from storage.errors import InvalidKey, KeyExists, KeyNotFound, KeyThroughLink, StoreError
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
_TEMP = (INTERNAL_DIR, "tmp")
_META = (INTERNAL_DIR, "meta")
_MISSING = (FileNotFoundError, nofollow.NotAFolder)


class LocalStore(Store):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    # -- paths -------------------------------------------------------------------------------------

    def _parts(self, key: str) -> list[str]:
        check_key(key)
        parts = key.split("/")
        if parts[0] == INTERNAL_DIR:
            raise InvalidKey(f"Key {key!r} names the store's internal folder", f"Use keys that do not start with {INTERNAL_DIR}/.")
        return parts

    def _through_link(self, key: str | None, name: str) -> KeyThroughLink:
        if key is None:
            return KeyThroughLink(
                f"The store's internal folder {INTERNAL_DIR} in {self.describe()} holds a link at {name!r}: "
                "the store never follows links, so nothing outside its folder is read or written",
                f"Remove the link; the store makes {INTERNAL_DIR} again itself.",
            )
        return KeyThroughLink(
            f"Key {key!r} runs through the link {name!r} in {self.describe()}: the store never follows links, "
            "so nothing outside its folder is read or written",
            "Replace the link with the real folder or file, or use another key.",
        )

    @contextmanager
    def _folders(self, names: Sequence[str], *, key: str | None, create: bool = False) -> Iterator[list[int]]:
        """Descriptors of the root and the folders ``names`` lead through, refusing any link on the way."""
        try:
            with nofollow.folder_chain(self.root, names, create=create) as chain:
                yield chain
        except nofollow.LinkInPath as link:
            raise self._through_link(key, link.name) from None

    def _entry(self, key: str, parts: list[str]) -> os.stat_result | None:
        """What a key names (a file, a folder, ...), or None; a link anywhere is refused."""
        try:
            with self._folders(parts[:-1], key=key) as chain:
                entry = nofollow.entry_stat(chain[-1], parts[-1])
        except _MISSING:
            return None
        if nofollow.is_link(entry):
            raise self._through_link(key, parts[-1])
        return entry

    # -- writes ------------------------------------------------------------------------------------

    def put(self, key, data, *, content_type=None, metadata=None, if_absent=False) -> ObjectInfo:
        parts = self._parts(key)
        meta = check_metadata(metadata)
        data = bytes(data)
        with self._temp_file(data) as (temp_dir, temp_name):
            stat = self._commit(key, parts, temp_dir, temp_name, if_absent)
        info = {
            "content_type": content_type,
            "metadata": meta,
            "etag": hashlib.md5(data).hexdigest(),
            "mtime_ns": stat.st_mtime_ns,
            "size": stat.st_size,
        }
        self._write_sidecar(key, parts, json.dumps(info).encode())
        return self._info(key, stat, info)

    @contextmanager
    def _temp_file(self, data: bytes) -> Iterator[tuple[int, str]]:
        """A complete file in the store's temp folder: (that folder's descriptor, its name); removed after."""
        with ExitStack() as stack:
            try:
                chain = stack.enter_context(self._folders(_TEMP, key=None, create=True))
            except nofollow.NotAFolder as blocked:
                raise StoreError(f"{blocked.name!r} in the store's internal folder {INTERNAL_DIR} of {self.describe()} "
                                 "is not a folder", "Move it away; the store keeps its temporary files there.") from None
            folder, name = chain[-1], f"put-{secrets.token_hex(8)}"
            try:
                nofollow.write_new_file(folder, name, data)
                yield folder, name
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=folder)

    def _commit(self, key: str, parts: list[str], temp_dir: int, temp_name: str, if_absent: bool) -> os.stat_result:
        """Move the finished temp file into place; a reader never sees a half-written file."""
        for _attempt in range(5):  # a concurrent delete may prune the parent folder between steps
            try:
                with self._folders(parts[:-1], key=key, create=True) as chain:
                    folder, name = chain[-1], parts[-1]
                    existing = nofollow.entry_stat(folder, name)
                    if nofollow.is_link(existing):
                        raise self._through_link(key, name)
                    if existing is not None and stat_mode.S_ISDIR(existing.st_mode):
                        raise InvalidKey(f"Key {key!r} is a folder of other keys", "Pick a key that is not a prefix of existing keys.")
                    if if_absent:
                        # link() fails if the target exists: an atomic create-if-absent of a complete file.
                        os.link(temp_name, name, src_dir_fd=temp_dir, dst_dir_fd=folder)
                    else:
                        os.replace(temp_name, name, src_dir_fd=temp_dir, dst_dir_fd=folder)  # replaces, never follows
                    return os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileExistsError:
                raise KeyExists(f"Key {key!r} already exists", "Another writer created it first; read it or use a new key.") from None
            except FileNotFoundError:
                continue
            except nofollow.NotAFolder:
                raise InvalidKey(
                    f"Key {key!r} runs through an existing object", "A key cannot be both an object and a folder; pick another key."
                ) from None
        raise StoreError(f"Could not write {key!r}: its folder kept disappearing", "Retry; something deletes folders in the store.")

    def _write_sidecar(self, key: str, parts: list[str], body: bytes) -> None:
        with self._temp_file(body) as (temp_dir, temp_name):
            for _attempt in range(5):  # a concurrent delete may prune the folder between mkdir and replace
                try:
                    with self._folders([*_META, *parts[:-1]], key=None, create=True) as chain:
                        os.replace(temp_name, parts[-1] + ".json", src_dir_fd=temp_dir, dst_dir_fd=chain[-1])
                        return
                except FileNotFoundError:
                    continue
                except nofollow.NotAFolder:
                    return  # another key's sidecar holds this name; the object is written, only its metadata is lost

    def delete(self, key: str) -> None:
        parts = self._parts(key)
        self._remove(parts[:-1], parts[-1], key=key)
        with suppress(KeyThroughLink):  # a link in the internal folder is left alone, never followed
            self._remove([*_META, *parts[:-1]], parts[-1] + ".json", key=None, keep=1)

    def _remove(self, folders: list[str], name: str, *, key: str | None, keep: int = 0) -> None:
        """Remove one file and the folders it leaves empty (the first ``keep`` stay); a missing one is fine."""
        try:
            with self._folders(folders, key=key) as chain:
                entry = nofollow.entry_stat(chain[-1], name)
                if nofollow.is_link(entry) and key is not None:
                    raise self._through_link(key, name)
                if entry is None or stat_mode.S_ISDIR(entry.st_mode):
                    return
                with suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=chain[-1])  # unlink removes a link itself, never its target
                # Drop folders left empty so deleted assets leave nothing behind.
                nofollow.prune_empty(chain, folders, keep)
        except _MISSING:
            pass

    # -- reads -------------------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        parts = self._parts(key)
        try:
            with self._folders(parts[:-1], key=key) as chain:
                return nofollow.read_file(chain[-1], parts[-1])
        except _MISSING:
            raise KeyNotFound(f"Object {key!r} does not exist in {self.describe()}", "It may have been deleted; refresh the listing.") from None

    def head(self, key: str) -> ObjectInfo | None:
        parts = self._parts(key)
        entry = self._entry(key, parts)
        if entry is None or not stat_mode.S_ISREG(entry.st_mode):
            return None
        return self._info(key, entry, self._read_sidecar(parts, entry))

    def _read_sidecar(self, parts: list[str], stat: os.stat_result) -> dict:
        try:
            with nofollow.folder_chain(self.root, [*_META, *parts[:-1]]) as chain:
                info = json.loads(nofollow.read_file(chain[-1], parts[-1] + ".json"))
        except (OSError, ValueError, nofollow.LinkInPath, nofollow.NotAFolder):
            return {}
        # A sidecar from an older write of the key does not describe this file.
        if not isinstance(info, dict) or info.get("mtime_ns") != stat.st_mtime_ns or info.get("size") != stat.st_size:
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
        folders = folder_key.split("/")[:-1]
        if folders[:1] == [INTERNAL_DIR]:
            return ObjectPage([], None)
        items: list[ObjectInfo] = []
        with ExitStack() as stack:
            try:
                chain = stack.enter_context(nofollow.folder_chain(self.root, folders))
            except (*_MISSING, nofollow.LinkInPath):
                return ObjectPage([], None)  # nothing there, or only through a link: no keys
            walk = stack.enter_context(closing(self._walk_sorted(chain[-1], folder_key, prefix, token)))
            for key, stat in walk:
                if len(items) == limit:
                    return ObjectPage(items, items[-1].key)
                items.append(ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc), None, None, {}))
        return ObjectPage(items, None)

    def _walk_sorted(self, folder: int, folder_key: str, prefix: str, after: str | None) -> Iterator[tuple[str, os.stat_result]]:
        """Files under the open ``folder`` in the same byte order S3 lists keys, skipping subtrees before ``after``.

        Sorting siblings by name with '/' appended to folders gives exactly the order of full keys.
        Links are neither folders nor files here: they are never reported nor entered.
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
                try:
                    child = nofollow.open_folder(folder, entry.name)
                except (*_MISSING, nofollow.LinkInPath):
                    continue  # removed, or swapped for a link, while we walked
                try:
                    yield from self._walk_sorted(child, key, prefix, after)
                finally:
                    os.close(child)
            elif key.startswith(prefix) and (after is None or key > after) and entry.is_file(follow_symlinks=False):
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while we walked
                yield key, stat

    def url(self, key: str, *, expires_s: int | None = None) -> str:
        check_expiry(expires_s, 3600)  # same rules as S3, though a file URI never expires
        self._entry(key, self._parts(key))  # refuses a key that runs through a link today
        return (self.root / key).as_uri()

    def describe(self) -> str:
        return f"local folder {self.root}"
