"""Which pixels belong to the object.

From the alpha channel when the image has a real one; otherwise the background
colour is estimated from the image border and flooded inward from the border, so
interior areas that happen to share the background colour stay part of the object
(only what the flood reaches is background). Specks are dropped, pinholes closed;
real holes (transparent, or background reached from outside) are kept.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ray_jobs.generators.base import ImageError

NO_OBJECT_MESSAGE = "no foreground object found: use an image with a transparent or plain background"

# A component smaller than this share of the largest one is a speck, not a part.
MIN_PART_SHARE = 0.02
# Holes smaller than this share of the object are noise (e.g. JPEG artefacts), not openings.
MAX_PINHOLE_SHARE = 0.001
# Pixels this close (window side) to a strong edge are judged against that edge's contrast.
EDGE_WINDOW = 5
# A plain background covers at least this share of the image border.
MIN_PLAIN_BORDER_SHARE = 0.6


def object_mask(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Boolean HxW mask of the object; ImageError when there is none to separate."""
    if alpha is not None and alpha.min() < 128:
        mask = alpha >= 128
    else:
        mask = _mask_from_plain_background(rgb)
    mask = _clean(mask)
    if mask.sum() < 16:
        raise ImageError(NO_OBJECT_MESSAGE)
    return mask


def _border(values: np.ndarray, width: int) -> np.ndarray:
    """The pixels of a ring ``width`` wide along the image edge, flattened."""
    ring = np.zeros(values.shape[:2], bool)
    ring[:width], ring[-width:], ring[:, :width], ring[:, -width:] = True, True, True, True
    return values[ring]


def _mask_from_plain_background(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    ring_width = max(1, min(height, width) // 100)
    border = _border(rgb, ring_width).astype(np.float32)
    background = np.median(border, axis=0)
    border_distance = np.linalg.norm(border - background, axis=1)
    # tolerance grows with the background's own spread (noise, gradients, JPEG)
    tolerance = float(np.clip(2.5 * np.percentile(border_distance, 75) + 20.0, 20.0, 80.0))
    if np.mean(border_distance < tolerance) < MIN_PLAIN_BORDER_SHARE:
        raise ImageError(NO_OBJECT_MESSAGE)
    distance = np.linalg.norm(rgb.astype(np.float32) - background, axis=2)
    # near a strong edge, a pixel needs half the edge's contrast to count as object:
    # drops JPEG ringing and half-blended edge pixels that a fixed tolerance lets through
    edge_contrast = ndimage.maximum_filter(distance, size=EDGE_WINDOW)
    like_background = (distance < tolerance) | (distance < 0.5 * edge_contrast)
    labels, _ = ndimage.label(like_background)
    touching_border = np.unique(_border(labels, 1))
    flooded = np.isin(labels, touching_border[touching_border > 0])
    return ~flooded


def _clean(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= max(MIN_PART_SHARE * sizes.max(), 16)
    mask = keep[labels]
    holes, hole_count = ndimage.label(~mask)
    if hole_count > 1:
        hole_sizes = np.bincount(holes.ravel())
        outside = np.unique(_border(holes, 1))
        small = hole_sizes < max(MAX_PINHOLE_SHARE * mask.sum(), 4)
        small[outside] = False
        small[0] = False
        mask = mask | small[holes]
    return mask
