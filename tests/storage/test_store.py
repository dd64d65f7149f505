"""One suite for every backend: LocalStore and S3Store (moto over HTTP) must behave the same."""

from __future__ import annotations

import urllib.request
from datetime import datetime, timezone

import pytest

from storage.errors import InvalidKey, KeyExists, KeyNotFound, StoreError
from tests.storage.concurrency import run_at_once


def test_put_get_head_roundtrip(store):
    data = bytes(range(256)) * 40
    info = store.put("3d_assets/generated/x/v1/model.glb", data, content_type="model/gltf-binary",
                     metadata={"Source-SHA256": "ab" * 32})
    assert info.size == len(data)
    assert store.get("3d_assets/generated/x/v1/model.glb") == data
    head = store.head("3d_assets/generated/x/v1/model.glb")
    assert head.size == len(data)
    assert head.content_type == "model/gltf-binary"
    assert head.metadata == {"source-sha256": "ab" * 32}
    assert head.etag and head.etag == info.etag
    assert abs((datetime.now(timezone.utc) - head.last_modified).total_seconds()) < 120
    assert store.exists("3d_assets/generated/x/v1/model.glb")


def test_overwrite_replaces_bytes_and_metadata(store):
    store.put("a/b.txt", b"one", content_type="text/plain", metadata={"v": "1"})
    store.put("a/b.txt", b"second", content_type="application/json", metadata={"v": "2"})
    assert store.get("a/b.txt") == b"second"
    head = store.head("a/b.txt")
    assert (head.size, head.content_type, head.metadata) == (6, "application/json", {"v": "2"})


def test_missing_key(store):
    assert store.head("nothing/here.bin") is None
    assert not store.exists("nothing/here.bin")
    with pytest.raises(KeyNotFound) as caught:
        store.get("nothing/here.bin")
    assert "nothing/here.bin" in str(caught.value) and caught.value.hint


def test_delete_is_idempotent(store):
    store.put("d/e.bin", b"x")
    store.delete("d/e.bin")
    store.delete("d/e.bin")
    assert not store.exists("d/e.bin")
    assert store.list_page("d/").items == []


def test_put_if_absent_refuses_existing_key(store):
    store.put("claims/one", b"first", if_absent=True)
    with pytest.raises(KeyExists):
        store.put("claims/one", b"second", if_absent=True)
    assert store.get("claims/one") == b"first"


def test_racing_conditional_writers_have_one_winner(store):
    winners, losers = run_at_once(lambda n: store.put("race/claim", f"writer {n}".encode(), if_absent=True) and n, 8)
    assert len(winners) == 1 and len(losers) == 7
    assert all(isinstance(error, KeyExists) for error in losers)
    assert store.get("race/claim") == f"writer {winners[0]}".encode()


def test_list_pages_past_1000_keys_in_order(store):
    keys = [f"images/generated/img-{n:05d}.png" for n in range(1203)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: store.put(key, b"p"), keys))
    store.put("images/other.png", b"outside the prefix")
    first = store.list_page("images/generated/")
    assert len(first.items) == 1000 and first.next_token
    second = store.list_page("images/generated/", token=first.next_token)
    assert second.next_token is None
    listed = [item.key for item in first.items + second.items]
    assert listed == keys
    assert all(item.size == 1 for item in second.items)


def test_list_small_pages_and_partial_prefix(store):
    for key in ["p/a-1", "p/a/2", "p/a/3/x", "p/b", "p/ab", "q/a"]:
        store.put(key, b"1")
    seen, token = [], None
    while True:
        page = store.list_page("p/", token=token, limit=2)
        assert len(page.items) <= 2
        seen += [item.key for item in page.items]
        if page.next_token is None:
            break
        token = page.next_token
    assert seen == ["p/a-1", "p/a/2", "p/a/3/x", "p/ab", "p/b"]  # S3 byte order
    assert [i.key for i in store.list_page("p/a").items] == ["p/a-1", "p/a/2", "p/a/3/x", "p/ab"]
    assert [i.key for i in store.list_page("", limit=1000).items] == seen + ["q/a"]


def test_url_fetches_identical_bytes(store):
    data = b"\x00glTF binary \xff" * 1000
    store.put("3d_assets/generated/u/v1/model.glb", data, content_type="model/gltf-binary")
    url = store.url("3d_assets/generated/u/v1/model.glb")
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data


@pytest.mark.parametrize("expires_s", [0, -5, 7 * 24 * 3600 + 1])
def test_url_expiry_out_of_range_is_refused(store, expires_s):
    store.put("k.bin", b"1")
    with pytest.raises(ValueError, match="7 days"):
        store.url("k.bin", expires_s=expires_s)


@pytest.mark.parametrize(
    "key",
    ["../escape.txt", "a/../../etc/passwd", "/abs/path", "a//b", "a/./b", "trailing/", "nul\x00byte", "back\\slash", "", ".."],
)
def test_traversal_and_malformed_keys_are_refused(store, key):
    for operation in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.head(key),
                      lambda: store.delete(key), lambda: store.url(key)):
        with pytest.raises(InvalidKey) as caught:
            operation()
        assert caught.value.hint  # says what to do
    with pytest.raises(ValueError):
        store.put(key, b"x")  # InvalidKey is also a ValueError


def test_object_vanished_between_list_and_get(store):
    store.put("images/uploaded/gone.png", b"soon gone")
    listed = store.list_page("images/uploaded/").items
    store.delete(listed[0].key)
    with pytest.raises(KeyNotFound, match="gone.png") as caught:
        store.get(listed[0].key)
    assert "refresh" in caught.value.hint.lower()


def test_non_ascii_metadata_is_refused_before_writing(store):
    with pytest.raises(ValueError, match="ASCII"):
        store.put("m.bin", b"1", metadata={"name": "Größe"})
    assert not store.exists("m.bin")


def test_store_errors_carry_what_and_hint(store):
    with pytest.raises(StoreError) as caught:
        store.get("missing.bin")
    assert str(caught.value) == f"{caught.value.what}. {caught.value.hint}"
