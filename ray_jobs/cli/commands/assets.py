"""`assets`: list generated assets newest first, a page at a time; `--delete ID` removes one."""

from __future__ import annotations

import json
import sys

from ray_jobs.cli import support as cli_support


def register(subparsers) -> None:
    parser = subparsers.add_parser("assets", help="list generated assets, newest first",
                                   epilog="exit status: 0 ok, 1 no such asset (--delete), 2 bad settings, 3 the store")
    parser.add_argument("--limit", type=int, default=24, help="assets per page (1-1000, default 24)")
    parser.add_argument("--search", default=None, help="only assets whose name contains this text")
    parser.add_argument("--cursor", default=None, help="continue after a previous page (printed at its end)")
    parser.add_argument("--json", action="store_true", help="one manifest as JSON per line")
    parser.add_argument("--delete", metavar="ASSET_ID", default=None, help="delete this asset with all its files")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ray_jobs.client import StudioClient

    client = StudioClient()
    if args.delete:
        from ray_jobs.client.access import anonymous_user

        # who runs the CLI (STUDIO_USER, else the login name) goes into the store's audit trail
        removed = client.audited(anonymous_user(), "delete", args.delete, lambda: client.delete_asset(args.delete))
        print(f"deleted asset {args.delete}: {removed} objects removed")
        return 0
    page = client.list_assets(limit=args.limit, cursor=args.cursor, name_contains=args.search)
    for manifest in page.items:
        if args.json:
            print(json.dumps(manifest.to_dict()))
        else:
            latest = manifest.latest_version
            size_kb = latest.files["glb"].size / 1024
            print(f"{manifest.asset_id}  v{manifest.latest} ({len(manifest.versions)} versions)  "
                  f"{manifest.updated_at}  {size_kb:8.1f} KiB  {manifest.name}")
    if not page.items and not args.json:
        print("no assets yet" if not args.search else f"no assets named like {args.search!r}")
    for reason in page.skipped:
        cli_support.warn(f"skipped: {reason}")
    if page.next_cursor:
        print(f"more: python -m ray_jobs assets --limit {args.limit} --cursor {page.next_cursor}", file=sys.stderr)
    return 0
