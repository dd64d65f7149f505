"""A closed mesh from a height field over a mask: filled marching squares, front and back.

The mask region is triangulated on a grid of ``step`` = (rows, columns) pixels with the
"filled" variant of marching squares: every cell contributes the polygon of its
inside part, whose boundary points sit where the (slightly blurred) mask crosses
one half along the cell edge, found at full pixel resolution. The silhouette is
therefore smooth, not a pixel staircase. Inside grid points are lifted to +z
(front) and -z (back); the silhouette points stay at z = 0 and are shared by both
sides, so the result is one closed, consistently wound manifold without seams.
All work is whole-tensor torch ops (CPU or CUDA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Local ids in a cell: corners 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left;
# edge points 4 top, 5 right, 6 bottom, 7 left. Triangles of the inside polygon per case
# (bit k set = corner k inside); rows 16 and 17 are the saddle cases 5 and 10 when the
# cell centre is outside, so their two corners stay separate. Fans start at a corner: a
# diagonal between two silhouette points would be shared by front and back (non-manifold).
_CASE_TRIANGLES = [
    [],
    [(0, 4, 7)],
    [(4, 1, 5)],
    [(0, 1, 5), (0, 5, 7)],
    [(5, 2, 6)],
    [(0, 4, 5), (0, 5, 2), (0, 2, 6), (0, 6, 7)],
    [(4, 1, 2), (4, 2, 6)],
    [(0, 1, 2), (0, 2, 6), (0, 6, 7)],
    [(6, 3, 7)],
    [(0, 4, 6), (0, 6, 3)],
    [(1, 5, 6), (1, 6, 3), (1, 3, 7), (1, 7, 4)],
    [(0, 1, 5), (0, 5, 6), (0, 6, 3)],
    [(5, 2, 3), (5, 3, 7)],
    [(0, 4, 5), (0, 5, 2), (0, 2, 3)],
    [(4, 1, 2), (4, 2, 3), (4, 3, 7)],
    [(0, 1, 2), (0, 2, 3)],
    [(0, 4, 7), (5, 2, 6)],
    [(4, 1, 5), (6, 3, 7)],
]
# Keep silhouette points off the grid corners so no triangle collapses.
_EDGE_MARGIN = 0.05


@dataclass
class SurfaceMesh:
    """Pixel-frame mesh: x = column, y = row (both continuous, pixel centres at +0.5), z out of the image."""

    vertices: torch.Tensor  # (V, 3) float32
    faces: torch.Tensor  # (F, 3) int64, counter-clockwise seen from outside once y points up (x, -y, z)
    pixel_xy: torch.Tensor  # (V, 2) x, y of each vertex in the pixel frame (for UVs)


def _case_table(device: torch.device) -> torch.Tensor:
    table = torch.full((len(_CASE_TRIANGLES), 4, 3), -1, dtype=torch.int64)
    for case, triangles in enumerate(_CASE_TRIANGLES):
        if triangles:
            table[case, : len(triangles)] = torch.tensor(triangles)
    return table.to(device)


def build_closed_mesh(level: torch.Tensor, height: torch.Tensor, step: int | tuple[int, int], thickness: float) -> SurfaceMesh:
    """Closed mesh of the region ``level >= 0.5``.

    ``level``: HxW float, the blurred mask in 0..1 (the silhouette is its 0.5 crossing);
    ``height``: HxW profile height in pixels (>= 0, the Poisson solution's square root);
    the outermost grid rows and columns must be outside. ``thickness`` scales z.
    """
    device = level.device
    step_rows, step_cols = (step, step) if isinstance(step, int) else step
    rows = torch.arange(0, level.shape[0], step_rows, device=device)
    cols = torch.arange(0, level.shape[1], step_cols, device=device)
    grid_rows, grid_cols = len(rows), len(cols)
    grid_level = level[rows][:, cols]
    inside = grid_level >= 0.5

    # cases per cell, with saddles split by the cell-centre average
    corners = (inside[:-1, :-1], inside[:-1, 1:], inside[1:, 1:], inside[1:, :-1])
    case = corners[0].long() + 2 * corners[1].long() + 4 * corners[2].long() + 8 * corners[3].long()
    centre_outside = (grid_level[:-1, :-1] + grid_level[:-1, 1:] + grid_level[1:, 1:] + grid_level[1:, :-1]) < 2.0
    case = torch.where((case == 5) & centre_outside, torch.full_like(case, 16), case)
    case = torch.where((case == 10) & centre_outside, torch.full_like(case, 17), case)

    cell_rows, cell_cols = torch.nonzero(case, as_tuple=True)
    triangles = _case_table(device)[case[cell_rows, cell_cols]]  # (cells, 4, 3)

    # global vertex ids: grid points, then horizontal edges, then vertical edges
    point_count = grid_rows * grid_cols
    horizontal_count = grid_rows * (grid_cols - 1)
    r, c = cell_rows.unsqueeze(1), cell_cols.unsqueeze(1)
    local_to_global = torch.cat(
        [
            r * grid_cols + c,
            r * grid_cols + c + 1,
            (r + 1) * grid_cols + c + 1,
            (r + 1) * grid_cols + c,
            point_count + r * (grid_cols - 1) + c,
            point_count + horizontal_count + r * grid_cols + c + 1,
            point_count + (r + 1) * (grid_cols - 1) + c,
            point_count + horizontal_count + r * grid_cols + c,
        ],
        dim=1,
    )  # (cells, 8)
    valid = triangles[..., 0] >= 0
    cell_of_triangle = torch.arange(len(cell_rows), device=device).unsqueeze(1).expand_as(valid)[valid]
    local = triangles[valid]  # (T, 3)
    global_faces = torch.gather(local_to_global[cell_of_triangle], 1, local)

    # compact to the ids in use; grid points come first, so they rank first
    total = point_count + horizontal_count + (grid_rows - 1) * grid_cols
    used = torch.zeros(total, dtype=torch.bool, device=device)
    used[global_faces.reshape(-1)] = True
    used_ids = torch.nonzero(used, as_tuple=True)[0]
    new_id = torch.cumsum(used.long(), 0) - 1
    front_faces = new_id[global_faces]
    is_point = used_ids < point_count
    point_ids = used_ids[is_point]
    edge_ids = used_ids[~is_point]

    point_xy = torch.stack([cols[point_ids % grid_cols], rows[point_ids // grid_cols]], dim=1).to(level.dtype)
    point_z = height[rows[point_ids // grid_cols], cols[point_ids % grid_cols]] * thickness
    edge_xy = _silhouette_points(level, edge_ids - point_count, grid_rows, grid_cols, step_rows, step_cols)

    pixel_xy = torch.cat([point_xy, edge_xy]) + 0.5
    front_z = torch.cat([point_z, torch.zeros(len(edge_ids), dtype=level.dtype, device=device)])
    # back copies of the grid points: ids after all front vertices
    back_id = torch.arange(len(used_ids), device=device)
    back_id[: len(point_ids)] += len(used_ids)
    back_faces = back_id[front_faces]

    vertices = torch.cat(
        [
            torch.cat([pixel_xy, front_z.unsqueeze(1)], dim=1),
            torch.cat([point_xy + 0.5, -point_z.unsqueeze(1)], dim=1),
        ]
    )
    # the case table winds clockwise on screen (rows grow downward), i.e. facing -z:
    # right for the back, reversed for the front
    faces = torch.cat([front_faces.flip(1), back_faces])
    return SurfaceMesh(vertices, faces, torch.cat([pixel_xy, point_xy + 0.5]))


def _silhouette_points(
    level: torch.Tensor, edge_ids: torch.Tensor, grid_rows: int, grid_cols: int, step_rows: int, step_cols: int
) -> torch.Tensor:
    """Where the level crosses 0.5 on each grid edge, walking pixel by pixel from its inside end."""
    horizontal_count = grid_rows * (grid_cols - 1)
    horizontal = edge_ids < horizontal_count
    vertical_ids = edge_ids - horizontal_count
    start_row = torch.where(horizontal, edge_ids // (grid_cols - 1), vertical_ids // grid_cols) * step_rows
    start_col = torch.where(horizontal, edge_ids % (grid_cols - 1), vertical_ids % grid_cols) * step_cols
    direction_row = (~horizontal).long()
    direction_col = horizontal.long()
    length = torch.where(horizontal, step_cols, step_rows)

    start_inside = level[start_row, start_col] >= 0.5
    sign = torch.where(start_inside, 1, -1)
    # walk from the inside end: from the start if it is inside, else from the far end
    origin_row = torch.where(start_inside, start_row, start_row + length * direction_row)
    origin_col = torch.where(start_inside, start_col, start_col + length * direction_col)
    # edges are step_rows or step_cols long; a shorter walk repeats its (outside) end sample
    offsets = torch.minimum(torch.arange(max(step_rows, step_cols) + 1, device=level.device), length.unsqueeze(1))
    sample_rows = origin_row.unsqueeze(1) + (sign * direction_row).unsqueeze(1) * offsets
    sample_cols = origin_col.unsqueeze(1) + (sign * direction_col).unsqueeze(1) * offsets
    samples = level[sample_rows, sample_cols]  # first inside, last outside

    first_outside = torch.argmax((samples < 0.5).to(torch.uint8), dim=1)
    before = torch.gather(samples, 1, (first_outside - 1).unsqueeze(1)).squeeze(1)
    after = torch.gather(samples, 1, first_outside.unsqueeze(1)).squeeze(1)
    walked = (first_outside - 1).to(level.dtype) + (before - 0.5) / (before - after)
    margin = _EDGE_MARGIN * length.to(level.dtype)
    walked = torch.minimum(torch.maximum(walked, margin), length.to(level.dtype) - margin)

    row = origin_row.to(level.dtype) + (sign * direction_row).to(level.dtype) * walked
    col = origin_col.to(level.dtype) + (sign * direction_col).to(level.dtype) * walked
    return torch.stack([col, row], dim=1)
