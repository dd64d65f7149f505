"""The GPU path on a machine without a GPU: a head with no GPUs plus a second `ray start` node
that declares one logical GPU. A generator that needs a GPU (the test-only `test-gpu`) gets workers
asking for num_gpus=1, which must land on that node, and the 15% stage must report the GPU; inflate,
which uses no GPU, gets CPU workers in a pool of its own. (No CUDA device exists behind the fake GPU;
what is tested is the placement.) The cluster also uses its own token, given to the
client only through RAY_AUTH_TOKEN.

The two nodes also differ in AWS credentials, as a cluster whose workers lack an instance
profile does: the head has the moto server's test keys, the GPU node (its own loopback
address, 127.0.0.2) has none at all, and `doctor` must say so for that node.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.plugins.moto_server import FAKE_AWS_ENV
from tests.plugins.ray_cluster import TEST_PLUGINS
from tests.ray.images import object_png

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
HEAD_IP, GPU_NODE_IP = "127.0.0.1", "127.0.0.2"  # all of 127/8 is loopback: two addresses tell the nodes apart
# (Ray may register the head under the machine's own address instead; the GPU node keeps its own.)
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                        "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
JOINED_SCRIPT = """
import sys, time, ray
ray.init(logging_level="ERROR")
deadline = time.monotonic() + 90
while len([node for node in ray.nodes() if node["Alive"]]) < 2:
    if time.monotonic() > deadline:
        sys.exit("the GPU node did not join within 90 s")
    time.sleep(0.5)
"""
CLIENT_SCRIPT = """
import json, sys, time
from ray_jobs.client import StudioClient
client = StudioClient()
deadline = time.monotonic() + 90
while client.cluster_status().gpus_total < 1 and time.monotonic() < deadline:
    time.sleep(1)  # the GPU node is still joining
events = []
image = open(sys.argv[1], "rb").read()
submission = client.submit(image, "gpu.png", {"generator": "test-gpu"}, on_progress=events.append)
status = client.wait(submission.job_id, on_progress=events.append, known_events=len(events))
cpu_job = client.submit(image, "cpu.png", {"resolution": 64})
cpu_status = client.wait(cpu_job.job_id)
cluster = client.cluster_status()
print(json.dumps({
    "state": status.state, "error": status.error, "worker": status.worker, "cpu_state": cpu_status.state,
    "events": [[event.percent, event.stage, event.message] for event in events],
    "pool": client.worker_pool(), "nodes": cluster.nodes, "gpus_total": cluster.gpus_total,
}))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the head node did not open port {port}")


def _without_credentials(env: dict[str, str], temp_dir: str) -> dict[str, str]:
    """The environment of a node with no way at all to find AWS credentials (and no wait on instance metadata)."""
    missing = str(Path(temp_dir) / "no-aws-config")
    env = {name: value for name, value in env.items() if name not in CREDENTIAL_VARIABLES}
    env.update(AWS_SHARED_CREDENTIALS_FILE=missing, AWS_CONFIG_FILE=missing, AWS_EC2_METADATA_DISABLED="true")
    return env


