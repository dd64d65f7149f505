"""`cancel JOB`: stop a generation job (at its next step, no partial asset) or a Ray Job."""

from __future__ import annotations

import argparse

from ray_jobs.cli import support as cli_support


def register(subparsers: argparse._SubParsersAction) -> None:
    cli_support.add_job_command(subparsers, "cancel", "cancel a generation job (at its next step) or stop a Ray Job", run)


def run(args: argparse.Namespace) -> int:
    client = cli_support.existing_cluster_client()
    if client.is_ray_job(args.job_id):
        stopped = client.stop_ray_job(args.job_id, args.address)
    else:
        stopped = client.cancel(args.job_id)
    print(f"{args.job_id}: " + ("cancelling" if stopped else
                                "not cancelled: it has already ended or is writing its result; "
                                f"`python -m ray_jobs status {args.job_id}` says how it ended"))
    return 0 if stopped else 1
