"""`bench`: time a generator on a folder of images, median seconds per step (file reading excluded)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ray_jobs.cli.support import add_generation_options, settings_from_args
from ray_jobs.client import IMAGE_SUFFIXES, StudioClient
from ray_jobs.errors import BadImage, BadInput


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the generator on a folder of images",
        description="Median seconds per generation step for every image in a folder (reading files is not timed).",
    )
    parser.add_argument("--images", required=True, type=Path, help="folder with images (" + ", ".join(IMAGE_SUFFIXES) + ")")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image after one warm-up (default 5)")
    add_generation_options(parser, time_limit=False, cluster=False)
    parser.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    folder: Path = args.images
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not paths:
        raise BadInput(f"No images found in {folder}",
                       f"Point --images at a folder with {', '.join(IMAGE_SUFFIXES)} files.")
    if args.repeat < 1:
        raise BadInput(f"--repeat {args.repeat} is too small", "Time at least one run: --repeat 1 or more.")
    client = StudioClient()
    settings = client.normalized_settings(settings_from_args(args))
    shown = ", ".join(f"{key} {value}" for key, value in settings.items() if key not in ("generator", "weights_id"))
    # other processes skew timings: say how busy the machine was
    print(f"# {shown}; {args.repeat} runs per image; {_machine_load()}", file=sys.stderr)
    failures = 0
    for path in paths:
        try:
            row = client.time_generator(path.read_bytes(), settings, device=args.device, repeat=args.repeat)
        except BadImage as error:
            failures += 1
            print(f"error: {path.name}: {error}", file=sys.stderr)
            continue
        row = {"image": path.name, **row}
        print(json.dumps(row) if args.json else _line(row), flush=True)
    return 1 if failures else 0


def _machine_load() -> str:
    cores = os.cpu_count() or 1
    try:
        one_minute = os.getloadavg()[0]
    except OSError:
        return f"{cores} CPU cores"
    return f"load average {one_minute:.2f} on {cores} CPU cores"


def _line(row: dict) -> str:
    steps = ", ".join(f"{name} {seconds * 1000:.1f}" for name, seconds in row["steps"].items())
    return (
        f"{row['image']}: {'+'.join(row['core_steps'])} {row['seconds'] * 1000:.1f} ms median on {row['device']} "
        f"(CPU time {row['cpu_seconds'] * 1000:.1f} ms) "
        f"[{steps} ms]  faces {row['faces']}  iou {row['iou']}  peak RSS {row['peak_rss_mb']} MB"
        + (f"  model load {row['model_load_seconds']:.2f} s" if row.get("model_load_seconds") is not None else "")
        + (f"  GPU peak {row['gpu_peak_mb']} MB" if row.get("gpu_peak_mb") is not None else "")
    )
