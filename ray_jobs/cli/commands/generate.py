"""`generate IMAGE...`: build (or find) the 3D model of each image.

All images are submitted first so they spread over the warm workers, then answered in
the order given: progress bars on stderr, with --json one line per image on stdout.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ray_jobs.cli import support as cli_support
from ray_jobs.cli.progress_bars import ProgressBars

FORMATS = ("glb", "obj", "ply", "stl")  # generators.export.FORMATS, not imported: it loads trimesh


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="turn image files into 3D models (existing ones are reused)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, WebP...)")
    parser.add_argument("--format", choices=FORMATS, default="glb", help="model format to answer with")
    parser.add_argument("--force", action="store_true", help="build a new version even if the asset exists")
    parser.add_argument("--json", action="store_true", help="one JSON line per image on stdout")
    cli_support.add_generation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client = cli_support.client_from_args(args)
    settings = cli_support.settings_from_args(args)
    bars = ProgressBars()
    cluster_error: list[str] = []
    pending_images = []
    for path in args.images:
        pending = cli_support.PendingImage(path, time.perf_counter())
        pending_images.append(pending)
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            pending.fail(f"cannot read {path}: {error.strerror or error}. Check the path.")
            continue
        cli_support.submit_image(client, pending, data, Path(path).name, settings, bars=bars, fmt=args.format,
                                 force=args.force, timeout_s=args.timeout, cluster_error=cluster_error)
    failed = 0
    for pending in pending_images:
        outcome = cli_support.finish_image(client, pending, bars=bars, fmt=args.format)
        failed += outcome.status in ("failed", "cancelled")
        if args.json:
            cli_support.print_json_line(outcome)
        elif outcome.url:
            print(f"{outcome.image}\t{outcome.status}\t{outcome.url}")
    return 1 if failed else 0
