"""`status JOB`: where a generation job or a Ray Job stands."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ray_jobs.cli import support as cli_support


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = cli_support.add_job_command(subparsers, "status", "state of a generation job or a Ray Job", run)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def run(args: argparse.Namespace) -> int:
    client = cli_support.existing_cluster_client()
    if client.is_ray_job(args.job_id):
        answer = client.ray_job_status(args.job_id, args.address)
    else:
        status = client.progress(args.job_id)
        answer = {key: value for key, value in asdict(status).items() if key not in ("events", "manifest")}
        answer["kind"] = "generation"
        answer["asset_id"] = status.asset_id
    if args.json:
        print(json.dumps(answer))
    else:
        for key, value in answer.items():
            print(f"{key:>13}: {value}")
    return 0
