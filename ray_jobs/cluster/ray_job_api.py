"""Ray Jobs (the dashboard's Jobs API) through `JobSubmissionClient`, with token auth on.

`submit-batch` ships the files git tracks in this checkout as the job's working directory
(`job_package`: an untracked `.env` or store folder never leaves the machine) and runs
`python -m ray_jobs batch PREFIX --json` on the cluster. The store settings that are
not secret travel in the job's environment; secrets never do (the cluster uses its
IAM instance profile, or its own environment).

The SDK's failures (RuntimeErrors carrying an HTTP body, often a traceback) come out as the
studio's errors on one line: NotFound for a job the cluster does not know, ClusterAuthError
for a refused token, ClusterUnreachable naming the address tried and what chose it.
"""

from __future__ import annotations

import os
import shlex
import socket
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from ray_jobs.cluster.connection import (
    LOCAL_ADDRESSES,
    ClusterUnreachable,
    auth_error,
    enable_token_auth_if_available,
    first_line,
)
from ray_jobs.cluster.job_package import staged_working_dir
from ray_jobs.errors import NotFound

DEFAULT_DASHBOARD = "http://127.0.0.1:8265"
DASHBOARD_PORT = 8265
RAY_JOB_PREFIX = "raysubmit_"
AGENT_WAIT_S = 60.0
PROBE_TIMEOUT_S = 3.0
# Store settings that are safe to pass along (never the secret key).
FORWARDED_ENV = ("USE_S3_STORAGE", "S3_BUCKET_NAME", "S3_REGION", "S3_ENDPOINT_URL", "LOCAL_STORAGE_DIR",
                 "S3_URL_EXPIRY_SECONDS", "ASSET_STUDIO_WORKERS", "ASSET_STUDIO_WORKER_CPUS",
                 "ASSET_STUDIO_WORKER_GPUS", "ASSET_STUDIO_ALLOW_CPU",
                 "ASSET_STUDIO_GPU_AUTOSCALE")
SET_IT = "Set RAY_JOBS_ADDRESS or pass --address to the head's dashboard"
BY_OPTION = "set by --address"
# Ray's own setting for the Jobs API address: the SDK prefers it to its argument and to RAY_ADDRESS.
API_SERVER_VARIABLE = "RAY_API_SERVER_ADDRESS"


def is_ray_job_id(job_id: str) -> bool:
    return job_id.startswith(RAY_JOB_PREFIX)


def dashboard_address(explicit: str | None = None) -> str:
    """The Jobs API address; see `dashboard_address_and_source`."""
    return dashboard_address_and_source(explicit)[0]


def dashboard_address_and_source(explicit: str | None = None) -> tuple[str, str]:
    """The Jobs API address and what chose it (for messages), first found of: the argument
    (--address), RAY_JOBS_ADDRESS (or Ray's RAY_API_SERVER_ADDRESS), an http RAY_ADDRESS, the
    dashboard the cluster this process is connected to reports, the dashboard port of the host a
    HOST:PORT RAY_ADDRESS names, or the default 127.0.0.1:8265."""
    if explicit and explicit.strip():
        return _as_url(explicit), BY_OPTION
    for variable in ("RAY_JOBS_ADDRESS", API_SERVER_VARIABLE):
        value = os.environ.get(variable, "").strip()
        if value:
            return _as_url(value), f"set by {variable}"
    ray_address = os.environ.get("RAY_ADDRESS", "").strip()
    if ray_address.startswith(("http://", "https://")):
        return ray_address.rstrip("/"), "set by RAY_ADDRESS"
    connected = _local_dashboard()  # what the cluster this process is connected to reports
    if connected and _is_connected_cluster(ray_address):
        return connected, "the dashboard the connected Ray cluster reports"
    derived = dashboard_for_cluster(ray_address)
    if derived:
        return derived, f"the dashboard port on the host of RAY_ADDRESS={ray_address}"
    return DEFAULT_DASHBOARD, "the default: neither --address nor RAY_JOBS_ADDRESS is set"


