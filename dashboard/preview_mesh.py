"""Turn a stored mesh into what the preview shows: pyvista geometry, its texture, fewer faces if large.

Decimation is for the preview only (downloads keep every face). It clusters vertices on a grid,
which is linear in the mesh size, so a 1M-face asset previews in well under a second; vertices are
also split by texture coordinate so UV seams stay seams.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv
import trimesh

PREVIEW_MAX_FACES = 80_000
PREVIEW_MAX_TEXTURE_PX = 1024


@dataclass
class PreviewMesh:
    polydata: pv.PolyData
    texture: np.ndarray | None        # H x W x 3|4 uint8 base colour, None when untextured
    vertex_colors: np.ndarray | None  # N x 3 uint8 when the mesh has colours but no texture
    source_faces: int
    shown_faces: int


def preview_mesh(mesh: trimesh.Trimesh, *, max_faces: int = PREVIEW_MAX_FACES) -> PreviewMesh:
    uv = _uv_of(mesh)
    texture = _base_colour_image(mesh) if uv is not None else None
    colors = _vertex_colors_of(mesh) if texture is None else None
    vertices, faces = np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)
    source_faces = len(faces)
    if source_faces > max_faces:
        vertices, faces, uv, colors = cluster_vertices(vertices, faces, max_faces, uv=uv, colors=colors)
    polydata = pv.wrap(trimesh.Trimesh(vertices, faces, process=False))
    if uv is not None and texture is not None:
        polydata.active_texture_coordinates = uv.astype(np.float32)
    return PreviewMesh(polydata, texture, colors, source_faces, len(faces))


def cluster_vertices(vertices: np.ndarray, faces: np.ndarray, max_faces: int, *,
                     uv: np.ndarray | None = None, colors: np.ndarray | None = None):
    """Merge vertices that share a grid cell (and a UV cell) until at most max_faces faces remain."""
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


def _uv_of(mesh: trimesh.Trimesh) -> np.ndarray | None:
    uv = getattr(mesh.visual, "uv", None)
    if uv is None or len(uv) != len(mesh.vertices):
        return None
    return np.asarray(uv, dtype=np.float64)


def _base_colour_image(mesh: trimesh.Trimesh) -> np.ndarray | None:
    material = getattr(mesh.visual, "material", None)
    image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
    if image is None:
        return None
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    if max(image.size) > PREVIEW_MAX_TEXTURE_PX:
        image = image.copy()
        image.thumbnail((PREVIEW_MAX_TEXTURE_PX, PREVIEW_MAX_TEXTURE_PX))
    return np.ascontiguousarray(np.asarray(image))


def _vertex_colors_of(mesh: trimesh.Trimesh) -> np.ndarray | None:
    if getattr(mesh.visual, "kind", None) != "vertex":
        return None
    return np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8)
