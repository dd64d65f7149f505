"""`logs JOB`: a generation job's progress events, or a Ray Job's driver log."""

from __future__ import annotations

import argparse
import time

from ray_jobs.cli import support as cli_support


def register(subparsers: argparse._SubParsersAction) -> None:
    cli_support.add_job_command(subparsers, "logs", "progress log of a generation job, or a Ray Job's output", run)


def run(args: argparse.Namespace) -> int:
    client = cli_support.existing_cluster_client()
    if client.is_ray_job(args.job_id):
        print(client.ray_job_logs(args.job_id, args.address), end="")
        return 0
    status = client.progress(args.job_id)
    for event in status.events:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.at))
        print(f"{stamp} {event.percent:5.1f}% {event.stage:<12} {event.message}")
    if status.error:
        print(f"error: {status.error}")
    return 0
