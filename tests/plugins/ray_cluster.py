"""One private local Ray cluster for the whole test session, and clients bound to fresh stores.

Starting Ray costs seconds, so every test shares one cluster (`address="local"`: private,
never an existing one, stopped at the end). Fixtures:

- `ray_cluster`: the running cluster (GCS address, dashboard URL, env for subprocesses).
- `studio_client`: a `StudioClient` on that cluster, bound to a fresh local store folder.
- `studio_env`: environment for CLI subprocesses that must reach the same cluster and store.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

NUM_CPUS = 2
REPO_ROOT = Path(__file__).resolve().parents[2]
# The test-only generators' dist-info: found through the entry-point group like any plugin package.
TEST_PLUGINS = Path(__file__).resolve().parent / "entry_points"
OBJECT_STORE_BYTES = 100 * 1024 * 1024
POOL_SIZE = 2
# Half a CPU per worker: the warm pool (2 workers) and a batch's generation actors (2) fit the 2 CPUs together.
WORKER_CPUS = "0.5"


@dataclass(frozen=True)
class RayTestCluster:
    gcs_address: str
    dashboard_url: str

    def env(self, store_dir: Path, **extra: str) -> dict[str, str]:
        """Environment for a subprocess that uses this cluster and the store at `store_dir`."""
        # No RAY_AUTH_MODE: clients must find the token (~/.ray/auth_token) and turn token mode on themselves.
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("RAY_ADDRESS", "RAY_AUTH_", "USE_S3"))}
        env.update(RAY_ADDRESS=self.gcs_address, RAY_JOBS_ADDRESS=self.dashboard_url,
                   LOCAL_STORAGE_DIR=str(store_dir), USE_S3_STORAGE="false",
                   ASSET_STUDIO_WORKERS=str(POOL_SIZE), ASSET_STUDIO_WORKER_CPUS=WORKER_CPUS, PYTHONPATH=os.environ.get("PYTHONPATH", str(Path.cwd())))
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def ray_cluster(moto_endpoint, tmp_path_factory):
    """The moto server starts first: its test credentials are in the environment Ray's workers inherit,
    so a job can fetch model weights from it; models synced from it land in a cache of this session."""
    import ray

    from ray_jobs.cluster.connection import NAMESPACE

    if ray.is_initialized():
        pytest.fail("Ray was already initialised before the shared test cluster started")
    # Ray Jobs run `python -m ray_jobs ...` as on a cluster node, so `python` must be this
    # interpreter for the processes the cluster starts.
    venv_bin = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != venv_bin:
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    use_test_plugins()
    os.environ["ASSET_STUDIO_WORKER_CPUS"] = WORKER_CPUS  # for the clients this process makes
    os.environ["ASSET_STUDIO_WEIGHTS_CACHE"] = str(tmp_path_factory.mktemp("weights-cache"))
    context = ray.init(
        address="local",
        num_cpus=NUM_CPUS,
        num_gpus=0,  # the same suite on a GPU machine: workers plan for CPU unless a test fakes GPUs
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=True,  # the Jobs API (submit-batch, jobs, logs) lives in the dashboard
        dashboard_host="127.0.0.1",  # default port 8265, or the next free one: Ray retries only from its default
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


def use_test_plugins() -> None:
    """Put the test generators on the path of this process and of every process Ray starts from it."""
    for folder in (str(TEST_PLUGINS), str(REPO_ROOT)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TEST_PLUGINS), str(REPO_ROOT),
                                                *(p for p in paths if p not in (str(TEST_PLUGINS), str(REPO_ROOT)))])
    from ray_jobs.generators.registry import forget_loaded

    forget_loaded()


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
