"""Where a learned generator's model comes from: a folder, a store prefix (fetched once per machine),
or the model hub (only where downloads are allowed); and what identifies it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ray_jobs.generators.base import GenerationResult, Generator, WeightsSpec
from ray_jobs.generators.weights import (FETCH_LOG, S3Access, WeightsMissing, resolve_weights, source_kind,
                                         weights_identity)

ROOT = Path(__file__).resolve().parents[2]


class TableModel(Generator):
    """A generator whose "model" is a JSON file: enough to drive the weights path for real."""

    name = "table-model"
    steps = ("look up",)
    weights = WeightsSpec(hub_id="example/table-model", env="TABLE_MODEL_WEIGHTS",
                          required_files=("config.json", "table.bin"))

    def default_settings(self):
        return {**self.weights_settings(), "scale": 1.0}

    def load_model(self, folder, device):
        return json.loads((folder / "config.json").read_text())

    def run(self, image, settings, runner, device):
        return runner.run("look up", lambda: GenerationResult(mesh=runner.model, mask=None, device=device))


def write_model(folder: Path, table: bytes = b"\x01\x02\x03") -> Path:
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"layers": 2}))
    (folder / "table.bin").write_bytes(table)
    (folder / "sub" / "extra.txt").write_text("kept")
    return folder


@pytest.fixture
def model_dir(tmp_path) -> Path:
    return write_model(tmp_path / "model")


@pytest.fixture
def weights_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ASSET_STUDIO_WEIGHTS_CACHE", str(cache))
    return cache


def test_sources_are_told_apart(model_dir):
    assert source_kind("s3://bucket/models/x") == "s3"
    assert source_kind(str(model_dir)) == "local"
    assert source_kind("./models/x") == "local"
    assert source_kind("openai/shap-e-img2img") == "hub"


def test_a_folder_is_identified_by_its_content(model_dir, tmp_path):
    generator = TableModel()
    first = weights_identity(generator, str(model_dir))
    assert first.startswith("sha256:") and weights_identity(generator, str(model_dir)) == first
    copy = write_model(tmp_path / "copy")
    assert weights_identity(generator, str(copy)) == first  # the same files, the same model
    (model_dir / "table.bin").write_bytes(b"\x01\x02\x04")  # one byte of the model changed
    assert weights_identity(generator, str(model_dir)) != first


@pytest.mark.parametrize("damage", ["no folder", "empty", "a file missing"])
def test_a_missing_or_incomplete_folder_says_how_to_provide_the_model(model_dir, damage):
    if damage == "no folder":
        source = str(model_dir.parent / "nowhere")
    elif damage == "empty":
        source = str(model_dir.parent / "empty")
        Path(source).mkdir()
    else:
        (model_dir / "table.bin").unlink()
        source = str(model_dir)
    with pytest.raises(WeightsMissing) as raised:
        weights_identity(TableModel(), source)
    text = str(raised.value)
    assert "\n" not in text
    assert "setting 'weights' of generator 'table-model'" in text and source in text
    assert ("table.bin" in text) == (damage == "a file missing")
    # the three ways, each with what to type
    assert "--weights /path/to/model" in text and "s3://bucket/prefix" in text
    assert "example/table-model" in text and "ASSET_STUDIO_ALLOW_DOWNLOADS=1" in text


def test_a_hub_id_is_not_fetched_unless_downloads_are_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hub"))  # an empty hub cache
    monkeypatch.delenv("ASSET_STUDIO_ALLOW_DOWNLOADS", raising=False)
    with pytest.raises(WeightsMissing, match="not in this machine's hub cache and downloads are off"):
        weights_identity(TableModel(), "example/table-model")
    monkeypatch.setenv("ASSET_STUDIO_ALLOW_DOWNLOADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the hub's own offline mode wins
    with pytest.raises(WeightsMissing, match="downloads are off"):
        resolve_weights(TableModel(), "example/table-model")


def test_the_model_loads_once_per_identity(model_dir):
    generator = TableModel()
    weights = resolve_weights(generator, str(model_dir))
    for _ in range(3):
        result = generator.generate(b"", {"weights": str(model_dir)}, device="cpu", weights=weights)
    assert result.mesh == {"layers": 2} and generator.model_loads == 1
    assert "load model" not in result.timings  # only the run that loaded it reports the time
    (model_dir / "config.json").write_text(json.dumps({"layers": 3}))
    changed = resolve_weights(generator, str(model_dir))
    assert generator.generate(b"", {}, device="cpu", weights=changed).mesh == {"layers": 3}
    assert generator.model_loads == 2


def test_weights_that_changed_since_submit_are_refused(model_dir):
    generator = TableModel()
    submitted = weights_identity(generator, str(model_dir))
    (model_dir / "table.bin").write_bytes(b"new")
    with pytest.raises(WeightsMissing, match="changed since the job was submitted"):
        resolve_weights(generator, str(model_dir), expected_identity=submitted)


@pytest.mark.s3
def test_store_weights_are_identified_from_the_listing_and_fetched_once_per_machine(
        s3_store, moto_endpoint, model_dir, weights_cache, tmp_path):
    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            s3_store.put(f"models/table/{path.relative_to(model_dir).as_posix()}", path.read_bytes())
    source = f"s3://{s3_store.bucket}/models/table"
    access = S3Access("us-east-1", moto_endpoint)
    generator = TableModel()
    identity = weights_identity(generator, source, access)
    assert identity.startswith("s3:")

    # Two processes on one machine resolve it at the same moment: one fetches, the other waits and reuses.
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.generators.test_weights import TableModel
        from ray_jobs.generators.weights import S3Access, resolve_weights
        weights = resolve_weights(TableModel(), {source!r}, S3Access("us-east-1", {moto_endpoint!r}),
                                  expected_identity={identity!r})
        print(weights.folder)
    """)
    env = {**__import__("os").environ, "ASSET_STUDIO_WEIGHTS_CACHE": str(weights_cache)}
    runs = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err[-2000:] for _, err in outputs]
    folders = {out.strip() for out, _ in outputs}
    assert len(folders) == 1
    folder = Path(folders.pop())
    assert (folder / "sub" / "extra.txt").read_text() == "kept"
    assert (folder / "table.bin").read_bytes() == (model_dir / "table.bin").read_bytes()
    fetches = list(weights_cache.rglob(FETCH_LOG))
    assert len(fetches) == 1 and len(fetches[0].read_text().splitlines()) == 1
    assert not list(folder.parent.glob(".incoming-*"))  # no half-written copy left behind

    # A changed object is a new model: a new identity, fetched into a folder of its own.
    s3_store.put("models/table/table.bin", b"retrained")
    changed = resolve_weights(generator, source, access)
    assert changed.identity != identity and changed.folder != folder
    assert (changed.folder / "table.bin").read_bytes() == b"retrained"


