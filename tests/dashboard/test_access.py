"""Roles behind every action, through AppTest: a viewer sees no Generate, Delete or settings, and a
forged delete (the confirm dialog opened through session state) is refused on the server side and
recorded; an admin's actions land in the audit trail; the CLI's delete is audited too; the
Settings page touches the store only when asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from ray_jobs.client.access import Role, anonymous_user, role_for
from tests.dashboard.conftest import PAGES, publish_asset
from tests.plugins.images import object_image

GALLERY, GENERATE, SETTINGS = (str(PAGES / name) for name in ("gallery.py", "generate.py", "settings.py"))


def audit_records(catalog) -> list[dict]:
    return [json.loads(catalog.store.get(info.key)) for info in catalog.store.iter_keys("audit/")]


@pytest.fixture
def viewer(monkeypatch, dashboard_env):
    monkeypatch.setenv("STUDIO_ANONYMOUS_ROLE", "viewer")
    monkeypatch.setenv("STUDIO_USER", "visitor")
    return dashboard_env


def test_roles_come_from_configuration():
    env = {"STUDIO_ADMINS": "boss@example.com, @ops.example.com", "STUDIO_EDITORS": "maker@example.com"}
    assert role_for("Boss@Example.com", env) == Role.ADMIN
    assert role_for("anyone@ops.example.com", env) == Role.ADMIN
    assert role_for("maker@example.com", env) == Role.EDITOR
    assert role_for("someone@example.com", env) == Role.VIEWER
    assert role_for("x@notops.example.com.evil", env) == Role.VIEWER
    assert anonymous_user({"STUDIO_USER": "ci"}).role == Role.ADMIN  # the open dashboard is your own machine
    with pytest.raises(Exception, match="STUDIO_ANONYMOUS_ROLE='owner' is not a role"):
        anonymous_user({"STUDIO_ANONYMOUS_ROLE": "owner"})


def test_a_viewer_cannot_delete_even_by_forging_the_request(viewer, catalog):
    manifest = publish_asset(catalog, object_image("disc", 96), "kept.png")
    at = AppTest.from_file(GALLERY, default_timeout=60).run()
    next(b for b in at.button if b.label == "Open").click().run()
    assert not [b for b in at.button if b.label in ("Delete asset…", "Regenerate")]
    # forge it: open the confirm dialog through session state, as a crafted request could
    at.session_state["gallery_confirm_delete"] = manifest.asset_id
    at.run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert any("visitor is a viewer and may not delete" in e.value for e in at.error)
    assert catalog.get(manifest.asset_id) is not None
    [record] = audit_records(catalog)
    assert (record["who"], record["action"], record["target"], record["result"]) == (
        "visitor", "delete", manifest.asset_id, "refused")


def test_a_viewer_has_no_generate_button_and_no_settings(viewer):
    at = AppTest.from_file(GENERATE, default_timeout=60).run()
    assert not [b for b in at.button if b.label == "Generate 3D Model"]
    assert any("generating models needs the editor role" in i.value for i in at.info)
    at = AppTest.from_file(SETTINGS, default_timeout=60).run()
    assert any("the settings page needs the admin role" in i.value for i in at.info)
    assert not at.table and not [b for b in at.button if b.label.startswith("Test")]


def test_settings_touch_the_store_only_when_asked_and_the_test_is_audited(monkeypatch, dashboard_env, catalog):
    monkeypatch.setenv("STUDIO_USER", "admin-on-this-machine")
    at = AppTest.from_file(SETTINGS, default_timeout=60).run()
    assert not at.exception
    assert list(catalog.store.iter_keys("")) == []  # opening the page wrote nothing (no probe object)
    next(b for b in at.button if b.label == "Test store connection").click().run()
    records = audit_records(catalog)
    assert [(r["who"], r["action"], r["target"], r["result"]) for r in records] == [
        ("admin-on-this-machine", "test settings", "store", "done")]
    at.run()
    assert any("admin-on-this-machine" in str(frame.value) for frame in at.dataframe)  # the trail, shown to admins


def test_the_cli_delete_is_audited_with_the_user_from_the_environment(dashboard_env, catalog):
    manifest = publish_asset(catalog, object_image("disc", 96), "gone.png")
    env = {**os.environ, "STUDIO_USER": "release-bot", "PYTHONPATH": os.getcwd()}
    run = subprocess.run([sys.executable, "-m", "ray_jobs", "assets", "--delete", manifest.asset_id], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    [record] = audit_records(catalog)
    assert (record["who"], record["action"], record["result"]) == ("release-bot", "delete", "done")
