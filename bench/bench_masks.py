"""Benchmark the weight-free object mask: an older flood (v1 unless --old) beside the current one (or
--new), per image, on photos whose true mask is known (figures to quote, not a test).

The set: objects drawn in code and composited onto plain grey and white backgrounds with soft
shadows (bench.harness.composites), and the alpha-cut sample images of --samples composited the
same way. Per image: IoU against the true mask and the median time of a few runs, for each
method; then the worst and the median IoU. An RGB sample has no true mask: its line shows how much
the two methods agree instead.

Run: python bench/bench_masks.py [--samples DIR] [--size 512] [--repeat 5] [--old 1] [--new VERSION]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness.composites import Composite, alpha_cut_composites, composites, iou  # noqa: E402
from ray_jobs.generators.base import ImageError  # noqa: E402
from ray_jobs.generators.mask import FLOOD_VERSION, flood_mask  # noqa: E402


def timed_mask(rgb: np.ndarray, version: str, repeat: int) -> tuple[np.ndarray | None, float]:
    """(mask or None when the method refuses the image, median seconds of ``repeat`` runs)."""
    seconds, mask = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            mask = flood_mask(rgb, version)
        except ImageError:
            mask = None
        seconds.append(time.perf_counter() - start)
    return mask, statistics.median(seconds)


def sample_images(folder: Path, size: int) -> tuple[list[Composite], list[tuple[str, np.ndarray]]]:
    """(alpha-cut samples composited with a known mask, RGB samples without one)."""
    known, unknown = [], []
    for path in sorted(folder.glob("*.png")):
        image = Image.open(path)
        if image.mode in ("RGBA", "LA", "P") and "A" in image.convert("RGBA").getbands():
            rgba = np.asarray(image.convert("RGBA"))
            if rgba[..., 3].min() < 128:
                known += alpha_cut_composites(rgba, path.stem, size)
                continue
        rgb = image.convert("RGB")
        scale = size / max(rgb.size)
        rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.LANCZOS)
        unknown.append((path.stem, np.asarray(rgb)))
    return known, unknown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=ROOT / ".." / "shared" / "samples",
                        help="folder of sample images (default: ../shared/samples beside the repository)")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels (default 512, inflate's default)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per image and method (default 5)")
    parser.add_argument("--old", default="1", help="version shown first (default 1, the plain flood)")
    parser.add_argument("--new", default=FLOOD_VERSION, help=f"version shown beside it (default {FLOOD_VERSION}, the current one)")
    args = parser.parse_args()
    old_version, new_version = args.old, args.new
    if old_version == new_version:
        parser.error("--old and --new name the same version: nothing to compare")

    images = composites(args.size)
    unknown: list[tuple[str, np.ndarray]] = []
    if args.samples.is_dir():
        known, unknown = sample_images(args.samples, args.size)
        images += known
        note = f"samples from {args.samples}"
    else:
        note = f"no samples ({args.samples} is absent)"
    flood_mask(images[0].rgb, new_version)  # imports and first-call costs stay out of the timings

    print(f"# object masks at {args.size} px, median of {args.repeat} runs; {note}")
    print(f"{'image':<28} {'v' + old_version + ' IoU':>8} {'v' + new_version + ' IoU':>8} "
          f"{'v' + old_version + ' ms':>8} {'v' + new_version + ' ms':>8}")
    scores: dict[str, list[float]] = {old_version: [], new_version: []}
    times: dict[str, list[float]] = {old_version: [], new_version: []}
    for image in images:
        row = []
        for version in (old_version, new_version):
            mask, seconds = timed_mask(image.rgb, version, args.repeat)
            score = 0.0 if mask is None else iou(mask, image.truth)
            scores[version].append(score)
            times[version].append(seconds)
            row.append((score, seconds))
        (old_score, old_time), (new_score, new_time) = row
        print(f"{image.name:<28} {old_score:>8.4f} {new_score:>8.4f} {old_time * 1e3:>8.1f} {new_time * 1e3:>8.1f}")
    for label, pick in (("worst", min), ("median", statistics.median)):
        print(f"{label:<28} {pick(scores[old_version]):>8.4f} {pick(scores[new_version]):>8.4f} "
              f"{statistics.median(times[old_version]) * 1e3:>8.1f} {statistics.median(times[new_version]) * 1e3:>8.1f}")
    for name, rgb in unknown:
        old, _ = timed_mask(rgb, old_version, 1)
        new, _ = timed_mask(rgb, new_version, 1)
        if old is None or new is None:
            print(f"{name}: no true mask; refused by v{old_version if old is None else new_version}")
        else:
            print(f"{name}: no true mask (RGB); v{old_version} and v{new_version} agree at IoU {iou(old, new):.4f}, "
                  f"object {old.mean():.1%} and {new.mean():.1%} of the image")


if __name__ == "__main__":
    main()
