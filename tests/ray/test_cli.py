"""The CLI as a user runs it: subprocesses against the shared cluster, JSON lines on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ray_jobs.errors import EXIT_CLUSTER, EXIT_FAILED, EXIT_USAGE
from tests.ray.images import object_png

pytestmark = pytest.mark.ray

QUICK = ["--resolution", "128"]
REPO = Path(__file__).resolve().parents[2]


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ray_jobs", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=Path(__file__).resolve().parents[2])


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_generate_json_lines_in_order(studio_client, studio_env, tmp_path):
    existing, fresh = tmp_path / "existing.png", tmp_path / "fresh.png"
    existing.write_bytes(object_png(20))
    fresh.write_bytes(object_png(21))
    done = studio_client.submit(existing.read_bytes(), "existing.png", {"resolution": 128})
    assert studio_client.wait(done.job_id).state == "done"

    run = cli(studio_env, "generate", str(existing), str(fresh), str(tmp_path / "missing.png"), "--json", *QUICK)
    lines = json_lines(run.stdout)
    assert [line["image"] for line in lines] == [str(existing), str(fresh), str(tmp_path / "missing.png")]
    assert [line["status"] for line in lines] == ["exists", "generated", "failed"], run.stderr
    assert run.returncode == EXIT_USAGE  # one image could not be read: bad input
    for line in lines[:2]:
        assert set(line) == {"image", "status", "asset_id", "key", "url", "seconds", "error"}
        assert line["key"].endswith("model.glb") and line["error"] is None
        assert Path(line["url"].removeprefix("file://")).read_bytes()[:4] == b"glTF"
        assert line["seconds"] > 0
    assert "Check the path" in lines[2]["error"]
    # In a pipe, --json keeps stderr for errors: one line for the one failed image.
    assert run.stderr.splitlines() == [f"error: {tmp_path / 'missing.png'}: {lines[2]['error']}"]

    human = cli(studio_env, "generate", str(fresh), *QUICK)
    assert human.returncode == 0 and "%" in human.stderr and human.stdout.startswith(str(fresh))  # progress on stderr


def test_generate_other_format_is_stored(studio_env, tmp_path):
    from ray_jobs.client import MODEL_FORMATS as FORMATS
    from ray_jobs.generators.export import FORMATS as EXPORT_FORMATS

    assert FORMATS == EXPORT_FORMATS
    image = tmp_path / "shape.png"
    image.write_bytes(object_png(22))
    run = cli(studio_env, "generate", str(image), "--format", "obj", "--json", *QUICK)
    [line] = json_lines(run.stdout)
    assert run.returncode == 0, run.stderr
    assert line["status"] == "generated" and line["key"].endswith("model_obj.zip")


def test_existing_asset_needs_no_cluster_and_bad_address_fails_fast(studio_client, studio_env, tmp_path):
    known, unknown = tmp_path / "known.png", tmp_path / "unknown.png"
    known.write_bytes(object_png(23))
    unknown.write_bytes(object_png(24))
    done = studio_client.submit(known.read_bytes(), "known.png", {"resolution": 128})
    assert studio_client.wait(done.job_id).state == "done"
    offline = {**studio_env, "RAY_ADDRESS": "127.0.0.1:9"}  # nothing listens there

    answered = cli(offline, "generate", str(known), "--json", *QUICK)
    assert answered.returncode == 0 and json_lines(answered.stdout)[0]["status"] == "exists"

    started = time.monotonic()
    refused = cli(offline, "generate", str(unknown), "--json", *QUICK, timeout=60)
    [line] = json_lines(refused.stdout)
    assert refused.returncode == EXIT_CLUSTER and line["status"] == "failed"
    assert "RAY_ADDRESS" in line["error"] and "127.0.0.1:9" in line["error"]
    assert refused.stderr.strip() == f"error: {line['error']}" and "Traceback" not in refused.stderr
    assert line["seconds"] < 5 and time.monotonic() - started < 30


def test_batch_skips_existing_and_rerun_does_nothing_new(studio_client, studio_env):
    for variant in (30, 31, 32):
        studio_client.upload_source(object_png(variant), f"batch-{variant}.png")
    prefix = "images/uploaded/"

    first = cli(studio_env, "batch", prefix, "--json", *QUICK)
    assert first.returncode == 0, first.stderr
    *lines, summary = json_lines(first.stdout)
    assert sorted(line["status"] for line in lines) == ["generated"] * 3
    assert summary["summary"]["generated"] == 3 and summary["summary"]["images"] == 3

    again = cli(studio_env, "batch", prefix, "--json", *QUICK)
    *lines, summary = json_lines(again.stdout)
    assert [line["status"] for line in lines] == ["exists"] * 3
    assert summary["summary"]["generated"] == 0 and summary["summary"]["exists"] == 3


def test_job_commands_for_generation_jobs(studio_client, studio_env):
    submission = studio_client.submit(object_png(40), "watched.png", {"resolution": 128})
    studio_client.wait(submission.job_id)

    status = cli(studio_env, "status", submission.job_id, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "done"
    logs = cli(studio_env, "logs", submission.job_id)
    assert " 20.0% submitted" in logs.stdout and "100.0% done" in logs.stdout
    listed = cli(studio_env, "jobs", "--json")
    assert submission.job_id in {row["job_id"] for row in json_lines(listed.stdout)}
    cancel = cli(studio_env, "cancel", submission.job_id)
    assert cancel.returncode == 1 and "not cancelled" in cancel.stdout
    for command in ("status", "logs", "cancel"):
        for job_id, what in (("gen-000000000000", "No generation job"), ("raysubmit_doesnotexist", "raysubmit_")):
            unknown = cli(studio_env, command, job_id)
            assert unknown.returncode == EXIT_FAILED, (command, job_id, unknown.stderr)
            [line] = unknown.stderr.splitlines()  # one line, no traceback
            assert line.startswith("error: ") and what in line and "jobs" in line, line


def test_job_commands_find_the_jobs_api_from_ray_address(studio_env, ray_cluster):
    """Without RAY_JOBS_ADDRESS, the Jobs API is the RAY_ADDRESS cluster's dashboard."""
    env = {key: value for key, value in studio_env.items() if key != "RAY_JOBS_ADDRESS"}
    listed = cli(env, "jobs", "--json")
    assert "Traceback" not in listed.stderr, listed.stderr
    if ray_cluster.dashboard_url.endswith(":8265"):  # the default port: found from RAY_ADDRESS's host
        assert listed.returncode == 0 and "error" not in listed.stderr, listed.stderr
    else:  # another Ray held 8265, so this dashboard moved: the line says where it looked and what to set
        assert "http://127.0.0.1:8265" in listed.stderr and "RAY_JOBS_ADDRESS" in listed.stderr