def dashboard_for_cluster(address: str | None) -> str | None:
    """The dashboard (Jobs API) on the head a cluster address names: HOST:PORT or ray://HOST:PORT
    -> http://HOST:8265. None for local or 'auto' addresses, or anything without a host."""
    if not address or address in LOCAL_ADDRESSES or address == "auto":
        return None
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if parsed.scheme not in ("tcp", "ray"):
        return None
    try:
        host = parsed.hostname
    except ValueError:
        return None
    if not host:
        return None
    return f"http://{f'[{host}]' if ':' in host else host}:{DASHBOARD_PORT}"


def _is_connected_cluster(ray_address: str) -> bool:
    """Whether RAY_ADDRESS (unset: the local one) names the cluster this process is connected to."""
    import ray

    from ray_jobs.cluster.connection import gcs_host_port, same_endpoint

    if not ray_address or ray_address in LOCAL_ADDRESSES or ray_address == "auto" or "://" in ray_address:
        return True
    try:
        target = gcs_host_port(ray_address)
    except ClusterUnreachable:
        return False
    return target is not None and same_endpoint(target, ray.get_runtime_context().gcs_address)


def _as_url(address: str) -> str:
    address = address.strip().rstrip("/")
    return address if "://" in address else f"http://{address}"


def _local_dashboard() -> str | None:
    try:
        import ray

        if ray.is_initialized():
            from ray._private.worker import get_dashboard_url

            url = get_dashboard_url()
            if url:
                return url if "://" in url else f"http://{url}"
    except Exception:  # noqa: BLE001 - fall back to the default address
        pass
    return None


def _unreachable(url: str, source: str, reason: str) -> ClusterUnreachable:
    return ClusterUnreachable(
        f"No Ray Jobs API answers at {url} ({source}): {first_line(reason)}",
        f"{SET_IT}, e.g. forward it with `ray dashboard cluster.yaml` and use http://localhost:8265.",
    )


def _probe(url: str, source: str) -> None:
    """Fail within seconds when nothing listens at the Jobs API address."""
    parsed = urlparse(url)
    try:
        host, port = parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)
    except ValueError:
        host = port = None
    if not host:
        raise ClusterUnreachable(f"The Ray Jobs API address {url} ({source}) is not http://HOST:PORT",
                                 f"{SET_IT}, e.g. http://HEAD:8265.")
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as error:
        raise _unreachable(url, source, error.strerror or str(error)) from None


_sdk_address_lock = threading.Lock()


def _submission_client(url: str):
    """A `JobSubmissionClient` that talks to `url` and nowhere else.

    Its constructor lets RAY_ADDRESS override the address it is given: for a HOST:PORT it asks
    that cluster's GCS for the dashboard's address instead (retrying ~20 s on a refused token,
    with Ray's C++ log lines on stderr), so --address would be ignored. RAY_API_SERVER_ADDRESS,
    Ray's documented setting for this address, wins over RAY_ADDRESS there: it holds `url` while
    the client is built, under a lock (only this constructor reads it; methods use the URL kept).
    """
    from ray.job_submission import JobSubmissionClient

    with _sdk_address_lock:
        previous = os.environ.get(API_SERVER_VARIABLE)
        os.environ[API_SERVER_VARIABLE] = url
        try:
            return JobSubmissionClient(url)
        finally:
            if previous is None:
                os.environ.pop(API_SERVER_VARIABLE, None)
            else:
                os.environ[API_SERVER_VARIABLE] = previous


