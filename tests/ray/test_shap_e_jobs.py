"""Shap-E end to end through real Ray workers, on CPU, with tiny random weights built in the test:
from a folder and from a store prefix (moto over HTTP), loaded once per worker, fetched once per
node, and identified so that other weights make another asset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ray_jobs.client import StorageSettings, StudioClient
from tests.generators.tiny_shap_e import save_tiny_shap_e
from tests.plugins.gltf_validator import validate_glb
from tests.plugins.moto_server import TEST_REGION
from tests.plugins.ray_cluster import POOL_SIZE
from tests.ray.images import object_png

pytestmark = pytest.mark.ray

FAST = {"generator": "shap-e", "inference_steps": 2, "grid_size": 32, "target_faces": 1_000}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return save_tiny_shap_e(tmp_path_factory.mktemp("shap-e") / "tiny-shap-e")


@pytest.fixture
def client(ray_cluster, studio_store_dir, moto_endpoint) -> StudioClient:
    """A local store, and the moto server as the S3 endpoint weights are fetched from."""
    settings = StorageSettings.from_env({"LOCAL_STORAGE_DIR": str(studio_store_dir), "USE_S3_STORAGE": "false",
                                         "S3_ENDPOINT_URL": moto_endpoint, "S3_REGION": TEST_REGION})
    client = StudioClient(storage_settings=settings, pool_size=POOL_SIZE)
    client.connect()
    return client


def run_jobs(client: StudioClient, images: list[bytes], settings: dict) -> list:
    submissions = [client.submit(image, f"object-{index}.png", settings) for index, image in enumerate(images)]
    return [client.wait(submission.job_id) for submission in submissions]


def test_shap_e_from_a_folder_makes_valid_assets_and_loads_once_per_worker(client, tiny_model):
    settings = {**FAST, "weights": str(tiny_model)}
    identity = client.normalized_settings(settings)
    statuses = []
    for seed in (31, 32, 33):  # one after another: the pool's dispatchers take turns
        statuses += run_jobs(client, [object_png(seed)], settings)
    assert [status.state for status in statuses] == ["done"] * 3, [status.error for status in statuses]

    manifest = statuses[0].manifest
    assert manifest.generator == "shap-e"
    assert manifest.settings["generator_version"] == "1"
    assert manifest.settings["weights"] == str(tiny_model)
    assert manifest.settings["weights_id"] == identity["weights_id"] and identity["weights_id"].startswith("sha256:")
    report = validate_glb(client.read(manifest.latest_version.files["glb"].key))
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
    assert 0 < manifest.latest_version.quality["faces"] <= FAST["target_faces"]

    # A model loads once per worker: the jobs that paid for loading are exactly one per worker used.
    workers = {status.worker for status in statuses}
    loaded = [status.worker for status in statuses if "load model" in status.step_seconds]
    assert len(statuses) > len(workers)  # some worker ran two jobs
    assert sorted(loaded) == sorted(workers)


def test_shap_e_from_a_store_prefix_is_fetched_once_per_node(client, tiny_model, s3_store, moto_endpoint):
    for path in sorted(tiny_model.rglob("*")):
        if path.is_file():
            s3_store.put(f"models/shap-e/{path.relative_to(tiny_model).as_posix()}", path.read_bytes())
    settings = {**FAST, "weights": f"s3://{s3_store.bucket}/models/shap-e"}
    identity = client.normalized_settings(settings)
    assert identity["weights_id"].startswith("s3:")

    statuses = run_jobs(client, [object_png(41), object_png(42)], settings)  # both queued at once
    assert [status.state for status in statuses] == ["done", "done"], [status.error for status in statuses]
    assert all(status.manifest.settings["weights_id"] == identity["weights_id"] for status in statuses)
    import os

    cache = Path(os.environ["ASSET_STUDIO_WEIGHTS_CACHE"])  # the workers' cache: one node, one fetch
    logs = [log for log in cache.rglob("fetches.log") if identity["weights_id"][3:35] in log.read_text()]
    assert len(logs) == 1 and len(logs[0].read_text().splitlines()) == 1


def test_other_weights_make_another_asset(client, tiny_model, tmp_path):
    retrained = tmp_path / "retrained"
    shutil.copytree(tiny_model, retrained)
    config = retrained / "scheduler" / "scheduler_config.json"
    config.write_text(config.read_text() + "\n")  # the same model in effect, but not the same files
    image = object_png(51)
    first = client.normalized_settings({**FAST, "weights": str(tiny_model)})
    second = client.normalized_settings({**FAST, "weights": str(retrained)})
    assert first["weights_id"] != second["weights_id"]
    run_jobs(client, [image], {**FAST, "weights": str(tiny_model)})
    assert client.check(image, "again.png", {**FAST, "weights": str(tiny_model)}).exists
    assert not client.check(image, "again.png", {**FAST, "weights": str(retrained)}).exists


def test_a_batch_runs_shap_e_and_a_missing_model_is_refused_before_the_cluster(client, tiny_model):
    for seed in (61, 62):
        client.upload_source(object_png(seed), f"batch-{seed}.png")
    settings = {**FAST, "weights": str(tiny_model)}
    summary = client.run_batch("images/uploaded/", settings)
    assert summary.counts == {"exists": 0, "generated": 2, "failed": 0}
    weights_id = client.normalized_settings(settings)["weights_id"]
    assert all(client.check(object_png(seed), "x.png", settings).manifest.settings["weights_id"] == weights_id
               for seed in (61, 62))

    from ray_jobs.errors import BadSettings

    with pytest.raises(BadSettings, match="setting 'weights' of generator 'shap-e'"):  # refused before the cluster
        client.run_batch("images/uploaded/", {**FAST, "weights": str(tiny_model.parent / "gone")})
