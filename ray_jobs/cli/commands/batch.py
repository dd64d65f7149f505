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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="generate every missing asset for the images under a store prefix",
        epilog="exit status: 0 every image has its model, 1 some image failed, 2 a bad prefix or setting, "
               "3 the store, 4 the cluster could not be used (the highest applies)")
    parser.add_argument("prefix", metavar="PREFIX", help="store prefix, e.g. images/uploaded/")
    parser.add_argument("--json", action="store_true", help="one JSON line per image, then a summary line")
    cli_support.add_generation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client = cli_support.client_from_args(args)
    images = cli_support.ImageRun(client, cli_support.settings_from_args(args), json_lines=args.json,
                                  timeout_s=args.timeout)
    started = time.perf_counter()
    keys = list(client.image_keys(args.prefix))
    cli_support.warn(f"{len(keys)} image(s) under {args.prefix} in {client.store_description()}")
    for key in keys:
        images.submit(key, lambda key=key: client.read(key), key.rsplit("/", 1)[-1], source_key=key)
    counts: dict[str, int] = {}
    for done, outcome in enumerate(images.outcomes(), start=1):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
        if args.json:
            cli_support.print_json_line(outcome)
        elif not outcome.failed:  # failures were said on stderr as they happened
            cli_support.warn(f"[{done}/{len(keys)}] {outcome.image}: {outcome.status}"
                             + (f" ({outcome.error})" if outcome.error else ""))
    summary = {"prefix": args.prefix, "images": len(keys), "seconds": round(time.perf_counter() - started, 3),
               **{status: counts.get(status, 0) for status in ("exists", "generated", "joined", "failed", "cancelled")}}
    if args.json:
        print(json.dumps({"summary": summary}), flush=True)
    else:
        print(" ".join(f"{name}={value}" for name, value in summary.items()))
    return images.exit_code()
