"""A small vectorised triangle rasteriser (numpy): coverage and a z-buffer, no GL.

Used for the front-view silhouette (quality) and the thumbnail, so both work on
any worker, headless, without a display or a GPU driver. Every triangle expands
to the pixels of its bounding box; barycentric weights from per-triangle edge
equations decide which are inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Candidate pixels handled at once; bounds memory for meshes with large triangles.
CHUNK_CANDIDATES = 2_000_000
# Depth is quantised to this many bits for the one-key z-buffer sort.
DEPTH_BITS = 24


@dataclass
class Fragments:
    """The visible triangle at each covered pixel."""

    pixel: np.ndarray  # (N,) flat pixel index row * width + col, unique
    face: np.ndarray  # (N,) triangle index
    barycentric: np.ndarray  # (N, 3) weights of the triangle's corners at the pixel centre


def rasterize(xy: np.ndarray, depth: np.ndarray | None, shape: tuple[int, int]) -> Fragments:
    """Rasterise triangles ``xy`` (F, 3, 2) given in pixels (x = column, y = row; pixel centres at +0.5).

    ``depth`` (F, 3): the nearest (largest) wins per pixel; None keeps an arbitrary covering
    triangle (coverage only). Both windings count.
    """
    height, width = shape
    xy = np.asarray(xy, np.float64)
    low = np.maximum(np.ceil(xy.min(axis=1) - 0.5), 0).astype(np.int64)
    high = np.minimum(np.floor(xy.max(axis=1) - 0.5), [width - 1, height - 1]).astype(np.int64)
    span = np.maximum(high - low + 1, 0)
    counts = span[:, 0] * span[:, 1]
    edges = _edge_equations(xy)
    faces = np.flatnonzero((counts > 0) & np.isfinite(edges).all(axis=(1, 2)))

    parts = []
    cumulative = np.cumsum(counts[faces])
    start = 0
    while start < len(faces):
        done = cumulative[start - 1] if start else 0
        end = max(start + 1, int(np.searchsorted(cumulative, done + CHUNK_CANDIDATES, side="right")))
        parts.append(_covered(faces[start:end], edges, low, span, counts, width))
        start = end
    if not parts:
        return Fragments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)))
    pixel, face, weights = (np.concatenate(values) for values in zip(*parts))
    if depth is None:
        return Fragments(pixel, face, weights)
    return _nearest(pixel, face, weights, (weights * np.asarray(depth)[face]).sum(axis=1))


def _edge_equations(xy: np.ndarray) -> np.ndarray:
    """(F, 3, 3): for corner k, (a, b, c) with weight_k = a * x + b * y + c (normalised barycentrics)."""
    start = xy[:, [1, 2, 0]]
    end = xy[:, [2, 0, 1]]
    a = -(end[..., 1] - start[..., 1])
    b = end[..., 0] - start[..., 0]
    c = -(a * start[..., 0] + b * start[..., 1])
    area = (a[:, 0] * xy[:, 0, 0] + b[:, 0] * xy[:, 0, 1] + c[:, 0])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([a, b, c], axis=2) / area[..., None]  # degenerate triangles become inf/nan


def _covered(faces, edges, low, span, counts, width):
    repeats = counts[faces]
    face = np.repeat(faces, repeats)
    offset = np.arange(len(face)) - np.repeat(np.cumsum(repeats) - repeats, repeats)
    columns = span[face, 0]
    row_in_box = offset // columns
    col = low[face, 0] + (offset - row_in_box * columns)
    row = low[face, 1] + row_in_box
    x = col + 0.5
    y = row + 0.5
    equations = edges[face]  # (N, 3, 3)
    weights = equations[..., 0] * x[:, None] + equations[..., 1] * y[:, None] + equations[..., 2]
    inside = (weights >= -1e-9).all(axis=1)
    return row[inside] * width + col[inside], face[inside], weights[inside]


def _nearest(pixel, face, weights, z):
    """Per pixel, the fragment with the largest z, by one sort on (pixel, quantised depth)."""
    if len(z) == 0:
        return Fragments(pixel, face, weights)
    span = float(z.max() - z.min()) or 1.0
    rank = np.round((z.max() - z) / span * (2**DEPTH_BITS - 1)).astype(np.int64)  # 0 = nearest
    order = np.argsort((pixel << DEPTH_BITS) | rank)
    sorted_pixel = pixel[order]
    first = np.ones(len(order), bool)
    first[1:] = sorted_pixel[1:] != sorted_pixel[:-1]
    keep = order[first]
    return Fragments(pixel[keep], face[keep], weights[keep])
