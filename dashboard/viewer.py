"""The inline 3D preview: a pyvista scene shown with stpyvista's trame backend.

stpyvista exports the scene as one self-contained HTML page (vtk.js inline, the texture kept) in
a short-lived child process and hands it to its Streamlit component: nothing renders on the
server, so no OpenGL context lives in the dashboard, and the browser asks no other host.
The preview geometry (decimated when large) is made once per stored GLB and kept by key.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvista as pv
import streamlit as st

from dashboard.preview_mesh import PreviewMesh, preview_mesh

BACKGROUND = "#f3f4f6"
WINDOW_WIDTH = 640  # the browser scales the scene to the column; this only sets its aspect


def prepare_export() -> None:
    """What stpyvista's trame export needs from this process, set once before the first preview:
    - the export runs in a child process made from a local function, which only the fork start
      method can run (Python 3.14 defaults to forkserver);
    - trame-vtklocal looks for its VTK-wasm bundle and downloads it when the folder is missing:
      point it at a local folder (the export inlines vtk.js and does not need the bundle)."""
    if os.name == "posix" and multiprocessing.get_start_method(allow_none=True) != "fork":
        multiprocessing.set_start_method("fork", force=True)
    # Nothing is drawn here, but VTK makes a window object per plotter: a software one, never an X one.
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")
    if not os.environ.get("VTK_WASM_DIR_OVERRIDE"):
        folder = Path(tempfile.gettempdir()) / "asset-studio-vtk-wasm"
        folder.mkdir(exist_ok=True)
        os.environ["VTK_WASM_DIR_OVERRIDE"] = str(folder)


@dataclass(frozen=True)
class PreviewShown:
    source_faces: int
    shown_faces: int


def scene(mesh: PreviewMesh, height: int) -> pv.Plotter:
    """A plotter holding `mesh` alone, lit and framed from the front (not rendered here)."""
    plotter = pv.Plotter(off_screen=True, window_size=(WINDOW_WIDTH, height))
    plotter.set_background(BACKGROUND)
    # Grid-clustered meshes have folded slivers whose averaged normals show as dark specks: shade them flat.
    smooth = mesh.shown_faces == mesh.source_faces
    if mesh.texture is not None:
        plotter.add_mesh(mesh.polydata, texture=pv.numpy_to_texture(mesh.texture), smooth_shading=smooth)
    elif mesh.vertex_colors is not None:
        plotter.add_mesh(mesh.polydata, scalars=mesh.vertex_colors, rgb=True, smooth_shading=smooth)
    else:
        plotter.add_mesh(mesh.polydata, color="#b8c4d6", smooth_shading=smooth)
    # glTF is Y-up with the image facing +Z: look at the front, turned a little to show depth.
    plotter.view_xy()
    plotter.camera.Azimuth(30)
    plotter.camera.Elevation(15)
    return plotter


def show_preview(cache_key: str, load_model: Callable[[], object], *, height: int = 420) -> PreviewShown:
    """Show one stored model; `cache_key` names it (stored keys never change their content)."""
    mesh = _preview_for(cache_key, load_model)
    _draw(cache_key, mesh, height)
    return PreviewShown(mesh.source_faces, mesh.shown_faces)


# A few models only: each kept scene holds its arrays (about 1.5 MB), and more made memory grow per preview.
@st.cache_resource(max_entries=4, show_spinner="Preparing the 3D preview…")
def _preview_for(cache_key: str, _load_model: Callable[[], object]) -> PreviewMesh:
    """The decimated preview geometry, made once per stored GLB for every session."""
    return preview_mesh(_load_model())


@st.fragment
def _draw(cache_key: str, mesh: PreviewMesh, height: int) -> None:
    """In a fragment: reruns elsewhere on the page do not export the scene again."""
    from stpyvista import stpyvista  # imports need a running Streamlit server

    prepare_export()
    plotter = scene(mesh, height)
    try:
        stpyvista(plotter, backend="trame", key=f"preview-{cache_key}")
    finally:
        plotter.close()
