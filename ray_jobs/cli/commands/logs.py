"""`logs JOB`: a generation job's progress events, or a Ray Job's driver log."""

from __future__ import annotations

import argparse
import time

from ray_jobs.cli import support as cli_support
from ray_jobs.cluster.connection import ClusterUnreachable
from ray_jobs.cluster.ray_job_api import is_ray_job_id, ray_job_logs


def register(subparsers: argparse._SubParsersAction) -> None:
    cli_support.add_job_command(subparsers, "logs", "progress log of a generation job, or a Ray Job's output", run)


def run(args: argparse.Namespace) -> int:
    try:
        if is_ray_job_id(args.job_id):
            print(ray_job_logs(args.job_id, args.address), end="")
            return 0
        status = cli_support.existing_cluster_client(args).progress(args.job_id)
    except (ClusterUnreachable, KeyError) as error:
        cli_support.warn(str(error).strip("'\""))
        return 1
    for event in status.events:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
        print(f"{stamp} {event.percent:5.1f}% {event.stage:<12} {event.message}")
    if status.error:
        print(f"error: {status.error}")
    return 0
