"""`python -m ray_jobs`: a thin front over the client API.

Each subcommand lives in its own module under ``ray_jobs.cli.commands`` and adds
itself with ``register(subparsers)``, so commands grow without touching this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ray_jobs.cli import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ray_jobs",
        description="Turn images into textured 3D models (GLB) on Ray, stored next to the images.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ValueError as error:  # bad settings or arguments: the message says what to do
        print(f"error: {error}", file=sys.stderr)
        return 2
