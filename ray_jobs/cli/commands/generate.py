"""`generate IMAGE...`: build (or find) the 3D model of each image.

All images are submitted first so they spread over the warm workers, then answered in
the order given: progress bars on stderr, with --json one line per image on stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ray_jobs.cli import support as cli_support
from ray_jobs.client import MODEL_FORMATS
from ray_jobs.errors import BadInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="turn image files into 3D models (existing ones are reused)",
        epilog="exit status: 0 every image has its model, 1 some image failed, 2 an unusable image or setting, "
               "3 the store, 4 the cluster could not be used (the highest applies)")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, WebP...)")
    parser.add_argument("--format", choices=MODEL_FORMATS, default="glb", help="model format to answer with")
    parser.add_argument("--force", action="store_true", help="build a new version even if the asset exists")
    parser.add_argument("--json", action="store_true", help="one JSON line per image on stdout")
    cli_support.add_generation_options(parser)
    parser.set_defaults(func=run)


def read_file(path: str):
    def read() -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as error:
            raise BadInput(f"Cannot read {path} ({error.strerror or error})",
                           "Check the path; pass image files such as photo.png.") from None
    return read


def run(args: argparse.Namespace) -> int:
    images = cli_support.ImageRun(cli_support.client_from_args(args), cli_support.settings_from_args(args),
                                  json_lines=args.json, fmt=args.format, force=args.force, timeout_s=args.timeout)
    for path in args.images:
        images.submit(path, read_file(path), Path(path).name)
    for outcome in images.outcomes():
        if args.json:
            cli_support.print_json_line(outcome)
        elif outcome.url:
            print(f"{outcome.image}\t{outcome.status}\t{outcome.url}")
    return images.exit_code()
