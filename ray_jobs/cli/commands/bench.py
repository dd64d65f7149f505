"""`bench`: time a generator on a folder of images, median seconds per step (file reading excluded)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
# The figure a run is judged by: the mesh and its texture, without decoding, masking or checks.
CORE_STEPS = ("geometry", "texture")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time the generator on a folder of images",
        description="Median seconds per generation step for every image in a folder (reading files is not timed).",
    )
    parser.add_argument("--images", required=True, type=Path, help="folder with PNG, JPEG or WebP images")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--resolution", type=int, default=512, help="working resolution (default 512)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image after one warm-up (default 5)")
    parser.add_argument("--generator", default=None, help="registered generator name (default inflate)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ray_jobs.generators.base import ImageError
    from ray_jobs.generators.registry import DEFAULT_GENERATOR, get_generator

    folder: Path = args.images
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if not paths:
        print(f"no images found in {folder}: point --images at a folder with .png, .jpg or .webp files", file=sys.stderr)
        return 2
    if args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    try:
        generator = get_generator(args.generator or DEFAULT_GENERATOR)
        settings = generator.normalize_settings({"resolution": args.resolution})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    # other processes skew timings: say how busy the machine was
    print(f"# {generator.name} at resolution {args.resolution}, {args.repeat} runs per image; {_machine_load()}", file=sys.stderr)
    failures = 0
    for path in paths:
        data = path.read_bytes()
        try:
            row = bench_image(generator, data, settings, args.device, args.repeat)
        except (ImageError, ValueError) as exc:
            failures += 1
            print(f"{path.name}: {exc}", file=sys.stderr)
            continue
        row = {"image": path.name, **row}
        print(json.dumps(row) if args.json else _line(row), flush=True)
    return 1 if failures else 0


def bench_image(generator, data: bytes, settings: dict, device: str | None, repeat: int) -> dict:
    """Medians over ``repeat`` runs after one warm-up run (which pays for imports and kernel caches)."""
    generator.generate(data, settings, device=device)
    results = [generator.generate(data, settings, device=device) for _ in range(repeat)]
    result = results[-1]
    runs = [r.timings for r in results]
    steps = {step: statistics.median(run[step] for run in runs) for step in runs[0]}
    core = [step for step in CORE_STEPS if step in steps] or list(steps)
    return {
        "seconds": statistics.median(sum(run[step] for step in core) for run in runs),
        # CPU time of the same steps: what an idle machine would take for single-threaded
        # work (on CUDA it is only the host's share)
        "cpu_seconds": statistics.median(sum(r.cpu_timings.get(step, 0.0) for step in core) for r in results),
        "steps": steps,
        "faces": result.quality.get("faces"),
        "iou": result.quality.get("iou"),
        "device": result.device,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


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
        f"{row['image']}: {'+'.join(CORE_STEPS)} {row['seconds'] * 1000:.1f} ms median on {row['device']} "
        f"(CPU time {row['cpu_seconds'] * 1000:.1f} ms) "
        f"[{steps} ms]  faces {row['faces']}  iou {row['iou']}  peak RSS {row['peak_rss_mb']} MB"
    )
