"""One private local Ray cluster for the whole test session, and clients bound to fresh stores.

Starting Ray costs seconds, so every test shares one cluster (`address="local"`: private,
never an existing one, stopped at the end). Fixtures:

- `ray_cluster`: the running cluster (GCS address, dashboard URL, env for subprocesses).
- `studio_client`: a `StudioClient` on that cluster, bound to a fresh local store folder.
- `studio_env`: environment for CLI subprocesses that must reach the same cluster and store.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

NUM_CPUS = 2
OBJECT_STORE_BYTES = 100 * 1024 * 1024
POOL_SIZE = 2


@dataclass(frozen=True)
class RayTestCluster:
    gcs_address: str
    dashboard_url: str

    def env(self, store_dir: Path, **extra: str) -> dict[str, str]:
        """Environment for a subprocess that uses this cluster and the store at `store_dir`."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_ADDRESS", "USE_S3"))}
        env.update(RAY_ADDRESS=self.gcs_address, RAY_JOBS_ADDRESS=self.dashboard_url,
                   LOCAL_STORAGE_DIR=str(store_dir), USE_S3_STORAGE="false",
                   ASSET_STUDIO_WORKERS=str(POOL_SIZE), PYTHONPATH=str(Path.cwd()))
        env.update(extra)
        return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster():
    import ray

    from ray_jobs.connection import NAMESPACE

    if ray.is_initialized():
        pytest.fail("Ray was already initialised before the shared test cluster started")
    context = ray.init(
        address="local",
        num_cpus=NUM_CPUS,
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=True,  # the Jobs API (submit-batch, jobs, logs) lives in the dashboard
        dashboard_host="127.0.0.1",
        dashboard_port=_free_port(),
        namespace=NAMESPACE,
        log_to_driver=False,
        configure_logging=False,
    )
    dashboard = context.dashboard_url or ""
    yield RayTestCluster(
        gcs_address=context.address_info["gcs_address"],
        dashboard_url=dashboard if dashboard.startswith("http") else f"http://{dashboard}",
    )
    ray.shutdown()


def store_settings(store_dir: Path):
    from storage.settings import StorageSettings

    return StorageSettings.from_env({"LOCAL_STORAGE_DIR": str(store_dir), "USE_S3_STORAGE": "false"})


@pytest.fixture
def studio_store_dir(tmp_path) -> Path:
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    return store_dir


@pytest.fixture
def studio_client(ray_cluster, studio_store_dir):
    from ray_jobs.client import StudioClient

    client = StudioClient(storage_settings=store_settings(studio_store_dir), pool_size=POOL_SIZE)
    client.connect()
    return client


@pytest.fixture
def studio_env(ray_cluster, studio_store_dir) -> dict[str, str]:
    return ray_cluster.env(studio_store_dir)
