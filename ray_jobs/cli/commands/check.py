"""`check IMAGE...`: is there already an asset for each image with the default generator settings?

Reads the store only (no Ray, no torch): exit 0 when every image has an asset, 1 when some
do not, 2 on errors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check", help="does an asset exist for these images (default settings)?",
        epilog="exit status: 0 every image has an asset, 1 some do not, 2 an image or the store could not be read",
    )
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files to look up")
    parser.add_argument("--json", action="store_true", help='JSON lines {"image","exists","asset_id","key","url"}')
    parser.add_argument("--generator", default=None, help="generator name (default: the default generator)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ray_jobs.generators.registry import DEFAULT_GENERATOR, identity_settings
    from storage.catalog import AssetCatalog
    from storage.errors import SettingsError, StoreError
    from storage.keys import asset_id_for, sha256_hex
    from storage.store import open_store

    try:
        settings = identity_settings(args.generator or DEFAULT_GENERATOR, None)
        catalog = AssetCatalog(open_store())
    except (SettingsError, StoreError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    status = 0
    for image in args.images:
        try:
            sha = sha256_hex(Path(image).read_bytes())
            manifest = catalog.find(sha, settings)
            key = manifest.latest_version.files["glb"].key if manifest else None
            row = {
                "image": image,
                "exists": manifest is not None,
                "asset_id": asset_id_for(sha, settings),
                "key": key,
                "url": catalog.url(key) if key else None,
            }
        except OSError as error:
            print(f"error: cannot read {image}: {error.strerror}. Pass a path to an image file.", file=sys.stderr)
            status = 2
            continue
        except StoreError as error:
            print(f"error: {image}: {error}", file=sys.stderr)
            status = 2
            continue
        if not row["exists"]:
            status = max(status, 1)
        if args.json:
            print(json.dumps(row), flush=True)
        elif row["exists"]:
            print(f"✓ {image}: asset {row['asset_id']} v{manifest.latest} {row['url']}", flush=True)
        else:
            print(f"✗ {image}: no asset yet (would be {row['asset_id']})", flush=True)
    return status
