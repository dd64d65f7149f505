"""Offline 3D preview: a GLB shown as a textured, orbitable vtk.js scene in the page.

The scene is built the way stpyvista's panel backend builds it (a pyvista Plotter saved through
panel's VTK pane), but the JavaScript (bokeh, panel, vtk.js) is served by this Streamlit app from
the installed packages instead of a CDN, so the preview works with no internet.
"""

from __future__ import annotations

import functools
import io
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# VTK renders offscreen through EGL on machines without a display; must be set before VTK makes a window.
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")

import bokeh  # noqa: E402
import panel as pn  # noqa: E402
import pyvista as pv  # noqa: E402
import streamlit as st  # noqa: E402
import streamlit.components.v1 as components  # noqa: E402  (only to serve JS folders)
from bokeh.resources import Resources  # noqa: E402
from panel.io.resources import CDN_DIST  # noqa: E402

from dashboard.preview_mesh import PreviewMesh, preview_mesh  # noqa: E402
from ray_jobs.client.preview_model import PREVIEW_MAX_FACES, preview_model  # noqa: E402

pn.extension("vtk")

PANEL_DIST = Path(pn.__file__).parent / "dist"
BOKEH_JS = Path(bokeh.__file__).parent / "server" / "static" / "js"
_PLACEHOLDER_ROOT = "__studio_assets__/"


def asset_routes() -> tuple[str, str]:
    """Register the bokeh and panel JS folders with Streamlit's component file server.

    Streamlit serves a declared component's folder at `component/<name>/` with proper MIME types
    (its app static folder serves .js as text/plain, which browsers refuse to run). Returns the
    two URL prefixes, relative so they also work under a `server.baseUrlPath`.
    """
    bokeh_js = components.declare_component("bokeh_js", path=str(BOKEH_JS))
    panel_dist = components.declare_component("panel_dist", path=str(PANEL_DIST))
    return f"component/{bokeh_js.name}/", f"component/{panel_dist.name}/"


def offline_html(html: str, bokeh_prefix: str, panel_prefix: str) -> str:
    """Point every script and stylesheet of a panel page at the app's own asset routes."""
    html = html.replace(_PLACEHOLDER_ROOT + "static/js/", bokeh_prefix)
    html = html.replace(_PLACEHOLDER_ROOT + "static/extensions/panel/", panel_prefix)
    html = html.replace(CDN_DIST, panel_prefix)
    # The VTK view needs neither bokeh's WebGL glyphs nor ES-module shims: 0.2 MB less
    # JavaScript to parse per preview. Favicons are decoration.
    html = re.sub(r'<script type="text/javascript" src="[^"]*(?:bokeh-gl|es-module-shims)[^"]*"></script>\s*',
                  "", html)
    return re.sub(r'<link rel="(?:icon|apple-touch-icon)"[^>]*>', "", html)


# One offscreen render window for every preview: creating a GL context per preview costs memory
# that Mesa never gives back. VTK is not thread-safe and Streamlit sessions run in threads: one lock.
_SCENE_LOCK = threading.Lock()
_RENDER_SIZE = (320, 240)  # panel renders once before serialising; the browser draws at its own size


@functools.cache
def _shared_plotter() -> pv.Plotter:
    plotter = pv.Plotter(off_screen=True, window_size=_RENDER_SIZE)
    plotter.set_background("#f3f4f6")
    return plotter


def stage(plotter: pv.Plotter, mesh: PreviewMesh) -> None:
    """Put `mesh` alone on the plotter's stage, lit and framed from the front."""
    plotter.clear_actors()
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


def scene_html(mesh: PreviewMesh, *, bokeh_prefix: str, panel_prefix: str, height: int = 420) -> str:
    """The full HTML page of one preview, with no reference to any remote host."""
    with _SCENE_LOCK:
        plotter = _shared_plotter()
        stage(plotter, mesh)
        try:
            pane = pn.pane.VTK(plotter.ren_win, height=height, sizing_mode="stretch_width",
                               orientation_widget=True, enable_keybindings=False)
            buffer = io.StringIO()
            pane.save(buffer, title="3D preview", resources=Resources(mode="server", root_url=_PLACEHOLDER_ROOT))
            html = buffer.getvalue()
            _forget(pane)
        finally:
            plotter.clear_actors()  # drop the mesh and its texture until the next preview
    return offline_html(html, bokeh_prefix, panel_prefix)


def _forget(pane) -> None:
    """Panel registers every saved root in its server state (for live sessions we never run); drop
    it, or each preview's serialised arrays stay in memory for good."""
    from panel.io.state import state

    for ref, (owner, root, document, _) in list(state._views.items()):
        if owner is pane:
            pane._cleanup(root)
            document.clear()
            del state._views[ref]


def glb_scene_html(glb: bytes, *, bokeh_prefix: str, panel_prefix: str, height: int = 420,
                   max_faces: int = PREVIEW_MAX_FACES) -> tuple[str, PreviewMesh]:
    mesh = preview_mesh(preview_model(glb, max_faces=max_faces))
    return scene_html(mesh, bokeh_prefix=bokeh_prefix, panel_prefix=panel_prefix, height=height), mesh


@dataclass(frozen=True)
class PreviewShown:
    source_faces: int
    shown_faces: int


def show_preview(cache_key: str, load_glb: Callable[[], bytes], *, height: int = 420) -> PreviewShown:
    """Show one GLB in the page. The HTML is cached per stored file (keys are immutable), so a
    rerun neither downloads nor rebuilds it."""
    bokeh_prefix, panel_prefix = asset_routes()
    html, source_faces, shown_faces = _scene_for(cache_key, height, bokeh_prefix, panel_prefix, load_glb)
    st.iframe(html, height=height + 8)
    return PreviewShown(source_faces, shown_faces)


@st.cache_data(max_entries=8, show_spinner="Preparing the 3D preview…")
def _scene_for(cache_key: str, height: int, bokeh_prefix: str, panel_prefix: str,
               _load_glb: Callable[[], bytes]) -> tuple[str, int, int]:
    html, mesh = glb_scene_html(_load_glb(), bokeh_prefix=bokeh_prefix, panel_prefix=panel_prefix, height=height)
    return html, mesh.source_faces, mesh.shown_faces
