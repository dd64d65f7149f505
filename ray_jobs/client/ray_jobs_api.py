"""The client's Ray Jobs methods: the cluster's Jobs API (batches submitted with submit-batch).
Mixed into StudioClient."""

from __future__ import annotations

import os
from typing import Any

from ray_jobs.client.door import door
from ray_jobs.errors import ClusterProblem


class RayJobsApi:
    @door
    def ray_jobs(self, address: str | None = None) -> list[dict[str, Any]]:
        from ray_jobs.cluster.ray_job_api import list_ray_jobs

        self._reach_for_jobs_api(address)
        return list_ray_jobs(address)

    def _reach_for_jobs_api(self, address: str | None) -> None:
        """Without an explicit Jobs API address, ask the RAY_ADDRESS cluster where its dashboard is
        (it knows; guessing HOST:8265 misses a dashboard bound to the head's loopback)."""
        if address or os.environ.get("RAY_JOBS_ADDRESS", "").strip() or not self.ray_address:
            return
        try:
            self.connect()
        except ClusterProblem:
            pass  # the Jobs API lookup then says where it looked

    @staticmethod
    def is_ray_job(job_id: str) -> bool:
        """Ray Job ids (raysubmit_...) versus generation job ids (gen-...)."""
        from ray_jobs.cluster.ray_job_api import is_ray_job_id

        return is_ray_job_id(job_id)

    @door
    def ray_job_status(self, job_id: str, address: str | None = None) -> dict[str, Any]:
        from ray_jobs.cluster.ray_job_api import ray_job_status

        self._reach_for_jobs_api(address)
        return ray_job_status(job_id, address)

    @door
    def ray_job_logs(self, job_id: str, address: str | None = None) -> str:
        from ray_jobs.cluster.ray_job_api import ray_job_logs

        self._reach_for_jobs_api(address)
        return ray_job_logs(job_id, address)

    @door
    def stop_ray_job(self, job_id: str, address: str | None = None) -> bool:
        from ray_jobs.cluster.ray_job_api import stop_ray_job

        self._reach_for_jobs_api(address)
        return stop_ray_job(job_id, address)

    @door
    def submit_batch(self, prefix: str, address: str | None = None) -> str:
        """Run `batch PREFIX` on the cluster as a Ray Job; its submission id."""
        from ray_jobs.cluster.ray_job_api import submit_batch

        self._reach_for_jobs_api(address)
        return submit_batch(prefix, address=address)
