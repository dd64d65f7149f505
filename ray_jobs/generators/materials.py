"""Reading a mesh's base colour: its texture image and lookups by UV."""

from __future__ import annotations

import numpy as np
from PIL import Image


def base_colour_image(mesh) -> Image.Image | None:
    """The base-colour texture of a textured trimesh (PBR or simple material), else None."""
    material = getattr(mesh.visual, "material", None)
    if material is None or getattr(mesh.visual, "uv", None) is None:
        return None
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    return image if isinstance(image, Image.Image) else None


def sample_texture(pixels: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest texel of ``pixels`` (HxWxC) at each ``uv`` (N, 2; OpenGL convention, v upward), repeating."""
    height, width = pixels.shape[:2]
    uv = np.asarray(uv, np.float64)
    cols = np.clip((uv[:, 0] % 1.0) * width, 0, width - 1).astype(np.int64)
    rows = np.clip((1.0 - uv[:, 1] % 1.0) * height, 0, height - 1).astype(np.int64)
    return pixels[rows, cols]
