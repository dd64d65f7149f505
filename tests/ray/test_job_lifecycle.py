"""Job ends decided by the worker, held at exact points with the gated test generator: cancel and
stop before, at and after the point of no return, time limits, restarts, dead idle workers, joining."""

from __future__ import annotations

import time

import pytest
import ray

from ray_jobs.client import StudioClient
from ray_jobs.cluster.connection import NAMESPACE
from ray_jobs.cluster.job_registry import REGISTRY_NAME
from tests.plugins.ray_cluster import POOL_SIZE
from tests.ray.gating import gated, new_tag, open_gate, wait_arrived, wait_for
from tests.ray.images import object_png

pytestmark = pytest.mark.ray


def versions(client: StudioClient, image: bytes, settings: dict) -> int:
    check = client.check(image, "x.png", settings)
    return len(check.manifest.versions) if check.exists else 0


def stored_keys(client: StudioClient, asset_id: str) -> list[str]:
    return [info.key for info in client._catalog.store.iter_keys(f"3d_assets/generated/{asset_id}")]


def kill_every_worker(client: StudioClient) -> None:
    for worker in client.worker_pool():
        try:
            ray.kill(ray.get_actor(worker["name"], namespace=NAMESPACE))
        except ValueError:
            pass  # already dead (an earlier test killed it; its slot refills when it next takes a job)


def test_stop_after_the_job_finished_changes_nothing(studio_client):
    image, settings = object_png(200), gated(new_tag("after"))
    submission = studio_client.submit(image, "after.png", settings)
    status = studio_client.wait(submission.job_id)
    assert status.state == "done" and status.generated

    assert studio_client.cancel(submission.job_id) is False
    worker = ray.get_actor(status.worker, namespace=NAMESPACE)
    assert ray.get(worker.stop.remote(submission.job_id)) == "finished"  # the worker remembers how it ended
    again = studio_client.progress(submission.job_id)
    assert again.state == "done" and again.finished_at == status.finished_at
    assert versions(studio_client, image, settings) == 1


def test_cancel_before_the_point_of_no_return_leaves_no_asset(studio_client):
    tag = new_tag("cancel")
    image, settings = object_png(201), gated(tag, hold="last")
    submission = studio_client.submit(image, "cancel.png", settings)
    wait_arrived(tag, "last")

    assert studio_client.cancel(submission.job_id) is True
    assert studio_client.progress(submission.job_id).state == "stopping"
    open_gate(tag, "last")
    status = studio_client.wait(submission.job_id)
    assert (status.state, status.message) == ("cancelled", "cancelled")
    assert stored_keys(studio_client, submission.asset_id) == []
    assert studio_client.cancel(submission.job_id) is False


def test_completion_before_cancel_stays_done(studio_client):
    tag = new_tag("race")
    image, settings = object_png(202), gated(tag, hold="last")
    submission = studio_client.submit(image, "race.png", settings)
    wait_arrived(tag, "last")
    open_gate(tag, "last")
    status = studio_client.wait(submission.job_id)
    assert status.state == "done"
    assert studio_client.cancel(submission.job_id) is False
    assert studio_client.progress(submission.job_id).state == "done"
    assert versions(studio_client, image, settings) == 1


def test_time_limit_is_decided_by_the_worker(studio_client):
    tag = new_tag("limit")
    image, settings = object_png(203), gated(tag, hold="first")
    submission = studio_client.submit(image, "limit.png", settings, timeout_s=0.5)
    wait_arrived(tag, "first")
    time.sleep(0.6)  # the worker started the job before it reached the gate: its 0.5 s are surely over
    assert studio_client.progress(submission.job_id).state == "running"  # the registry does not guess
    open_gate(tag, "first")
    status = studio_client.wait(submission.job_id)
    assert (status.state, status.error) == ("failed", "timed out after 0.5 s")
    assert stored_keys(studio_client, submission.asset_id) == []


def test_a_job_that_ends_inside_its_limit_is_done(studio_client):
    tag = new_tag("inside")
    image, settings = object_png(204), gated(tag, hold="last")
    submission = studio_client.submit(image, "inside.png", settings, timeout_s=60)
    wait_arrived(tag, "last")
    open_gate(tag, "last")
    status = studio_client.wait(submission.job_id)
    assert status.state == "done" and status.timeout_s == 60
    assert versions(studio_client, image, settings) == 1


