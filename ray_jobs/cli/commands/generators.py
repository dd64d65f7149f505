"""`generators`: every installed generator, what it needs, and whether it is ready to run."""

from __future__ import annotations

import argparse
import json

from ray_jobs.cli import support as cli_support
from ray_jobs.client import StudioClient
from ray_jobs.errors import EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generators", help="list the generators, their needs and whether they are ready",
        description="Each installed generator (built in, or added by a package through the "
                    "asset_studio.generators entry point) with its status: ready, its model weights missing "
                    "(and how to provide them), or needing a GPU the cluster lacks (with --cluster).")
    parser.add_argument("--json", action="store_true", help="one JSON object per generator on stdout")
    parser.add_argument("--cluster", action="store_true",
                        help="also check placement on the cluster (RAY_ADDRESS, or a local Ray): GPU or CPU workers")
    cli_support.add_cluster_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client = cli_support.client_from_args(args) if args.cluster else StudioClient()
    for info in client.generators(check_cluster=args.cluster):
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            print(_line(info), flush=True)
    return EXIT_OK


def _line(info: dict) -> str:
    needs = info.get("needs") or {}
    if not needs:
        where = "?"
    elif needs.get("gpu"):
        fallback = ", CPU fallback allowed" if needs.get("cpu_fallback") else ", no CPU fallback"
        where = f"GPU ({needs.get('gpu_memory_gib', 0):g} GiB{fallback})"
    else:
        where = "CPU"
    placement = f"; {info['placement']}" if info.get("placement") else ""
    status = "ready" if info["ready"] else f"{info['status']}: {info['problem']}"
    return f"{info['name']} v{info.get('version') or '?'} [{where}]: {status}{placement}"
