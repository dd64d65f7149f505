"""The inline 3D preview: a pyvista scene shown with stpyvista's trame backend.

The scene is exported as one self-contained HTML page (vtk.js inline, the texture kept) by the
dashboard's export process (dashboard.scene_export): nothing renders on the server, no OpenGL
context lives in the dashboard, and the browser asks no other host. Each stored GLB is exported
once and the page kept by key, so opening it again costs no export; a failed export is one
clear line, never an empty frame.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Callable
from dataclasses import dataclass

import pyvista as pv
import streamlit as st

from dashboard.scene_export import PreviewExportFailed, exporter
from dashboard.scene_worker import WINDOW_WIDTH, use_software_window
from ray_jobs.client.preview_model import PreviewModel

__all__ = ["PreviewExportFailed", "PreviewShown", "show_preview", "warm_up"]


def prepare_stpyvista() -> None:
    """stpyvista hands the page to its component from a child process it makes of a local function,
    which only the fork start method can run (Python 3.14 defaults to forkserver). That child only
    passes on the page made already (see _ExportedPlotter), so it takes no lock and imports nothing."""
    if os.name == "posix" and multiprocessing.get_start_method(allow_none=True) != "fork":
        multiprocessing.set_start_method("fork", force=True)
    use_software_window()  # for _ExportedPlotter's window, never drawn


def warm_up() -> None:
    """Pay the first preview's one-time costs ahead of it, in a running server: the export process
    (its imports take seconds), stpyvista's import (it loads panel, ~0.6 s, and declares its
    component, which needs the server) and VTK's first plotter."""
    exporter().start()
    prepare_stpyvista()
    import stpyvista  # noqa: F401

    pv.Plotter(off_screen=True, window_size=(8, 8)).close()


@dataclass(frozen=True)
class PreviewShown:
    source_faces: int
    shown_faces: int


def show_preview(cache_key: str, load_model: Callable[[], PreviewModel], *, height: int = 420) -> PreviewShown:
    """Show one stored model; `cache_key` names it (stored keys never change their content).
    PreviewExportFailed (one sentence for the user) when the scene cannot be exported."""
    exported = _exported_scene(cache_key, load_model, height)
    _draw(cache_key, exported.html, height)
    return PreviewShown(exported.source_faces, exported.shown_faces)


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
    return ExportedScene(exporter().export_html(model, height), model.source_faces, model.shown_faces)


class _ExportedPlotter(pv.Plotter):
    """What stpyvista takes (a Plotter), holding a scene exported already: the export stpyvista
    asks of it hands over that page instead of exporting again."""

    def __init__(self, html: str, height: int):
        super().__init__(off_screen=True, window_size=(WINDOW_WIDTH, height))
        self._html = html

    def export_html(self, filename=None):
        return io.StringIO(self._html)


@st.fragment
def _draw(cache_key: str, html: str, height: int) -> None:
    """In a fragment: reruns elsewhere on the page do not send the scene again."""
    from stpyvista import stpyvista  # imports need a running Streamlit server

    prepare_stpyvista()
    plotter = _ExportedPlotter(html, height)
    try:
        stpyvista(plotter, backend="trame", key=f"preview-{cache_key}")
    finally:
        plotter.close()
