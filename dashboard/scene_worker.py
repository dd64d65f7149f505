"""The preview's export process: turns preview models into self-contained HTML scenes.

Run as `python -m dashboard.scene_worker` by dashboard.scene_export, one per dashboard, reused
from preview to preview. It pays pyvista's and trame's imports once, then answers each request
(a PreviewModel and a height) with pyvista's trame export of the scene: one page with vtk.js
inline and the texture kept, which stpyvista's component shows. The export starts a trame server
and VTK objects that should not live in the dashboard; here a crash or hang costs one preview.

Requests come on stdin and answers go out on stdout, as length-prefixed pickles between this
process and the dashboard that started it (nobody else can write to those pipes).
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from ray_jobs.errors import error_line

_LENGTH = struct.Struct("<Q")
BACKGROUND = "#f3f4f6"
WINDOW_WIDTH = 640  # the browser scales the scene to the column; this only sets its aspect


def write_frame(stream: IO[bytes], message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message; EOFError when the other side has closed the pipe (or died)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the pipe was closed")
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        raise EOFError("the pipe was closed mid-message")
    return pickle.loads(data)


def use_software_window() -> None:
    """Nothing is drawn here or in the dashboard, but VTK makes a window object per plotter: a
    software one, never an X one (which would look for a display)."""
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")


def prepare_environment() -> None:
    """A software window (use_software_window). trame-vtklocal downloads its VTK-wasm bundle when
    its folder is missing: the export inlines vtk.js and does not need it, so an empty local folder
    stops the download."""
    use_software_window()
    if not os.environ.get("VTK_WASM_DIR_OVERRIDE"):
        folder = Path(tempfile.gettempdir()) / "asset-studio-vtk-wasm"
        folder.mkdir(exist_ok=True)
        os.environ["VTK_WASM_DIR_OVERRIDE"] = str(folder)


def warm_up() -> None:
    """The first export's one-time costs, paid before any request: the exporter imports a web
    stack (trame, aiohttp, ...: about a second) the first time it runs, so a tiny scene goes first."""
    import pyvista as pv
    import vtk

    # Each plotter's window warns that no OSMesa library is present: nothing renders here, so it is noise.
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
    plotter = pv.Plotter(off_screen=True, window_size=(8, 8))
    try:
        plotter.add_mesh(pv.Cube())
        plotter.trame.export_html(None)
    finally:
        plotter.close()


def scene(model, height: int):
    """A plotter holding the model alone, lit and framed from the front (not rendered here)."""
    import pyvista as pv

    from dashboard.preview_mesh import preview_mesh

    mesh = preview_mesh(model)
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


def export_html(model, height: int) -> str:
    plotter = scene(model, height)
    try:
        return plotter.trame.export_html(None).read()
    finally:
        plotter.close()


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests until the dashboard closes the pipe (it has stopped, or retired this process)."""
    while True:
        try:
            model, height = read_frame(requests)
        except EOFError:
            return
        try:
            answer = ("html", export_html(model, height))
        except Exception as error:  # noqa: BLE001 - whatever stops the export is reported, as one line
            answer = ("error", error_line(error))
        write_frame(answers, answer)


def main() -> None:
    # Only answers go to the real stdout. What libraries print there (trame names its wasm folder on
    # every export) is dropped; their warnings and errors still reach stderr, the dashboard's log.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    prepare_environment()
    warm_up()
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
