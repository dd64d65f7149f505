"""`check IMAGE...`: is there already an asset for each image with the default generator settings?

Reads the store only (no Ray, no torch). An image without an asset must be usable, as
`generate` would require.
"""

from __future__ import annotations

import json
from pathlib import Path

from ray_jobs.cli import support as cli_support
from ray_jobs.errors import EXIT_FAILED, EXIT_OK, BadInput, StoreProblem, StudioError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="does an asset exist for these images (default settings)?",
        epilog="exit status: 0 every image has an asset, 1 some do not, 2 an image cannot be read or used "
               "(or a bad setting), 3 the store cannot be used (the highest applies)",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files to look up")
    parser.add_argument("--json", action="store_true", help='JSON lines {"image","exists","asset_id","key","url"}')
    parser.add_argument("--generator", default=None, help="generator name (default: the default generator)")
    parser.add_argument("--weights", default=None, metavar="SOURCE", help="a learned generator's model (folder, "
                        "s3://bucket/prefix or hub id)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ray_jobs.client import StudioClient

    client = StudioClient()
    settings = {key: value for key, value in (("generator", args.generator), ("weights", args.weights)) if value}
    status = EXIT_OK
    for image in args.images:
        try:
            try:
                data = Path(image).read_bytes()
            except OSError as error:
                raise BadInput(f"Cannot read {image} ({error.strerror or error})",
                               "Pass a path to an image file.") from None
            found = client.check(data, image, settings)
        except StoreProblem:
            raise  # the store is down for every image: said once, by the CLI
        except StudioError as error:
            cli_support.warn(f"error: {image}: {error}")
            status = max(status, error.exit_code)
            continue
        if not found.exists:
            status = max(status, EXIT_FAILED)
        if args.json:
            print(json.dumps({"image": image, "exists": found.exists, "asset_id": found.asset_id,
                              "key": found.key, "url": found.url}), flush=True)
        elif found.exists:
            print(f"✓ {image}: asset {found.asset_id} v{found.manifest.latest} {found.url}", flush=True)
        else:
            print(f"✗ {image}: no asset yet (would be {found.asset_id})", flush=True)
    return status
