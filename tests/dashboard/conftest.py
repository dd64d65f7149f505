"""Fixtures for the dashboard tests: an environment pointing the app at a fresh local store, and
real assets published straight into it (a small textured mesh, its GLB and thumbnail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.harness.scenes import publish_asset, textured_sphere  # noqa: F401  (used by the test modules)
from tests.plugins.images import object_image

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"
PAGES = DASHBOARD / "pages"


@pytest.fixture
def store_dir(tmp_path):
    path = tmp_path / "dashboard-store"
    path.mkdir()
    return path


@pytest.fixture
def dashboard_env(monkeypatch, store_dir):
    """The app reads its settings from the environment on every run: point it at `store_dir`."""
    for name in ("RAY_ADDRESS", "USE_S3_STORAGE", "S3_BUCKET_NAME", "S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_STORAGE_DIR", str(store_dir))
    monkeypatch.setenv("ASSET_STUDIO_WORKERS", "2")  # the shared test cluster's pool size
    return store_dir


@pytest.fixture
def catalog(dashboard_env):
    from storage.catalog import AssetCatalog
    from storage.settings import StorageSettings
    from storage.store import open_store

    return AssetCatalog(open_store(StorageSettings.from_env()))


@pytest.fixture
def disc_png() -> bytes:
    return object_image("disc", 160)
