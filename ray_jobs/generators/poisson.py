"""Poisson solve for silhouette inflation: -Δh = c inside the mask, h = 0 outside.

Full multigrid on a cell-centred pixel grid (Baran & Lehtinen, "Notes on Inflating
Curves"): the mask is restricted to a pyramid, the coarsest level is smoothed to
convergence, and each finer level starts from the interpolated coarse solution
and runs V-cycles with red-black Gauss-Seidel. Every operation is a whole-tensor
torch op, so the same code runs on CPU and CUDA with few kernel launches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Grid sides must halve this many times; the coarsest level is then small enough to smooth out.
LEVELS = 5
PRE_SMOOTH = 2
POST_SMOOTH = 2
FINE_V_CYCLES = 2


def pad_multiple() -> int:
    return 2**LEVELS


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


def _v_cycle(levels: list[_Level], index: int, h: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    level = levels[index]
    if index == len(levels) - 1:
        return level.smooth(h, rhs, 8 * (PRE_SMOOTH + POST_SMOOTH))
    h = level.smooth(h, rhs, PRE_SMOOTH)
    coarse_rhs = _restrict(level.residual(h, rhs))
    correction = _v_cycle(levels, index + 1, torch.zeros_like(coarse_rhs), coarse_rhs)
    h = h + _prolong(correction, level.inside)
    return level.smooth(h, rhs, POST_SMOOTH)


def solve_inflation(inside: torch.Tensor, source: float = 4.0) -> torch.Tensor:
    """h >= 0 with -Δh = ``source`` on ``inside`` (HxW float 0/1, sides divisible by 2**LEVELS).

    With ``source`` 4 and unit pixel spacing a disc of radius R gives h = R² - r²,
    so sqrt(h) is a hemisphere of radius R.
    """
    height, width = inside.shape
    if height % pad_multiple() or width % pad_multiple():
        raise ValueError(f"grid {height}x{width} is not a multiple of {pad_multiple()}")
    masks = [inside.view(1, 1, height, width)]
    for _ in range(LEVELS):
        # a coarse cell is inside when most of its fine cells are
        masks.append((_restrict(masks[-1]) > 0.5).to(inside.dtype))
    levels = [_Level(mask, float(2**i)) for i, mask in enumerate(masks)]
    rhs = [mask * source for mask in masks]
    # full multigrid: coarse solution first, each finer level starts from it
    h = levels[-1].smooth(torch.zeros_like(rhs[-1]), rhs[-1], 8 * (PRE_SMOOTH + POST_SMOOTH))
    for index in range(LEVELS - 1, -1, -1):
        h = _prolong(h, levels[index].inside)
        cycles = FINE_V_CYCLES if index == 0 else 1
        for _ in range(cycles):
            h = _v_cycle(levels, index, h, rhs[index])
    return h.view(height, width).clamp_min(0.0)
