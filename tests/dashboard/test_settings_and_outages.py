"""Settings page (masked credentials, doctor checks) and what every page does when the store or the
cluster is down: a clear banner, and the page still loads."""

from __future__ import annotations

import socket

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PAGES

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)


def every_text(at: AppTest) -> str:
    """All text the page shows, tables included."""
    parts = []
    for element in at.main:
        parts.append(str(getattr(element, "value", "")))
        proto = getattr(element, "proto", None)
        if proto is not None:
            parts.append(str(proto))
    return "\n".join(parts)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def unreachable_s3(monkeypatch, tmp_path, closed_port):
    env = {"USE_S3_STORAGE": "true", "S3_BUCKET_NAME": "studio-assets", "S3_REGION": "eu-west-1",
           "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}", "AWS_ACCESS_KEY_ID": KEY_ID,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "LOCAL_STORAGE_DIR": str(tmp_path / "unused")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return env


def test_settings_masks_credentials_and_reports_the_unreachable_store(unreachable_s3):
    at = page("settings").run()
    assert not at.exception
    shown = every_text(at)
    assert SECRET not in shown and KEY_ID not in shown
    assert "****MPLE" in shown and "set (hidden)" in shown
    assert "studio-assets" in shown and "eu-west-1" in shown and unreachable_s3["S3_ENDPOINT_URL"] in shown
    assert "3d_assets/generated/" in shown and "images/uploaded/" in shown
    assert not [m for m in at.markdown if m.value.startswith(":red[")]  # not tested until asked
    at.button(key="test-store").click().run()
    failed = [m.value for m in at.markdown if m.value.startswith(":red[")]
    assert failed and "store reachable" in failed[0] and "**Fix:**" in failed[0]


def test_settings_local_store_checks_pass(dashboard_env):
    at = page("settings").run()
    assert not at.exception
    assert str(dashboard_env) in every_text(at)
    at.button(key="test-store").click().run()
    passed = [m.value for m in at.markdown if m.value.startswith(":green[")]
    assert len(passed) == 6 and not [m for m in at.markdown if m.value.startswith(":red[")]
    at.button(key="test-store").click().run()
    assert len([m for m in at.markdown if m.value.startswith(":green[")]) == 6


@pytest.mark.parametrize("name", ["generate", "gallery", "jobs", "settings"])
def test_every_page_loads_with_the_store_down(unreachable_s3, name):
    at = page(name).run()
    assert not at.exception
    assert at.title[0].value
    if name == "generate":  # the store is read there only when its tab is opened
        at.session_state["source_tab"] = "Pick from the store"
        at.run()
    if name in ("generate", "gallery"):
        assert any("store" in e.value.lower() for e in at.error), [e.value for e in at.error]


def test_generate_with_the_store_down_says_what_failed(unreachable_s3):
    at = page("generate").run()
    at.file_uploader(key="uploads").set_value([("a.png", b"\x89PNG whatever", "image/png")]).run()
    next(b for b in at.button if b.label == "Generate 3D Model").click().run()
    assert not at.exception
    errors = [e.value for e in at.error if "Generation failed for a.png" in e.value]
    assert errors and str(unreachable_s3["S3_ENDPOINT_URL"]).split("//")[1] in errors[0]
    assert "S3_ENDPOINT_URL" in errors[0]  # what to check


def test_invalid_settings_give_a_banner_on_every_page(monkeypatch):
    monkeypatch.setenv("USE_S3_STORAGE", "true")
    monkeypatch.delenv("S3_BUCKET_NAME", raising=False)
    for name in ("generate", "gallery", "jobs", "settings"):
        at = page(name).run()
        assert not at.exception
        assert any("S3_BUCKET_NAME" in e.value for e in at.error), name


@pytest.fixture
def unreachable_cluster(monkeypatch, dashboard_env, closed_port):
    """A local store that works and a RAY_ADDRESS where nothing listens."""
    address = f"127.0.0.1:{closed_port}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    return address


def test_every_page_with_the_cluster_down(unreachable_cluster, disc_png):
    generate = page("generate").run()
    generate.file_uploader(key="uploads").set_value([("disc.png", disc_png, "image/png")]).run()
    next(b for b in generate.button if b.label == "Generate 3D Model").click().run()
    assert not generate.exception
    failed = [e.value for e in generate.error if "Generation failed for disc.png" in e.value]
    assert failed and unreachable_cluster in failed[0] and "RAY_ADDRESS" in failed[0], failed

    gallery = page("gallery").run()  # the store alone: no cluster needed, no banner
    assert not gallery.exception and not gallery.error

    jobs = page("jobs").run()
    assert not jobs.exception
    assert any(unreachable_cluster in e.value and "RAY_ADDRESS" in e.value for e in jobs.error), \
        [e.value for e in jobs.error]

    settings = page("settings").run()
    settings.button(key="test-cluster").click().run()
    assert not settings.exception
    red = [m.value for m in settings.markdown if m.value.startswith(":red[")]
    assert red and "cluster reachable" in red[0] and "RAY_ADDRESS" in red[0]
    assert "Traceback" not in every_text(settings)
