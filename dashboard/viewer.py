"""The inline 3D preview: a pyvista scene shown with stpyvista's trame backend.

The scene is exported as one self-contained HTML page (vtk.js inline, the texture kept) by
pyvista's trame exporter in a short-lived child process, and shown by stpyvista's component:
nothing renders on the server, so no OpenGL context lives in the dashboard, and the browser asks
no other host. Each stored GLB is exported once and the page kept by key, so opening it again
costs no export; a failed export is one clear line, never an empty frame.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyvista as pv
import streamlit as st

from dashboard.preview_mesh import PreviewMesh, preview_mesh
from ray_jobs.client.preview_model import PreviewModel

BACKGROUND = "#f3f4f6"
WINDOW_WIDTH = 640  # the browser scales the scene to the column; this only sets its aspect
# A decimated preview exports in well under a second; a slow or loaded machine gets ample room.
EXPORT_TIMEOUT_S = 60.0


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


def warm_up() -> None:
    """Pay the first preview's one-time costs ahead of it, in a running server: importing
    stpyvista (it loads panel, ~0.6 s, and declares its component, which needs the server) and
    VTK's first plotter (~0.45 s). Export children are forked from this process and inherit both."""
    prepare_export()
    import stpyvista  # noqa: F401

    pv.Plotter(off_screen=True, window_size=(8, 8)).close()


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


def show_preview(cache_key: str, load_model: Callable[[], PreviewModel], *, height: int = 420) -> PreviewShown:
    """Show one stored model; `cache_key` names it (stored keys never change their content).
    PreviewExportFailed when the scene cannot be exported."""
    exported = _exported_scene(cache_key, load_model, height)
    _draw(cache_key, exported.html, height)
    return PreviewShown(exported.source_faces, exported.shown_faces)


class PreviewExportFailed(Exception):
    """The 3D scene could not be exported for the browser."""


@dataclass(frozen=True)
class ExportedScene:
    html: str  # one self-contained page: vtk.js, the decimated mesh and its texture
    source_faces: int
    shown_faces: int


# A few scenes only (each ~2 MB of HTML): opening one of them again shows it without exporting.
@st.cache_resource(max_entries=4, show_spinner="Preparing the 3D preview…")
def _exported_scene(cache_key: str, _load_model: Callable[[], PreviewModel], height: int) -> ExportedScene:
    """Exported once per stored GLB for every session; a failure is not kept, the next view retries."""
    model = _load_model()
    return ExportedScene(export_html(model, height), model.source_faces, model.shown_faces)


def export_html(model: PreviewModel, height: int, *, timeout_s: float = EXPORT_TIMEOUT_S) -> str:
    """The scene of `model` as stpyvista's trame backend exports it, made in a forked child: the
    export starts a trame server and VTK objects that should not live in the dashboard, and a
    child that fails, crashes or hangs becomes one PreviewExportFailed instead of an empty frame."""
    prepare_export()
    context = multiprocessing.get_context("fork")  # the child needs the model without pickling it
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_export_in_child, args=(sender, model, height), daemon=True)
    child.start()
    sender.close()  # the child holds the only writer: its exit ends the pipe
    try:
        if not receiver.poll(timeout_s):
            raise PreviewExportFailed(f"the 3D scene was not exported within {timeout_s:.0f} s; download the model to view it")
        try:
            outcome, text = receiver.recv()
        except EOFError:
            child.join(5)
            raise PreviewExportFailed(f"the 3D scene's export stopped (exit code {child.exitcode}); download the model to view it") from None
        if outcome != "html":
            raise PreviewExportFailed(f"the 3D scene could not be exported ({text}); download the model to view it")
        return text
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join()


def _export_in_child(sender, model: PreviewModel, height: int) -> None:
    try:
        plotter = scene(preview_mesh(model), height)
        sender.send(("html", plotter.trame.export_html(None).read()))
    except BaseException as error:  # noqa: BLE001 - whatever stops the export is reported, as one line
        lines = str(error).strip().splitlines()
        sender.send(("error", f"{type(error).__name__}: {lines[0] if lines else 'no message'}"[:300]))
    finally:
        sender.close()


class _ExportedPlotter(pv.Plotter):
    """What stpyvista takes (a Plotter) holding a scene exported already: its export, which
    stpyvista calls in a child process of its own, hands over that page instead of exporting again."""

    def __init__(self, html: str, height: int):
        super().__init__(off_screen=True, window_size=(WINDOW_WIDTH, height))
        self._html = html

    def export_html(self, filename=None):
        return io.StringIO(self._html)


@st.fragment
def _draw(cache_key: str, html: str, height: int) -> None:
    """In a fragment: reruns elsewhere on the page do not send the scene again."""
    from stpyvista import stpyvista  # imports need a running Streamlit server

    plotter = _ExportedPlotter(html, height)
    try:
        stpyvista(plotter, backend="trame", key=f"preview-{cache_key}")
    finally:
        plotter.close()