def test_submit_batch_runs_as_a_ray_job(studio_client, studio_env, ray_cluster, monkeypatch):
    studio_client.upload_source(object_png(50), "remote-batch.png")
    submitted = cli(studio_env, "submit-batch", "images/uploaded/", "--address", ray_cluster.dashboard_url)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert job_id.startswith("raysubmit_")

    deadline = time.monotonic() + 240
    while True:
        state = json.loads(cli(studio_env, "status", job_id, "--json").stdout)["state"]
        if state in ("succeeded", "failed", "stopped") or time.monotonic() > deadline:
            break
        time.sleep(2)
    logs = cli(studio_env, "logs", job_id).stdout
    assert state == "succeeded", logs
    summary = json.loads(logs.strip().splitlines()[-1])["summary"]
    assert summary["generated"] == 1
    listed = {row["job_id"]: row for row in json_lines(cli(studio_env, "jobs", "--json").stdout)}
    assert listed[job_id]["report"] == job_id

    # The batch left its report in the store, where the Jobs page finds it by the Ray Job's id.
    report = studio_client.batch_report(job_id)
    assert (report["images"], report["generated"], report["failed"]) == (1, 1, 0)
    monkeypatch.setenv("LOCAL_STORAGE_DIR", studio_env["LOCAL_STORAGE_DIR"])
    monkeypatch.delenv("USE_S3_STORAGE", raising=False)
    page = AppTest.from_file(str(REPO / "dashboard" / "pages" / "jobs.py"), default_timeout=60).run()
    assert not page.exception
    table = next(frame.value for frame in page.dataframe if "report" in frame.value.columns)
    row = table[table["id"] == job_id].iloc[0]
    assert row["state"] == "succeeded" and "1 generated" in row["report"]
    metrics = {metric.label: metric.value for metric in page.metric}
    assert (metrics["Images"], metrics["Generated"], metrics["Failed"]) == ("1", "1", "0")


def test_job_outlives_the_cli_that_submitted_it(studio_client, studio_env, tmp_path):
    image = tmp_path / "orphan.png"
    image.write_bytes(object_png(70))
    front_end = subprocess.Popen([sys.executable, "-m", "ray_jobs", "generate", str(image), "--json",
                                  "--resolution", "1024", "--faces", "200000"],
                                 env=studio_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 120
        job = None
        while job is None and time.monotonic() < deadline:
            job = next((s for s in studio_client.jobs() if s.name == "orphan.png"), None)
            time.sleep(0.2)
        assert job is not None, "the CLI never submitted its job"
        assert job.state in ("queued", "running")
    finally:
        front_end.kill()  # the front end goes away mid-job
        front_end.wait()
    status = studio_client.wait(job.job_id)
    assert status.state == "done", status.error
    assert studio_client.check(image.read_bytes(), "orphan.png", {"resolution": 1024, "target_faces": 200000}).exists


def test_doctor_reports_the_cluster(studio_env):
    run = cli(studio_env, "doctor", "--json")
    lines = {line["name"]: line for line in json_lines(run.stdout)}
    for name in ("cluster reachable", "token accepted", "CPUs", "GPUs", "worker answers", "Ray Jobs API"):
        assert lines[name]["ok"], lines.get(name)
    assert "falling back to CPU" in lines["GPUs"]["detail"]

    offline = cli({**studio_env, "RAY_ADDRESS": "127.0.0.1:9"}, "doctor", "--json", timeout=60)
    lines = {line["name"]: line for line in json_lines(offline.stdout)}
    assert offline.returncode == 1 and not lines["cluster reachable"]["ok"]
    assert "RAY_ADDRESS" in lines["cluster reachable"]["fix"]


def test_wrong_token_is_a_clear_error(studio_env, tmp_path):
    image = tmp_path / "locked.png"
    image.write_bytes(object_png(80))
    started = time.monotonic()
    run = cli({**studio_env, "RAY_AUTH_TOKEN": "not-the-cluster-token"}, "generate", str(image), "--json", *QUICK,
              timeout=120)
    [line] = json_lines(run.stdout)
    assert run.returncode == EXIT_CLUSTER and line["status"] == "failed"
    assert "RAY_AUTH_TOKEN" in line["error"], line["error"]
    assert run.stderr.strip() == f"error: {line['error']}"  # Ray's own log noise stays off the terminal
    assert time.monotonic() - started < 30
