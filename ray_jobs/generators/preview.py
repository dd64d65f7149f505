"""A lighter copy of a model for previews: vertices clustered on a grid down to a face budget,
the base-colour texture shrunk. Made once when a job publishes (downloads keep every face).

Clustering is linear in the mesh size; vertices are also split by texture coordinate so UV
seams stay seams.
"""

from __future__ import annotations

import numpy as np

from ray_jobs.generators.materials import base_colour_image

PREVIEW_MAX_FACES = 80_000
# Larger textures are shrunk: the browser shows a few hundred pixels, and every texel travels in the page.
PREVIEW_MAX_TEXTURE_PX = 1024


def preview_glb(mesh, max_faces: int = PREVIEW_MAX_FACES) -> bytes | None:
    """The model with at most `max_faces` faces as GLB bytes; None when it is small enough to be its own preview."""
    import trimesh
    from PIL import Image

    from ray_jobs.generators.export import export_mesh

    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) <= max_faces:
        return None
    texture = texture_pixels(mesh)
    uv = np.asarray(mesh.visual.uv, dtype=np.float64) if texture is not None else None
    vertices, faces, uv, _ = cluster_vertices(np.asarray(mesh.vertices, np.float64), faces, max_faces, uv=uv)
    light = trimesh.Trimesh(vertices, faces, process=False)
    if texture is not None:
        material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(texture))
        light.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return export_mesh(light, "glb")


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


def texture_pixels(mesh) -> np.ndarray | None:
    """The base-colour texture as RGB or RGBA pixels, at most PREVIEW_MAX_TEXTURE_PX a side; None
    without one (or without one UV per vertex to place it)."""
    image = base_colour_image(mesh)
    if image is None or len(mesh.visual.uv) != len(mesh.vertices):
        return None
    return preview_pixels(image)


def preview_pixels(image) -> np.ndarray:
    """A base-colour image as RGB or RGBA pixels, at most PREVIEW_MAX_TEXTURE_PX a side."""
    image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
    if max(image.size) > PREVIEW_MAX_TEXTURE_PX:  # convert() made a copy: the mesh's image stays whole
        image.thumbnail((PREVIEW_MAX_TEXTURE_PX, PREVIEW_MAX_TEXTURE_PX))
    return np.ascontiguousarray(np.asarray(image))


