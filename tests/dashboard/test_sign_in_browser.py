"""Sign-in and roles in a real headless Chromium against a real OpenID Connect provider
(oidc-provider-mock on 127.0.0.1): nothing but the sign-in screen before sign-in; a viewer browses
and downloads but cannot generate or delete; an editor generates but cannot delete; an admin
deletes, and the deletion is in the audit trail under the admin's email."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager

import pytest

from bench.harness.browser import (REPO_ROOT, free_port, gallery_settled, offline_browser, streamlit_server,
                                   upload_received)
from tests.dashboard.test_browser_e2e import playwright  # noqa: F401 - the fixture
from tests.plugins.images import object_image

pytestmark = pytest.mark.browser
ADMIN, EDITOR, VIEWER = "admin@studio.example", "maker@editors.example", "someone@studio.example"


@pytest.fixture
def oidc_provider():
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread() as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def signed_in_dashboard(tmp_path, oidc_provider):
    """The dashboard with [auth] in its secrets, roles from STUDIO_ADMINS / STUDIO_EDITORS, one asset."""
    from bench.harness.scenes import publish_asset
    from storage.catalog import AssetCatalog
    from storage.local_store import LocalStore

    store_dir = tmp_path / "store"
    publish_asset(AssetCatalog(LocalStore(store_dir)), object_image("disc", 96), "published-disc.png")
    port = free_port()
    home = tmp_path / "app"
    (home / ".streamlit").mkdir(parents=True)
    (home / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(16)}"\n'
        'client_id = "asset-studio"\n'
        'client_secret = "not-a-real-secret"\n'
        f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n')
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RAY_ADDRESS", "USE_S3", "S3_", "AWS_", "STUDIO_"))}
    env.update(LOCAL_STORAGE_DIR=str(store_dir), ASSET_STUDIO_WORKERS="1", PYTHONPATH=str(REPO_ROOT),
               STUDIO_ADMINS=ADMIN, STUDIO_EDITORS="@editors.example")
    with streamlit_server(env, tmp_path / "streamlit.log", port=port, cwd=home) as (url, _):
        yield url, store_dir


@contextmanager
def signed_in(playwright, url: str, email: str):  # noqa: F811 - the fixture's value
    with offline_browser(playwright) as context:
        page = context.new_page()
        page.goto(url)
        page.get_by_role("button", name="Sign in").click()
        page.locator("input[name=sub]").fill(email)  # the provider's authorize page
        page.get_by_role("button", name="Authorize").click()
        page.get_by_text(f"Signed in as {email}").wait_for(timeout=60_000)
        yield page


def open_first_asset(page) -> None:
    page.get_by_role("link", name="Gallery").click()
    gallery_settled(page)
    page.get_by_role("button", name="Open").first.click()
    page.get_by_role("button", name="← Back to the gallery").wait_for(timeout=60_000)


def test_roles_decide_what_each_signed_in_user_can_do(playwright, signed_in_dashboard, tmp_path):  # noqa: F811
    url, store_dir = signed_in_dashboard

    with offline_browser(playwright) as context:  # before sign-in: the sign-in screen only
        page = context.new_page()
        page.goto(url)
        page.get_by_role("button", name="Sign in").wait_for(timeout=60_000)
        assert page.get_by_text("Generate a 3D model").count() == 0
        assert page.get_by_role("link", name="Gallery").count() == 0

    with signed_in(playwright, url, VIEWER) as page:
        assert page.get_by_text(f"Signed in as {VIEWER} (viewer)").count() == 1
        page.get_by_text("generating models needs the editor role").wait_for(timeout=30_000)
        assert page.get_by_role("button", name="Generate 3D Model").count() == 0
        open_first_asset(page)
        assert page.get_by_role("button", name="Delete asset…").count() == 0
        with page.expect_download() as download:
            page.get_by_role("button", name="GLB", exact=True).click()
        assert download.value.path().read_bytes()[:4] == b"glTF"
        page.get_by_role("link", name="Settings").click()
        page.get_by_text("the settings page needs the admin role").wait_for(timeout=30_000)

    image = tmp_path / "made-by-editor.png"
    image.write_bytes(object_image("figure", 128, alpha=True))
    with signed_in(playwright, url, EDITOR) as page:
        page.locator("input[type=file]").set_input_files(image)
        upload_received(page, image.name)
        page.get_by_role("button", name="Generate 3D Model").click()
        page.get_by_text("3D generation completed successfully!").wait_for(timeout=300_000)
        open_first_asset(page)
        assert page.get_by_role("button", name="Delete asset…").count() == 0

    with signed_in(playwright, url, ADMIN) as page:
        open_first_asset(page)
        page.get_by_role("button", name="Delete asset…").click()
        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_text("Deleted **").or_(page.get_by_text("Deleted ")).first.wait_for(timeout=60_000)
        page.get_by_role("link", name="Settings").click()
        page.get_by_text("Audit trail").wait_for(timeout=30_000)
        page.get_by_text(ADMIN).first.wait_for(timeout=30_000)

    from storage.local_store import LocalStore
    import json

    store = LocalStore(store_dir)
    records = [json.loads(store.get(info.key)) for info in store.iter_keys("audit/")]
    assert [(r["who"], r["action"], r["result"]) for r in records] == [(ADMIN, "delete", "done")]
