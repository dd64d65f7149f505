import numpy as np
import pytest
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg
import torch

from ray_jobs.generators.poisson import pad_multiple, solve_inflation
from tests.plugins.images import shape_mask


def _direct_solution(inside: np.ndarray, source: float = 4.0) -> np.ndarray:
    """Reference: the same 5-point system solved by a sparse direct solver."""
    height, width = inside.shape
    index = -np.ones(inside.shape, np.int64)
    cells = np.argwhere(inside)
    index[inside] = np.arange(len(cells))
    rows, cols, values = [np.arange(len(cells))], [np.arange(len(cells))], [np.full(len(cells), 4.0)]
    for d_row, d_col in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        r, c = cells[:, 0] + d_row, cells[:, 1] + d_col
        valid = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        neighbour = np.full(len(cells), -1)
        neighbour[valid] = index[r[valid], c[valid]]
        own = neighbour >= 0
        rows.append(np.flatnonzero(own)), cols.append(neighbour[own]), values.append(-np.ones(own.sum()))
    matrix = sparse.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(len(cells),) * 2)
    solution = np.zeros(inside.shape)
    solution[inside] = sparse_linalg.spsolve(matrix, np.full(len(cells), source))
    return solution


@pytest.mark.parametrize("shape", ["disc", "ring", "figure", "parts"])
def test_multigrid_matches_a_direct_solve(shape):
    inside = shape_mask(shape, 256)
    assert 256 % pad_multiple(256) == 0
    height = solve_inflation(torch.from_numpy(inside.astype(np.float32))).numpy()
    reference = _direct_solution(inside)
    assert (height[~inside] == 0).all()
    # compare the profile that becomes the surface, sqrt(h), in pixels (its peak is 40-90 px here);
    # one V-cycle after full multigrid leaves well under a pixel
    error = np.abs(np.sqrt(height) - np.sqrt(reference))[inside]
    assert error.max() < 1.5 and error.mean() < 0.35


def test_disc_inflates_to_a_hemisphere():
    size = 256
    rows, cols = np.mgrid[:size, :size] + 0.5
    radius = 100.0
    inside = (rows - 128) ** 2 + (cols - 128) ** 2 < radius**2
    height = np.sqrt(solve_inflation(torch.from_numpy(inside.astype(np.float32))).numpy())
    assert abs(height.max() - radius) < 0.02 * radius
    ring = inside & (np.abs(np.hypot(rows - 128, cols - 128) - 60) < 1)
    assert np.allclose(height[ring], np.sqrt(radius**2 - 60**2), rtol=0.03)


def test_grid_sides_must_halve_evenly():
    with pytest.raises(ValueError, match="not a multiple"):
        solve_inflation(torch.ones(100, 96))
