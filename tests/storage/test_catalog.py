"""The asset catalog on both backends: lookup, versions, races, clean failures, gallery, images."""

from __future__ import annotations

import json
import pytest

from storage import keys
from storage.catalog import AssetCatalog
from storage.errors import CorruptManifest, KeyNotFound
from storage.keys import asset_id_for, sha256_hex
from tests.storage.concurrency import run_at_once

SETTINGS = {"generator": "inflate", "resolution": 512, "target_faces": 20000, "thickness": 0.3}


def publish(catalog, image=b"image bytes", name="chair.png", glb=b"glTF-binary", **extra):
    files = {"glb": (glb, "model/gltf-binary"), "thumbnail": (b"\x89PNG thumb", "image/png")}
    return catalog.publish(image_sha256=sha256_hex(image), name=name, generator="inflate", settings=SETTINGS,
                           files=files, timings={"geometry": 1.5}, quality={"faces": 100}, **extra)


def all_keys(store, prefix=""):
    return [info.key for info in store.iter_keys(prefix)]


@pytest.fixture
def catalog(store):
    return AssetCatalog(store)


def test_find_returns_published_asset(catalog):
    sha = sha256_hex(b"image bytes")
    assert catalog.find(sha, SETTINGS) is None
    manifest = publish(catalog, source_key="images/uploaded/x/chair.png")
    found = catalog.find(sha, SETTINGS)
    assert found == manifest
    assert found.asset_id == asset_id_for(sha, SETTINGS)
    assert found.latest == 1 and found.latest_version.version == 1
    glb = found.latest_version.files["glb"]
    assert glb.content_type == "model/gltf-binary" and glb.size == len(b"glTF-binary")
    assert catalog.read(glb.key) == b"glTF-binary"
    head = catalog.store.head(glb.key)
    assert head.content_type == "model/gltf-binary"
    assert head.metadata["source-sha256"] == sha
    assert found.source_key == "images/uploaded/x/chair.png"
    assert found.settings == SETTINGS and found.generator == "inflate"


def test_other_settings_are_another_asset(catalog):
    publish(catalog)
    sha = sha256_hex(b"image bytes")
    assert catalog.find(sha, {**SETTINGS, "resolution": 256}) is None
    assert catalog.find(sha, {**SETTINGS, "generator": "other"}) is None
    assert catalog.find(sha256_hex(b"other image"), SETTINGS) is None


def test_regenerating_adds_a_version_and_keeps_the_old(catalog):
    first = publish(catalog, glb=b"first glb")
    second = publish(catalog, glb=b"second glb")
    assert second.asset_id == first.asset_id
    assert [v.version for v in second.versions] == [1, 2] and second.latest == 2
    assert catalog.read(second.version(1).files["glb"].key) == b"first glb"
    assert catalog.read(second.latest_version.files["glb"].key) == b"second glb"
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    with pytest.raises(KeyError, match="no version 7"):
        second.version(7)


def test_racing_first_publishers_end_with_one_version(catalog):
    """A batch and a dashboard request building the same missing asset: one version between them."""
    def first(n):
        files = {"glb": (f"glb from writer {n}".encode(), "model/gltf-binary")}
        return catalog.publish_first(image_sha256=sha256_hex(b"image bytes"), settings=SETTINGS, name="chair.png",
                                     generator="inflate", files=files)

    results, errors = run_at_once(first, 6)
    assert errors == []
    final = catalog.find(sha256_hex(b"image bytes"), SETTINGS)
    assert [v.version for v in final.versions] == [1]
    assert sorted(published for _, published in results) == [False] * 5 + [True]
    assert {manifest.asset_id for manifest, _ in results} == {final.asset_id}
    again, published = first(99)  # later writers find it at once
    assert not published and again.latest == 1


def test_racing_publishers_leave_one_consistent_asset(catalog):
    results, errors = run_at_once(lambda n: publish(catalog, glb=f"glb from writer {n}".encode()), 6)
    assert errors == []
    final = catalog.find(sha256_hex(b"image bytes"), SETTINGS)
    assert sorted(v.version for v in final.versions) == [1, 2, 3, 4, 5, 6]
    assert final.latest == 6
    bodies = {catalog.read(v.files["glb"].key) for v in final.versions}
    assert bodies == {f"glb from writer {n}".encode() for n in range(6)}  # no version overwrote another
    assert len(results) == 6 and max(r.latest for r in results) == 6
    listing = catalog.list_assets()
    assert [m.asset_id for m in listing.items] == [final.asset_id]


