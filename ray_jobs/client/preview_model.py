"""What a 3D preview draws, as plain arrays: a stored GLB read, its base colour found, fewer faces if large.

Decimation is for the preview only (downloads keep every face). It clusters vertices on a grid,
which is linear in the mesh size, so a 1M-face asset previews in well under a second; vertices are
also split by texture coordinate so UV seams stay seams. A front turns a PreviewModel into its own
drawing objects without knowing any mesh library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ray_jobs.generators.materials import base_colour_image

PREVIEW_MAX_FACES = 80_000
# Larger textures are shrunk: the browser shows a few hundred pixels, and every texel travels in the page.
PREVIEW_MAX_TEXTURE_PX = 1024


@dataclass
class PreviewModel:
    vertices: np.ndarray                # N x 3 float64, glTF frame (Y up)
    faces: np.ndarray                   # M x 3 int64 indices into vertices
    uv: np.ndarray | None               # N x 2 float64 texture coordinates, None when untextured
    texture: np.ndarray | None          # H x W x 3|4 uint8 base colour, None when untextured
    vertex_colors: np.ndarray | None    # N x 3 uint8 when the mesh has colours but no texture
    source_faces: int                   # faces in the stored model
    shown_faces: int                    # faces kept for the preview (len(faces))


def preview_model(glb_bytes: bytes, *, max_faces: int = PREVIEW_MAX_FACES) -> PreviewModel:
    """The GLB as a PreviewModel of at most ``max_faces`` faces; ValueError when it holds no triangle mesh."""
    # trimesh loads only here, so importing the data type stays cheap for the dashboard
    from ray_jobs.generators.export import load_glb

    mesh = load_glb(glb_bytes)
    texture = _texture_of(mesh)
    uv = np.asarray(mesh.visual.uv, dtype=np.float64) if texture is not None else None
    colors = _vertex_colors_of(mesh) if texture is None else None
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    source_faces = len(faces)
    if source_faces > max_faces:
        vertices, faces, uv, colors = cluster_vertices(vertices, faces, max_faces, uv=uv, colors=colors)
    return PreviewModel(vertices, faces, uv, texture, colors, source_faces, len(faces))


def cluster_vertices(vertices: np.ndarray, faces: np.ndarray, max_faces: int, *,
                     uv: np.ndarray | None = None, colors: np.ndarray | None = None):
    """Merge vertices that share a grid cell (and a UV cell) until at most max_faces faces remain.

    Returns (vertices, faces, uv, colors): each cluster's mean position, UV and colour.
    """
    lo = vertices.min(axis=0)
    extent = float(np.ptp(vertices, axis=0).max()) or 1.0
    # A closed surface cut by a g x g x g grid keeps roughly 4 g^2 faces: start there, refine once or twice.
    grid = max(4, int(np.sqrt(max_faces / 4)))
    for _ in range(8):
        inverse, count = _cluster_ids(vertices, lo, extent, grid, uv)
        new_faces = inverse[faces]
        keep = ((new_faces[:, 0] != new_faces[:, 1]) & (new_faces[:, 1] != new_faces[:, 2])
                & (new_faces[:, 0] != new_faces[:, 2]))
        new_faces = new_faces[keep]
        if len(new_faces) <= max_faces or grid <= 4:
            break
        grid = max(4, int(grid * np.sqrt(max_faces / len(new_faces)) * 0.97))
    weights = np.bincount(inverse, minlength=count).astype(np.float64)[:, None]

    def mean(values: np.ndarray) -> np.ndarray:
        summed = np.stack([np.bincount(inverse, values[:, i], minlength=count) for i in range(values.shape[1])], 1)
        return summed / weights

    new_uv = mean(uv) if uv is not None else None
    new_colors = mean(colors.astype(np.float64)).round().astype(np.uint8) if colors is not None else None
    return mean(vertices), new_faces, new_uv, new_colors


def _cluster_ids(vertices, lo, extent, grid, uv):
    cells = np.clip(((vertices - lo) / extent * grid).astype(np.int64), 0, grid)
    key = cells[:, 0] + (grid + 1) * (cells[:, 1] + (grid + 1) * cells[:, 2])
    if uv is not None:
        uv_cells = np.clip((np.mod(uv, 1.0001) * grid).astype(np.int64), 0, grid)
        key = key * (grid + 1) ** 2 + uv_cells[:, 0] * (grid + 1) + uv_cells[:, 1]
    unique, inverse = np.unique(key, return_inverse=True)
    return inverse.ravel(), len(unique)


def _texture_of(mesh) -> np.ndarray | None:
    """The base-colour texture as RGB or RGBA pixels, at most PREVIEW_MAX_TEXTURE_PX a side; None
    without one (or without one UV per vertex to place it)."""
    image = base_colour_image(mesh)
    if image is None or len(mesh.visual.uv) != len(mesh.vertices):
        return None
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    if max(image.size) > PREVIEW_MAX_TEXTURE_PX:  # convert() made a copy: the mesh's image stays whole
        image.thumbnail((PREVIEW_MAX_TEXTURE_PX, PREVIEW_MAX_TEXTURE_PX))
    return np.ascontiguousarray(np.asarray(image))


def _vertex_colors_of(mesh) -> np.ndarray | None:
    if getattr(mesh.visual, "kind", None) != "vertex":
        return None
    return np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8)
