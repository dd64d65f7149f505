"""`batch PREFIX`: every source image under a store prefix, missing assets only.

This is the Ray Job entrypoint (`submit-batch` runs it on the cluster). Existing assets
are skipped, the rest is spread over all warm workers, and a rerun does only what is
still missing, so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time

from ray_jobs.cli import support as cli_support
from ray_jobs.cli.progress_bars import ProgressBars
from storage.keys import IMAGE_SUFFIXES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("batch", help="generate every missing asset for the images under a store prefix")
    parser.add_argument("prefix", metavar="PREFIX", help="store prefix, e.g. images/uploaded/")
    parser.add_argument("--json", action="store_true", help="one JSON line per image, then a summary line")
    cli_support.add_generation_options(parser)
    parser.set_defaults(func=run)


def image_keys(store, prefix: str) -> list[str]:
    return [info.key for info in store.iter_keys(prefix) if info.key.lower().endswith(IMAGE_SUFFIXES)]


def run(args: argparse.Namespace) -> int:
    client = cli_support.client_from_args(args)
    settings = cli_support.settings_from_args(args)
    started = time.perf_counter()
    keys = image_keys(client.catalog.store, args.prefix)
    cli_support.warn(f"{len(keys)} image(s) under {args.prefix} in {client.catalog.store.describe()}")
    bars = None if args.json else ProgressBars()
    cluster_error: list[str] = []
    pending_images = []
    for key in keys:
        pending = cli_support.PendingImage(key, time.perf_counter())
        pending_images.append(pending)
        try:
            data = client.catalog.read(key)
        except Exception as error:  # noqa: BLE001 - one unreadable image must not stop the batch
            pending.fail(f"cannot read {key}: {error}")
            continue
        cli_support.submit_image(client, pending, data, key.rsplit("/", 1)[-1], settings, bars=bars,
                                 timeout_s=args.timeout, source_key=key, cluster_error=cluster_error)
    counts: dict[str, int] = {}
    for done, pending in enumerate(pending_images, start=1):
        outcome = cli_support.finish_image(client, pending, bars=bars)
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if args.json:
            cli_support.print_json_line(outcome)
        else:
            cli_support.warn(f"[{done}/{len(pending_images)}] {outcome.image}: {outcome.status}"
                             + (f" ({outcome.error})" if outcome.error else ""))
    seconds = time.perf_counter() - started
    summary = {"prefix": args.prefix, "images": len(keys), "seconds": round(seconds, 3),
               **{status: counts.get(status, 0) for status in ("exists", "generated", "joined", "failed", "cancelled")}}
    if args.json:
        print(json.dumps({"summary": summary}), flush=True)
    else:
        print(" ".join(f"{name}={value}" for name, value in summary.items()))
    return 1 if counts.get("failed") or counts.get("cancelled") else 0
