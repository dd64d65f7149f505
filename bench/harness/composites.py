"""Object photos whose true mask is known: shaded objects drawn in code, composited onto plain grey
or white backgrounds with soft shadows, sensor noise and (for some) JPEG, the way product photos
look. The hard cases of background removal are here on purpose: object colours close to the
background, shaded sides that match it, shadows beside the object, thin parts, a see-through hole.

The true mask is the object's alpha >= 128, as for an alpha-cut image. The objects are drawn at
four times the size and averaged down, so their outlines carry real fractional alpha. Every image
is deterministic (fixed seeds) and takes a few tens of milliseconds to make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

SUPERSAMPLE = 4
GREY = (128, 128, 128)
LIGHT_GREY = (200, 200, 200)
WHITE = (255, 255, 255)
# Light from the upper left and mostly from the viewer, as in a studio shot.
LIGHT = np.array([-0.45, -0.55, 0.70])


@dataclass(frozen=True)
class Composite:
    name: str
    rgb: np.ndarray  # HxWx3 uint8: what a photo of the object would hold
    truth: np.ndarray  # HxW bool: the object's alpha >= 128


@dataclass(frozen=True)
class Shadow:
    """A darker, blurred copy of the object's silhouette (or of an ellipse at its foot) on the background."""

    offset: tuple[float, float] = (0.04, 0.03)  # (right, down), as fractions of the image side
    blur: float = 0.02  # Gaussian sigma, fraction of the image side
    strength: float = 0.4  # how much light the shadow's core takes away
    ellipse: tuple[float, float, float, float] | None = None  # (left, top, right, bottom) fractions: a contact shadow


@dataclass(frozen=True)
class Photo:
    """How the object was photographed: background, shadow, noise, compression."""

    background: tuple[int, int, int]
    shadow: Shadow = Shadow()
    noise: float = 2.0  # sensor noise, sigma in grey levels
    vignette: float = 0.03  # background darkens by this share toward the corners
    jpeg_quality: int | None = None
    seed: int = 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def composite_onto(colour: np.ndarray, alpha: np.ndarray, photo: Photo) -> Composite:
    """``colour`` (HxWx3, 0..255 float) with coverage ``alpha`` (HxW, 0..1) photographed as ``photo`` says."""
    height, width = alpha.shape
    side = max(height, width)
    rng = np.random.default_rng(photo.seed)
    background = _background(photo, height, width) * (1.0 - photo.shadow.strength * _shadow(alpha, photo.shadow, side))[..., None]
    pixels = alpha[..., None] * colour + (1.0 - alpha[..., None]) * background
    pixels = np.clip(pixels + rng.normal(0.0, photo.noise, pixels.shape), 0, 255).round().astype(np.uint8)
    if photo.jpeg_quality is not None:
        pixels = _jpeg(pixels, photo.jpeg_quality)
    return Composite("", pixels, alpha >= 0.5)


def composites(size: int = 512) -> list[Composite]:
    """The whole set, one image per entry of SCENES, ``size`` px square."""
    return [composite(name, size) for name in SCENES]


def composite(name: str, size: int = 512) -> Composite:
    draw_object, photo = SCENES[name]
    colour, alpha = draw_object(size)
    made = composite_onto(colour, alpha, photo)
    return Composite(name, made.rgb, made.truth)


def alpha_cut_composites(rgba: np.ndarray, name: str, size: int = 512) -> list[Composite]:
    """An alpha-cut image (HxWx4 uint8) on grey and on white, each with a soft shadow beside it."""
    image = Image.fromarray(rgba, "RGBA")
    scale = size / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, np.float64)
    colour, alpha = pixels[..., :3], pixels[..., 3] / 255.0
    return [
        Composite(f"{name} on {label}", made.rgb, made.truth)
        for label, photo in (("grey", Photo(GREY, Shadow(strength=0.45), seed=11)),
                             ("white", Photo(WHITE, Shadow(offset=(-0.03, 0.03)), seed=12)))
        for made in [composite_onto(colour, alpha, photo)]
    ]


