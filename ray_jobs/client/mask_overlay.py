"""Source images as people see them: the object mask drawn over one, so a person sees at once what was
taken as the object, and small previews of one to pick from."""

from __future__ import annotations

import io

import numpy as np

DIMMED = 0.35  # what is left of the background's brightness
OUTLINE_RGB = (255, 64, 160)  # a magenta that product photos rarely contain


def overlay_png(source: bytes, mask_png: bytes) -> bytes:
    """The source at the mask's size: the background dimmed, the mask's outline drawn."""
    from PIL import Image
    from scipy import ndimage

    from ray_jobs.generators.image_io import load_image

    mask = np.asarray(Image.open(io.BytesIO(mask_png), formats=["PNG"]).convert("L")) >= 128
    image = load_image(source)  # the same checks as for generation: listed formats, pixel and frame limits
    rgb = np.asarray(image.convert("RGB").resize((mask.shape[1], mask.shape[0])), dtype=np.float32)
    shown = np.where(mask[..., None], rgb, rgb * DIMMED)
    outline = mask & ~ndimage.binary_erosion(mask, iterations=2)
    shown[outline] = OUTLINE_RGB
    buffer = io.BytesIO()
    Image.fromarray(shown.astype(np.uint8), "RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def preview_png(source: bytes, side: int) -> bytes:
    """The source scaled to fit ``side`` px, as PNG; ImageError when it is no image that can be read."""
    from ray_jobs.generators.image_io import load_image

    image = load_image(source)  # the same checks as for generation: listed formats, pixel and frame limits
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
