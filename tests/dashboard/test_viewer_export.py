"""The preview's scene export: a self-contained page made in a child process, a failure as one line
that leaves no child behind, and the viewer working whatever multiprocessing's default start method."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ray_jobs.client.preview_model import PreviewModel, preview_model
from tests.dashboard.conftest import PAGES, publish_asset, textured_sphere
from tests.plugins.images import object_image

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the export forks, as stpyvista's does")

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_export_is_one_offline_page_with_the_texture():
    from ray_jobs.generators.export import export_mesh

    model = preview_model(export_mesh(textured_sphere(3), "glb"))
    assert model.texture is not None

    from dashboard.viewer import export_html

    html = export_html(model, 300)
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    assert "vtk" in html and len(html) > 100_000  # vtk.js inline, the scene with it
    assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # nothing fetched from elsewhere
    assert not multiprocessing.active_children()


def test_a_failing_export_is_one_line_and_leaves_no_child():
    from dashboard.viewer import PreviewExportFailed, export_html

    vertices, faces = np.random.default_rng(0).random((10, 3)), np.array([[0, 1, 2], [2, 3, 4]])
    damaged = PreviewModel(vertices, faces, np.zeros((7, 2)), np.zeros((8, 8, 3), np.uint8), None, 2, 2)
    with pytest.raises(PreviewExportFailed) as raised:
        export_html(damaged, 300)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert "texture coordinates (7)" in message and "download the model" in message
    assert not multiprocessing.active_children()


def test_the_gallery_preview_works_when_the_default_start_method_is_forkserver(dashboard_env, catalog):
    """Python 3.14 makes forkserver the default; the export and stpyvista's child need fork."""
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
