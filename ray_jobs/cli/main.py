"""`python -m ray_jobs`: a thin front over the client API.

Each subcommand lives in its own module under ``ray_jobs.cli.commands`` and adds itself with
``register(subparsers)``, so commands grow without touching this file. Every error a user can
meet ends here as one line on stderr and the exit code of its kind (ray_jobs.errors); only
--debug shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from ray_jobs.cli import commands
from ray_jobs.errors import EXIT_INTERNAL, EXIT_USAGE, translate

INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ray_jobs",
        description="Turn images into textured 3D models (GLB) on Ray, stored next to the images.",
        epilog="exit status: 0 ok, 1 something asked for failed or does not exist, 2 bad input, "
               "3 the store, 4 the cluster cannot be used, 70 a bug (run with --debug)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    for command in subparsers.choices.values():  # --debug works after the command too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the one place every error becomes one line
        known = translate(error)
        if args.debug:
            traceback.print_exc()
        if known is not None:
            print(f"error: {known}", file=sys.stderr)
            return known.exit_code
        print(f"error: unexpected {type(error).__name__}: {_one_line(error)} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or "no message"
