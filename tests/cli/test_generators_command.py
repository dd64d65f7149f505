"""`generators` lists what is installed and whether it can run; a learned generator without its model
is refused before anything is stored, with the exact ways to provide the model."""

from __future__ import annotations

import json

import pytest

from ray_jobs.errors import EXIT_USAGE
from tests.cli.test_error_drills import cli, one_error_line, rows
from tests.generators.tiny_shap_e import save_tiny_shap_e
from tests.ray.images import object_png


@pytest.fixture
def fresh_machine(tmp_path) -> dict[str, str]:
    """A machine as a fresh clone finds it: an empty hub cache, no model configured, downloads off."""
    return {"HF_HOME": str(tmp_path / "hub"), "ASSET_STUDIO_SHAP_E_WEIGHTS": "", "ASSET_STUDIO_ALLOW_DOWNLOADS": "",
            "LOCAL_STORAGE_DIR": str(tmp_path / "store"), "ASSET_STUDIO_WEIGHTS_CACHE": str(tmp_path / "cache")}


def test_a_fresh_machine_lists_inflate_ready_and_how_to_give_shap_e_its_model(fresh_machine):
    run = cli(fresh_machine, "generators", "--json")
    assert run.returncode == 0, run.stderr
    listed = {row["name"]: row for row in rows(run)}
    assert list(listed)[0] == "inflate"  # the default first
    assert listed["inflate"]["ready"] and listed["inflate"]["status"] == "ready"
    assert listed["inflate"]["needs"]["gpu"] is False
    shap_e = listed["shap-e"]
    assert not shap_e["ready"] and shap_e["status"] == "weights missing"
    assert shap_e["needs"]["gpu"] is True and shap_e["needs"]["gpu_memory_gib"] > 0
    assert shap_e["weights"]["source"] == "openai/shap-e-img2img"
    for way in ("--weights /path/to/model", "ASSET_STUDIO_SHAP_E_WEIGHTS", "s3://bucket/prefix",
                "ASSET_STUDIO_ALLOW_DOWNLOADS=1"):
        assert way in shap_e["problem"]
    assert "inference_steps" in shap_e["settings"] or len(shap_e["settings"]) > 1  # its own settings, declared

    text = cli(fresh_machine, "generators")
    lines = {line.split(" ", 1)[0]: line for line in text.stdout.splitlines()}
    assert lines["inflate"].endswith("[CPU]: ready")
    assert "weights missing" in lines["shap-e"] and "[GPU (" in lines["shap-e"]


def test_a_configured_model_makes_shap_e_ready(fresh_machine, tmp_path):
    folder = save_tiny_shap_e(tmp_path / "tiny")
    run = cli({**fresh_machine, "ASSET_STUDIO_SHAP_E_WEIGHTS": str(folder)}, "generators", "--json")
    shap_e = {row["name"]: row for row in rows(run)}["shap-e"]
    assert shap_e["ready"] and shap_e["weights"]["identity"].startswith("sha256:")


def test_generate_without_the_model_is_one_line_and_stores_nothing(fresh_machine, tmp_path):
    image = tmp_path / "object.png"
    image.write_bytes(object_png(3))
    run = cli(fresh_machine, "generate", str(image), "--generator", "shap-e", "--json")
    assert run.returncode == EXIT_USAGE
    line = one_error_line(run)
    assert "setting 'weights' of generator 'shap-e'" in line and "--weights" in line
    assert json.loads(run.stdout.splitlines()[0])["status"] == "failed"
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").rglob("*.*"))

    missing = cli(fresh_machine, "check", str(image), "--generator", "shap-e")
    assert missing.returncode == EXIT_USAGE and "three ways" in one_error_line(missing)
