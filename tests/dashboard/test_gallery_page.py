"""Gallery page through AppTest: newest first, paging by cursor, search, open, versions, delete."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PAGES, publish_asset, textured_sphere
from tests.plugins.images import object_image

GALLERY = str(PAGES / "gallery.py")


def open_buttons(at: AppTest) -> list:
    return [button for button in at.button if button.label == "Open"]


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def card_names(at: AppTest) -> list[str]:
    return [m.value.strip("*") for m in at.markdown if m.value.startswith("**asset-")]


def test_pages_newest_first_and_searches(dashboard_env, catalog):
    for number in range(30):
        publish_asset(catalog, object_image("disc", 64 + number), f"asset-{number:02d}")
    at = AppTest.from_file(GALLERY, default_timeout=60).run()
    assert not at.exception
    first = card_names(at)
    assert first == [f"asset-{n:02d}" for n in range(29, 5, -1)]  # 24 newest, newest first
    assert len(at.get("image")) == 24 and len(open_buttons(at)) == 24
    assert button(at, "← Newer").disabled and not button(at, "Older →").disabled

    button(at, "Older →").click().run()
    assert card_names(at) == [f"asset-{n:02d}" for n in range(5, -1, -1)]
    assert button(at, "Older →").disabled
    button(at, "← Newer").click().run()
    assert card_names(at) == first

    at.text_input(key="gallery_search").input("asset-1").run()
    assert card_names(at) == [f"asset-{n:02d}" for n in range(19, 9, -1)]


def test_open_switch_version_and_delete(dashboard_env, catalog):
    image = object_image("star", 96)
    publish_asset(catalog, image, "star.png", mesh=textured_sphere(2))
    manifest = publish_asset(catalog, image, "star.png", mesh=textured_sphere(3))  # regenerated: version 2
    assert manifest.latest == 2

    at = AppTest.from_file(GALLERY, default_timeout=60).run()
    open_buttons(at)[0].click().run()
    assert not at.exception
    assert at.subheader[0].value == "star.png"
    version = at.selectbox(key=f"version-{manifest.asset_id}")
    assert version.value == 2 and version.options[0].startswith("v2")
    assert any(m.value.replace(",", "") == str(1280) for m in at.metric)  # v2: subdivision 3 sphere
    version.set_value(1).run()
    assert any(m.value == "320" for m in at.metric)  # v1: subdivision 2 sphere
    [preview] = at.get("bidi_component")  # stpyvista's component, holding the exported scene
    assert "stpyvista" in str(preview.proto) and not at.warning
    assert any(b.proto.label == "GLB" for b in at.get("download_button"))

    button(at, "Delete asset…").click().run()
    assert any("cannot be undone" in m.value for m in at.markdown)
    button(at, "Delete").click().run()
    assert not at.exception
    assert catalog.get(manifest.asset_id) is None
    assert any(s.value.startswith("Deleted **star.png**") for s in at.success)
    assert "No assets yet" in at.info[0].value


def test_a_model_that_cannot_be_shown_says_so_and_keeps_the_downloads(dashboard_env, catalog, store_dir):
    manifest = publish_asset(catalog, object_image("disc", 90), "damaged.png")
    (store_dir / manifest.latest_version.files["glb"].key).write_bytes(b"glTF but nothing after")
    at = AppTest.from_file(GALLERY, default_timeout=60).run()
    open_buttons(at)[0].click().run()
    assert not at.exception
    [warning] = [w.value for w in at.warning]
    assert "could not be shown" in warning and manifest.latest_version.files["glb"].key in warning
    assert "regenerate" in warning and not at.get("bidi_component")
    assert any(b.proto.label == "GLB" for b in at.get("download_button"))