# --- drawing ------------------------------------------------------------------------------------


class Canvas:
    """A supersampled drawing surface for one object's silhouette (or one of its parts)."""

    def __init__(self, size: int):
        self.size = size
        self.image = Image.new("L", (size * SUPERSAMPLE, size * SUPERSAMPLE), 0)
        self.draw = ImageDraw.Draw(self.image)

    def at(self, *fractions: float) -> list[float]:
        return [value * self.size * SUPERSAMPLE for value in fractions]

    def line(self, points: list[tuple[float, float]], width: float) -> None:
        """A polyline ``width`` (fraction of the side) thick, with round joints."""
        pixels = [tuple(self.at(x, y)) for x, y in points]
        thickness = max(1, round(width * self.size * SUPERSAMPLE))
        self.draw.line(pixels, fill=255, width=thickness, joint="curve")
        for x, y in pixels:  # round caps, so joined strokes have no notches
            self.draw.ellipse([x - thickness / 2, y - thickness / 2, x + thickness / 2, y + thickness / 2], fill=255)

    def coverage(self) -> np.ndarray:
        """HxW alpha in 0..1: the supersampled drawing averaged down."""
        big = np.asarray(self.image, np.float64) / 255.0
        return big.reshape(self.size, SUPERSAMPLE, self.size, SUPERSAMPLE).mean(axis=(1, 3))


def _shade(alpha: np.ndarray, albedo: np.ndarray | float, *, ambient: float = 0.35, specular: float = 0.25) -> np.ndarray:
    """HxWx3 colour of a rounded object: normals of the silhouette inflated like a cushion, lit by LIGHT."""
    inside = alpha >= 0.5
    distance = ndimage.distance_transform_edt(inside)
    radius = max(float(distance.max()), 1.0)
    # blurred inside, so the surface has no crease along its middle; exact at the rim, where the
    # surface turns away from the viewer and darkens as real objects do at their outline
    distance = np.minimum(np.minimum(ndimage.gaussian_filter(distance, 0.15 * radius), distance) + 0.5, radius)
    distance = ndimage.gaussian_filter(distance, 1.5)  # no pixel steps in the shading
    height = np.sqrt(2 * radius * distance - distance**2)
    dy, dx = np.gradient(height)
    normals = np.dstack([-dx, -dy, np.ones_like(height)])
    normals /= np.linalg.norm(normals, axis=2, keepdims=True)
    light = LIGHT / np.linalg.norm(LIGHT)
    diffuse = np.clip(normals @ light, 0.0, 1.0)
    halfway = (light + [0, 0, 1]) / np.linalg.norm(light + [0, 0, 1])
    highlight = specular * np.clip(normals @ halfway, 0.0, 1.0) ** 40
    albedo = np.broadcast_to(np.asarray(albedo, np.float64), alpha.shape + (3,)) if np.ndim(albedo) < 3 else albedo
    return np.clip(albedo * (ambient + (1 - ambient) * diffuse)[..., None] + 255 * highlight[..., None], 0, 255)


def _surface_texture(shape: tuple[int, int], seed: int, amount: float = 4.0) -> np.ndarray:
    """Soft blotches on the surface (plastic, ceramic, bark): a few grey levels either way."""
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(0.0, 1.0, shape), 3.0)[..., None] * amount * 3.0


