"""Poisson solve for silhouette inflation: -Δh = c inside the mask, h = 0 outside.

Full multigrid on a cell-centred pixel grid (Baran & Lehtinen, "Notes on Inflating
Curves"): the mask is restricted to a pyramid, the coarsest level is smoothed to
convergence, and each finer level starts from the interpolated coarse solution
and runs V-cycles with red-black Gauss-Seidel. Every operation is a whole-tensor
torch op, so the same code runs on CPU and CUDA with few kernel launches.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# The coarsest grid has at most about this many cells per side and is solved exactly.
COARSEST_SIDE = 16
PRE_SMOOTH = 2
POST_SMOOTH = 2
FINE_V_CYCLES = 1


def level_count(longest_side: int) -> int:
    return max(1, math.ceil(math.log2(max(longest_side, 2) / COARSEST_SIDE)))


def pad_multiple(longest_side: int) -> int:
    """Grid sides must be a multiple of this so every level halves exactly."""
    return 2 ** level_count(longest_side)


def _neighbour_sum(padded: torch.Tensor) -> torch.Tensor:
    """Sum of the four neighbours of every interior cell of a zero-bordered grid."""
    total = padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1]
    total += padded[..., 1:-1, :-2]
    total += padded[..., 1:-1, 2:]
    return total


def _interior(padded: torch.Tensor) -> torch.Tensor:
    return padded[..., 1:-1, 1:-1]


class _Level:
    """One grid of the pyramid: its mask split into red and black cells, its spacing.

    Solutions live in zero-bordered tensors (one cell of padding, which is the
    Dirichlet boundary) and are updated in place: no padding copies per sweep.
    """

    def __init__(self, inside: torch.Tensor, spacing: float):
        self.inside = inside
        rows = torch.arange(inside.shape[-2], device=inside.device).view(-1, 1)
        cols = torch.arange(inside.shape[-1], device=inside.device).view(1, -1)
        red = ((rows + cols) % 2 == 0).to(inside.dtype)
        self.red = inside * red
        self.black = inside * (1 - red)
        self.spacing2 = spacing * spacing

    def zeros(self) -> torch.Tensor:
        return F.pad(torch.zeros_like(self.inside), (1, 1, 1, 1))

    def smooth(self, padded: torch.Tensor, rhs: torch.Tensor, sweeps: int) -> torch.Tensor:
        """Red-black Gauss-Seidel sweeps on ``padded`` in place."""
        quarter_rhs = rhs * (self.spacing2 / 4.0)
        h = _interior(padded)
        for _ in range(sweeps):
            for colour in (self.red, self.black):
                step = _neighbour_sum(padded)
                step.mul_(0.25).add_(quarter_rhs).sub_(h)  # Gauss-Seidel value minus current value
                h.addcmul_(colour, step)
        return padded

    def residual(self, padded: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        laplacian = _neighbour_sum(padded).sub_(_interior(padded), alpha=4.0).div_(self.spacing2)
        return laplacian.add_(rhs).mul_(self.inside)


def _restrict(values: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(values, 2)


def _prolong(values: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    return F.interpolate(values, scale_factor=2, mode="bilinear", align_corners=False).mul_(inside)


class _ExactSolver:
    """Direct solve on the coarsest grid: a dense inverse of its few hundred unknowns."""

    def __init__(self, level: _Level):
        inside = level.inside.view(-1)
        self.cells = torch.nonzero(inside > 0, as_tuple=True)[0]
        height, width = level.inside.shape[-2:]
        # built in float64 on the CPU so every device gets the same operator
        cells = self.cells.cpu()
        index = torch.full((height * width,), -1, dtype=torch.int64)
        index[cells] = torch.arange(len(cells))
        rows, cols = cells // width, cells % width
        matrix = torch.eye(len(cells), dtype=torch.float64) * 4.0
        for d_row, d_col in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n_rows, n_cols = rows + d_row, cols + d_col
            valid = (n_rows >= 0) & (n_rows < height) & (n_cols >= 0) & (n_cols < width)
            neighbour = torch.full_like(cells, -1)
            neighbour[valid] = index[n_rows[valid] * width + n_cols[valid]]
            own = torch.nonzero(neighbour >= 0, as_tuple=True)[0]
            matrix[own, neighbour[own]] = -1.0
        inverse = torch.linalg.inv(matrix) * level.spacing2 if len(cells) else matrix
        self.inverse = inverse.to(device=level.inside.device, dtype=level.inside.dtype)

    def solve(self, rhs: torch.Tensor) -> torch.Tensor:
        solution = torch.zeros_like(rhs)
        if len(self.cells):
            solution.view(-1)[self.cells] = self.inverse @ rhs.view(-1)[self.cells]
        return solution


def _v_cycle(levels: list[_Level], coarsest: _ExactSolver, index: int, padded: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """One V-cycle improving the zero-bordered solution ``padded`` of level ``index`` in place."""
    if index == len(levels) - 1:
        _interior(padded).copy_(coarsest.solve(rhs))
        return padded
    level = levels[index]
    level.smooth(padded, rhs, PRE_SMOOTH)
    coarse_rhs = _restrict(level.residual(padded, rhs))
    correction = _v_cycle(levels, coarsest, index + 1, levels[index + 1].zeros(), coarse_rhs)
    _interior(padded).add_(_prolong(_interior(correction), level.inside))
    return level.smooth(padded, rhs, POST_SMOOTH)


def solve_inflation(inside: torch.Tensor, source: float = 4.0) -> torch.Tensor:
    """h >= 0 with -Δh = ``source`` on ``inside`` (HxW float 0/1, sides a multiple of ``pad_multiple``).

    With ``source`` 4 and unit pixel spacing a disc of radius R gives h = R² - r²,
    so sqrt(h) is a hemisphere of radius R.
    """
    height, width = inside.shape
    multiple = pad_multiple(max(height, width))
    if height % multiple or width % multiple:
        raise ValueError(f"grid {height}x{width} is not a multiple of {multiple}")
    masks = [inside.view(1, 1, height, width)]
    for _ in range(level_count(max(height, width))):
        # a coarse cell is inside when most of its fine cells are
        masks.append((_restrict(masks[-1]) > 0.5).to(inside.dtype))
    levels = [_Level(mask, float(2**i)) for i, mask in enumerate(masks)]
    coarsest = _ExactSolver(levels[-1])
    rhs = [mask * source for mask in masks]
    # full multigrid: coarse solution first, each finer level starts from it
    h = coarsest.solve(rhs[-1])
    for index in range(len(levels) - 2, -1, -1):
        padded = F.pad(_prolong(h, levels[index].inside), (1, 1, 1, 1))
        cycles = FINE_V_CYCLES if index == 0 else 1
        for _ in range(cycles):
            _v_cycle(levels, coarsest, index, padded, rhs[index])
        h = _interior(padded)
    return h.reshape(height, width).clamp_min(0.0)
