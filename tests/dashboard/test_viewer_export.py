"""The preview's scene export: a self-contained page made by the dashboard's export process, reused
from preview to preview; a failure, crash or hang as one line for the user and a fresh process for
the next preview; the viewer working whatever multiprocessing's default start method."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from dashboard.scene_export import PreviewExportFailed, SceneExporter
from ray_jobs.client.preview_model import PreviewModel, preview_model
from tests.dashboard.conftest import PAGES, publish_asset, textured_sphere
from tests.plugins.images import object_image

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model() -> PreviewModel:
    from ray_jobs.generators.export import export_mesh

    made = preview_model(export_mesh(textured_sphere(3), "glb"))
    assert made.texture is not None
    return made


@pytest.fixture
def exporter():
    made = SceneExporter()
    yield made
    made.close()


def damaged_model() -> PreviewModel:
    """Texture coordinates for 7 points on a mesh of 10: VTK refuses them."""
    vertices, faces = np.random.default_rng(0).random((10, 3)), np.array([[0, 1, 2], [2, 3, 4]])
    return PreviewModel(vertices, faces, np.zeros((7, 2)), np.zeros((8, 8, 3), np.uint8), None, 2, 2)


def assert_one_line_for_the_user(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert message.endswith("download the model to view it.")


def test_the_export_is_one_offline_page_with_the_texture_made_by_one_reused_process(exporter, model):
    html = exporter.export_html(model, 300)
    first_pid = exporter.pid
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "vtk" in html and len(html) > 100_000  # vtk.js inline, the scene with it
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # nothing fetched from elsewhere
    again = exporter.export_html(model, 300)
    assert exporter.pid == first_pid and first_pid != os.getpid()
    assert len(again) == pytest.approx(len(html), rel=0.01)


def test_a_failing_export_is_one_line_and_the_process_goes_on(exporter, model):
    exporter.export_html(model, 300)
    pid = exporter.pid
    with pytest.raises(PreviewExportFailed) as raised:
        exporter.export_html(damaged_model(), 300)
    assert_one_line_for_the_user(str(raised.value))
    assert "texture coordinates (7)" in str(raised.value)
    assert "vtk" in exporter.export_html(model, 300) and exporter.pid == pid


def test_a_crashed_process_is_one_line_and_the_next_preview_gets_a_new_one(exporter, model):
    exporter.export_html(model, 300)
    crashed = exporter.pid
    os.kill(crashed, signal.SIGKILL)
    with pytest.raises(PreviewExportFailed) as raised:
        exporter.export_html(model, 300)
    assert_one_line_for_the_user(str(raised.value))
    assert "stopped" in str(raised.value)
    assert "vtk" in exporter.export_html(model, 300) and exporter.pid not in (None, crashed)


def test_a_hung_process_is_stopped_at_the_deadline(exporter, model):
    exporter.export_html(model, 300)  # warm, under the default deadline (a process's start takes seconds)
    exporter.timeout_s = 2
    hung = exporter.pid
    os.kill(hung, signal.SIGSTOP)  # it stops answering, exactly here
    with pytest.raises(PreviewExportFailed) as raised:
        exporter.export_html(model, 300)
    assert_one_line_for_the_user(str(raised.value))
    assert "within 2 s" in str(raised.value)
    with pytest.raises(ProcessLookupError):
        os.kill(hung, 0)  # killed and reaped, not left stopped
    exporter.timeout_s = 60
    assert "vtk" in exporter.export_html(model, 300)


def test_a_process_is_retired_after_its_share_of_exports_and_close_leaves_none(model):
    exporter = SceneExporter(exports_per_process=2)
    exporter.export_html(model, 300)
    first = exporter.pid
    exporter.export_html(model, 300)  # the second: the process retires, a fresh one warms up
    second = exporter.pid
    assert second not in (None, first)
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)
    exporter.close()
    assert exporter.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)


@pytest.mark.skipif(sys.platform == "win32", reason="forkserver exists on POSIX only")
def test_the_gallery_preview_works_when_the_default_start_method_is_forkserver(dashboard_env, catalog):
    """Python 3.14 makes forkserver the default; stpyvista's own child needs fork."""
    manifest = publish_asset(catalog, object_image("star", 80), "star.png")
    script = textwrap.dedent(f"""
        import json, multiprocessing
        multiprocessing.set_start_method("forkserver")
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(PAGES / "gallery.py")!r}, default_timeout=120).run()
        next(b for b in at.button if b.label == "Open").click().run()
        previews = at.get("bidi_component")
        print(json.dumps({{"exception": [str(e.value) for e in at.exception],
                          "warnings": [w.value for w in at.warning],
                          "previews": len(previews),
                          "vtk": all("vtk" in str(p.proto) for p in previews),
                          "headings": [h.value for h in at.subheader] + [h.value for h in at.header]}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["exception"] == [] and outcome["warnings"] == [], outcome
    assert outcome["previews"] == 1 and outcome["vtk"], outcome
    assert any(manifest.name in heading for heading in outcome["headings"]), outcome


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_the_export_process_ends_with_a_dashboard_that_is_killed():
    """Its input closes when the dashboard's process dies, however it dies: no process is left behind."""
    script = ("import sys, time\nfrom dashboard.scene_export import exporter\n"
              "exporter().start()\nprint(exporter().pid, flush=True)\ntime.sleep(600)\n")
    dashboard = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                                 env=os.environ | {"PYTHONPATH": str(REPO_ROOT)})
    worker = int(dashboard.stdout.readline())
    assert running(worker)
    dashboard.kill()
    dashboard.wait()
    deadline = time.monotonic() + 60  # it notices once its warm-up is done and it reads its input
    while running(worker):
        assert time.monotonic() < deadline, "the export process outlived the dashboard"
        time.sleep(0.1)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit is reaped by whatever adopted it, maybe never)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