def test_force_never_joins_and_formats_join_only_when_covered(studio_client):
    tag = new_tag("join")
    image, settings = object_png(205), gated(tag, hold="first")
    first = studio_client.submit(image, "join.png", settings)
    wait_arrived(tag, "first")
    same = studio_client.submit(image, "join.png", settings)
    forced = studio_client.submit(image, "join.png", settings, force=True)
    wider = studio_client.submit(image, "join.png", settings, formats=("obj",))
    assert same.status == "joined" and same.job_id == first.job_id
    assert forced.status == "submitted" and forced.job_id != first.job_id
    assert wider.status == "submitted" and wider.job_id not in (first.job_id, forced.job_id)
    open_gate(tag, "first")
    ends = {job: studio_client.wait(job) for job in (first.job_id, forced.job_id, wider.job_id)}
    assert {status.state for status in ends.values()} == {"done"}
    # The forced job always builds; the first one builds unless the forced one published before it
    # reached its own publish; the wider job starts after one of them ended and finds the model.
    assert ends[forced.job_id].generated is True and ends[wider.job_id].generated is False
    built = sum(status.generated for status in ends.values())
    assert versions(studio_client, image, settings) == built


def test_formats_merge_into_a_queued_job(studio_client):
    tag = new_tag("merge")
    busy = [studio_client.submit(object_png(206 + n), f"busy-{n}.png", gated(tag, hold="first"))
            for n in range(POOL_SIZE)]
    image, settings = object_png(210), gated(new_tag("merge-queued"))
    queued = studio_client.submit(image, "queued.png", settings)
    assert studio_client.progress(queued.job_id).state == "queued"
    merged = studio_client.submit(image, "queued.png", settings, formats=("obj",))
    assert (merged.status, merged.job_id) == ("joined", queued.job_id)
    open_gate(tag, "first")
    for submission in busy:
        assert studio_client.wait(submission.job_id).state == "done"
    status = studio_client.wait(queued.job_id)
    assert status.state == "done" and "obj" in status.manifest.latest_version.files


def test_idle_worker_killed_costs_no_attempt(studio_client):
    studio_client.warm_up()
    kill_every_worker(studio_client)
    submission = studio_client.submit(object_png(211), "idle.png", gated(new_tag("idle")))
    status = studio_client.wait(submission.job_id)
    assert status.state == "done", status.error
    assert status.attempts == 1
    assert not any(event.stage == "retry" for event in studio_client.progress(submission.job_id).events)


def test_ping_worker_names_the_worker(studio_client):
    from ray_jobs.cluster.worker_pool import WorkerUnavailable

    answer = studio_client.ping_worker()
    assert answer["name"].startswith("asset_studio_worker_") and answer["pid"] > 0
    kill_every_worker(studio_client)
    # No new worker starts within a millisecond: the error names workers, never the registry.
    with pytest.raises(WorkerUnavailable, match=r"worker.* asset_studio_worker_|asset_studio_worker_\w+ "):
        studio_client.ping_worker(timeout_s=0.001)
    assert studio_client.ping_worker()["name"] != answer["name"]  # replaced, and answering


def test_registry_killed_mid_job_loses_nothing(studio_client):
    tag = new_tag("restart")
    images = [object_png(220 + n) for n in range(POOL_SIZE + 2)]
    settings = gated(tag, hold="first")
    submissions = [studio_client.submit(image, f"r{n}.png", settings) for n, image in enumerate(images)]
    wait_arrived(tag, "first")
    states = {studio_client.progress(s.job_id).state for s in submissions}
    assert states == {"running", "queued"}

    registry = ray.get_actor(REGISTRY_NAME, namespace=NAMESPACE)
    ray.kill(registry, no_restart=False)  # Ray restarts it; it reads its journal back
    open_gate(tag, "first")
    for submission in submissions:
        status = studio_client.wait(submission.job_id)  # same job ids, answered by the new registry
        assert status.state == "done" and status.generated, (status.state, status.error)
    for image in images:
        assert versions(studio_client, image, settings) == 1


