"""Reading user images safely: only the formats the store takes, normalised to RGB or RGBA.

Only the Pillow plugins of the store's image suffixes ever parse the bytes (others, such as EPS
which runs Ghostscript, never see them). Refuses non-images, decompression bombs and long
animations, applies the EXIF orientation, and downscales very large images so one upload
cannot exhaust a worker's memory.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ray_jobs.generators.base import ImageError
from storage.keys import IMAGE_SUFFIXES

# Refuse before decoding: 100 megapixels of RGBA is 400 MB before any work starts.
MAX_PIXELS = 100_000_000
# Larger images are downscaled on load; no working resolution needs more.
MAX_SIDE = 4096
# Only the first frame is used; walking thousands of frames would only cost time and memory.
MAX_FRAMES = 8
SUPPORTED_HINT = "use a PNG, JPEG or WebP image"
_PREFERRED = ("PNG", "JPEG", "WEBP")
_SHOWN_AS = {"WEBP": "WebP"}


def _formats_for_suffixes(suffixes: tuple[str, ...]) -> tuple[str, ...]:
    Image.init()  # registers every plugin's file extensions
    extensions = Image.registered_extensions()
    return tuple(dict.fromkeys(extensions[suffix] for suffix in suffixes if suffix in extensions))


# Pillow format names of the store's image suffixes: the only plugins that may open an upload.
ALLOWED_FORMATS = _formats_for_suffixes(IMAGE_SUFFIXES)


def _other_format_message(format_name: str) -> str:
    preferred = ", ".join(_SHOWN_AS.get(name, name) for name in _PREFERRED[:-1]) + " or " + _SHOWN_AS[_PREFERRED[-1]]
    others = [_SHOWN_AS.get(name, name) for name in ALLOWED_FORMATS if name not in _PREFERRED]
    also = f" ({', '.join(others[:-1])} and {others[-1]} work too)" if len(others) > 1 else ""
    return f"the file is in {format_name} format, which is not read here: save it as {preferred}{also}"


def load_image(data: "bytes | Image.Image") -> Image.Image:
    """Validated image in mode RGB or RGBA, EXIF orientation applied, longest side <= MAX_SIDE."""
    if isinstance(data, Image.Image):
        image = data
        if image.format is not None and image.format not in ALLOWED_FORMATS:
            raise ImageError(_other_format_message(image.format))
    else:
        image = _open(data)
    _check_size(image.size)
    _keep_first_frame(image)
    try:
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at reduced scale when huge
        image = ImageOps.exif_transpose(image)
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image file is damaged or truncated ({exc}): {SUPPORTED_HINT} that opens in an image viewer") from exc
    image = _to_rgb_or_rgba(image)
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def _open(data: bytes) -> Image.Image:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"expected image bytes, got {type(data).__name__}: {SUPPORTED_HINT}")
    if len(data) == 0:
        raise ImageError(f"the image is empty (0 bytes): {SUPPORTED_HINT}")
    data = bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageError(_too_many_pixels_message()) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        other = _recognised_format(data)
        if other is not None:
            raise ImageError(_other_format_message(other)) from exc
        raise ImageError(f"this is not an image that can be read: {SUPPORTED_HINT}") from exc


def _recognised_format(data: bytes) -> str | None:
    """The format another Pillow plugin would claim, asked of its signature check alone (16 bytes, as
    Image.open passes them), so the plugin itself never parses the file; None when none claims it."""
    prefix = data[:16]
    for name in Image.ID:
        accept = Image.OPEN[name][1]
        if name in ALLOWED_FORMATS or accept is None:
            continue
        try:
            if accept(prefix):
                return name
        except Exception:  # noqa: BLE001 - a signature check that trips over odd bytes claims nothing
            continue
    return None


def _keep_first_frame(image: Image.Image) -> None:
    """Refuse long animations (GIF, APNG, WebP, multi-page TIFF); leave the image at its first frame."""
    if not getattr(image, "is_animated", False):
        return
    try:
        image.seek(MAX_FRAMES)  # walks at most MAX_FRAMES frames (n_frames would walk a GIF to its end)
    except EOFError:
        pass
    else:
        raise ImageError(f"the image is an animation with more than {MAX_FRAMES} frames: use a still image "
                         "(PNG, JPEG or WebP), e.g. its first frame saved on its own")
    image.seek(0)  # the first frame is the object


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageError(f"the image has no pixels ({width}x{height}): {SUPPORTED_HINT}")
    if width * height > MAX_PIXELS:
        raise ImageError(_too_many_pixels_message(width, height))


def _too_many_pixels_message(width: int | None = None, height: int | None = None) -> str:
    size = f" ({width}x{height})" if width else ""
    return (
        f"the image is too large{size}: it has more than {MAX_PIXELS // 1_000_000} megapixels, "
        f"which looks like a decompression bomb; resize it to at most {MAX_SIDE} px on the longest side"
    )


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return image.convert("RGBA")
    if mode == "L" and "transparency" in image.info:
        return image.convert("RGBA")
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_high_depth_to_8bit(np.asarray(image)), "L").convert("RGB")
    return image.convert("RGB")  # 1, L, CMYK, YCbCr, LAB, HSV


def _high_depth_to_8bit(values: np.ndarray) -> np.ndarray:
    """16-bit and float greyscale to 0..255 by the range its type implies."""
    values = values.astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    if top <= 1.0:
        scale = 255.0  # float images in 0..1
    elif top <= 255.0:
        scale = 1.0
    else:
        scale = 255.0 / 65535.0  # 16-bit
    return np.clip(values * scale + 0.5, 0, 255).astype(np.uint8)


def working_arrays(image: Image.Image, resolution: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The image scaled so its longest side is ``resolution``: (RGB uint8 HxWx3, alpha HxW or None)."""
    scale = resolution / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if size != image.size:
        # reducing_gap: integer-reduce first, then filter few pixels; RGBA resizes premultiplied
        upscale = scale > 1
        image = image.resize(
            size,
            Image.Resampling.BILINEAR if upscale else Image.Resampling.LANCZOS,
            reducing_gap=None if upscale else 3.0,
        )
    pixels = np.asarray(image)
    if image.mode == "RGBA":
        return np.ascontiguousarray(pixels[..., :3]), np.ascontiguousarray(pixels[..., 3])
    return pixels, None