def _grey_vase(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey vase: its shaded side goes darker than the grey background, its lit side lighter."""
    canvas = Canvas(size)
    heights = np.linspace(0.14, 0.86, 60)
    radii = 0.08 + 0.16 * np.clip(np.sin(np.pi * (heights - 0.14) / 0.72), 0, 1) ** 1.5 + 0.03 * np.cos(7 * heights)
    outline = [(0.5 - r, h) for r, h in zip(radii, heights)] + [(0.5 + r, h) for r, h in zip(radii[::-1], heights[::-1])]
    canvas.draw.polygon([tuple(canvas.at(x, y)) for x, y in outline], fill=255)
    opening = Canvas(size)  # seen from a little above: the dark inside of the neck
    opening.draw.ellipse(opening.at(0.5 - radii[0] + 0.01, 0.13, 0.5 + radii[0] - 0.01, 0.16), fill=255)
    alpha = canvas.coverage()
    albedo = np.full(alpha.shape + (3,), 170.0) + _surface_texture(alpha.shape, 1)
    return _layer([_shade(alpha, albedo), np.full(alpha.shape + (3,), 60.0)], [alpha, opening.coverage() * alpha])


def _white_mug(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A white mug on white: the handle's hole shows the background."""
    canvas = Canvas(size)
    canvas.draw.rounded_rectangle(canvas.at(0.22, 0.25, 0.66, 0.8), radius=0.05 * size * SUPERSAMPLE, fill=255)
    canvas.draw.ellipse(canvas.at(0.56, 0.36, 0.84, 0.68), fill=255)
    canvas.draw.ellipse(canvas.at(0.63, 0.43, 0.77, 0.61), fill=0)
    alpha = canvas.coverage()
    albedo = np.full(alpha.shape + (3,), 246.0) + _surface_texture(alpha.shape, 2, 1.5)
    return _shade(alpha, albedo, ambient=0.55), alpha


def _striped_bottle(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A black-and-white striped bottle on grey: the white stripes' shaded side matches the background."""
    canvas = Canvas(size)
    heights = np.linspace(0.1, 0.9, 60)
    radii = np.where(heights < 0.35, 0.05 + 0.1 * np.clip((heights - 0.25) / 0.1, 0, 1), 0.15)
    outline = [(0.5 - r, h) for r, h in zip(radii, heights)] + [(0.5 + r, h) for r, h in zip(radii[::-1], heights[::-1])]
    canvas.draw.polygon([tuple(canvas.at(x, y)) for x, y in outline], fill=255)
    alpha = canvas.coverage()
    rows, cols = np.mgrid[0:size, 0:size] / size
    stripes = (np.floor((rows + 0.4 * cols) * 14) % 2 == 0)
    albedo = np.where(stripes[..., None], 245.0, 30.0) * np.ones(3)
    return _shade(alpha, albedo, ambient=0.25), alpha


def _white_ball(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A white ball on white with a contact shadow: its lit top is as bright as the background."""
    canvas = Canvas(size)
    canvas.draw.ellipse(canvas.at(0.25, 0.2, 0.75, 0.7), fill=255)
    alpha = canvas.coverage()
    return _shade(alpha, 252.0, ambient=0.6, specular=0.1), alpha


def _palm(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A potted palm: fronds and leaflets a few pixels wide, a grey pot on a light grey background."""
    pot, trunk, leaves = Canvas(size), Canvas(size), Canvas(size)
    pot.draw.polygon([tuple(pot.at(x, y)) for x, y in [(0.38, 0.72), (0.62, 0.72), (0.58, 0.9), (0.42, 0.9)]], fill=255)
    trunk.line([(0.5, 0.74), (0.49, 0.6), (0.51, 0.45)], 0.025)
    rng = np.random.default_rng(3)
    for angle in np.linspace(-2.6, -0.5, 7):  # fronds fan out from the crown
        length = 0.3 + 0.05 * rng.random()
        t = np.linspace(0, 1, 12)
        xs = 0.51 + np.cos(angle) * length * t
        ys = 0.45 + np.sin(angle) * length * t + 0.25 * length * t**2  # they droop
        leaves.line(list(zip(xs, ys)), 0.006)
        for i in range(2, 12):  # leaflets on both sides
            for side in (-1, 1):
                direction = angle + side * 0.9
                tip = (xs[i] + 0.05 * np.cos(direction) * (1.1 - t[i]), ys[i] + 0.05 * np.sin(direction) * (1.1 - t[i]) + 0.01)
                leaves.line([(xs[i], ys[i]), tip], 0.004)
    alphas = [part.coverage() for part in (pot, trunk, leaves)]
    colours = [_shade(alphas[0], 180.0), _shade(alphas[1], np.array([120.0, 100.0, 80.0])),
               _shade(alphas[2], np.array([70.0, 140.0, 60.0]), ambient=0.6)]
    return _layer(colours, alphas)


def _stool(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey stool on grey: a round seat, thin legs and a thinner rung."""
    seat, legs = Canvas(size), Canvas(size)
    seat.draw.ellipse(seat.at(0.25, 0.22, 0.75, 0.36), fill=255)
    for top, bottom in (((0.3, 0.3), (0.24, 0.85)), ((0.7, 0.3), (0.76, 0.85)), ((0.45, 0.33), (0.43, 0.8)), ((0.55, 0.33), (0.57, 0.8))):
        legs.line([top, bottom], 0.014)
    legs.line([(0.27, 0.66), (0.73, 0.66)], 0.008)
    alphas = [seat.coverage(), legs.coverage()]
    colours = [_shade(alphas[0], 170.0), _shade(alphas[1], 110.0, ambient=0.6)]
    return _layer(colours, alphas)


def _figure(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A figure in grey clothes on grey: thin arms, a light face, dark shoes."""
    body, face, limbs = Canvas(size), Canvas(size), Canvas(size)
    body.draw.rounded_rectangle(body.at(0.38, 0.28, 0.62, 0.62), radius=0.04 * size * SUPERSAMPLE, fill=255)
    face.draw.ellipse(face.at(0.43, 0.1, 0.57, 0.27), fill=255)
    limbs.line([(0.4, 0.32), (0.27, 0.46), (0.2, 0.6)], 0.018)  # arms
    limbs.line([(0.6, 0.32), (0.72, 0.2), (0.8, 0.1)], 0.018)
    limbs.line([(0.45, 0.6), (0.43, 0.9)], 0.03)  # legs
    limbs.line([(0.55, 0.6), (0.58, 0.9)], 0.03)
    alphas = [body.coverage(), face.coverage(), limbs.coverage()]
    colours = [_shade(alphas[0], 140.0), _shade(alphas[1], np.array([225.0, 190.0, 165.0])), _shade(alphas[2], 118.0)]
    return _layer(colours, alphas)


def _grey_ring(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A grey ring on grey: its shadow shows through the hole."""
    canvas = Canvas(size)
    canvas.draw.ellipse(canvas.at(0.2, 0.2, 0.8, 0.8), fill=255)
    canvas.draw.ellipse(canvas.at(0.36, 0.36, 0.64, 0.64), fill=0)
    alpha = canvas.coverage()
    return _shade(alpha, 165.0, ambient=0.3), alpha


def _dark_rimmed_disc(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A pan seen from above on grey: a mid-grey face ringed by a darker rim (6% of the radius), as
    dark as the shadow cast beside it."""
    disc, face = Canvas(size), Canvas(size)
    disc.draw.ellipse(disc.at(0.2, 0.2, 0.8, 0.8), fill=255)
    face.draw.ellipse(face.at(0.218, 0.218, 0.782, 0.782), fill=255)
    alphas = [disc.coverage(), face.coverage()]
    face_albedo = np.full(alphas[1].shape + (3,), 160.0) + _surface_texture(alphas[1].shape, 10, 1.0)
    colours = [np.full(alphas[0].shape + (3,), 70.0), _shade(alphas[1], face_albedo, ambient=0.5, specular=0.1)]
    return _layer(colours, alphas)


def _white_box(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A white box seen from above a corner on light grey: its left face is as grey as the background."""
    top, left, right = Canvas(size), Canvas(size), Canvas(size)
    corner, centre = (0.5, 0.45), (0.5, 0.3)
    top.draw.polygon([tuple(top.at(*p)) for p in [(0.22, 0.3), centre, (0.78, 0.3), (0.5, 0.15)]], fill=255)
    top.draw.polygon([tuple(top.at(*p)) for p in [(0.22, 0.3), corner, (0.78, 0.3), centre]], fill=255)
    left.draw.polygon([tuple(left.at(*p)) for p in [(0.22, 0.3), corner, (0.5, 0.85), (0.22, 0.7)]], fill=255)
    right.draw.polygon([tuple(right.at(*p)) for p in [corner, (0.78, 0.3), (0.78, 0.7), (0.5, 0.85)]], fill=255)
    alphas = [top.coverage(), left.coverage(), right.coverage()]
    colours = [np.full(a.shape + (3,), level) + _surface_texture(a.shape, seed, 1.0)
               for a, level, seed in zip(alphas, (248.0, 212.0, 150.0), (4, 5, 6))]
    return _layer(colours, alphas)


def _layer(colours: list[np.ndarray], alphas: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Parts drawn over each other in order ("over" compositing): one colour and one alpha."""
    colour = np.zeros(colours[0].shape)
    alpha = np.zeros(alphas[0].shape)
    for part_colour, part_alpha in zip(colours, alphas):
        premultiplied = colour * alpha[..., None] * (1 - part_alpha[..., None]) + part_colour * part_alpha[..., None]
        alpha = part_alpha + alpha * (1 - part_alpha)
        colour = premultiplied / np.maximum(alpha, 1e-9)[..., None]
    return colour, alpha


def _background(photo: Photo, height: int, width: int) -> np.ndarray:
    rows, cols = np.mgrid[0:height, 0:width]
    reach = np.hypot((rows - height / 2) / (height / 2), (cols - width / 2) / (width / 2)) / np.sqrt(2)
    return np.asarray(photo.background, np.float64) * (1.0 - photo.vignette * reach**2)[..., None]


def _shadow(alpha: np.ndarray, shadow: Shadow, side: int) -> np.ndarray:
    """HxW in 0..1: how much of the shadow falls on each background pixel."""
    if shadow.ellipse is not None:
        canvas = Canvas(side)
        canvas.draw.ellipse(canvas.at(*shadow.ellipse), fill=255)
        cast = canvas.coverage()[: alpha.shape[0], : alpha.shape[1]]
    else:
        shift = (shadow.offset[1] * side, shadow.offset[0] * side)
        cast = ndimage.shift(alpha, shift, order=1, mode="constant")
    return np.clip(ndimage.gaussian_filter(cast, shadow.blur * side), 0, 1)


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


SCENES: dict[str, tuple[Callable[[int], tuple[np.ndarray, np.ndarray]], Photo]] = {
    "grey vase on grey": (_grey_vase, Photo(GREY, Shadow(offset=(0.06, 0.02), strength=0.45), seed=1)),
    "white mug on white": (_white_mug, Photo(WHITE, Shadow(blur=0.015, strength=0.3, ellipse=(0.2, 0.74, 0.82, 0.86)), seed=2)),
    "striped bottle on grey": (_striped_bottle, Photo(GREY, Shadow(offset=(0.05, 0.03)), jpeg_quality=90, seed=3)),
    "white ball on white": (_white_ball, Photo(WHITE, Shadow(blur=0.02, strength=0.35, ellipse=(0.27, 0.62, 0.8, 0.76)), seed=4)),
    "palm on light grey": (_palm, Photo(LIGHT_GREY, Shadow(blur=0.012, ellipse=(0.34, 0.86, 0.7, 0.94)), seed=5)),
    "grey stool on grey": (_stool, Photo(GREY, Shadow(blur=0.015, strength=0.35, ellipse=(0.2, 0.78, 0.84, 0.92)), seed=6)),
    "grey figure on grey": (_figure, Photo(GREY, Shadow(blur=0.015, strength=0.35, ellipse=(0.36, 0.86, 0.7, 0.94)), jpeg_quality=88, seed=7)),
    "grey ring on grey": (_grey_ring, Photo(GREY, Shadow(offset=(0.04, 0.05), strength=0.4), seed=8)),
    "white box on light grey": (_white_box, Photo(LIGHT_GREY, Shadow(offset=(-0.05, 0.03), strength=0.3), seed=9)),
    "dark-rimmed disc on grey": (_dark_rimmed_disc, Photo(GREY, Shadow(offset=(0.04, 0.04), strength=0.4), seed=10)),
}
