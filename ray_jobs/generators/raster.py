"""A small vectorised triangle rasteriser (numpy): coverage and a z-buffer, no GL.

Used for the front-view silhouette (quality) and the thumbnail, so both work on
any worker, headless, without a display or a GPU driver. Triangles are grouped by
the size of their pixel bounding box (rounded up to a few sizes); each group is
tested as one dense (triangles, rows, columns) block with per-triangle edge
equations, so the work is a handful of broadcast operations, not one per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Candidate pixels tested at once: small blocks stay in cache and spare the allocator.
CHUNK_CANDIDATES = 65_536
# Depth is quantised to this many bits for the one-key z-buffer sort.
DEPTH_BITS = 24
# Box sides are padded up to one of these (then to multiples of the last) so few blocks are needed.
BOX_SIDES = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64])
# A pixel centre this close outside an edge still counts, so shared edges leave no gaps.
EDGE_TOLERANCE = 1e-9


@dataclass
class Fragments:
    """The visible triangle at each covered pixel."""

    pixel: np.ndarray  # (N,) flat pixel index row * width + col, unique
    face: np.ndarray  # (N,) triangle index
    barycentric: np.ndarray  # (N, 3) weights of the triangle's corners at the pixel centre


def rasterize(xy: np.ndarray, depth: np.ndarray | None, shape: tuple[int, int]) -> Fragments:
    """Rasterise triangles ``xy`` (F, 3, 2) given in pixels (x = column, y = row; pixel centres at +0.5).

    ``depth`` (F, 3): the nearest (largest) wins per pixel; None keeps an arbitrary covering
    triangle. Both windings count.
    """
    xy = np.asarray(xy, np.float64)
    edges = _edge_equations(xy)
    # depth is linear in x and y across a triangle: one plane (a, b, c) per triangle
    planes = None if depth is None else np.einsum("fk,fkj->fj", np.asarray(depth, np.float64), edges)
    pixels, faces, depths = [], [], []
    for block, inside, x, y in _blocks(xy, edges, shape):
        flat = np.flatnonzero(inside)
        pixel, which = _pixel_index(flat, inside.shape, x, y, shape[1])
        pixels.append(pixel)
        faces.append(block[which])
        if planes is not None:
            z = _plane_values(planes[block], x, y)
            depths.append(z.reshape(-1)[flat])
    if not pixels:
        return Fragments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 3)))
    pixel, face = np.concatenate(pixels), np.concatenate(faces)
    if planes is not None:
        pixel, face = _nearest(pixel, face, np.concatenate(depths))
    # barycentric weights only for the fragments kept
    centre_x = (pixel % shape[1]) + 0.5
    centre_y = (pixel // shape[1]) + 0.5
    face_edges = edges[face]
    weights = face_edges[..., 0] * centre_x[:, None] + face_edges[..., 1] * centre_y[:, None] + face_edges[..., 2]
    return Fragments(pixel, face, weights)


def signed_areas(triangles: np.ndarray) -> np.ndarray:
    """(F,) signed area of each 2-D triangle (F, 3, 2): positive when its corners run counter-clockwise
    with y upward (so clockwise on screen, where rows grow downward), zero when degenerate."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    return ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])) / 2


