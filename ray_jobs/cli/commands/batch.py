"""`batch PREFIX`: every source image under a store prefix, missing assets only, on Ray Data.

This is the Ray Job entrypoint (`submit-batch` runs it on the cluster). Existing assets are
skipped; the rest stream through lookup, a pool of generation actors and publish; a rerun
does only what is still missing, so an interrupted batch resumes where it stopped. Results
also go to the store as the batch's report (reports/batches/NAME/).
"""

from __future__ import annotations

import argparse
import json

from ray_jobs.cli import support as cli_support
from ray_jobs.errors import EXIT_FAILED, EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch", help="generate every missing asset for the images under a store prefix",
        epilog="exit status: 0 every image has its model, 1 some image failed, 2 a bad prefix or setting, "
               "3 the store, 4 the cluster could not be used")
    parser.add_argument("prefix", metavar="PREFIX", help="store prefix, e.g. images/uploaded/")
    parser.add_argument("--json", action="store_true", help="one JSON line per image, then a summary line")
    parser.add_argument("--report-name", default=None, metavar="NAME",
                        help="name of the report in the store (default batch-<time>-<random>)")
    parser.add_argument("--rows-per-call", type=int, default=4, metavar="N",
                        help="images per call of a generation actor (default 4; more for tiny images)")
    cli_support.add_generation_options(parser, time_limit=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    client = cli_support.client_from_args(args)
    done = 0

    def show(result: dict) -> None:
        nonlocal done
        done += 1
        if args.json:
            print(json.dumps({"image": result["key"], "status": result["status"], "asset_id": result["asset_id"],
                              "key": result["glb_key"], "seconds": round(result["seconds"] or 0.0, 3),
                              "error": result["error"], "node": result["node"]}), flush=True)
        if result["status"] == "failed":
            cli_support.warn(f"error: {result['key']}: {result['error']}")

    summary = client.run_batch(args.prefix, cli_support.settings_from_args(args), report_name=args.report_name,
                               rows_per_call=args.rows_per_call, on_result=show,
                               on_start=None if args.json else cli_support.warn,
                               progress_bars=cli_support.ProgressBars.on_terminal())
    line = summary.to_dict()
    if args.json:
        print(json.dumps({"summary": line}), flush=True)
    else:
        print(" ".join(f"{name}={value}" for name, value in line.items() if name not in ("nodes", "plan")))
    return EXIT_FAILED if summary.counts.get("failed") else EXIT_OK
