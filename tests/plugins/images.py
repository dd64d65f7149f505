"""Test images drawn in code: object shapes on plain backgrounds or with alpha, in any format.

The drawing helpers are defined in bench.harness.scenes (the benchmarks use them too) and
re-exported here; this module adds a test-only image and the fixtures. Import the functions
directly (``from tests.plugins.images import object_image``) or use the fixtures. Every image
is deterministic and takes milliseconds to make.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from bench.harness.scenes import (  # noqa: F401  (re-exported for the test modules)
    BACKGROUNDS,
    PURPLE,
    SHAPES,
    WARM,
    encode,
    object_image,
    object_pixels,
    shape_mask,
)


def bomb_png(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows; the header is what counts
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.fixture
def small_object_png() -> bytes:
    """A 192 px RGBA PNG of a figure with thin limbs: quick to generate, a real object."""
    return object_image("figure", 192, alpha=True)


@pytest.fixture
def plain_background_png() -> bytes:
    """A 192 px RGB PNG of a star on a flat grey background (exercises background removal)."""
    return object_image("star", 192, background="grey")