@pytest.mark.parametrize(
    "bad",
    [
        {"files": {"thumbnail": (b"png", "image/png")}},
        {"files": {"glb": (b"", "model/gltf-binary")}},
        {"files": {"glb": (b"x", "")}},
        {"files": {"glb": (b"x", "model/gltf-binary"), "Bad Kind!": (b"x", "text/plain")}},
        {"name": "   "},
        {"settings": {"generator": "other"}},
        {"image_sha256": "not-a-hash"},
        {"quality": {"mesh": object()}},
    ],
)
def test_bad_input_is_refused_and_leaves_nothing(catalog, bad):
    arguments = dict(image_sha256=sha256_hex(b"img"), name="chair.png", generator="inflate", settings=SETTINGS,
                     files={"glb": (b"glb", "model/gltf-binary")}, timings={}, quality={})
    arguments.update(bad)
    with pytest.raises(ValueError) as caught:
        catalog.publish(**arguments)
    assert str(caught.value)
    assert all_keys(catalog.store) == []


def test_delete_removes_every_file_and_index_entry(catalog):
    manifest = publish(catalog)
    publish(catalog)
    other = publish(catalog, image=b"other image", name="table.png")
    removed = catalog.delete(manifest.asset_id)
    assert removed == 11  # manifest, index entry, identity, 2 x (claim, glb, thumbnail, record)
    assert catalog.get(manifest.asset_id) is None
    assert not any(manifest.asset_id in key for key in all_keys(catalog.store))
    assert [m.asset_id for m in catalog.list_assets().items] == [other.asset_id]
    assert catalog.delete(manifest.asset_id) == 0


