"""The local store never follows a link, wherever it sits in a key: nothing outside the root is touched."""

from __future__ import annotations

import os

import pytest

from storage.errors import InvalidKey, KeyThroughLink
from storage.local_store import INTERNAL_DIR, LocalStore


@pytest.fixture
def layout(tmp_path):
    """A store root with links at both places a key can meet one, and a folder outside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.json").write_text('{"secret": true}')
    (outside / "folder" / "secret.json").write_text('{"secret": true}')
    (root / "3d_assets" / "generated" / "a").mkdir(parents=True)
    (root / "real").mkdir()
    (root / "real" / "file.txt").write_text("inside")
    # the last part of a key is a link to a file outside the store
    (root / "3d_assets" / "generated" / "a" / "manifest.json").symlink_to(outside / "secret.json")
    # a middle part of a key is a link to a folder outside the store
    (root / "3d_assets" / "generated" / "b").symlink_to(outside / "folder", target_is_directory=True)
    # links that stay inside the store are refused just the same
    (root / "inner").symlink_to(root / "real", target_is_directory=True)
    (root / "inner-file.txt").symlink_to(root / "real" / "file.txt")
    return root, outside


LINKED_KEYS = [
    "3d_assets/generated/a/manifest.json",
    "3d_assets/generated/b/secret.json",
    "inner/file.txt",
    "inner-file.txt",
]


def _outside_snapshot(outside):
    return {path: path.read_bytes() for path in sorted(outside.rglob("*")) if path.is_file()}


@pytest.mark.parametrize("key", LINKED_KEYS, ids=["last-part", "middle-part", "inner-folder", "inner-file"])
@pytest.mark.parametrize("operation", ["get", "head", "exists", "put", "put-if-absent", "delete", "url"])
def test_a_key_that_meets_a_link_is_refused(layout, key, operation):
    root, outside = layout
    before = _outside_snapshot(outside)
    store = LocalStore(root)
    calls = {
        "get": lambda: store.get(key),
        "head": lambda: store.head(key),
        "exists": lambda: store.exists(key),
        "put": lambda: store.put(key, b"overwritten"),
        "put-if-absent": lambda: store.put(key, b"overwritten", if_absent=True),
        "delete": lambda: store.delete(key),
        "url": lambda: store.url(key),
    }
    with pytest.raises(KeyThroughLink, match="link") as caught:
        calls[operation]()
    assert isinstance(caught.value, InvalidKey) and key in str(caught.value)
    assert _outside_snapshot(outside) == before
    assert (root / "real" / "file.txt").read_text() == "inside"
    assert all(path.is_symlink() for path in (root / "inner", root / "inner-file.txt"))


def test_a_new_key_below_a_linked_folder_is_refused(layout):
    root, outside = layout
    store = LocalStore(root)
    for key in ("3d_assets/generated/b/new/model.glb", "inner/new.txt"):
        with pytest.raises(KeyThroughLink):
            store.put(key, b"escape")
    assert not (outside / "folder" / "new").exists() and not (root / "real" / "new.txt").exists()


def test_listing_neither_reports_nor_enters_links(layout):
    root, _outside = layout
    store = LocalStore(root)
    store.put("3d_assets/generated/a/model.glb", b"glb")
    everything = [item.key for item in store.iter_keys("")]
    assert everything == ["3d_assets/generated/a/model.glb", "real/file.txt"]
    assert store.list_page("3d_assets/generated/b/").items == []
    assert store.list_page("inner/").items == []


def test_a_linked_internal_folder_is_never_written_through(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / INTERNAL_DIR).symlink_to(outside, target_is_directory=True)
    store = LocalStore(root)
    with pytest.raises(KeyThroughLink, match=INTERNAL_DIR):
        store.put("images/a.png", b"png")
    assert list(outside.iterdir()) == []


def test_an_ordinary_store_still_works(tmp_path):
    store = LocalStore(tmp_path / "new-root")  # created on the first write
    assert store.head("x") is None and store.list_page("").items == []
    store.put("a/b/c.txt", b"1", metadata={"k": "v"})
    assert store.get("a/b/c.txt") == b"1" and store.head("a/b/c.txt").metadata == {"k": "v"}
    store.delete("a/b/c.txt")
    assert not (tmp_path / "new-root" / "a").exists() and os.listdir(tmp_path / "new-root") == [INTERNAL_DIR]