def coverage(xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels whose centre lies in any of the triangles ``xy`` (as in ``rasterize``)."""
    xy = np.asarray(xy, np.float64)
    covered = np.zeros(shape[0] * shape[1], bool)
    for _, inside, x, y in _blocks(xy, _edge_equations(xy), shape):
        covered[_pixel_index(np.flatnonzero(inside), inside.shape, x, y, shape[1])[0]] = True
    return covered.reshape(shape)


def _blocks(xy: np.ndarray, edges: np.ndarray, shape: tuple[int, int]):
    """Blocks of triangles with like-sized pixel boxes: (faces, inside (n, rows, columns), centre x (n, columns), centre y (n, rows))."""
    height, width = shape
    corner_min = np.minimum(np.minimum(xy[:, 0], xy[:, 1]), xy[:, 2])
    corner_max = np.maximum(np.maximum(xy[:, 0], xy[:, 1]), xy[:, 2])
    low = np.maximum(np.ceil(corner_min - 0.5), 0).astype(np.int64)
    high = np.minimum(np.floor(corner_max - 0.5), [width - 1, height - 1]).astype(np.int64)
    span = np.maximum(high - low + 1, 0)
    usable = (span[:, 0] > 0) & (span[:, 1] > 0) & np.isfinite(edges.reshape(len(edges), 9).sum(axis=1))
    faces = np.flatnonzero(usable)

    # square blocks: a few more candidates, far fewer blocks (each costs a fixed dozen numpy calls)
    side = _padded_side(span[faces].max(axis=1))
    order = np.argsort(side, kind="stable")
    faces, side = faces[order], side[order]
    bounds = np.flatnonzero(np.diff(side)) + 1
    for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(faces)]):
        columns = rows = int(side[start])
        per_chunk = max(1, CHUNK_CANDIDATES // (columns * rows))
        for first in range(start, end, per_chunk):
            block = faces[first : min(end, first + per_chunk)]
            x = low[block, 0:1] + (np.arange(columns) + 0.5)  # (n, columns) pixel centres
            y = low[block, 1:2] + (np.arange(rows) + 0.5)  # (n, rows)
            yield block, _inside(edges[block], span[block], x, y), x, y


def _padded_side(span: np.ndarray) -> np.ndarray:
    """Each box side rounded up to the next of BOX_SIDES, beyond them to a multiple of the last."""
    largest = int(BOX_SIDES[-1])
    index = np.minimum(np.searchsorted(BOX_SIDES, span), len(BOX_SIDES) - 1)
    return np.where(span <= largest, BOX_SIDES[index], -(-span // largest) * largest)


def _edge_equations(xy: np.ndarray) -> np.ndarray:
    """(F, 3, 3): for corner k, (a, b, c) with weight_k = a * x + b * y + c (normalised barycentrics)."""
    start = np.roll(xy, -1, axis=1)  # corner k's opposite edge runs from corner k+1 to corner k+2
    end = np.roll(xy, -2, axis=1)
    a = start[..., 1] - end[..., 1]
    b = end[..., 0] - start[..., 0]
    c = -(a * start[..., 0] + b * start[..., 1])
    area = (a[:, 0] * xy[:, 0, 0] + b[:, 0] * xy[:, 0, 1] + c[:, 0])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([a, b, c], axis=2) / area[..., None]  # degenerate triangles become inf/nan


def _inside(edges, span, x, y):
    """(n, rows, columns) bool: which candidate pixel centres lie in their triangle."""
    rows, columns = y.shape[1], x.shape[1]
    # padding beyond the true box lies outside the triangle or the canvas: never inside
    x_padding = np.where(np.arange(columns) < span[:, 0:1], 0.0, -np.inf)
    y_padding = np.where(np.arange(rows) < span[:, 1:2], 0.0, -np.inf)
    inside = np.ones((len(edges), rows, columns), bool)
    for corner in range(3):
        # weight = (a x + c) + b y >= 0, tested as (a x + c) >= -(b y): one full-size bool result
        planes = edges[:, corner]
        column_part = planes[:, 0:1] * x + planes[:, 2:3] + x_padding + EDGE_TOLERANCE
        row_part = planes[:, 1:2] * y + y_padding
        inside &= column_part[:, None, :] >= -row_part[:, :, None]
    return inside


def _plane_values(planes, x, y, x_extra=0.0, y_extra=0.0):
    """(n, rows, columns): a * x + b * y + c per triangle, as two small broadcasts and one full-size add."""
    return (planes[:, 0:1] * x + planes[:, 2:3] + x_extra)[:, None, :] + (planes[:, 1:2] * y + y_extra)[:, :, None]


def _pixel_index(flat, box_shape, x, y, width):
    """Flat canvas index of candidates ``flat`` (positions in a (n, rows, columns) block), and their triangle's row."""
    _, rows, columns = box_shape
    which, in_box = np.divmod(flat, rows * columns)
    r, c = np.divmod(in_box, columns)
    return (y[which, r] - 0.5).astype(np.int64) * width + (x[which, c] - 0.5).astype(np.int64), which


def _nearest(pixel, face, z):
    """Per pixel, the fragment with the largest z, by one sort on (pixel, quantised depth)."""
    if len(z) == 0:
        return pixel, face
    span = float(z.max() - z.min()) or 1.0
    rank = np.round((z.max() - z) / span * (2**DEPTH_BITS - 1)).astype(np.int64)  # 0 = nearest
    order = np.argsort((pixel << DEPTH_BITS) | rank)
    sorted_pixel = pixel[order]
    first = np.ones(len(order), bool)
    first[1:] = sorted_pixel[1:] != sorted_pixel[:-1]
    keep = order[first]
    return pixel[keep], face[keep]
