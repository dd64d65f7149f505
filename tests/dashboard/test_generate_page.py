"""Generate page, driven through Streamlit's AppTest: upload, generate to completion on a real
local Ray, the already-exists path (no cluster), and the errors a user meets."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import PAGES, publish_asset
from ray_jobs.generators.segmentation import FLOOD_VERSION

GENERATE = str(PAGES / "generate.py")
DONE = "✅ 3D generation completed successfully!"


def texts(at: AppTest, kind: str) -> list[str]:
    """Element texts; an alert's leading emoji (which Streamlit shows as its icon) is put back."""
    return [" ".join(filter(None, [getattr(element, "icon", ""), element.value])) for element in getattr(at, kind)]


def upload_and_click(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.run()
    at.file_uploader(key="uploads").set_value([(name, data, "image/png") for name, data in files])
    at.run()
    at.button[next(i for i, b in enumerate(at.button) if b.label == "Generate 3D Model")].click()
    return at.run()


def run_until(at: AppTest, done, timeout_s: float = 240) -> AppTest:
    """Rerun the page (what its polling fragment does in a browser) until `done(at)`."""
    deadline = time.monotonic() + timeout_s
    while not done(at):
        assert not at.exception, at.exception
        assert time.monotonic() < deadline, f"not done in {timeout_s} s: {texts(at, 'error')} {texts(at, 'caption')}"
        time.sleep(0.5)
        at.run()
    return at


def test_existing_asset_is_answered_at_once_from_the_store(dashboard_env, catalog, disc_png):
    manifest = publish_asset(catalog, disc_png, "disc.png")
    at = AppTest.from_file(GENERATE, default_timeout=60)
    started = time.perf_counter()
    upload_and_click(at, ("disc.png", disc_png))
    elapsed = time.perf_counter() - started

    assert not at.exception
    assert any(t.startswith("✅ 3D model already exists in the asset store!") for t in texts(at, "success"))
    assert not any("completed successfully" in t for t in texts(at, "success"))
    assert [s for s in at.get("expandable") if "cluster" in str(getattr(s.proto, "label", ""))] == []
    # The stored model is offered at once: preview frame and a download per format.
    assert len(at.get("bidi_component")) == 1  # stpyvista's preview
    assert sorted(b.proto.label for b in at.get("download_button")) == ["GLB", "OBJ", "PLY", "STL"]
    assert elapsed < 30 and at.session_state["generate_runs"][0].asset_id == manifest.asset_id


@pytest.mark.s3
def test_existing_asset_in_s3_says_s3(monkeypatch, s3_env, disc_png):
    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    from storage.catalog import AssetCatalog
    from storage.settings import StorageSettings
    from storage.store import open_store

    settings = StorageSettings.from_env()
    publish_asset(AssetCatalog(open_store(settings)), disc_png, "disc.png")
    at = upload_and_click(AppTest.from_file(GENERATE, default_timeout=60), ("disc.png", disc_png))

    assert not at.exception
    assert any(t.startswith("✅ 3D model already exists in S3!") for t in texts(at, "success"))
    # S3 shows the presigned link (SigV4) and when it expires.
    links = [c.value for c in at.code if "X-Amz-Signature=" in c.value]
    assert links and links[0].startswith(s3_env["S3_ENDPOINT_URL"])
    assert any("Valid for 1 h (until" in c for c in texts(at, "caption"))


def test_unusable_image_is_refused_with_what_to_do(dashboard_env):
    at = upload_and_click(AppTest.from_file(GENERATE, default_timeout=60), ("broken.png", b"not an image at all"))
    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 1 and "broken.png" in errors[0] and "not an image that can be read" in errors[0]
    assert "PNG" in errors[0]  # what to use instead
    assert texts(at, "success") == []


def test_setting_widgets_take_their_limits_from_the_generator(dashboard_env):
    """The form offers exactly what the generator accepts: its declared range, its defaults."""
    from ray_jobs.generators.registry import setting_specs

    specs = setting_specs()
    at = AppTest.from_file(GENERATE, default_timeout=60).run()
    faces = at.number_input[0]
    assert faces.label == "Target faces"
    assert (faces.min, faces.max, faces.value) == (specs["target_faces"]["min"], specs["target_faces"]["max"],
                                                    specs["target_faces"]["default"])
    resolution = at.select_slider[0]
    assert resolution.value == specs["resolution"]["default"]
    assert all(specs["resolution"]["min"] <= option <= specs["resolution"]["max"]
               for option in map(int, resolution.options))
    faces.set_value(specs["target_faces"]["max"]).run()  # the largest the form allows is accepted
    assert not at.exception


def test_no_image_selected_warns(dashboard_env):
    at = AppTest.from_file(GENERATE, default_timeout=60).run()
    at.button[next(i for i, b in enumerate(at.button) if b.label == "Generate 3D Model")].click()
    at.run()
    assert "Upload an image or pick one from the store first." in texts(at, "warning")


def test_store_images_are_listed_only_in_their_tab_and_picks_outlast_a_tab_switch(dashboard_env, catalog,
                                                                                  disc_png, monkeypatch):
    from ray_jobs.client.studio_client import StudioClient

    source = catalog.save_source_image(disc_png, "disc.png")
    manifest = publish_asset(catalog, disc_png, "disc.png")
    listings = []
    real_listing = StudioClient.source_images
    monkeypatch.setattr(StudioClient, "source_images",
                        lambda self, **kwargs: listings.append(kwargs) or real_listing(self, **kwargs))

    at = AppTest.from_file(GENERATE, default_timeout=60).run()
    assert listings == [] and not at.checkbox  # the upload tab is open: the store is not listed
    at.session_state["source_tab"] = "Pick from the store"
    at.run()
    assert len(listings) == 1
    at.checkbox(key=f"pick-{source.key}").check().run()
    listed = len(listings)
    at.session_state["source_tab"] = "Upload images"
    at.run()
    assert len(listings) == listed and not at.checkbox
    assert "Ready to generate: disc.png" in texts(at, "caption")  # still chosen with its tab closed
    at.button[next(i for i, b in enumerate(at.button) if b.label == "Generate 3D Model")].click()
    at.run()
    assert not at.exception
    assert any(t.startswith("✅ 3D model already exists") for t in texts(at, "success"))
    assert at.session_state["generate_runs"][0].asset_id == manifest.asset_id
    at.session_state["source_tab"] = "Pick from the store"
    at.run()
    assert at.checkbox(key=f"pick-{source.key}").value  # ticked again when the tab reopens


def test_the_store_picker_shows_small_previews_and_says_which_files_are_no_images(dashboard_env, catalog):
    import io

    from PIL import Image

    from dashboard.state import PICKER_SIDE, source_preview
    from ray_jobs.client import StudioClient

    photo = io.BytesIO()
    Image.new("RGB", (2000, 1000), (200, 120, 40)).save(photo, format="JPEG")
    large = catalog.save_source_image(photo.getvalue(), "large.jpg")
    broken = catalog.save_source_image(b"\xff\xd8 not a jpeg at all", "broken.jpg")

    client = StudioClient()
    with Image.open(io.BytesIO(source_preview(client, large.key))) as preview:
        assert preview.format == "PNG" and preview.size == (PICKER_SIDE, PICKER_SIDE // 2)
        assert preview.getpixel((10, 10))[0] > 150  # the photo's own colour, scaled down
    assert source_preview(client, broken.key) is None

    at = AppTest.from_file(GENERATE, default_timeout=60).run()
    at.session_state["source_tab"] = "Pick from the store"
    at.run()
    assert not at.exception
    assert "(this file cannot be shown as an image)" in texts(at, "caption")
    assert len(at.get("image")) == 1 and sorted(c.label for c in at.checkbox) == ["broken.jpg", "large.jpg"]


@pytest.mark.ray
def test_upload_generates_to_completion_with_live_progress(ray_cluster, dashboard_env, catalog, disc_png,
                                                            small_object_png):
    at = AppTest.from_file(GENERATE, default_timeout=120)
    upload_and_click(at, ("disc.png", disc_png), ("figure.png", small_object_png))
    assert not at.exception
    # Submitted: one progress row per image, polled from the jobs' actor state.
    assert len(at.get("progress")) >= 2
    run_until(at, lambda at: sum(t.startswith(DONE) for t in texts(at, "success")) == 2)

    runs = at.session_state["generate_runs"]
    assert [run.state for run in runs] == ["done", "done"]
    for run in runs:
        stored = catalog.get(run.asset_id)
        assert stored is not None and stored.name == run.name
        assert "mask" in stored.latest_version.files  # what was taken as the object, kept for people
        assert stored.latest_version.quality["segmenter"] in ("alpha-1", f"flood-{FLOOD_VERSION}")
        stages = [event.stage for event in run.events]
        assert stages[0] == "lookup" and "submitted" in stages and run.percent == 100.0
    assert len(at.get("bidi_component")) == 1  # the first finished model is previewed (stpyvista)
    assert sorted(b.proto.label for b in at.get("download_button")) == ["GLB", "OBJ", "PLY", "STL"]
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    assert any(caption.startswith("Taken as the object (") for caption in captions), captions

    # Generating the same images again answers from the store, without a job.
    at.button[next(i for i, b in enumerate(at.button) if b.label == "Generate 3D Model")].click()
    at.run()
    assert sum(t.startswith("✅ 3D model already exists in the asset store!") for t in texts(at, "success")) == 2


def test_the_generator_picker_says_what_a_generator_lacks_and_builds_its_form(dashboard_env, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hub"))
    monkeypatch.delenv("ASSET_STUDIO_SHAP_E_WEIGHTS", raising=False)
    monkeypatch.delenv("ASSET_STUDIO_ALLOW_DOWNLOADS", raising=False)
    at = AppTest.from_file(GENERATE, default_timeout=60).run()
    picker = at.selectbox(key="generator_pick")
    assert picker.value == "inflate" and "shap-e" in picker.options[1]
    assert not texts(at, "warning")
    picker.set_value("shap-e").run()
    warning = next(text for text in texts(at, "warning") if "shap-e: weights missing" in text)
    assert "--weights /path/to/model" in warning and "ASSET_STUDIO_ALLOW_DOWNLOADS=1" in warning
    assert at.text_input(key="shap-e-weights").value == "openai/shap-e-img2img"
    assert at.number_input(key="shap-e-inference_steps").value == 64  # its own settings, as it declares them
    assert [widget.label for widget in at.select_slider] == []  # inflate's resolution is not offered for it


def test_a_learned_generator_runs_from_the_page_and_the_asset_says_what_made_it(dashboard_env, tmp_path, disc_png):
    from tests.generators.tiny_shap_e import save_tiny_shap_e

    model = save_tiny_shap_e(tmp_path / "tiny-shap-e")
    at = AppTest.from_file(GENERATE, default_timeout=120).run()
    at.selectbox(key="generator_pick").set_value("shap-e").run()
    at.text_input(key="shap-e-weights").set_value(str(model))
    at.number_input(key="shap-e-inference_steps").set_value(2)
    at.number_input(key="shap-e-grid_size").set_value(32)
    at.number_input(key="shap-e-target_faces").set_value(1_000)
    upload_and_click(at, ("disc.png", disc_png))
    run_until(at, lambda at: any(DONE in text for text in texts(at, "success")) or texts(at, "error"))
    assert not texts(at, "error")
    made_by = [text for text in texts(at, "caption") if text.startswith("Made by")]
    assert made_by and "shap-e" in made_by[0] and "v1" in made_by[0] and str(model) in made_by[0]
