"""Cluster errors as a user meets them: a wrong token fails in seconds without Ray's own log
noise, Ray Job lookups say what is missing and where, and the Jobs API address follows the
cluster's. Connections to the shared cluster with another token run in subprocesses, so this
process's own Ray connection stays as it is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ray_jobs.cluster import connection
from ray_jobs.cluster.ray_job_api import (
    dashboard_address,
    dashboard_address_and_source,
    dashboard_for_cluster,
    list_ray_jobs,
    ray_job_logs,
    ray_job_status,
    stop_ray_job,
)
from ray_jobs.errors import ClusterAuthError, ClusterUnreachable, NotFound
from tests.ray.images import object_png
from tests.ray.test_cli import QUICK, cli, json_lines

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
WRONG_TOKEN = "not-the-cluster-token"
RAY_NOISE = ("gcs_client", "InvalidAuthToken", "Traceback")
NOTHING_LISTENS = "127.0.0.1:9"
UNKNOWN_JOB = "raysubmit_doesnotexist"
CONNECT_SCRIPT = """
import json, time
from ray_jobs.cluster import connection
started = time.monotonic()
try:
    where, error = connection.connect(), None
except Exception as caught:
    where, error = None, caught
print(json.dumps({"where": where, "error": type(error).__name__ if error else None,
                  "message": str(error) if error else None, "seconds": time.monotonic() - started}))
"""


def connect_in_subprocess(env: dict[str, str]) -> tuple[dict, str]:
    """What `connection.connect()` answered in a fresh process, and that process's stderr."""
    run = subprocess.run([sys.executable, "-c", CONNECT_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=120, cwd=ROOT)
    assert run.stdout.strip(), run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1]), run.stderr


def assert_no_ray_noise(stderr: str) -> None:
    noise = [line for line in stderr.splitlines() if any(word in line for word in RAY_NOISE)]
    assert not noise, "\n".join(noise[:5])


# ---- a wrong token -------------------------------------------------------------------------

def test_wrong_token_is_refused_at_once_and_quietly(studio_env, ray_cluster):
    answer, stderr = connect_in_subprocess({**studio_env, "RAY_AUTH_TOKEN": WRONG_TOKEN})

    assert answer["error"] == ClusterAuthError.__name__, answer
    assert answer["seconds"] < 5, answer  # ray.init alone would retry for ~20 s
    message = answer["message"]
    assert ray_cluster.gcs_address in message and "RAY_AUTH_TOKEN" in message
    assert "\n" not in message
    assert_no_ray_noise(stderr)


def test_the_right_token_still_connects(studio_env, ray_cluster):
    answer, stderr = connect_in_subprocess(studio_env)  # the token from ~/.ray/auth_token, found by the client

    assert answer["error"] is None, answer
    assert answer["where"] == f"Ray cluster at {ray_cluster.gcs_address}"
    assert_no_ray_noise(stderr)


@pytest.mark.parametrize("command", ["generate", "doctor"])
def test_cli_with_a_wrong_token_fails_fast_and_names_the_token(command, studio_env, tmp_path):
    image = tmp_path / "locked.png"
    image.write_bytes(object_png(81))
    args = ["generate", str(image), "--json", *QUICK] if command == "generate" else ["doctor", "--json"]

    started = time.monotonic()
    run = cli({**studio_env, "RAY_AUTH_TOKEN": WRONG_TOKEN}, *args, timeout=60)
    elapsed = time.monotonic() - started

    assert elapsed < 15, f"{elapsed:.1f} s"
    assert run.returncode != 0
    assert "RAY_AUTH_TOKEN" in run.stdout + run.stderr, run.stdout + run.stderr
    assert_no_ray_noise(run.stderr)
    if command == "generate":
        [line] = json_lines(run.stdout)
        assert line["status"] == "failed" and "refused our token" in line["error"]


# ---- Ray Jobs ------------------------------------------------------------------------------

@pytest.mark.parametrize("lookup", [ray_job_status, ray_job_logs, stop_ray_job])
def test_an_unknown_ray_job_is_not_found(lookup, ray_cluster):
    with pytest.raises(NotFound) as raised:
        lookup(UNKNOWN_JOB, address=ray_cluster.dashboard_url)

    message = str(raised.value)
    assert "\n" not in message
    assert f"No Ray Job {UNKNOWN_JOB} on {ray_cluster.dashboard_url}" in message
    assert "python -m ray_jobs jobs" in message