@pytest.mark.s3
def test_an_empty_or_incomplete_store_prefix_says_so(s3_store, moto_endpoint, weights_cache):
    access = S3Access("us-east-1", moto_endpoint)
    with pytest.raises(WeightsMissing, match="nothing is stored under that prefix"):
        weights_identity(TableModel(), f"s3://{s3_store.bucket}/models/none", access)
    s3_store.put("models/half/config.json", b"{}")
    with pytest.raises(WeightsMissing, match="lacks table.bin"):
        weights_identity(TableModel(), f"s3://{s3_store.bucket}/models/half", access)
    assert not weights_cache.exists()  # nothing fetched for a model that cannot be used


@pytest.mark.s3
def test_store_weights_without_an_access_use_the_store_settings(s3_store, moto_endpoint, model_dir, monkeypatch):
    # a caller that passes no S3Access reads the region and endpoint as the store does, checked
    from storage.errors import SettingsError
    from storage.settings import load_settings

    for path in sorted(model_dir.rglob("*")):
        if path.is_file():
            s3_store.put(f"models/table/{path.relative_to(model_dir).as_posix()}", path.read_bytes())
    source = f"s3://{s3_store.bucket}/models/table"
    monkeypatch.setenv("S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("S3_REGION", "us-east-1")
    load_settings.cache_clear()
    try:
        assert weights_identity(TableModel(), source) == weights_identity(TableModel(), source,
                                                                          S3Access("us-east-1", moto_endpoint))
        monkeypatch.setenv("S3_REGION", "Europe (Ireland)")
        load_settings.cache_clear()
        with pytest.raises(SettingsError, match="S3_REGION='Europe \\(Ireland\\)' is not a region name"):
            weights_identity(TableModel(), source)
    finally:
        load_settings.cache_clear()
