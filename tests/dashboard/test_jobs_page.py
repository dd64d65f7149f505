"""Jobs page through AppTest on the shared local Ray: cluster figures, the live job table, cancel."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import DASHBOARD, PAGES
from tests.plugins.images import object_image

pytestmark = pytest.mark.ray


def job_table(at: AppTest):
    return next(frame.value for frame in at.dataframe if "progress" in frame.value.columns)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_cluster_figures_jobs_table_and_cancel(ray_cluster, dashboard_env, studio_client):
    done = studio_client.submit(object_image("ring", 128), "ring.png")
    studio_client.wait(done.job_id)
    # Keep both workers busy so the last job waits in the queue: that one is cancelled from the page.
    for number in range(2):
        studio_client.submit(object_image("parts", 400 + number), f"busy-{number}.png", {"resolution": 1024})
    slow = studio_client.submit(object_image("star", 512), "slow-star.png", {"resolution": 1024})

    at = AppTest.from_file(str(PAGES / "jobs.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert metric(at, "Nodes") == "1"
    assert metric(at, "CPUs free / total").endswith("/ 2")
    assert metric(at, "GPUs free / total") == "0 / 0"
    table = job_table(at)
    by_name = dict(zip(table["name"], table["state"]))
    assert by_name["ring.png"] == "done" and by_name["slow-star.png"] in ("queued", "running")

    at.selectbox[0].set_value(next(o for o in at.selectbox[0].options if slow.job_id in o))
    next(b for b in at.button if b.label == "Cancel job").click().run()
    assert not at.exception
    deadline = time.monotonic() + 60
    while studio_client.progress(slow.job_id).state != "cancelled":
        assert time.monotonic() < deadline, studio_client.progress(slow.job_id)
        time.sleep(0.5)
    at.run()
    table = job_table(at)
    assert dict(zip(table["name"], table["state"]))["slow-star.png"] == "cancelled"


def test_app_navigates_to_every_page(ray_cluster, dashboard_env):
    at = AppTest.from_file(str(DASHBOARD / "app.py"), default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Generate a 3D model"
    for name, title in (("gallery", "Gallery"), ("jobs", "Jobs"), ("settings", "Settings")):
        at.switch_page(str(PAGES / f"{name}.py")).run()
        assert not at.exception, at.exception
        assert at.title[0].value == title


def test_settings_tests_the_cluster_connection(ray_cluster, dashboard_env):
    at = AppTest.from_file(str(PAGES / "settings.py"), default_timeout=60).run()
    at.button(key="test-cluster").click().run()
    assert not at.exception
    cluster_lines = [m.value for m in at.markdown if "cluster reachable" in m.value or "resources" in m.value]
    assert len(cluster_lines) == 2 and all(line.startswith(":green[") for line in cluster_lines)
    assert "2 CPUs" in cluster_lines[1] and "no GPU" in cluster_lines[1]
