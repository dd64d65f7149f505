"""Synthetic inputs drawn in code: object images (shapes on plain backgrounds or with alpha, in any
format), a small textured sphere, and a real (small) asset published straight into a store (its
GLB and thumbnail, under the identity the dashboard looks up). Every image is deterministic and
takes milliseconds to make; trimesh and the project's generators are imported only when used."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("disc", "ring", "figure", "parts", "star")
BACKGROUNDS = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "green": (20, 170, 60),
    "grey": (128, 128, 128),
    "blue": (40, 70, 210),
}
# Object colours, far from every background above.
WARM = (235, 140, 20)
PURPLE = (150, 30, 120)


def shape_mask(shape: str = "disc", size: int = 256, box: tuple[float, float, float, float] = (0.15, 0.15, 0.85, 0.85)) -> np.ndarray:
    """Boolean ``size`` x ``size`` mask of ``shape`` drawn inside ``box`` (left, top, right, bottom as fractions)."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    left, top, right, bottom = (value * size for value in box)
    width, height = right - left, bottom - top
    cx, cy = (left + right) / 2, (top + bottom) / 2

    def at(fx: float, fy: float) -> tuple[float, float]:
        return left + fx * width, top + fy * height

    if shape == "disc":
        draw.ellipse([left, top, right, bottom], fill=255)
    elif shape == "ring":
        draw.ellipse([left, top, right, bottom], fill=255)
        draw.ellipse([*at(0.32, 0.32), *at(0.68, 0.68)], fill=0)
    elif shape == "figure":
        limb = max(3, round(min(width, height) * 0.05))  # thin arms and legs
        draw.ellipse([*at(0.3, 0.25), *at(0.7, 0.7)], fill=255)  # body
        draw.ellipse([*at(0.38, 0.0), *at(0.62, 0.24)], fill=255)  # head
        draw.line([at(0.35, 0.4), at(0.0, 0.15)], fill=255, width=limb)  # arms
        draw.line([at(0.65, 0.4), at(1.0, 0.15)], fill=255, width=limb)
        draw.line([at(0.42, 0.65), at(0.3, 1.0)], fill=255, width=limb)  # legs
        draw.line([at(0.58, 0.65), at(0.7, 1.0)], fill=255, width=limb)
    elif shape == "parts":
        draw.ellipse([*at(0.0, 0.0), *at(0.45, 0.45)], fill=255)
        draw.rectangle([*at(0.55, 0.5), *at(1.0, 1.0)], fill=255)
    elif shape == "star":
        angles = np.linspace(0, 2 * np.pi, 11)[:-1] - np.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 0.5, 0.22)
        points = [(cx + r * width * np.cos(a), cy + r * height * np.sin(a)) for r, a in zip(radii, angles)]
        draw.polygon(points, fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}: use one of {SHAPES}")
    return np.asarray(canvas) > 127


def object_pixels(mask: np.ndarray, background: tuple[int, int, int] = BACKGROUNDS["white"], alpha: bool = False) -> Image.Image:
    """The object in two colours (stripes) over ``mask``; RGBA with transparency, or RGB on ``background``."""
    size_y, size_x = mask.shape
    stripes = (np.arange(size_x)[None, :] // max(1, size_x // 16) + np.arange(size_y)[:, None] // max(1, size_y // 16)) % 2
    colours = np.where(stripes[..., None] == 0, np.array(WARM), np.array(PURPLE)).astype(np.uint8)
    pixels = np.where(mask[..., None], colours, np.array(background, np.uint8))
    if alpha:
        return Image.fromarray(np.dstack([pixels, mask.astype(np.uint8) * 255]), "RGBA")
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str = "PNG", mode: str | None = None, **save_options) -> bytes:
    """``image`` converted to ``mode`` (any Pillow mode, "I;16" too) and saved as ``fmt``."""
    if mode == "I;16":
        grey = np.asarray(image.convert("L"), np.uint16) * 257
        image = Image.fromarray(grey)  # uint16 gives mode I;16
    elif mode is not None and mode != image.mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_options)
    return buffer.getvalue()


def object_image(
    shape: str = "disc",
    size: int = 256,
    *,
    background: tuple[int, int, int] | str = "white",
    alpha: bool = False,
    fmt: str = "PNG",
    mode: str | None = None,
    box: tuple[float, float, float, float] = (0.15, 0.15, 0.85, 0.85),
    **save_options,
) -> bytes:
    """Encoded image of ``shape`` (see SHAPES) on a plain ``background`` or transparent (``alpha``)."""
    colour = BACKGROUNDS[background] if isinstance(background, str) else background
    image = object_pixels(shape_mask(shape, size, box), colour, alpha)
    return encode(image, fmt, mode, **save_options)


def textured_sphere(subdivisions: int = 3, texture_px: int = 64, seed: int = 0):
    """An icosphere with a two-colour texture (noise added for ``seed``: distinct assets)."""
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    vertices = mesh.vertices
    uv = np.c_[np.arctan2(vertices[:, 1], vertices[:, 0]) / (2 * np.pi) + 0.5, vertices[:, 2] * 0.5 + 0.5]
    texture = np.zeros((texture_px, texture_px, 3), np.uint8)
    texture[:, : texture_px // 2] = (220, 90, 40)
    texture[:, texture_px // 2:] = (40, 90, 220)
    if seed:  # distinct textures make distinct assets
        texture = (texture + np.random.default_rng(seed).integers(0, 30, texture.shape)).astype(np.uint8)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(texture))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return mesh


def publish_asset(catalog, image: bytes, name: str, *, settings: dict | None = None, mesh=None):
    """Publish a real asset for `image` under the identity the dashboard looks up, with the files
    a job writes (a preview copy too when the mesh is large)."""
    from ray_jobs.generators.export import export_mesh
    from ray_jobs.generators.preview import preview_glb
    from ray_jobs.generators.registry import identity_settings
    from ray_jobs.generators.thumbnail import render_thumbnail
    from storage.keys import sha256_hex

    mesh = mesh if mesh is not None else textured_sphere()
    identity = identity_settings("inflate", settings or {})
    files = {"glb": (export_mesh(mesh, "glb"), "model/gltf-binary"),
             "thumbnail": (render_thumbnail(mesh, size=96), "image/png")}
    preview = preview_glb(mesh)
    if preview is not None:
        files["preview"] = (preview, "model/gltf-binary")
    return catalog.publish(
        image_sha256=sha256_hex(image), name=name, generator="inflate",
        settings={k: v for k, v in identity.items() if k != "generator"}, files=files,
        timings={"generate": 0.5}, quality={"faces": len(mesh.faces), "watertight": True, "iou": 0.97},
    )
