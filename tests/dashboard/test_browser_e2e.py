"""End to end in a real headless Chromium with the internet cut off: upload, generate on the
dashboard's own local Ray, see the textured preview drawn by WebGL, download the GLB, get the
"already exists" answer for the same image, find the asset in the Gallery. Screenshots of every
page go to test-output/screenshots/. And the Gallery's cards keep still while their thumbnails load."""

from __future__ import annotations

import io
import os
import time

import pytest

from bench.harness.browser import (REPO_ROOT, gallery_settled, local_store_env, offline_browser, painted_preview,
                                   streamlit_server, upload_received)
from tests.plugins.images import object_image
from tests.support import missing_tool

pytestmark = pytest.mark.browser
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"


@pytest.fixture
def playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_tool("playwright is not installed")
    from bench.harness.browser import CHROMIUM

    if not os.path.exists(CHROMIUM):
        missing_tool(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        yield playwright


def test_generate_preview_download_exists_gallery(playwright, tmp_path):
    from storage.catalog import AssetCatalog
    from storage.local_store import LocalStore

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    store_dir = tmp_path / "store"
    image_path = tmp_path / "figure.png"
    image_path.write_bytes(object_image("figure", 256, alpha=True))
    env = local_store_env(store_dir, ASSET_STUDIO_WORKERS="1")

    with streamlit_server(env, tmp_path / "streamlit.log") as (url, _), offline_browser(playwright) as context:
        page = context.new_page()
        page.goto(url)
        page.get_by_role("heading", name="Generate a 3D model").wait_for(timeout=60_000)
        page.get_by_role("button", name="Generate 3D Model").wait_for(timeout=60_000)
        page.screenshot(path=SCREENSHOTS / "1-generate.png", full_page=True)

        page.locator("input[type=file]").set_input_files(image_path)
        upload_received(page, "figure.png")
        page.get_by_role("button", name="Generate 3D Model").click()
        page.get_by_text("3D generation completed successfully!").wait_for(timeout=300_000)
        pixels = painted_preview(page)
        assert pixels["webgl"], pixels
        assert pixels["painted_pixels"] > 2_000 and pixels["colours"] > 50, pixels
        page.screenshot(path=SCREENSHOTS / "2-generated.png", full_page=True)

        with page.expect_download() as download_info:
            page.get_by_role("button", name="GLB", exact=True).click()
        downloaded = download_info.value.path().read_bytes()
        manifest = AssetCatalog(LocalStore(store_dir)).list_assets(limit=1).items[0]
        assert downloaded[:4] == b"glTF"
        assert downloaded == (store_dir / manifest.latest_version.files["glb"].key).read_bytes()
        import trimesh

        mesh = trimesh.load(io.BytesIO(downloaded), file_type="glb", force="mesh")
        assert len(mesh.faces) > 1_000 and mesh.visual.uv is not None

        page.get_by_role("button", name="Generate 3D Model").click()
        clicked = time.monotonic()
        page.get_by_text("3D model already exists in the asset store!").wait_for(timeout=10_000)
        exists_after_s = time.monotonic() - clicked
        assert exists_after_s < 1.0, f"'already exists' took {exists_after_s:.2f} s"
        page.screenshot(path=SCREENSHOTS / "3-already-exists.png", full_page=True)

        page.get_by_role("link", name="Gallery").click()
        card_image = page.locator("[data-testid=stImage] img").first
        card_image.wait_for(timeout=30_000)
        page.get_by_text("figure.png").first.wait_for()
        gallery_settled(page)
        assert card_image.evaluate("img => img.complete && img.naturalWidth > 0")
        page.screenshot(path=SCREENSHOTS / "4-gallery.png", full_page=True)
        opened_ms = time.time() * 1000
        page.get_by_role("button", name="Open").first.click()
        page.get_by_role("heading", name="figure.png").wait_for(timeout=30_000)
        pixels = painted_preview(page, newer_than_ms=opened_ms)  # the Gallery's own preview, not a stale frame
        assert pixels["webgl"] and pixels["painted_pixels"] > 2_000 and pixels["colours"] > 50, pixels
        page.screenshot(path=SCREENSHOTS / "4b-gallery-asset.png", full_page=True)

        page.get_by_role("link", name="Jobs").click()
        page.get_by_text("CPUs free / total").wait_for(timeout=60_000)
        # The job table is a canvas grid; its cells exist in the DOM for screen readers.
        page.locator("td[role=gridcell]", has_text="figure.png").first.wait_for(state="attached", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=SCREENSHOTS / "5-jobs.png", full_page=True)

        page.get_by_role("link", name="Settings").click()
        page.get_by_role("button", name="Test store connection").click()  # only when asked: it writes a probe
        page.get_by_text("probe object deleted").wait_for(timeout=30_000)
        page.screenshot(path=SCREENSHOTS / "6-settings.png", full_page=True)

        assert context.blocked == [], f"the page tried to reach the internet: {context.blocked[:5]}"


def test_gallery_cards_keep_still_while_their_thumbnails_load(playwright, tmp_path):
    # each card keeps a square box for its thumbnail before the image arrives: held back here until the
    # cards are measured, a late thumbnail moved every Open button below it by its height
    from bench.harness.scenes import publish_asset
    from storage.catalog import AssetCatalog
    from storage.local_store import LocalStore

    store_dir = tmp_path / "store"
    catalog = AssetCatalog(LocalStore(store_dir))
    for number in range(5):  # two rows of cards
        publish_asset(catalog, object_image("ring", 64 + number), f"ring-{number}.png")
    env = local_store_env(store_dir)
    held, released = [], []

    def hold_thumbnails(route):
        # /media/ serves st.image's bytes; /static/media/ the fonts, which move text as they load
        if released or "/static/" in route.request.url:
            route.fallback()
        else:
            held.append(route)

    with streamlit_server(env, tmp_path / "streamlit.log") as (url, _), offline_browser(playwright) as context:
        page = context.new_page()
        page.route("**/media/**", hold_thumbnails)
        page.goto(f"{url}/gallery", wait_until="commit")
        page.get_by_text("newest first").wait_for(timeout=60_000)
        buttons = page.get_by_role("button", name="Open")
        buttons.nth(4).wait_for(timeout=30_000)
        page.evaluate("document.fonts.ready")
        deadline = time.monotonic() + 30
        while not held:  # the route handler runs as the browser's requests reach this process
            assert time.monotonic() < deadline, "no thumbnail was requested"
            page.wait_for_timeout(50)
        assert page.evaluate("Array.from(document.images).every(image => !image.complete)")
        loading = [buttons.nth(number).bounding_box() for number in range(5)]

        released.append(True)
        for route in held:
            route.fallback()
        page.wait_for_function("() => Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)",
                               timeout=30_000)
        loaded = [buttons.nth(number).bounding_box() for number in range(5)]
        assert loading == loaded, f"Open buttons moved while thumbnails loaded: {loading} -> {loaded}"
        assert loaded[4]["y"] > loaded[0]["y"] + 100  # the second row sits below the first's thumbnails
        shown = page.evaluate("Array.from(document.images).map(image => [image.clientWidth, image.clientHeight])")
        assert all(width == height > 50 for width, height in shown), shown