def test_many_jobs_stay_answerable(studio_client):
    """More finished jobs than the old 1,000-record cap, all answerable afterwards."""
    tag = new_tag("many")
    image = object_png(1000, size=64)
    submissions = [studio_client.submit(image, f"m{n}.png", gated(f"{tag}-{n}")) for n in range(1500)]
    for submission in submissions:
        assert studio_client.wait(submission.job_id).state == "done"
    assert {studio_client.progress(s.job_id).state for s in submissions} == {"done"}
    listed = {status.job_id for status in studio_client.jobs(limit=5000)}
    assert {s.job_id for s in submissions} <= listed


def test_worker_answers_every_stop_race_consistently():
    """Stop vs begin-publish on real threads, many times: exactly one of them wins, and says so."""
    import threading

    from ray_jobs.cluster.job_control import JobControl, StopAnswer, Stopped

    outcomes = set()
    for n in range(300):
        control, job_id = JobControl(), f"gen-{n:012x}"
        control.start(job_id, 60.0)
        barrier, answers = threading.Barrier(2), {}

        def publish():
            barrier.wait()
            try:
                control.begin_publish(job_id)
                answers["publish"] = "began"
            except Stopped as stop:
                answers["publish"] = str(stop.reason)

        def stop():
            barrier.wait()
            answers["stop"] = control.request_stop(job_id)

        threads = [threading.Thread(target=publish), threading.Thread(target=stop)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pair = (answers["publish"], answers["stop"])
        assert pair in {("began", StopAnswer.PUBLISHING), ("cancel", StopAnswer.STOPPING)}, pair
        control.finish(job_id)
        assert control.request_stop(job_id) == StopAnswer.FINISHED
        outcomes.add(pair)
    assert outcomes  # both orders are legal; which ones this machine produced does not matter


def test_waiting_clis_survive_a_registry_restart(studio_client, studio_env, tmp_path):
    """Two `generate` commands wait on ten jobs; the registry is killed under them and restarted."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    tag = new_tag("cli-restart")
    paths = []
    for n in range(10):
        path = tmp_path / f"cli-{n}.png"
        path.write_bytes(object_png(240 + n))
        paths.append(path)
    command = [sys.executable, "-m", "ray_jobs", "generate", "--json", "--generator", "test-gated",
               "--set", f"tag={tag}", "--set", "hold=first"]
    clis = [subprocess.Popen([*command, *map(str, half)], env=studio_env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
            for half in (paths[:5], paths[5:])]
    try:
        settings = gated(tag, hold="first")
        wait_arrived(tag, "first")
        wait_for(lambda: len([j for j in studio_client.jobs(limit=1000) if j.name.startswith("cli-")
                              and j.asset_id in {studio_client.check(p.read_bytes(), p.name, settings).asset_id
                                                 for p in paths}]) == 10, "all ten jobs submitted")
        ray.kill(ray.get_actor(REGISTRY_NAME, namespace=NAMESPACE), no_restart=False)
        open_gate(tag, "first")
        outputs = [cli.communicate(timeout=300) for cli in clis]
    finally:
        for cli in clis:
            cli.kill()
    for cli, (stdout, stderr) in zip(clis, outputs):
        assert cli.returncode == 0, stderr[-2000:]
        lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
        # Workers of the killed registry may still be alive when the gate opens; they must not publish
        # (the restarted registry has queued their jobs again), so every image is built exactly once, anew.
        assert len(lines) == 5 and {line["status"] for line in lines} == {"generated"}, lines
        assert all(line["key"].endswith("model.glb") and line["error"] is None for line in lines)
    for path in paths:
        assert versions(studio_client, path.read_bytes(), settings) == 1


def test_a_worker_silent_past_its_limit_is_replaced(studio_client, monkeypatch):
    monkeypatch.setenv("ASSET_STUDIO_WORKER_GRACE_S", "1")
    tag = new_tag("silent")
    image, settings = object_png(260), gated(tag, hold="first")
    submission = studio_client.submit(image, "silent.png", settings, timeout_s=0.5)
    wait_arrived(tag, "first")  # and kept there: the worker's step never returns
    status = studio_client.wait(submission.job_id)
    assert status.state == "failed"
    assert status.error.startswith("worker stopped answering: no answer 1 s after the 0.5 s time limit")
    assert status.worker in status.error  # names the worker that was replaced
    open_gate(tag, "first")
    assert stored_keys(studio_client, submission.asset_id) == []
    follow_up = studio_client.submit(object_png(261), "next.png", gated(new_tag("after-silent")))
    assert studio_client.wait(follow_up.job_id).state == "done"
