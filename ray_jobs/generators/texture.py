"""The base-colour texture: the image, with the object's colours diffused outward.

Texels outside the mask would otherwise carry the background colour onto the
silhouette rim (texture filtering and mip-maps reach past the edge). A push-pull
pyramid fills every background texel with the nearby object colour, smoothly,
in a few whole-tensor ops per level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fill_background(rgb: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``rgb``: 3xHxW float; ``weight``: HxW in 0..1 (1 = object). Returns 3xHxW with the background filled."""
    colour = (rgb * weight).unsqueeze(0)
    weight = weight.view(1, 1, *weight.shape)
    pyramid = [(colour, weight)]
    while min(pyramid[-1][1].shape[-2:]) > 1:
        colour, weight = pyramid[-1]
        pyramid.append((F.avg_pool2d(colour, 2, ceil_mode=True), F.avg_pool2d(weight, 2, ceil_mode=True)))
    colour, weight = pyramid[-1]
    filled = colour / weight.clamp_min(1e-6)
    for colour, weight in reversed(pyramid[:-1]):
        coarse = F.interpolate(filled, size=colour.shape[-2:], mode="bilinear", align_corners=False)
        # colour is premultiplied by weight: a full-weight texel keeps its own colour
        filled = colour + (1.0 - weight) * coarse
    return filled.squeeze(0)
