"""`bench-store`: run bench/bench_store.py (existence check and gallery page against moto)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "bench" / "bench_store.py"


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench-store", help="benchmark the store against a moto S3 server on loopback")
    parser.add_argument("--assets", type=int, default=10_000, help="assets in the gallery store (default 10000)")
    parser.add_argument("--repeats", type=int, default=200, help="timed rounds for the existence check")
    parser.add_argument("--page-repeats", type=int, default=15, help="timed rounds for the gallery page")
    parser.add_argument("--naive", action="store_true", help="also time a gallery that reads every manifest (slow)")
    parser.set_defaults(func=run)


def run(args) -> int:
    spec = importlib.util.spec_from_file_location("bench_store", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(["--assets", str(args.assets), "--repeats", str(args.repeats),
                        "--page-repeats", str(args.page_repeats)] + (["--naive"] if args.naive else []))
