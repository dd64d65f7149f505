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


def _neighbour_sum(h: torch.Tensor) -> torch.Tensor:
    padded = F.pad(h, (1, 1, 1, 1))
    return padded[..., :-2, 1:-1] + padded[..., 2:, 1:-1] + padded[..., 1:-1, :-2] + padded[..., 1:-1, 2:]


class _Level:
    """One grid of the pyramid: its mask split into red and black cells, its spacing."""

    def __init__(self, inside: torch.Tensor, spacing: float):
        self.inside = inside
        rows = torch.arange(inside.shape[-2], device=inside.device).view(-1, 1)
        cols = torch.arange(inside.shape[-1], device=inside.device).view(1, -1)
        red = ((rows + cols) % 2 == 0).to(inside.dtype)
        self.red = inside * red
        self.black = inside * (1 - red)
        self.spacing2 = spacing * spacing

    def smooth(self, h: torch.Tensor, rhs: torch.Tensor, sweeps: int) -> torch.Tensor:
        scaled_rhs = rhs * self.spacing2
        for _ in range(sweeps):
            for colour in (self.red, self.black):
                target = (_neighbour_sum(h) + scaled_rhs) * 0.25
                h = torch.addcmul(h, colour, target - h)
        return h

    def residual(self, h: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
        laplacian = (_neighbour_sum(h) - 4.0 * h) / self.spacing2
        return self.inside * (rhs + laplacian)


def _restrict(values: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(values, 2)


def _prolong(values: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    return F.interpolate(values, scale_factor=2, mode="bilinear", align_corners=False) * inside


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


def _v_cycle(levels: list[_Level], coarsest: _ExactSolver, index: int, h: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    if index == len(levels) - 1:
        return coarsest.solve(rhs)
    level = levels[index]
    h = level.smooth(h, rhs, PRE_SMOOTH)
    coarse_rhs = _restrict(level.residual(h, rhs))
    correction = _v_cycle(levels, coarsest, index + 1, torch.zeros_like(coarse_rhs), coarse_rhs)
    h = h + _prolong(correction, level.inside)
    return level.smooth(h, rhs, POST_SMOOTH)


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
        h = _prolong(h, levels[index].inside)
        cycles = FINE_V_CYCLES if index == 0 else 1
        for _ in range(cycles):
            h = _v_cycle(levels, coarsest, index, h, rhs[index])
    return h.view(height, width).clamp_min(0.0)
