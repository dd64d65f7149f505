"""The job model without a cluster: the state machine, time limits, specs and the journal on both stores."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from ray_jobs.cluster import job_model as jobs
from ray_jobs.cluster.job_control import JobControl, StopAnswer, Stopped, StopReason
from ray_jobs.cluster.job_journal import JobJournal
from ray_jobs.cluster.job_model import IllegalTransition, JobRecord, JobSpec, JobState
from storage.settings import StorageSettings

ROOT = Path(__file__).resolve().parents[2]


def record(job_id: str = "gen-0123456789ab") -> JobRecord:
    return JobRecord(job_id=job_id, asset_id="a" * 32, name="x.png", timeout_s=60.0)


def spec(job_id: str = "gen-0123456789ab", **changes) -> JobSpec:
    settings = StorageSettings.from_env({"LOCAL_STORAGE_DIR": "/tmp/somewhere", "USE_S3_STORAGE": "false"})
    return JobSpec(dedupe_key="local|" + "a" * 32, asset_id="a" * 32, name="x.png", image_sha256="b" * 64,
                   source_key="images/uploaded/x.png", settings={"generator": "inflate", "resolution": 64},
                   storage_settings=settings, job_id=job_id, **changes)


def test_every_allowed_move_and_no_other():
    for start in JobState:
        for target in JobState:
            job = record()
            job.state = start
            if target in jobs.TRANSITIONS[start]:
                job.move(target, "because")
                assert job.state == target and job.events[-1].message == "because"
            else:
                with pytest.raises(IllegalTransition):
                    job.move(target, "because")
                assert job.state == start
    assert all(not jobs.TRANSITIONS[state] for state in jobs.FINAL_STATES)


def test_final_moves_stamp_the_end_and_failures_keep_their_reason():
    job = record()
    job.move(JobState.RUNNING, "started")
    job.move(JobState.FAILED, "timed out after 2 s")
    assert job.finished and job.finished_at is not None and job.error == "timed out after 2 s"
    status = job.status()
    assert status.finished and status.state == "failed" and status.error == job.error


@pytest.mark.parametrize("bad", [0, -5, "nan", math.inf, "soon", None])
def test_time_limits_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match="positive number of seconds"):
        jobs.check_timeout(bad)


def test_default_time_limit_comes_from_the_environment(monkeypatch):
    assert jobs.default_timeout_s() == jobs.DEFAULT_TIMEOUT_S
    monkeypatch.setenv(jobs.TIMEOUT_ENV, "42.5")
    assert jobs.default_timeout_s() == 42.5
    monkeypatch.setenv(jobs.TIMEOUT_ENV, "0")
    with pytest.raises(ValueError, match=jobs.TIMEOUT_ENV):
        jobs.default_timeout_s()


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_cli_refuses_a_bad_timeout_in_one_line(value, tmp_path):
    run = subprocess.run([sys.executable, "-m", "ray_jobs", "generate", str(tmp_path / "x.png"), "--timeout", value],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "positive number of seconds" in errors[0] and "Traceback" not in run.stderr


def test_record_and_spec_survive_json():
    job = record()
    job.move(JobState.RUNNING, "started", stage="worker", percent=25)
    job.step_seconds["generate"] = 0.5
    again = JobRecord.from_dict(job.to_dict())
    assert again == job and isinstance(again.state, JobState)
    original = spec(formats=("obj",), force=True, timeout_s=12.0)
    assert JobSpec.from_dict(original.to_dict()) == original


def test_journal_round_trip_on_both_backends(store):
    journal = JobJournal(store)
    first, second = record("gen-00000000000a"), record("gen-00000000000b")
    second.move(JobState.CANCELLED, "cancelled before it started")
    journal.write(spec("gen-00000000000a"), first)
    journal.write(spec("gen-00000000000b"), second)
    store.put("jobs/journal/gen-00000000000c.json", b"{not json")  # a damaged entry is skipped, not fatal
    journal.write_pool({"size": 2, "num_gpus": 0.0, "num_cpus": 1.0, "generators": ["inflate"]})

    entries = {entry.record.job_id: entry for entry in journal.read_all()}
    assert set(entries) == {"gen-00000000000a", "gen-00000000000b"}
    assert entries["gen-00000000000b"].record.state == JobState.CANCELLED
    assert entries["gen-00000000000a"].spec == spec("gen-00000000000a")
    assert journal.read_pool()["size"] == 2
    journal.forget("gen-00000000000a")
    assert {entry.record.job_id for entry in journal.read_all()} == {"gen-00000000000b"}


def test_stop_before_the_job_starts_is_kept():
    control = JobControl()
    assert control.request_stop("gen-1") == StopAnswer.STOPPING
    control.start("gen-1", 60.0)
    with pytest.raises(Stopped) as stopped:
        control.check("gen-1")
    assert stopped.value.reason == StopReason.CANCEL


def test_deadline_is_checked_at_every_step_and_at_the_point_of_no_return():
    now = [100.0]
    control = JobControl(clock=lambda: now[0])
    control.start("gen-1", 5.0)
    control.check("gen-1")
    now[0] = 105.0
    with pytest.raises(Stopped) as stopped:
        control.begin_publish("gen-1")
    assert stopped.value.reason == StopReason.TIMEOUT
    # A cancel that comes after the limit does not change why the job ended.
    assert control.request_stop("gen-1") == StopAnswer.STOPPING
    with pytest.raises(Stopped) as stopped:
        control.check("gen-1")
    assert stopped.value.reason == StopReason.TIMEOUT


def test_publishing_jobs_cannot_be_stopped_or_time_out():
    now = [0.0]
    control = JobControl(clock=lambda: now[0])
    control.start("gen-1", 1.0)
    control.begin_publish("gen-1")
    now[0] = 50.0
    assert control.request_stop("gen-1") == StopAnswer.PUBLISHING
    control.finish("gen-1")
    assert control.request_stop("gen-1") == StopAnswer.FINISHED
