"""Credentials in the settings never show: not in a repr, a pickle for Ray, a job spec or its journal."""

from __future__ import annotations

import json
import pickle

import pytest

from ray_jobs.cluster.job_model import JobSpec
from storage.settings import StorageSettings

FAKE_KEY_ID = "AKIAFAKEKEYID7Q3Z9"
FAKE_SECRET = "fake-secret-access-key-0123456789"


@pytest.fixture
def s3_settings(monkeypatch, tmp_path):
    for name, value in {"USE_S3_STORAGE": "true", "S3_BUCKET_NAME": "my-assets", "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
                        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET, "S3_CACHE_DIR": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(name, value)
    return StorageSettings.from_env()


def _spec(settings: StorageSettings) -> JobSpec:
    return JobSpec(dedupe_key="s3://my-assets|" + "a" * 32, asset_id="a" * 32, name="x.png", image_sha256="b" * 64,
                   source_key="images/uploaded/x.png", settings={"generator": "inflate"},
                   storage_settings=settings, job_id="gen-0123456789ab")


def test_the_settings_text_never_carries_a_credential(s3_settings):
    for text in (repr(s3_settings), str(s3_settings), f"{s3_settings}", repr(s3_settings.access_key_id),
                 str(s3_settings.access_key_id)):
        assert FAKE_KEY_ID not in text and FAKE_SECRET not in text
    assert s3_settings.masked()["access_key_id"] == "****Q3Z9"  # the settings page still tells keys apart
    assert s3_settings.masked()["secret_access_key"] == "set (hidden)"


def test_settings_sent_to_another_process_carry_no_credential(s3_settings):
    sent = pickle.dumps(s3_settings)  # how Ray hands them to a task or an actor
    assert FAKE_KEY_ID.encode() not in sent and FAKE_SECRET.encode() not in sent
    received = pickle.loads(sent)
    assert received.access_key_id is None and (received.bucket, received.region) == ("my-assets", "us-east-1")
    assert received.cache_dir == s3_settings.cache_dir


def test_a_job_spec_carries_no_credential(s3_settings):
    spec = _spec(s3_settings)
    data = spec.to_dict()
    text = json.dumps(data)
    assert FAKE_KEY_ID not in text and FAKE_SECRET not in text and "access_key" not in text
    assert FAKE_KEY_ID not in repr(spec) and FAKE_KEY_ID.encode() not in pickle.dumps(spec)
    again = JobSpec.from_dict(json.loads(text))
    assert again.to_dict() == data
    assert again.storage_settings.bucket == "my-assets" and again.storage_settings.cache_dir == s3_settings.cache_dir


def test_an_old_journal_entry_with_a_key_id_is_still_read(s3_settings):
    data = _spec(s3_settings).to_dict()
    data["storage_settings"].update(access_key_id=FAKE_KEY_ID, has_secret_key=True)  # as older versions wrote it
    spec = JobSpec.from_dict(data)
    assert spec.storage_settings.bucket == "my-assets" and spec.storage_settings.access_key_id is None
    assert FAKE_KEY_ID not in json.dumps(spec.to_dict())
