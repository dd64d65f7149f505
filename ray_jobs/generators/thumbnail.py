"""A 3/4-view preview PNG, rendered in numpy: headless, no display, no GL driver needed."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ray_jobs.generators.materials import base_colour_image, sample_texture
from ray_jobs.generators.raster import rasterize

BACKGROUND = (238, 240, 243)
# Camera direction (from the object toward the viewer): front, to the right, a little above.
VIEW_DIRECTION = np.array([0.55, 0.35, 0.76])
LIGHT_DIRECTION = np.array([-0.25, 0.6, 0.76])
AMBIENT = 0.4
SUPERSAMPLING = 2
FILL = 0.88  # share of the image the object spans


def render_thumbnail(mesh, size: int = 256) -> bytes:
    """PNG bytes, ``size`` x ``size``: the textured mesh seen from the front-right, lit, on a plain background."""
    canvas = size * SUPERSAMPLING
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    image = np.empty((canvas * canvas, 3), np.float64)
    image[:] = BACKGROUND
    if len(faces):
        screen, depth = _project(vertices - (vertices.min(axis=0) + vertices.max(axis=0)) / 2, canvas)
        shown = _facing_viewer(mesh)
        fragments = rasterize(screen[faces[shown]], depth[faces[shown]], (canvas, canvas))
        fragments.face = shown[fragments.face]
        colour = _surface_colour(mesh, fragments, faces)
        normals = np.einsum("nk,nkd->nd", fragments.barycentric, np.asarray(mesh.vertex_normals)[faces[fragments.face]])
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        light = LIGHT_DIRECTION / np.linalg.norm(LIGHT_DIRECTION)
        shade = AMBIENT + (1 - AMBIENT) * np.clip(normals @ light, 0.0, 1.0)
        image[fragments.pixel] = colour * shade[:, None]
    pixels = np.clip(image.reshape(canvas, canvas, 3), 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels, "RGB").resize((size, size), Image.Resampling.BOX)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def _facing_viewer(mesh) -> np.ndarray:
    """Indices of the faces to draw: as in glTF, back faces are culled unless the material is double-sided."""
    material = getattr(mesh.visual, "material", None)
    if getattr(material, "doubleSided", False):
        return np.arange(len(mesh.faces))
    return np.flatnonzero(np.asarray(mesh.face_normals) @ VIEW_DIRECTION > 0)


def _project(points: np.ndarray, canvas: int) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic view along VIEW_DIRECTION: (N, 2) pixel positions (rows downward) and depth (larger is nearer)."""
    toward_viewer = VIEW_DIRECTION / np.linalg.norm(VIEW_DIRECTION)
    right = np.cross([0.0, 1.0, 0.0], toward_viewer)
    right /= np.linalg.norm(right)
    up = np.cross(toward_viewer, right)
    flat = np.column_stack([points @ right, points @ up])
    low, high = flat.min(axis=0), flat.max(axis=0)
    scale = FILL * canvas / max(float((high - low).max()), 1e-12)
    centre = (low + high) / 2
    screen = np.column_stack([(flat[:, 0] - centre[0]) * scale, -(flat[:, 1] - centre[1]) * scale]) + canvas / 2
    return screen, points @ toward_viewer


def _surface_colour(mesh, fragments, faces: np.ndarray) -> np.ndarray:
    """(N, 3) colour in 0..255 per fragment: from the texture, else vertex colours, else grey."""
    visual = mesh.visual
    corners = faces[fragments.face]
    texture = base_colour_image(mesh)
    if texture is not None:
        uv = np.einsum("nk,nkd->nd", fragments.barycentric, np.asarray(visual.uv)[corners])
        return sample_texture(np.asarray(texture.convert("RGB"), np.float64), uv)
    if visual.kind == "vertex":
        colours = np.asarray(visual.vertex_colors, np.float64)[:, :3]
        return np.einsum("nk,nkd->nd", fragments.barycentric, colours[corners])
    if visual.kind == "face":
        return np.asarray(visual.face_colors, np.float64)[fragments.face, :3]
    return np.full((len(fragments.face), 3), 180.0)

