"""A small vectorised triangle rasteriser (numpy): coverage and a z-buffer, no GL.

Used for the front-view silhouette (quality) and the thumbnail, so both work on
any worker, headless, without a display or a GPU driver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Candidate pixels handled at once; bounds memory for meshes with large triangles.
CHUNK_CANDIDATES = 2_000_000


@dataclass
class Fragments:
    """The visible triangle at each covered pixel."""

    pixel: np.ndarray  # (N,) flat pixel index row * width + col, unique
    face: np.ndarray  # (N,) triangle index
    barycentric: np.ndarray  # (N, 3) weights of the triangle's corners at the pixel centre


def rasterize(xy: np.ndarray, depth: np.ndarray | None, shape: tuple[int, int]) -> Fragments:
    """Rasterise triangles ``xy`` (F, 3, 2) given in pixels (x = column, y = row; pixel centres at +0.5).

    ``depth`` (F, 3): the nearest (largest) wins per pixel; None keeps any covering triangle.
    Both windings count.
    """
    height, width = shape
    xy = np.asarray(xy, np.float64)
    low = np.ceil(xy.min(axis=1) - 0.5).astype(np.int64)
    high = np.floor(xy.max(axis=1) - 0.5).astype(np.int64)
    low = np.maximum(low, 0)
    high = np.minimum(high, [width - 1, height - 1])
    span = np.maximum(high - low + 1, 0)
    counts = span[:, 0] * span[:, 1]
    area = _edge(xy[:, 0], xy[:, 1], xy[:, 2])
    candidates = np.flatnonzero((counts > 0) & (np.abs(area) > 1e-12))

    parts = []
    cumulative = np.cumsum(counts[candidates])
    start = 0
    while start < len(candidates):
        done = cumulative[start - 1] if start else 0
        end = max(start + 1, int(np.searchsorted(cumulative, done + CHUNK_CANDIDATES, side="right")))
        parts.append(_rasterize_faces(candidates[start:end], xy, depth, low, span, counts, area, width))
        start = end
    if not parts:
        return Fragments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)))
    pixel, face, weights, z = (np.concatenate(values) for values in zip(*parts))
    if depth is None:
        order = np.arange(len(pixel))
    else:
        order = np.lexsort((-z, pixel))  # by pixel, nearest first
    pixel, first = np.unique(pixel[order], return_index=True)
    keep = order[first]
    return Fragments(pixel, face[keep], weights[keep])


def _edge(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (b[..., 0] - a[..., 0]) * (p[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (p[..., 0] - a[..., 0])


def _rasterize_faces(faces, xy, depth, low, span, counts, area, width):
    repeats = counts[faces]
    face = np.repeat(faces, repeats)
    offset = np.arange(len(face)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    columns = span[face, 0]
    col = low[face, 0] + offset % columns
    row = low[face, 1] + offset // columns
    point = np.column_stack([col + 0.5, row + 0.5])
    corners = xy[face]
    weights = np.column_stack(
        [
            _edge(corners[:, 1], corners[:, 2], point),
            _edge(corners[:, 2], corners[:, 0], point),
            _edge(corners[:, 0], corners[:, 1], point),
        ]
    ) / area[face, None]
    inside = (weights >= -1e-9).all(axis=1)
    face, weights = face[inside], weights[inside]
    pixel = row[inside] * width + col[inside]
    z = (weights * depth[face]).sum(axis=1) if depth is not None else np.zeros(len(face))
    return pixel, face, weights, z
