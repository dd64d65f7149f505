"""Jobs page through AppTest on the shared local Ray: cluster figures, the live job table, cancel."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import DASHBOARD, PAGES
from tests.plugins.images import object_image
from tests.ray.gating import gated, new_tag, open_gate

pytestmark = pytest.mark.ray


def job_table(at: AppTest):
    return next(frame.value for frame in at.dataframe if "progress" in frame.value.columns)


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_cluster_figures_jobs_table_and_cancel(ray_cluster, dashboard_env, studio_client):
    done = studio_client.submit(object_image("ring", 128), "ring.png")
    studio_client.wait(done.job_id)
    # Hold both workers so the next jobs wait in the queue: one is picked and cancelled from the page.
    tag = new_tag("jobs-page")
    busy = [studio_client.submit(object_image("parts", 400 + n), f"busy-{n}.png", gated(tag, hold="first"))
            for n in range(2)]
    slow = studio_client.submit(object_image("star", 512), "slow-star.png", gated(new_tag("star")))
    try:
        check_page_and_cancel(studio_client, slow)
    finally:  # whatever failed above, the shared workers must not stay held for the tests after this one
        open_gate(tag, "first")
    for submission in busy:
        assert studio_client.wait(submission.job_id).state == "done"


def check_page_and_cancel(studio_client, slow) -> None:
    at = AppTest.from_file(str(PAGES / "jobs.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert metric(at, "Nodes") == "1"
    assert metric(at, "CPUs free / total").endswith("/ 2")
    assert metric(at, "GPUs free / total") == "0 / 0"
    table = job_table(at)
    by_name = dict(zip(table["name"], table["state"]))
    assert by_name["ring.png"] == "done" and by_name["slow-star.png"] == "queued"

    at.selectbox[0].set_value(slow.job_id).run()
    # The list changes under the user's pick: a newer job is listed first now.
    newer = studio_client.submit(object_image("ring", 300), "newer.png", gated(new_tag("newer")))
    at.run()
    next(b for b in at.button if b.label == "Cancel job").click().run()
    assert not at.exception
    assert studio_client.progress(slow.job_id).state == "cancelled"  # queued jobs end at once
    assert studio_client.progress(newer.job_id).state == "queued"  # never the other job
    at.run()
    table = job_table(at)
    assert dict(zip(table["name"], table["state"]))["slow-star.png"] == "cancelled"
    # pools per generator: the shared CPU pool runs inflate and the gated test generator
    pools = next(frame.value for frame in at.dataframe if "pool" in frame.value.columns)
    assert list(pools["pool"]) == ["cpu"] and "test-gated" in pools["generators"][0]


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
    # The same checks as `doctor`'s cluster part, each a green line here.
    lines = {m.value.split("**")[1]: m.value for m in at.markdown if m.value.startswith((":green[", ":red["))
             and "**" in m.value}
    for name in ("cluster reachable", "CPUs", "GPUs", "worker answers"):
        assert lines[name].startswith(":green["), lines.get(name)
    assert "of 2 free" in lines["CPUs"] and "CPU" in lines["GPUs"]
    assert any(name.startswith("store reachable from node") for name in lines)
