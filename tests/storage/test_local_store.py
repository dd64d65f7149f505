"""What only the local folder backend has to get right: files on disk, atomic writes, no escape."""

from __future__ import annotations

import os

import pytest

from storage.errors import InvalidKey
from storage.local_store import INTERNAL_DIR, LocalStore


def test_key_is_the_file_under_root(tmp_path):
    store = LocalStore(tmp_path)
    store.put("images/uploaded/abc/photo.png", b"png bytes", content_type="image/png")
    assert (tmp_path / "images/uploaded/abc/photo.png").read_bytes() == b"png bytes"


def test_sidecar_metadata_never_listed_nor_addressable(tmp_path):
    store = LocalStore(tmp_path)
    store.put("a.txt", b"1", metadata={"x": "y"})
    assert [item.key for item in store.list_page("").items] == ["a.txt"]
    with pytest.raises(InvalidKey):
        store.get(f"{INTERNAL_DIR}/meta/a.txt.json")


def test_no_temp_files_left_and_failed_write_keeps_old_bytes(tmp_path):
    store = LocalStore(tmp_path)
    store.put("x/y.bin", b"old")
    with pytest.raises(InvalidKey):
        store.put("x/y.bin/child", b"new")  # y.bin is a file: cannot also be a folder
    assert store.get("x/y.bin") == b"old"
    assert os.listdir(tmp_path / INTERNAL_DIR / "tmp") == []


def test_symlink_out_of_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = LocalStore(root)
    with pytest.raises(InvalidKey, match="outside"):
        store.put("link/file.txt", b"escape")
    assert list(outside.iterdir()) == []


def test_delete_prunes_empty_folders(tmp_path):
    store = LocalStore(tmp_path)
    store.put("3d_assets/generated/id/v1/model.glb", b"1")
    store.delete("3d_assets/generated/id/v1/model.glb")
    assert not (tmp_path / "3d_assets").exists()


def test_url_is_a_file_uri(tmp_path):
    store = LocalStore(tmp_path)
    store.put("a b/c.png", b"1")
    assert store.url("a b/c.png") == (tmp_path / "a b/c.png").as_uri()
    assert store.describe() == f"local folder {tmp_path.resolve()}"
