"""Generation jobs on the shared local Ray: stages, duplicates, cancel, timeout, dying workers."""

from __future__ import annotations

import threading

import pytest
import ray

from ray_jobs.client import StudioClient
from ray_jobs.errors import BadImage, NoGpuAvailable
from ray_jobs.cluster.connection import NAMESPACE
from ray_jobs.generators.registry import get_generator
from tests.plugins.ray_cluster import POOL_SIZE, store_settings
from tests.ray.gating import gated, new_tag, open_gate, wait_arrived
from tests.ray.images import object_png

pytestmark = pytest.mark.ray

QUICK = {"resolution": 128}
SLOW = {"resolution": 1024, "target_faces": 200_000}  # seconds of work: time to cancel, kill or time out


def stored_keys(client: StudioClient, asset_id: str) -> list[str]:
    page = client._catalog.store.list_page(f"3d_assets/generated/{asset_id}")
    return [info.key for info in page.items]


def wait_until_running(client: StudioClient, job_id: str, min_percent: float = 30.0):
    """Block until the job is inside the generator's steps (its worker is busy)."""
    seen = 0
    while True:
        status = ray.get(client._job_registry().watch.remote(job_id, seen, 5.0))
        seen = len(status.events)
        if status.state != "queued" and status.percent >= min_percent or status.finished:
            return status


def test_progress_is_monotonic_and_passes_every_stage(studio_client):
    events = []
    image = object_png(1)
    submission = studio_client.submit(image, "blob.png", QUICK, on_progress=events.append)
    assert submission.status == "submitted"
    status = studio_client.wait(submission.job_id, on_progress=events.append, known_events=len(events))

    assert status.state == "done", status.error
    percents = [event.percent for event in events]
    assert percents == sorted(percents), percents
    stages = [event.stage for event in events]
    by_stage = {event.stage: event.percent for event in events}
    assert [by_stage[s] for s in ("lookup", "cluster", "gpu", "submitted")] == [5, 10, 15, 20]
    assert next(e.message for e in events if e.stage == "gpu") == "inflate: CPU workers (inflate does not use a GPU)"
    worker_steps = ["load image", *get_generator("inflate").steps, "export", "upload"]
    assert [step for step in worker_steps if step not in stages] == []
    assert all(25 <= by_stage[step] <= 95 for step in worker_steps)
    assert stages[-1] == "done" and percents[-1] == 100

    manifest = status.manifest
    assert manifest is not None and manifest.latest == 1
    check = studio_client.check(image, "blob.png", QUICK)
    assert check.exists and check.key == manifest.latest_version.files["glb"].key
    assert studio_client.read(check.key)[:4] == b"glTF"
    assert "thumbnail" in manifest.latest_version.files
    assert {"load image", "geometry", "export", "upload"} <= set(status.step_seconds)
    assert studio_client.result(submission.job_id).asset_id == manifest.asset_id


def test_existing_asset_is_answered_at_5_percent_without_the_cluster(studio_client, studio_store_dir):
    image = object_png(2)
    first = studio_client.submit(image, "blob.png", QUICK)
    assert studio_client.wait(first.job_id).state == "done"

    # A client whose cluster address leads nowhere still gets the asset: Ray is never touched.
    offline = StudioClient(storage_settings=store_settings(studio_store_dir), ray_address="127.0.0.1:9")
    answer = offline.submit(image, "again.png", QUICK)
    assert answer.status == "exists" and answer.job_id is None
    assert answer.manifest.asset_id == first.asset_id
    assert [event.percent for event in answer.events] == [5, 100]


def test_ten_concurrent_submissions_make_one_generation(studio_client):
    image = object_png(3)
    submissions, errors = [], []
    start = threading.Barrier(10)

    def submit() -> None:
        start.wait()
        try:
            submissions.append(studio_client.submit(image, "same.png", QUICK))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    job_ids = {s.job_id for s in submissions if s.job_id}
    assert len(job_ids) == 1, job_ids
    assert [s.status for s in submissions].count("submitted") == 1
    status = studio_client.wait(job_ids.pop())
    assert status.state == "done" and status.generated
    manifest = studio_client.get_asset(status.asset_id)
    assert manifest.latest == 1 and len(manifest.versions) == 1


def test_cancel_running_job_leaves_no_asset(studio_client):
    image = object_png(4)
    submission = studio_client.submit(image, "cancel-me.png", SLOW)
    wait_until_running(studio_client, submission.job_id)
    assert studio_client.cancel(submission.job_id) is True
    status = studio_client.wait(submission.job_id)
    assert status.state == "cancelled", (status.state, status.message)
    assert studio_client.check(image, "cancel-me.png", SLOW).exists is False
    assert stored_keys(studio_client, submission.asset_id) == []
    assert studio_client.cancel(submission.job_id) is False  # already over


def test_killed_worker_job_is_retried_once_and_never_stuck(studio_client):
    tag = new_tag("victim")
    image, settings = object_png(7), gated(tag, hold="first")
    submission = studio_client.submit(image, "victim.png", settings)
    wait_arrived(tag, "first")
    running = studio_client.progress(submission.job_id)
    assert running.state == "running"
    ray.kill(ray.get_actor(running.worker, namespace=NAMESPACE))
    open_gate(tag, "first")
    status = studio_client.wait(submission.job_id)
    assert status.state == "done", status.error
    assert any(event.stage == "retry" and "died" in event.message for event in status.events)
    assert status.attempts == 2 and status.worker != running.worker
    assert len(studio_client.worker_pool()) == POOL_SIZE
    assert len(studio_client.get_asset(status.asset_id).versions) == 1


