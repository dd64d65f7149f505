import json
from types import SimpleNamespace

import pytest

from ray_jobs.cli.main import main
from tests.plugins.images import object_image


@pytest.fixture
def bench(capsys):
    """Runs `python -m ray_jobs bench ARGS` in this process; returns returncode, stdout, stderr."""

    def run(*args):
        returncode = main(["bench", *args])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=returncode, stdout=out, stderr=err)

    return run


def test_bench_prints_one_json_line_per_image(tmp_path, bench):
    (tmp_path / "ring.png").write_bytes(object_image("ring", 160, alpha=True))
    (tmp_path / "star.jpg").write_bytes(object_image("star", 160, background="blue", fmt="JPEG"))
    (tmp_path / "notes.txt").write_text("not an image, skipped by suffix")
    completed = bench("--images", str(tmp_path), "--device", "cpu", "--resolution", "128", "--repeat", "2", "--json")
    assert completed.returncode == 0, completed.stderr
    rows = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [row["image"] for row in rows] == ["ring.png", "star.jpg"]
    for row in rows:
        assert row["device"] == "cpu"
        assert {"load", "mask", "geometry", "texture"} <= set(row["steps"])
        assert abs(row["seconds"] - (row["steps"]["geometry"] + row["steps"]["texture"])) < 0.5 * row["seconds"] + 0.01
        assert row["faces"] > 1000 and row["iou"] >= 0.97
        assert 0 < row["cpu_seconds"] <= row["seconds"] * 1.5 + 0.01


def test_bench_human_output_and_bad_image(tmp_path, bench):
    (tmp_path / "disc.png").write_bytes(object_image("disc", 128, alpha=True))
    (tmp_path / "broken.png").write_bytes(b"definitely not a png")
    completed = bench("--images", str(tmp_path), "--device", "cpu", "--resolution", "96", "--repeat", "1")
    assert completed.returncode == 1  # one image failed
    assert "disc.png: geometry+texture" in completed.stdout and "faces" in completed.stdout
    assert "broken.png: this is not an image that can be read" in completed.stderr


def test_bench_without_images_says_what_to_do(tmp_path, bench):
    completed = bench("--images", str(tmp_path / "missing"))
    assert completed.returncode == 2
    assert "no images found" in completed.stderr.lower() and "Traceback" not in completed.stderr
