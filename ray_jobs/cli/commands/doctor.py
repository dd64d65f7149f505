"""`doctor`: check settings, the store and (when present) the cluster; non-zero exit on any ✗."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("doctor", help="check settings, storage and cluster; each line ✓ or ✗ with the fix")
    parser.add_argument("--json", action="store_true", help="print one JSON object per check")
    parser.add_argument("--storage-only", action="store_true", help="skip the cluster checks")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ray_jobs.client import doctor

    lines = doctor.storage_checks()
    if not args.storage_only:
        from ray_jobs.client.cluster_checks import cluster_checks

        lines += cluster_checks()
    for line in lines:
        print(json.dumps(line.to_dict(), ensure_ascii=False) if args.json else line.render(), flush=True)
    return 1 if doctor.failed(lines) else 0
