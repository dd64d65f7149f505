"""`doctor`: check settings, the store and (when present) the cluster; non-zero exit on any ✗."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check settings, storage and cluster; each line ✓ or ✗ with the fix",
                                   epilog="exit status: 0 every check passed, 1 some check failed")
    parser.add_argument("--json", action="store_true", help="print one JSON object per check")
    parser.add_argument("--storage-only", action="store_true", help="skip the cluster checks")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ray_jobs.client import StudioClient
    from ray_jobs.client.doctor import CheckLine, failed
    from ray_jobs.errors import BadSettings

    try:
        lines = StudioClient().doctor(storage_only=args.storage_only)
    except BadSettings as error:  # no client can be made: that is the one thing to fix
        lines = [CheckLine("settings", False, error.what, error.hint)]
    for line in lines:
        print(json.dumps(line.to_dict(), ensure_ascii=False) if args.json else line.render(), flush=True)
    return 1 if failed(lines) else 0
