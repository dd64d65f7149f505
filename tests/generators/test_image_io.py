import io

import numpy as np
import pytest
from PIL import Image

from ray_jobs.generators.base import ImageError
from ray_jobs.generators.image_io import MAX_SIDE, load_image, working_arrays
from ray_jobs.generators.mask import object_mask
from tests.plugins.images import bomb_png, encode, object_image, object_pixels, shape_mask


@pytest.mark.parametrize(
    "fmt, mode",
    [
        ("PNG", "RGBA"),
        ("PNG", "RGB"),
        ("PNG", "P"),
        ("PNG", "L"),
        ("PNG", "LA"),
        ("PNG", "I;16"),
        ("JPEG", "RGB"),
        ("JPEG", "L"),
        ("JPEG", "CMYK"),
        ("WEBP", "RGB"),
        ("WEBP", "RGBA"),
        ("TIFF", "RGB"),
    ],
)
def test_formats_and_modes_load_and_mask(fmt, mode):
    alpha = mode in ("RGBA", "LA")
    truth = shape_mask("star", 200)
    data = encode(object_pixels(truth, (255, 255, 255), alpha=alpha), fmt, mode)
    image = load_image(data)
    assert image.mode in ("RGB", "RGBA")
    assert image.size == (200, 200)
    rgb, alpha_channel = working_arrays(image, 200)
    assert (alpha_channel is not None) == alpha
    mask = object_mask(rgb, alpha_channel)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.95, f"{fmt} {mode}: mask IoU {iou:.3f}"


def test_exif_orientation_is_applied():
    # stored upside down with orientation 3 (rotate 180): the viewer sees the object top-right
    truth = shape_mask("disc", 128, box=(0.05, 0.55, 0.45, 0.95))  # bottom-left as stored
    stored = object_pixels(truth)
    exif = Image.Exif()
    exif[0x0112] = 3
    image = load_image(encode(stored, "JPEG", exif=exif.tobytes()))
    mask = object_mask(*working_arrays(image, 128))
    rows, cols = np.nonzero(mask)
    assert rows.mean() < 64 and cols.mean() > 64


def test_large_images_are_downscaled():
    wide = Image.new("L", (MAX_SIDE + 904, 200), 255)
    image = load_image(encode(wide, "PNG"))
    assert max(image.size) == MAX_SIDE
    assert image.size[1] == round(200 * MAX_SIDE / (MAX_SIDE + 904))


def test_working_arrays_scale_longest_side():
    image = load_image(object_image("disc", 300))
    rgb, alpha = working_arrays(image, 128)
    assert rgb.shape == (128, 128, 3) and rgb.dtype == np.uint8 and alpha is None
    rgb, _ = working_arrays(load_image(object_image("disc", 100)), 256)
    assert rgb.shape == (256, 256, 3)


def _truncated_png() -> bytes:
    data = object_image("disc", 128)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "the image is empty"),
        (b"hello, this is text and not a picture", "not an image that can be read: use a PNG, JPEG or WebP"),
        (bytes(range(256)) * 10, "not an image that can be read"),
        (_truncated_png(), "damaged or truncated"),
        (bomb_png(30_000, 30_000), "too large.*decompression bomb"),
        (bomb_png(12_000, 12_000), "too large \\(12000x12000\\)"),
    ],
    ids=["empty", "text", "noise-bytes", "truncated", "bomb", "over-limit"],
)
def test_bad_inputs_are_refused_with_what_to_do(data, message):
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_not_bytes_is_refused():
    with pytest.raises(ImageError, match="expected image bytes"):
        load_image("picture.png")


def test_pil_image_input_is_accepted():
    image = Image.open(io.BytesIO(object_image("disc", 64)))
    assert load_image(image).size == (64, 64)


# -- only the formats the store takes for images are ever parsed -------------------------------------------

def _psd(width: int = 8, height: int = 8) -> bytes:
    """A minimal valid Photoshop file (Pillow reads PSD but cannot write it): 3 channels, 8 bits, raw."""
    import struct

    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)  # version 1, RGB mode
    sections = struct.pack(">III", 0, 0, 0)  # no colour data, no resources, no layers
    return header + sections + struct.pack(">H", 0) + bytes(3 * width * height)


def _saved(fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, named",
    [(lambda: _saved("EPS"), "EPS"), (_psd, "PSD"), (lambda: _saved("PCX"), "PCX"), (lambda: _saved("ICO"), "ICO")],
    ids=["eps", "psd", "pcx", "ico"],
)
def test_formats_outside_the_list_are_refused_by_name(data, named):
    with pytest.raises(ImageError) as caught:
        load_image(data())
    message = str(caught.value)
    assert "\n" not in message
    assert f"{named} format" in message
    assert all(allowed in message for allowed in ("PNG", "JPEG", "WebP")), message


def _animated_gif(frames: int) -> bytes:
    # each frame differs, so Pillow cannot merge them into one
    images = [Image.new("RGB", (16, 16), (index % 256, 255 - index % 256, (7 * index) % 256)) for index in range(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return buffer.getvalue()


def test_a_long_animation_is_refused_with_what_to_do():
    data = _animated_gif(200)
    assert Image.open(io.BytesIO(data)).n_frames == 200
    with pytest.raises(ImageError) as caught:
        load_image(data)
    message = str(caught.value)
    assert "\n" not in message and "frames" in message and "still image" in message


def test_a_short_animation_gives_its_first_frame():
    image = load_image(_animated_gif(2))
    assert image.getpixel((0, 0))[:3] == (0, 255, 0)


def test_a_pil_image_of_another_format_is_refused():
    image = Image.open(io.BytesIO(_saved("PCX")))
    with pytest.raises(ImageError, match="PCX format"):
        load_image(image)
