"""Small distinct object images for the Ray tests (128 px keeps generation quick on 2 cores)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def object_png(variant: int, size: int = 128) -> bytes:
    """A coloured blob on white; every `variant` gives different bytes, hence a different asset."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    margin = size // 5 + variant % 7
    colour = ((variant * 67) % 200 + 30, (variant * 31) % 200 + 30, (variant * 13) % 200 + 30)
    draw.ellipse((margin, margin + variant % 5, size - margin, size - margin), fill=colour)
    draw.rectangle((size // 2 - 4, margin // 2, size // 2 + 4, margin + 4), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