class _JobsApi:
    """A `JobSubmissionClient` whose failures come out as the studio's errors, each naming the address."""

    def __init__(self, address: str | None = None) -> None:
        self.url, self.source = dashboard_address_and_source(address)
        _probe(self.url, self.source)
        enable_token_auth_if_available()
        self.client = self.call(lambda: _submission_client(self.url))

    def call(self, request, job_id: str | None = None):
        """`request()`, its failure raised as the studio error that says what to do."""
        try:
            return request()
        except Exception as error:  # noqa: BLE001 - the SDK raises RuntimeError, ConnectionError, requests' own
            raise self.error_for(error, job_id) from None

    def error_for(self, error: BaseException, job_id: str | None) -> ClusterUnreachable | NotFound:
        from ray.exceptions import AuthenticationError

        text = first_line(str(error)) or type(error).__name__
        if isinstance(error, AuthenticationError):
            return auth_error(f"The Ray Jobs API at {self.url}")
        if job_id is not None and "status code 404" in text:
            listing = "python -m ray_jobs jobs" + (f" --address {self.url}" if self.source == BY_OPTION else "")
            return NotFound(f"No Ray Job {job_id} on {self.url}", f"List them with `{listing}`.")
        if isinstance(error, OSError):  # ConnectionError, and every error of `requests`
            return _unreachable(self.url, self.source, text)
        return ClusterUnreachable(f"The Ray Jobs API at {self.url} ({self.source}) failed: {text}",
                                  "Its dashboard's logs on the head node say why.")


def submit_batch(prefix: str, *, address: str | None = None, extra_args: list[str] | None = None) -> str:
    """Submit `batch PREFIX` as a Ray Job; its report in the store is named after the submission id."""
    submission_id = f"{RAY_JOB_PREFIX}{uuid.uuid4().hex[:16]}"
    entrypoint = " ".join(["python -m ray_jobs batch", shlex.quote(prefix), "--json", "--report-name", submission_id,
                           *map(shlex.quote, extra_args or [])])
    env = {name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)}
    with staged_working_dir() as working_dir:  # uploaded by submit_job, so it may go once that returns
        api = _JobsApi(address)
        runtime_env = {"working_dir": str(working_dir), "env_vars": env}
        return _submit(api, entrypoint, runtime_env, submission_id,
                       metadata={"asset_studio": "batch", "prefix": prefix, "report": submission_id})


def _submit(api: _JobsApi, entrypoint: str, runtime_env: dict[str, Any], submission_id: str,
            metadata: dict[str, str]) -> str:
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return api.client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env, submission_id=submission_id,
                                         metadata=metadata)
        except RuntimeError as error:
            # A cluster that just started has no job agent for a few seconds: wait for it.
            if "No available agent" not in str(error) or time.monotonic() > deadline:
                raise ClusterUnreachable(f"The Ray Jobs API at {api.url} refused the batch: "
                                         f"{first_line(str(error))}") from None
            time.sleep(1.0)
        except Exception as error:  # noqa: BLE001 - token refused, connection lost, ...
            raise api.error_for(error, None) from None


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
        "report": (info.metadata or {}).get("report"),  # the batch's report in the store, when it is one
    }


def list_ray_jobs(address: str | None = None) -> list[dict[str, Any]]:
    api = _JobsApi(address)
    infos = [info for info in api.call(api.client.list_jobs) if info.submission_id]  # not plain drivers
    return sorted((_as_dict(info) for info in infos), key=lambda job: job["created_at"], reverse=True)


def ray_job_status(job_id: str, address: str | None = None) -> dict[str, Any]:
    """Where a Ray Job stands; NotFound when the Jobs API does not know `job_id`."""
    api = _JobsApi(address)
    return _as_dict(api.call(lambda: api.client.get_job_info(job_id), job_id))


def stop_ray_job(job_id: str, address: str | None = None) -> bool:
    """Ask a Ray Job to stop; False when it had already ended, NotFound when it never existed."""
    api = _JobsApi(address)
    return bool(api.call(lambda: api.client.stop_job(job_id), job_id))


def ray_job_logs(job_id: str, address: str | None = None) -> str:
    """A Ray Job's driver output so far; NotFound when the Jobs API does not know `job_id`."""
    api = _JobsApi(address)
    return api.call(lambda: api.client.get_job_logs(job_id), job_id)
