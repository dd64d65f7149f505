"""`python -m ray_jobs check / assets / doctor` as subprocesses, on a local folder and on moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from ray_jobs.generators.registry import DEFAULT_GENERATOR, identity_settings
from storage.catalog import AssetCatalog
from tests.ray.images import object_png
from storage.keys import sha256_hex
from storage.settings import StorageSettings
from storage.store import open_store

REPO = Path(__file__).resolve().parents[2]
STORAGE_VARIABLES = ("USE_S3_STORAGE", "S3_BUCKET_NAME", "S3_REGION", "S3_ENDPOINT_URL", "LOCAL_STORAGE_DIR",
                     "S3_URL_EXPIRY_SECONDS", "S3_CACHE_DIR", "S3_CACHE_SIZE_MB")


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in STORAGE_VARIABLES}
    clean.update(env)
    clean["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "ray_jobs", *args], env=clean, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def cli_env(request, tmp_path) -> dict[str, str]:
    if request.param == "local":
        return {"LOCAL_STORAGE_DIR": str(tmp_path / "store")}
    return request.getfixturevalue("s3_env")


def publish_for(image: bytes, name: str, env: dict[str, str]):
    catalog = AssetCatalog(open_store(StorageSettings.from_env(env)))
    return catalog.publish(image_sha256=sha256_hex(image), name=name, generator=DEFAULT_GENERATOR,
                           settings=identity_settings(DEFAULT_GENERATOR, None),
                           files={"glb": (b"glTF test model", "model/gltf-binary")}, timings={}, quality={})


def test_check_reports_existing_and_missing_assets(cli_env, tmp_path):
    (tmp_path / "done.png").write_bytes(object_png(1))
    (tmp_path / "new.png").write_bytes(object_png(2))
    manifest = publish_for(object_png(1), "done.png", cli_env)
    result = run_cli("check", "done.png", "new.png", "--json", env=cli_env, cwd=tmp_path)
    assert result.returncode == 1, result.stderr  # one image has no asset yet
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [set(row) for row in rows] == [{"image", "exists", "asset_id", "key", "url"}] * 2
    done, new = rows
    assert (done["image"], done["exists"], done["asset_id"]) == ("done.png", True, manifest.asset_id)
    assert done["key"] == manifest.latest_version.files["glb"].key
    with urllib.request.urlopen(done["url"], timeout=10) as response:
        assert response.read() == b"glTF test model"
    assert new["exists"] is False and new["key"] is None and new["url"] is None and len(new["asset_id"]) == 32


def test_check_unreadable_image_is_a_clear_error(tmp_path):
    result = run_cli("check", "missing.png", env={"LOCAL_STORAGE_DIR": str(tmp_path / "store")}, cwd=tmp_path)
    assert result.returncode == 2
    assert "Cannot read missing.png" in result.stderr and "Pass a path" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_assets_lists_newest_first(cli_env, tmp_path):
    publish_for(b"first image", "first.png", cli_env)
    second = publish_for(b"second image", "second.png", cli_env)
    result = run_cli("assets", "--json", env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    names = [json.loads(line)["name"] for line in result.stdout.splitlines()]
    assert names == ["second.png", "first.png"]
    paged = run_cli("assets", "--limit", "1", env=cli_env, cwd=tmp_path)
    assert second.asset_id in paged.stdout and "first.png" not in paged.stdout
    assert "--cursor" in paged.stderr


def test_doctor_passes_on_a_working_store(cli_env, tmp_path):
    result = run_cli("doctor", "--storage-only", env=cli_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 5 and all(line.startswith("✓") for line in lines)
    assert any("download URL works" in line for line in lines)
    assert "fake-secret" not in result.stdout


def test_doctor_fails_with_the_fix(tmp_path):
    bad = run_cli("doctor", "--storage-only", "--json", env={"USE_S3_STORAGE": "true"}, cwd=tmp_path)
    assert bad.returncode == 1
    line = json.loads(bad.stdout.splitlines()[0])
    assert line["ok"] is False and "S3_BUCKET_NAME" in line["fix"]


@pytest.mark.s3
def test_doctor_reports_a_missing_bucket(s3_env, tmp_path):
    env = {**s3_env, "S3_BUCKET_NAME": "bucket-that-is-not-there"}
    result = run_cli("doctor", "--storage-only", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "✗ store reachable" in result.stdout and "fix: Create it" in result.stdout
