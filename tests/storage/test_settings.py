"""Settings from the environment: validated with errors naming the variable, shown masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.errors import SettingsError
from storage.settings import StorageSettings, env_flag, load_settings
from storage.store import open_store


def test_defaults_to_local_store_under_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = StorageSettings.from_env({})
    assert settings.backend == "local" and not settings.use_s3
    assert settings.local_dir == (tmp_path / "local_store").resolve()
    assert settings.local_dir.is_absolute()
    assert settings.url_expiry_s == 3600 and settings.region == "us-east-1"
    assert open_store(settings).describe() == f"local folder {tmp_path.resolve() / 'local_store'}"


def test_s3_settings_read_every_variable(tmp_path):
    settings = StorageSettings.from_env({
        "USE_S3_STORAGE": "True", "S3_BUCKET_NAME": "my-assets", "S3_REGION": "eu-west-1",
        "S3_ENDPOINT_URL": "http://localhost:9000", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYWXYZ",
        "AWS_SECRET_ACCESS_KEY": "very-secret-value", "S3_URL_EXPIRY_SECONDS": "600",
        "S3_CACHE_DIR": str(tmp_path / "cache"), "S3_CACHE_SIZE_MB": "50",
    })
    assert (settings.backend, settings.bucket, settings.region, settings.endpoint_url) == (
        "s3", "my-assets", "eu-west-1", "http://localhost:9000")
    assert settings.url_expiry_s == 600 and settings.cache_size_mb == 50
    assert settings.cache_dir == tmp_path / "cache" and settings.has_secret_key


def test_masked_view_never_shows_the_secret():
    settings = StorageSettings.from_env({
        "USE_S3_STORAGE": "yes", "S3_BUCKET_NAME": "my-assets", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYWXYZ",
        "AWS_SECRET_ACCESS_KEY": "very-secret-value",
    })
    view = settings.masked()
    assert view["access_key_id"] == "****WXYZ"
    assert view["secret_access_key"] == "set (hidden)"
    text = repr(view) + repr(settings)
    assert "very-secret-value" not in text and "AKIAEXAMPLEKEY" not in repr(view)


@pytest.mark.parametrize(
    "environ,variable,fix",
    [
        ({"USE_S3_STORAGE": "True"}, "S3_BUCKET_NAME", "Set S3_BUCKET_NAME"),
        ({"USE_S3_STORAGE": "maybe"}, "USE_S3_STORAGE", "true or false"),
        ({"USE_S3_STORAGE": "1", "S3_BUCKET_NAME": "Bad_Bucket"}, "S3_BUCKET_NAME", "lowercase"),
        ({"S3_URL_EXPIRY_SECONDS": "604801"}, "S3_URL_EXPIRY_SECONDS", "7 days"),
        ({"S3_URL_EXPIRY_SECONDS": "0"}, "S3_URL_EXPIRY_SECONDS", "between 1"),
        ({"S3_URL_EXPIRY_SECONDS": "1h"}, "S3_URL_EXPIRY_SECONDS", "number of seconds"),
        ({"S3_ENDPOINT_URL": "localhost:9000"}, "S3_ENDPOINT_URL", "http://"),
        ({"S3_CACHE_SIZE_MB": "-3"}, "S3_CACHE_SIZE_MB", "megabytes"),
        ({"S3_REGION": "EU West"}, "S3_REGION", "us-east-1"),
    ],
)
def test_bad_settings_name_the_variable_and_the_fix(environ, variable, fix):
    with pytest.raises(SettingsError) as caught:
        StorageSettings.from_env(environ)
    assert caught.value.variable == variable
    assert variable in str(caught.value) and fix in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_blank_values_mean_unset():
    settings = StorageSettings.from_env({"USE_S3_STORAGE": " ", "S3_BUCKET_NAME": "", "LOCAL_STORAGE_DIR": "  "})
    assert settings.backend == "local" and settings.bucket is None


def test_load_settings_reads_the_environment_once(monkeypatch, tmp_path):
    load_settings.cache_clear()
    monkeypatch.setenv("LOCAL_STORAGE_DIR", str(tmp_path / "first"))
    try:
        assert load_settings().local_dir == Path(tmp_path / "first")
        monkeypatch.setenv("LOCAL_STORAGE_DIR", str(tmp_path / "second"))
        assert load_settings().local_dir == Path(tmp_path / "first")
    finally:
        load_settings.cache_clear()


def test_open_store_picks_s3_with_cache(tmp_path):
    settings = StorageSettings.from_env({
        "USE_S3_STORAGE": "true", "S3_BUCKET_NAME": "my-assets", "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_CACHE_DIR": str(tmp_path / "cache"),
    })
    store = open_store(settings)
    assert store.describe() == "s3://my-assets (us-east-1, http://127.0.0.1:9)"
    assert store.cache is not None and store.cache.directory == tmp_path / "cache"


@pytest.mark.parametrize("value,expected", [
    ("true", True), ("TRUE", True), ("1", True), ("Yes", True), ("on", True), (" On ", True),
    ("false", False), ("False", False), ("0", False), ("NO", False), ("off", False),
])
def test_env_flag_reads_the_usual_spellings(value, expected):
    assert env_flag("STUDIO_FLAG", not expected, {"STUDIO_FLAG": value}) is expected


@pytest.mark.parametrize("environ", [{}, {"STUDIO_FLAG": ""}, {"STUDIO_FLAG": "   "}])
@pytest.mark.parametrize("default", [True, False])
def test_env_flag_unset_or_empty_means_the_default(environ, default):
    assert env_flag("STUDIO_FLAG", default, environ) is default


@pytest.mark.parametrize("value", ["maybe", "ture", "2", "y", "enabled"])
def test_env_flag_refuses_anything_else_naming_the_variable_and_the_fix(value):
    with pytest.raises(SettingsError) as caught:
        env_flag("STUDIO_FLAG", False, {"STUDIO_FLAG": value})
    assert caught.value.variable == "STUDIO_FLAG"
    assert repr(value) in caught.value.what and "Set STUDIO_FLAG to true or false" in caught.value.hint
    assert "\n" not in str(caught.value)


def test_env_flag_reads_the_process_environment_by_default(monkeypatch):
    monkeypatch.setenv("STUDIO_FLAG", "on")
    assert env_flag("STUDIO_FLAG", False) is True
    monkeypatch.delenv("STUDIO_FLAG")
    assert env_flag("STUDIO_FLAG", True) is True
