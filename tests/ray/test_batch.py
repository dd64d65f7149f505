"""`batch` on Ray Data against the shared cluster: results per image, a bad image failing alone, the
report in the store, and a batch racing a dashboard request for the same image."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import ray

from tests.plugins.gated_generator import gates
from tests.ray.gating import gated, new_tag, open_gate, wait_for
from tests.ray.images import object_png

pytestmark = pytest.mark.ray

QUICK = {"resolution": 64}


def test_bad_image_fails_alone_and_the_report_is_in_the_store(studio_client):
    for variant in (60, 61):
        studio_client.upload_source(object_png(variant), f"good-{variant}.png")
    studio_client._catalog.store.put("images/generated/broken.png", b"not a picture", content_type="image/png")
    results = []
    summary = studio_client.run_batch("images/", QUICK, report_name="report-test", on_result=results.append)

    by_status = {}
    for result in results:
        by_status.setdefault(result["status"], []).append(result)
    assert len(by_status["generated"]) == 2 and len(by_status["failed"]) == 1, results
    [failed] = by_status["failed"]
    assert failed["key"] == "images/generated/broken.png" and "not an image" in failed["error"]
    assert summary.counts == {"exists": 0, "generated": 2, "failed": 1}
    for result in by_status["generated"]:
        assert studio_client.read(result["glb_key"])[:4] == b"glTF"

    report = studio_client.batch_report("report-test")
    assert report["generated"] == 2 and report["failed"] == 1 and report["images"] == 3
    assert [row["key"] for row in studio_client.batch_failures("report-test")] == ["images/generated/broken.png"]

    again = studio_client.run_batch("images/", QUICK, on_result=lambda result: None)  # resumable: only what is missing
    assert again.counts == {"exists": 2, "generated": 0, "failed": 1}


def test_batch_and_dashboard_request_for_one_image_end_with_one_version(studio_client):
    tag = new_tag("batch-race")
    settings = gated(tag, hold="last")
    image = object_png(62)
    source = studio_client.upload_source(image, "raced.png")
    interactive = studio_client.submit(image, "raced.png", settings, source_key=source.key)
    with ThreadPoolExecutor(1) as pool:
        batch = pool.submit(studio_client.run_batch, source.key.rsplit("/", 1)[0] + "/", settings)
        # both builders wait at the last step: the interactive worker and a batch actor
        wait_for(lambda: ray.get(gates().arrivals.remote(tag, "last")) >= 2, "both builders at the gate")
        open_gate(tag, "last")
        summary = batch.result(timeout=120)
    status = studio_client.wait(interactive.job_id)
    assert status.state == "done" and summary.counts["failed"] == 0
    manifest = studio_client.get_asset(interactive.asset_id)
    assert [version.version for version in manifest.versions] == [1]
    assert status.generated + summary.counts["generated"] == 1  # exactly one of them built it


def test_a_damaged_manifest_fails_only_its_image(studio_client):
    first = studio_client.upload_source(object_png(63), "first.png")
    studio_client.upload_source(object_png(64), "second.png")
    summary = studio_client.run_batch("images/uploaded/", QUICK)
    assert summary.counts["generated"] == 2
    damaged = studio_client.check(object_png(63), "first.png", QUICK).manifest
    manifest_key = f"3d_assets/generated/{damaged.asset_id}/manifest.json"
    studio_client._catalog.store.put(manifest_key, b"{not json", content_type="application/json")

    results = []
    again = studio_client.run_batch("images/uploaded/", QUICK, on_result=results.append)
    assert again.counts == {"exists": 1, "generated": 0, "failed": 1}
    [failed] = [result for result in results if result["status"] == "failed"]
    assert failed["key"] == first.key and manifest_key in failed["error"]