def test_no_gpu_and_no_fallback_fails_at_15_percent(ray_cluster, studio_store_dir):
    client = StudioClient(storage_settings=store_settings(studio_store_dir), allow_cpu_fallback=False)
    events = []
    with pytest.raises(NoGpuAvailable, match="CPU fallback is off"):
        client.submit(object_png(8), "gpu-only.png", {"generator": "test-gpu-preferred"}, on_progress=events.append)
    assert [event.percent for event in events] == [5, 10]


def test_bad_image_is_refused_before_the_cluster(studio_client):
    with pytest.raises(BadImage, match="not an image"):
        studio_client.submit(b"this is not an image", "notes.txt", QUICK)
    assert studio_client._catalog.store.list_page("").items == []


def test_jobs_listing_shows_states_and_errors(studio_client):
    submission = studio_client.submit(object_png(9), "listed.png", QUICK)
    studio_client.wait(submission.job_id)
    listed = {status.job_id: status for status in studio_client.jobs(limit=1000)}
    assert listed[submission.job_id].state == "done"
    assert listed[submission.job_id].finished_at >= listed[submission.job_id].created_at
    assert {status.state for status in listed.values()} <= {"queued", "running", "done", "failed", "cancelled"}
    for status in listed.values():
        assert status.created_at > 0
        if status.state == "failed":
            assert status.error


def test_cancel_queued_job_ends_at_once(studio_client):
    busy = [studio_client.submit(object_png(90 + n), f"busy-{n}.png", SLOW) for n in range(POOL_SIZE)]
    queued = studio_client.submit(object_png(95), "waiting.png", SLOW)
    try:
        assert studio_client.progress(queued.job_id).state == "queued"
        assert studio_client.cancel(queued.job_id) is True
        status = studio_client.progress(queued.job_id)
        assert status.state == "cancelled" and status.message == "cancelled before it started"
        assert status.started_at is None
    finally:
        for submission in busy:
            studio_client.cancel(submission.job_id)
    for submission in busy:
        assert studio_client.wait(submission.job_id).state in ("cancelled", "done")
    assert stored_keys(studio_client, queued.asset_id) == []


def test_gpu_plan_at_15_percent(ray_cluster):
    from ray.autoscaler.sdk import request_resources

    from ray_jobs.cluster.resources import ClusterStatus, plan_gpus

    def status(gpus: float) -> ClusterStatus:
        return ClusterStatus("test", [], 2, 2, gpus, gpus, ["A10G"] if gpus else [], 0)

    assert plan_gpus(status(2), allow_cpu_fallback=False, pool_size=2).num_gpus == 1
    assert "GPU available: 2 of 2 free (A10G)" == plan_gpus(status(2), allow_cpu_fallback=False, pool_size=2).message
    scaling = plan_gpus(status(0), allow_cpu_fallback=False, pool_size=3, gpu_autoscale=True)
    assert scaling.num_gpus == 1 and "asked the autoscaler for 3 GPU worker(s)" in scaling.message
    request_resources(bundles=[])  # withdraw the request again
    fallback = plan_gpus(status(0), allow_cpu_fallback=True, pool_size=1, gpu_autoscale=False)
    assert fallback.num_gpus == 0 and "falling back to CPU" in fallback.message
    assert plan_gpus(status(0), allow_cpu_fallback=False, pool_size=1, worker_gpus=0).num_gpus == 0
    with pytest.raises(NoGpuAvailable, match="ASSET_STUDIO_ALLOW_CPU"):
        plan_gpus(status(0), allow_cpu_fallback=False, pool_size=1, gpu_autoscale=False)


def test_each_generator_is_placed_by_what_it_declares(ray_cluster):
    from ray_jobs.cluster.resources import ClusterStatus, plan_placement

    def status(gpus: float) -> ClusterStatus:
        return ClusterStatus("test", [], 2, 2, gpus, gpus, ["A10G"] if gpus else [], 0)

    cpu_only = {"gpu": False}
    learned = {"gpu": True, "num_gpus": 0.5, "gpu_memory_gib": 6.0, "cpu_fallback": True}
    gpu_only = {**learned, "cpu_fallback": False}
    assert plan_placement("inflate", cpu_only, status(2), allow_cpu_fallback=False, pool_size=1).num_gpus == 0
    on_gpu = plan_placement("shap-e", learned, status(2), allow_cpu_fallback=True, pool_size=1, gpu_autoscale=False)
    assert on_gpu.num_gpus == 0.5 and on_gpu.message.endswith("shap-e takes about 6 GiB of GPU memory")
    fallback = plan_placement("shap-e", learned, status(0), allow_cpu_fallback=True, pool_size=1, gpu_autoscale=False)
    assert fallback.num_gpus == 0 and "falling back to CPU" in fallback.message
    with pytest.raises(NoGpuAvailable, match="Generator gpu-only needs a GPU and the Ray cluster at test has none") as refused:
        plan_placement("gpu-only", gpu_only, status(0), allow_cpu_fallback=True, pool_size=1, gpu_autoscale=False)
    assert "ASSET_STUDIO_ALLOW_CPU" not in str(refused.value)  # the fallback would not help: not offered


def test_a_generator_that_needs_a_gpu_is_refused_at_15_percent_on_a_cpu_cluster(studio_client):
    events = []
    with pytest.raises(NoGpuAvailable, match="test-gpu needs a GPU"):
        studio_client.submit(object_png(7), "gpu.png", {"generator": "test-gpu"}, on_progress=events.append)
    assert [event.percent for event in events] == [5, 10]  # looked up, reached the cluster, refused at 15%
    assert not [worker for worker in studio_client.worker_pool() if worker["pool"] == "test-gpu"]
    assert all(worker["pool"] == "cpu" for worker in studio_client.worker_pool())