def _stop(process: subprocess.Popen) -> None:
    """Stop one `ray start --block` we started, with every process of its own session."""
    if process.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 8), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def two_node_cluster():
    temp_dir = tempfile.mkdtemp(prefix="rt2n", dir="/tmp")  # short: Ray's socket paths must stay short
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    ray_cli = str(Path(sys.executable).parent / "ray")
    started: list[subprocess.Popen] = []
    logs = open(Path(temp_dir) / "ray_start.log", "w")
    try:
        started.append(subprocess.Popen(
            [ray_cli, "start", "--head", "--block", f"--port={port}", f"--node-ip-address={HEAD_IP}",
             "--num-cpus=1", "--num-gpus=0", "--include-dashboard=false", f"--temp-dir={temp_dir}"],
            env={**env, **FAKE_AWS_ENV}, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
        _wait_for_port(port, 90)
        started.append(subprocess.Popen(
            [ray_cli, "start", "--block", f"--address={HEAD_IP}:{port}", f"--node-ip-address={GPU_NODE_IP}",
             "--num-cpus=1", "--num-gpus=1"],
            env=_without_credentials(env, temp_dir), stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
        address = f"{HEAD_IP}:{port}"
        joined = subprocess.run([sys.executable, "-c", JOINED_SCRIPT], env={**env, "RAY_ADDRESS": address},
                                capture_output=True, text=True, timeout=150)
        assert joined.returncode == 0, joined.stderr[-3000:]
        yield {"address": address, "env": env, "temp_dir": temp_dir}
    finally:
        for process in reversed(started):
            _stop(process)
        logs.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_gpu_workers_land_on_the_gpu_node(two_node_cluster, tmp_path):
    image = tmp_path / "gpu.png"
    image.write_bytes(object_png(60))
    env = {**two_node_cluster["env"], "RAY_ADDRESS": two_node_cluster["address"],
           "LOCAL_STORAGE_DIR": str(tmp_path / "store"), "PYTHONPATH": f"{TEST_PLUGINS}{os.pathsep}{ROOT}",
           "ASSET_STUDIO_WORKERS": "1", "ASSET_STUDIO_WORKER_CPUS": "0.5"}
    env.pop("RAY_AUTH_MODE")  # the client must turn token mode on by itself, having found RAY_AUTH_TOKEN
    run = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, str(image)], env=env, capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])

    assert answer["state"] == "done", answer["error"]
    assert len(answer["nodes"]) == 2
    gpu_node = next(node for node in answer["nodes"] if node["gpus"] == 1)
    head = next(node for node in answer["nodes"] if node["head"])
    assert head["gpus"] == 0 and gpu_node["node_id"] != head["node_id"]
    gpu_workers = [worker for worker in answer["pool"] if worker["pool"] == "test-gpu"]
    assert gpu_workers and all(worker["node_id"] == gpu_node["node_id"] for worker in gpu_workers)
    assert all(worker["num_gpus"] == 1 and worker["gpu_ids"] for worker in gpu_workers)
    gpu_stage = [message for percent, stage, message in answer["events"] if stage == "gpu"]
    assert gpu_stage and gpu_stage[0].startswith("test-gpu: GPU available: 1 of 1 free")
    assert "about 2 GiB of GPU memory" in gpu_stage[0]
    # inflate uses no GPU: the pool of CPU workers, and its job ran there
    cpu_workers = [worker for worker in answer["pool"] if worker["pool"] == "cpu"]
    assert answer["cpu_state"] == "done"
    assert cpu_workers and all(worker["num_gpus"] == 0 and not worker.get("gpu_ids") for worker in cpu_workers)
    running = [message for percent, stage, message in answer["events"] if stage == "worker"]
    assert running and "(GPU " in running[0]


def test_doctor_names_the_node_without_store_credentials(two_node_cluster, s3_env):
    env = {**two_node_cluster["env"], **s3_env, "RAY_ADDRESS": two_node_cluster["address"],
           "RAY_JOBS_ADDRESS": "http://127.0.0.1:9",  # this cluster has no dashboard: that line fails, always
           "PYTHONPATH": str(ROOT)}
    env.pop("RAY_AUTH_MODE")
    run = subprocess.run([sys.executable, "-m", "ray_jobs", "doctor", "--json"], env=env, capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    lines = {line["name"]: line for line in (json.loads(text) for text in run.stdout.splitlines() if text.strip())}

    assert run.returncode == 1, run.stderr[-3000:]
    assert lines["store reachable"]["ok"]  # from here, with the test keys
    [head] = [line for name, line in lines.items() if name.startswith("store reachable from node") and "(head)" in name]
    assert head["ok"] and s3_env["S3_BUCKET_NAME"] in head["detail"], run.stdout
    bare = lines.get(f"store reachable from node {GPU_NODE_IP}")
    assert bare and not bare["ok"], run.stdout
    assert "No AWS credentials found" in bare["detail"] and s3_env["S3_BUCKET_NAME"] in bare["detail"]
    assert "credentials" in bare["fix"] and "cluster.yaml" in bare["fix"]
    assert {name for name, line in lines.items() if not line["ok"]} == {bare["name"], "Ray Jobs API"}
