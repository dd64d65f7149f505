"""Turn a PreviewModel (plain arrays from the client) into the pyvista geometry the viewer draws."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyvista as pv

from ray_jobs.client.preview_model import PreviewModel


@dataclass
class PreviewMesh:
    polydata: pv.PolyData
    texture: np.ndarray | None        # H x W x 3|4 uint8 base colour, None when untextured
    vertex_colors: np.ndarray | None  # N x 3 uint8 when the mesh has colours but no texture
    source_faces: int
    shown_faces: int


def preview_mesh(model: PreviewModel) -> PreviewMesh:
    polydata = pv.PolyData.from_regular_faces(np.asarray(model.vertices, np.float64), np.asarray(model.faces, np.int64))
    if model.uv is not None and model.texture is not None:
        polydata.active_texture_coordinates = model.uv.astype(np.float32)
    return PreviewMesh(polydata, model.texture, model.vertex_colors, model.source_faces, model.shown_faces)