def test_gallery_newest_first_paged_with_cursor(catalog):
    published = [publish(catalog, image=f"image {n}".encode(), name=f"item {n:02d}.png") for n in range(7)]
    pages, cursor = [], None
    while True:
        page = catalog.list_assets(limit=3, cursor=cursor)
        pages.append([m.name for m in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [["item 06.png", "item 05.png", "item 04.png"], ["item 03.png", "item 02.png", "item 01.png"],
                     ["item 00.png"]]
    assert len(published) == 7


def test_gallery_search_by_name(catalog):
    for name in ["Red Chair.png", "blue chair.jpg", "Table (oak).png", "Größe.png"]:
        publish(catalog, image=name.encode(), name=name)
    assert sorted(m.name for m in catalog.list_assets(name_contains="CHAIR").items) == ["Red Chair.png", "blue chair.jpg"]
    assert [m.name for m in catalog.list_assets(name_contains="e (o").items] == ["Table (oak).png"]
    assert [m.name for m in catalog.list_assets(name_contains="GRÖSSE").items] == ["Größe.png"]  # full case folding
    assert [m.name for m in catalog.list_assets(name_contains="röß").items] == ["Größe.png"]
    assert catalog.list_assets(name_contains="sofa").items == []


def test_corrupt_manifest_is_skipped_and_reported(catalog):
    good = publish(catalog, image=b"good", name="good.png")
    bad = publish(catalog, image=b"bad", name="bad.png")
    truncated = publish(catalog, image=b"truncated", name="truncated.png")
    catalog.store.put(keys.manifest_key(bad.asset_id), b"{not json", content_type="application/json")
    catalog.store.put(keys.manifest_key(truncated.asset_id), json.dumps({"asset_id": truncated.asset_id}).encode())
    catalog = AssetCatalog(catalog.store, first_page_max_age_s=0)  # edits behind its back show once the snapshot ages
    page = catalog.list_assets()
    assert [m.asset_id for m in page.items] == [good.asset_id]
    assert len(page.skipped) == 2
    assert any(bad.asset_id in reason and "JSON" in reason for reason in page.skipped)
    with pytest.raises(CorruptManifest) as caught:
        catalog.get(bad.asset_id)
    assert "--delete" in caught.value.hint
    repaired = publish(catalog, image=b"bad", name="bad.png")  # publishing rebuilds the manifest
    assert [v.version for v in repaired.versions] == [1, 2]


def test_asset_without_manifest_is_invisible(catalog):
    manifest = publish(catalog)
    catalog.store.delete(keys.manifest_key(manifest.asset_id))
    assert catalog.find(manifest.source_sha256, SETTINGS) is None
    catalog = AssetCatalog(catalog.store, first_page_max_age_s=0)  # edits behind its back show once the snapshot ages
    assert catalog.list_assets().items == []


def test_file_vanished_after_listing(catalog):
    manifest = publish(catalog)
    key = manifest.latest_version.files["glb"].key
    catalog.store.delete(key)
    with pytest.raises(KeyNotFound, match="model.glb"):
        catalog.read(key)


def test_source_images_saved_content_addressed_and_listed(catalog):
    png = b"\x89PNG\r\n\x1a\n" + b"pixels"
    saved = catalog.save_source_image(png, "C:\\Users\\me\\photos\\Red Chair.PNG")
    assert saved.key == f"images/uploaded/{sha256_hex(png)}/Red Chair.PNG"
    assert saved.name == "Red Chair.PNG" and saved.sha256 == sha256_hex(png) and saved.size == len(png)
    assert catalog.store.head(saved.key).content_type == "image/png"
    again = catalog.save_source_image(png, "Red Chair.PNG")
    assert again.key == saved.key
    catalog.store.put("images/generated/render-01.png", b"\x89PNG\r\n\x1a\nother", content_type="image/png")
    catalog.store.put("images/generated/notes.txt", b"not an image")
    images, cursor = catalog.list_source_images()
    assert [(i.key, i.name) for i in images] == [(saved.key, "Red Chair.PNG"),
                                                 ("images/generated/render-01.png", "render-01.png")]
    assert cursor is None and images[1].sha256 == ""
    first, cursor = catalog.list_source_images(limit=1)
    rest, end = catalog.list_source_images(limit=1, cursor=cursor)
    assert [i.name for i in first + rest] == ["Red Chair.PNG", "render-01.png"]
    assert [i.name for i in catalog.list_source_images(name_contains="render")[0]] == ["render-01.png"]
    with pytest.raises(ValueError, match="empty"):
        catalog.save_source_image(b"", "empty.png")


def test_first_page_snapshot_follows_publish_and_delete(catalog):
    first = publish(catalog, image=b"one", name="one.png")
    assert [m.name for m in catalog.list_assets().items] == ["one.png"]  # computed, then kept
    assert [m.name for m in catalog.list_assets().items] == ["one.png"]  # from the snapshot
    second = publish(catalog, image=b"two", name="two.png")
    assert [m.name for m in catalog.list_assets().items] == ["two.png", "one.png"]
    newer = publish(catalog, image=b"one", name="one.png")  # a new version shows on the cached page
    assert catalog.list_assets().items[1].latest == 2 == newer.latest
    catalog.delete(second.asset_id)
    assert [m.asset_id for m in catalog.list_assets().items] == [first.asset_id]
    other_limit = catalog.list_assets(limit=1)
    assert [m.asset_id for m in other_limit.items] == [first.asset_id] and other_limit.next_cursor is None


def test_edits_behind_the_catalogs_back_show_after_the_snapshot_ages(catalog):
    manifest = publish(catalog)
    assert len(catalog.list_assets().items) == 1
    catalog.store.delete(keys.manifest_key(manifest.asset_id))  # not through the catalog: no change mark
    assert len(catalog.list_assets().items) == 1  # the snapshot has not aged yet
    assert AssetCatalog(catalog.store, first_page_max_age_s=0).list_assets().items == []


def test_quality_figures_become_plain_json(catalog):
    import numpy as np

    manifest = catalog.publish(image_sha256=sha256_hex(b"img"), name="n.png", generator="inflate", settings=SETTINGS,
                               files={"glb": (b"glb", "model/gltf-binary")},
                               quality={"faces": np.int64(12), "iou": float("nan"), "watertight": np.bool_(True),
                                        "extent": np.float32(0.5), "sizes": (1, 2)})
    assert manifest.latest_version.quality == {"faces": 12, "iou": None, "watertight": True, "extent": 0.5, "sizes": [1, 2]}
    assert catalog.get(manifest.asset_id).latest_version.quality == manifest.latest_version.quality


def test_publish_invalidates_the_first_page_and_the_next_viewer_rebuilds_it(catalog):
    from storage.gallery_cache import FirstPageCache

    publish(catalog, image=b"one", name="one.png")
    assert [m.name for m in catalog.list_assets().items] == ["one.png"]
    cache = FirstPageCache(catalog.store)
    assert [m.name for m in cache.lookup(24, catalog._executor())[0].items] == ["one.png"]
    publish(catalog, image=b"two", name="two.png")
    assert cache.lookup(24, catalog._executor())[0] is None  # stale: publish only marks the change
    assert [m.name for m in catalog.list_assets().items] == ["two.png", "one.png"]
    assert [m.name for m in cache.lookup(24, catalog._executor())[0].items] == ["two.png", "one.png"]
