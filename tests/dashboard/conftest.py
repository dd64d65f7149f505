"""Fixtures for the dashboard tests: an environment pointing the app at a fresh local store, and
real assets published straight into it (a small textured mesh, its GLB and thumbnail)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def textured_sphere(subdivisions: int = 3):
    import trimesh
    from PIL import Image

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    vertices = mesh.vertices
    uv = np.c_[np.arctan2(vertices[:, 1], vertices[:, 0]) / (2 * np.pi) + 0.5, vertices[:, 2] * 0.5 + 0.5]
    texture = np.zeros((64, 64, 3), np.uint8)
    texture[:, :32] = (220, 90, 40)
    texture[:, 32:] = (40, 90, 220)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(texture))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return mesh


def publish_asset(catalog, image: bytes, name: str, *, settings: dict | None = None, mesh=None):
    """Publish a real (small) asset for `image` under the identity the dashboard looks up."""
    from ray_jobs.generators.export import export_mesh
    from ray_jobs.generators.registry import identity_settings
    from ray_jobs.generators.thumbnail import render_thumbnail
    from storage.keys import sha256_hex

    mesh = mesh if mesh is not None else textured_sphere()
    identity = identity_settings("inflate", settings or {})
    return catalog.publish(
        image_sha256=sha256_hex(image), name=name, generator="inflate",
        settings={k: v for k, v in identity.items() if k != "generator"},
        files={"glb": (export_mesh(mesh, "glb"), "model/gltf-binary"),
               "thumbnail": (render_thumbnail(mesh, size=96), "image/png")},
        timings={"generate": 0.5}, quality={"faces": len(mesh.faces), "watertight": True, "iou": 0.97},
    )


@pytest.fixture
def catalog(dashboard_env):
    from storage.catalog import AssetCatalog
    from storage.settings import StorageSettings
    from storage.store import open_store

    return AssetCatalog(open_store(StorageSettings.from_env()))


@pytest.fixture
def disc_png() -> bytes:
    return object_image("disc", 160)
