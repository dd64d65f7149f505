"""`submit-batch PREFIX --address http://HEAD:8265`: run `batch PREFIX` on the cluster as a Ray Job."""

from __future__ import annotations

import argparse

from ray_jobs.cli import support as cli_support


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("submit-batch", help="submit `batch PREFIX` as a Ray Job (token auth on)")
    parser.add_argument("prefix", metavar="PREFIX", help="store prefix, e.g. images/uploaded/")
    cli_support.add_jobs_address_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ray_jobs.client import StudioClient

    job_id = StudioClient().submit_batch(args.prefix, args.address)
    print(job_id)
    cli_support.warn(f"follow it with: python -m ray_jobs status {job_id}   |   python -m ray_jobs logs {job_id}")
    return 0
