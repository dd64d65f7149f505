"""What a 3D preview draws, as plain arrays: a stored GLB read, its base colour found, fewer faces if large.

Versions published with a preview file (large models: decimated once at job time, see
generators.preview) are read from it; older ones are decimated here. A front turns a PreviewModel
into its own drawing objects without knowing any mesh library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ray_jobs.generators.preview import PREVIEW_MAX_FACES, cluster_vertices, texture_pixels


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
    texture = texture_pixels(mesh)
    uv = np.asarray(mesh.visual.uv, dtype=np.float64) if texture is not None else None
    colors = _vertex_colors_of(mesh) if texture is None else None
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    source_faces = len(faces)
    if source_faces > max_faces:
        vertices, faces, uv, colors = cluster_vertices(vertices, faces, max_faces, uv=uv, colors=colors)
    return PreviewModel(vertices, faces, uv, texture, colors, source_faces, len(faces))


def _vertex_colors_of(mesh) -> np.ndarray | None:
    if getattr(mesh.visual, "kind", None) != "vertex":
        return None
    return np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8)
