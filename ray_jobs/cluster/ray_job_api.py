"""Ray Jobs (the dashboard's Jobs API) through `JobSubmissionClient`, with token auth on.

`submit-batch` ships this repository as the job's working directory and runs
`python -m ray_jobs batch PREFIX --json` on the cluster. The store settings that are
not secret travel in the job's environment; secrets never do (the cluster uses its
IAM instance profile, or its own environment).
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

from ray_jobs.cluster.connection import ClusterUnreachable, enable_token_auth_if_available, probe

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DASHBOARD = "http://127.0.0.1:8265"
RAY_JOB_PREFIX = "raysubmit_"
AGENT_WAIT_S = 60.0
# Not shipped with the job: environments, stores, caches, browser tests.
WORKING_DIR_EXCLUDES = [".venv", ".git", "local_store", "node_modules", "**/__pycache__", "*.glb",
                        ".pytest_cache", "tests/js"]
# Store settings that are safe to pass along (never the secret key).
FORWARDED_ENV = ("USE_S3_STORAGE", "S3_BUCKET_NAME", "S3_REGION", "S3_ENDPOINT_URL", "LOCAL_STORAGE_DIR",
                 "S3_URL_EXPIRY_SECONDS", "ASSET_STUDIO_WORKERS", "ASSET_STUDIO_ALLOW_CPU",
                 "ASSET_STUDIO_GPU_AUTOSCALE")


def is_ray_job_id(job_id: str) -> bool:
    return job_id.startswith(RAY_JOB_PREFIX)


def dashboard_address(explicit: str | None = None) -> str:
    """The Jobs API address: the argument, RAY_JOBS_ADDRESS, an http RAY_ADDRESS, this process's
    local Ray dashboard, or the default localhost:8265."""
    for candidate in (explicit, os.environ.get("RAY_JOBS_ADDRESS"), os.environ.get("RAY_ADDRESS")):
        if candidate and candidate.startswith(("http://", "https://")):
            return candidate.rstrip("/")
    if explicit:
        return f"http://{explicit}" if "://" not in explicit else explicit
    try:
        import ray

        if ray.is_initialized():
            from ray._private.worker import get_dashboard_url

            url = get_dashboard_url()
            if url:
                return url if "://" in url else f"http://{url}"
    except Exception:  # noqa: BLE001 - fall back to the default address
        pass
    return DEFAULT_DASHBOARD


def jobs_client(address: str | None = None):
    from ray.job_submission import JobSubmissionClient

    url = dashboard_address(address)
    probe(url.split("://", 1)[1].split("/", 1)[0], timeout_s=3.0)
    enable_token_auth_if_available()
    try:
        return JobSubmissionClient(url)
    except Exception as error:  # noqa: BLE001
        raise ClusterUnreachable(
            f"The Ray Jobs API at {url} did not answer: {str(error).splitlines()[0]}. Forward the "
            "dashboard (`ray dashboard cluster.yaml`) and pass --address http://localhost:8265; "
            "with token auth, copy the head's ~/.ray/auth_token or set RAY_AUTH_TOKEN."
        ) from None


def submit_batch(prefix: str, *, address: str | None = None, extra_args: list[str] | None = None) -> str:
    entrypoint = " ".join(["python -m ray_jobs batch", shlex.quote(prefix), "--json", *map(shlex.quote, extra_args or [])])
    env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    runtime_env = {"working_dir": str(REPO_ROOT), "excludes": WORKING_DIR_EXCLUDES, "env_vars": env}
    client = jobs_client(address)
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env,
                                     metadata={"asset_studio": "batch", "prefix": prefix})
        except RuntimeError as error:
            # A cluster that just started has no job agent for a few seconds: wait for it.
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise ClusterUnreachable(f"The Ray Jobs API refused the batch: {str(error).splitlines()[0]}") from None
            time.sleep(1.0)


def _as_dict(info: Any) -> dict[str, Any]:
    status = getattr(info.status, "value", str(info.status))
    return {
        "job_id": info.submission_id,
        "kind": "ray-job",
        "state": status.lower(),
        "entrypoint": info.entrypoint,
        "message": info.message or "",
        "created_at": (info.start_time or 0) / 1000.0,
        "finished_at": (info.end_time / 1000.0) if info.end_time else None,
        "error": info.message if status == "FAILED" else None,
    }


def list_ray_jobs(address: str | None = None) -> list[dict[str, Any]]:
    infos = [info for info in jobs_client(address).list_jobs() if info.submission_id]  # not plain drivers
    return sorted((_as_dict(info) for info in infos), key=lambda job: job["created_at"], reverse=True)


def ray_job_status(job_id: str, address: str | None = None) -> dict[str, Any]:
    return _as_dict(jobs_client(address).get_job_info(job_id))


def stop_ray_job(job_id: str, address: str | None = None) -> bool:
    return bool(jobs_client(address).stop_job(job_id))


def ray_job_logs(job_id: str, address: str | None = None) -> str:
    return jobs_client(address).get_job_logs(job_id)
