"""`jobs`: generation jobs (from the registry actor) and Ray Jobs (from the Jobs API)."""

from __future__ import annotations

import argparse
import json
import time

from ray_jobs.cli import support as cli_support
from ray_jobs.errors import ClusterProblem


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("jobs", help="list generation jobs and Ray Jobs with their state")
    parser.add_argument("--limit", type=int, default=50, help="newest N generation jobs")
    parser.add_argument("--json", action="store_true", help="one JSON line per job")
    cli_support.add_jobs_address_option(parser)
    parser.set_defaults(func=run)


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def run(args: argparse.Namespace) -> int:
    rows = []
    problems: list[ClusterProblem] = []
    client = cli_support.existing_cluster_client()
    try:
        for status in client.jobs(limit=args.limit):
            rows.append({"job_id": status.job_id, "kind": "generation", "state": status.state, "name": status.name,
                         "percent": status.percent, "created_at": status.created_at,
                         "finished_at": status.finished_at, "error": status.error, "message": status.message})
    except ClusterProblem as error:
        problems.append(error)
        cli_support.warn(f"error: generation jobs: {error}")
    try:
        rows.extend(client.ray_jobs(args.address))
    except ClusterProblem as error:
        problems.append(error)
        cli_support.warn(f"error: Ray Jobs: {error}")
    for row in rows:
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            detail = row.get("error") or row.get("message") or row.get("entrypoint") or ""
            print(f"{row['job_id']:<28} {row['kind']:<10} {row['state']:<10} {_when(row['created_at'])}  "
                  f"{row.get('name') or ''} {detail[:80]}")
    return problems[0].exit_code if len(problems) == 2 else 0  # one of the two answering is enough