def test_jobs_api_with_a_wrong_token_is_an_auth_error(studio_env, ray_cluster):
    script = ("from ray_jobs.cluster.ray_job_api import list_ray_jobs\n"
              "try:\n    list_ray_jobs()\nexcept Exception as error:\n"
              "    print(type(error).__name__, error)\n")
    run = subprocess.run([sys.executable, "-c", script], env={**studio_env, "RAY_AUTH_TOKEN": WRONG_TOKEN},
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.stdout.startswith(ClusterAuthError.__name__), run.stdout + run.stderr
    assert ray_cluster.dashboard_url in run.stdout and "RAY_AUTH_TOKEN" in run.stdout
    assert_no_ray_noise(run.stderr)


def test_cli_status_of_an_unknown_ray_job(studio_env):
    run = cli(studio_env, "status", UNKNOWN_JOB, timeout=60)
    assert run.returncode != 0
    assert f"No Ray Job {UNKNOWN_JOB}" in run.stderr, run.stderr


@pytest.mark.parametrize(("ray_address", "dashboard"), [
    ("10.0.0.5:6379", "http://10.0.0.5:8265"),
    ("head.example.com:6379", "http://head.example.com:8265"),
    ("ray://10.0.0.5:10001", "http://10.0.0.5:8265"),
    ("[fd00::2]:6379", "http://[fd00::2]:8265"),
    ("auto", None),
    ("local", None),
    ("", None),
])
def test_dashboard_of_a_cluster_address(ray_address, dashboard):
    assert dashboard_for_cluster(ray_address) == dashboard


def test_jobs_api_address_follows_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_JOBS_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    assert dashboard_address() == "http://10.0.0.5:8265"

    monkeypatch.setenv("RAY_JOBS_ADDRESS", "10.0.0.6:8265")  # a scheme is optional
    assert dashboard_address_and_source() == ("http://10.0.0.6:8265", "set by RAY_JOBS_ADDRESS")
    assert dashboard_address_and_source("http://10.0.0.7:8265/") == ("http://10.0.0.7:8265", "set by --address")


def test_unreachable_jobs_api_names_the_address_and_what_set_it(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("RAY_JOBS_ADDRESS", f"http://{NOTHING_LISTENS}")
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable) as by_env:
        list_ray_jobs()
    assert time.monotonic() - started < 5
    message = str(by_env.value)
    assert f"http://{NOTHING_LISTENS}" in message and "RAY_JOBS_ADDRESS" in message
    assert "Check RAY_ADDRESS" not in message and "\n" not in message

    with pytest.raises(ClusterUnreachable) as by_option:
        ray_job_status(UNKNOWN_JOB, address=NOTHING_LISTENS)
    assert f"http://{NOTHING_LISTENS} (set by --address)" in str(by_option.value)


class _BrokenJobsApi(BaseHTTPRequestHandler):
    """A Jobs API that passes the SDK's version check, then answers everything with a traceback."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        import ray

        if self.path == "/api/version":
            self._answer(200, json.dumps({"version": "4", "ray_version": ray.__version__, "ray_commit": "x"}))
        else:
            self._answer(500, "Traceback (most recent call last):\n  File \"job_head.py\", line 1, in list_jobs\n"
                              "    raise ValueError('the job table is damaged')\nValueError: the job table is damaged")

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def broken_jobs_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenJobsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_jobs_api_is_one_line_with_the_reason(broken_jobs_api, monkeypatch):
    # Ray's SDK alone would let RAY_ADDRESS override the address given, and ask that cluster instead.
    monkeypatch.setenv("RAY_ADDRESS", NOTHING_LISTENS)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachable) as raised:
        list_ray_jobs(broken_jobs_api)
    assert time.monotonic() - started < 5

    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert broken_jobs_api in message and "ValueError: the job table is damaged" in message


def test_first_line_of_an_error_text():
    assert connection.first_line("\n  Connection refused\nmore detail") == "Connection refused"
    assert connection.first_line("Request failed with status code 500: Traceback (most recent call last):\n"
                                 "  File \"x\", line 1\nKeyError: 'job'") == \
        "Request failed with status code 500: KeyError: 'job'"
    assert len(connection.first_line("x" * 500)) == 200
