"""The Shap-E generator on a tiny random model (see tiny_shap_e.py): CPU only, nothing downloaded."""

import io
import json
import shutil
import struct
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ray_jobs.generators.base import GenerationCancelled, ResolvedWeights
from ray_jobs.generators.export import export_mesh, load_glb
from ray_jobs.generators.shap_e import ShapEGenerator, _proper_faces, conditioning_image
from ray_jobs.generators.thumbnail import render_thumbnail
from tests.generators.tiny_shap_e import IMAGE_SIDE, save_tiny_shap_e
from tests.plugins.gltf_validator import problems, validate_glb
from tests.plugins.images import object_image, shape_mask

REPO_ROOT = Path(__file__).resolve().parents[2]
# small enough for a CPU test: a 32³ grid gives the tiny model's ellipsoid about 2,500 faces
FAST = {"inference_steps": 2, "grid_size": 32, "target_faces": 1_000}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return save_tiny_shap_e(tmp_path_factory.mktemp("shap-e") / "tiny")


def _weights(folder: Path, identity: str = "tiny") -> ResolvedWeights:
    return ResolvedWeights(folder=folder, identity=identity, source=str(folder))


@pytest.fixture(scope="module")
def generator() -> ShapEGenerator:
    return ShapEGenerator()


@pytest.fixture(scope="module")
def result(generator, tiny_folder):
    image = object_image("figure", 160, alpha=True)
    return generator.generate(image, FAST, device="cpu", weights=_weights(tiny_folder))


def test_a_reduced_coloured_mesh_in_the_gltf_frame(result):
    mesh = result.mesh
    assert 0 < len(mesh.faces) <= FAST["target_faces"] < result.quality["surface_faces"]
    low, high = mesh.bounds
    assert np.allclose((low + high) / 2, 0, atol=1e-9)
    assert np.isclose((high - low).max(), 1.0)
    # the tiny model's ellipsoid is tall along its z (up): up is glTF's +Y
    width, height, depth = high - low
    assert np.isclose(height, 1.0) and 0.35 < width < 0.65 and 0.35 < depth < 0.65
    assert mesh.volume > 0  # outward normals
    # its colours grow along x (red), up (green) and toward the front (blue): kept, and on the right axes
    assert mesh.visual.kind == "vertex"
    colours = np.asarray(mesh.visual.vertex_colors, float)
    for channel, axis in ((0, 0), (1, 1), (2, 2)):
        assert np.corrcoef(colours[:, channel], mesh.vertices[:, axis])[0, 1] > 0.9
    assert result.quality["faces"] == len(mesh.faces) and result.quality["vertices"] == len(mesh.vertices)
    assert {"watertight", "winding_consistent", "iou"} <= set(result.quality)
    assert result.device == "cpu" and result.mask.dtype == bool
    assert [step for step in result.timings if step in ShapEGenerator.steps] == list(ShapEGenerator.steps)


def test_the_unreduced_surface_is_closed(generator, tiny_folder):
    settings = {**FAST, "target_faces": 100_000}
    result = generator.generate(object_image("disc", 128, alpha=True), settings, device="cpu", weights=_weights(tiny_folder))
    assert len(result.mesh.faces) == result.quality["surface_faces"]
    assert result.quality["watertight"] and result.quality["winding_consistent"]
    assert result.mesh.is_watertight and result.mesh.volume > 0


def test_glb_is_valid_and_keeps_the_colours(result):
    glb = export_mesh(result.mesh, "glb")
    report = validate_glb(glb)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)
    document = json.loads(glb[20 : 20 + struct.unpack("<I", glb[12:16])[0]])  # the GLB's JSON chunk
    assert document["meshes"][0]["primitives"][0]["attributes"]["COLOR_0"] >= 0
    assert document["materials"][0]["pbrMetallicRoughness"]["metallicFactor"] == 0.0  # not glTF's metal default
    stored = load_glb(glb)
    assert stored.visual.kind == "vertex"
    assert np.array_equal(stored.visual.vertex_colors, result.mesh.visual.vertex_colors)
    for fmt in ("obj", "ply", "stl"):
        assert export_mesh(stored, fmt)


def test_thumbnail_shows_the_colours(result):
    pixels = np.asarray(Image.open(io.BytesIO(render_thumbnail(result.mesh, size=96))).convert("RGB"), int)
    assert pixels.shape == (96, 96, 3)
    # not a grey shape: the vertex colours reach the picture
    assert (pixels.max(axis=2) - pixels.min(axis=2)).max() > 60


def test_the_model_loads_once_per_weights(tiny_folder):
    generator = ShapEGenerator()
    settings = {**FAST, "grid_size": 16}
    for _ in range(2):
        generator.generate(object_image("disc", 96, alpha=True), settings, device="cpu", weights=_weights(tiny_folder))
    assert generator.model_loads == 1


def test_cancelled_between_the_diffusion_and_the_surface(generator, tiny_folder):
    seen = []
    with pytest.raises(GenerationCancelled, match="before step 'surface'"):
        generator.generate(object_image("disc", 96, alpha=True), FAST, device="cpu", weights=_weights(tiny_folder),
                           progress=lambda step, fraction: seen.append(step), should_cancel=lambda: "diffuse" in seen)
    assert seen == ["load", "mask", "condition", "diffuse"]


def test_an_empty_level_set_is_a_clear_error(tiny_folder):
    generator = ShapEGenerator()
    pipeline = generator.model_for(tiny_folder, "tiny-empty", "cpu")
    # the signed distance negative everywhere: nothing is inside
    pipeline.shap_e_renderer.mlp.mlp[-1].bias.data[0] = -100.0
    with pytest.raises(ValueError, match="^the model produced no surface for this image: ") as error:
        generator.generate(object_image("disc", 96, alpha=True), FAST, device="cpu", weights=_weights(tiny_folder, "tiny-empty"))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        ("scheduler/scheduler_config.json", "scheduler/scheduler_config.json"),
        ("prior/diffusion_pytorch_model.safetensors", "prior/ weights"),
        ("*", "model_index.json"),
    ],
)
def test_an_incomplete_folder_is_a_clear_error(tiny_folder, tmp_path, remove, named):
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    for path in folder.glob(remove):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(ValueError) as error:
        ShapEGenerator().generate(object_image("disc", 96), FAST, device="cpu", weights=_weights(folder))
    message = str(error.value)
    assert "\n" not in message and str(folder) in message and named in message


def test_a_damaged_weights_file_is_a_clear_error(tiny_folder, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_folder, folder)
    (folder / "prior" / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot be loaded") as error:
        ShapEGenerator().generate(object_image("disc", 96), FAST, device="cpu", weights=_weights(folder))
    assert "\n" not in str(error.value) and str(folder) in str(error.value)


def test_opposite_copies_of_a_face_cancel_and_repeats_collapse():
    faces = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 3], [2, 3, 1], [3, 1, 2], [4, 4, 5], [5, 6, 7]])
    assert _proper_faces(faces).tolist() == [[1, 2, 3], [5, 6, 7]]


def test_conditioning_image_centres_the_object_on_white():
    mask = shape_mask("disc", 200, box=(0.6, 0.1, 0.95, 0.4))  # small, in the upper right
    pixels = np.zeros((200, 200, 3), np.uint8)
    pixels[:] = (30, 90, 200)  # the object's colour; the rest of the picture is cut away
    side = IMAGE_SIDE * 4
    values = np.asarray(conditioning_image(pixels, None, mask, side), int)
    assert values.shape == (side, side, 3)
    on_object = np.abs(values - (30, 90, 200)).max(axis=2) < 10
    rows, cols = np.flatnonzero(on_object.any(axis=1)), np.flatnonzero(on_object.any(axis=0))
    assert abs((rows[0] + rows[-1] + 1) / 2 - side / 2) <= 2 and abs((cols[0] + cols[-1] + 1) / 2 - side / 2) <= 2
    assert 0.75 * side <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 0.85 * side
    assert (values[0, 0] == 255).all() and (values[-1, -1] == 255).all()


def test_settings_defaults_and_ranges(monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    generator = ShapEGenerator()
    settings = generator.normalize_settings()
    assert settings == {"weights": "openai/shap-e-img2img", "segmenter": "auto", "segmenter_model": "~/.u2net",
                        "guidance_scale": 3.0, "inference_steps": 64, "grid_size": 128, "target_faces": 30_000,
                        "seed": 0}
    specs = generator.setting_specs()
    assert specs["inference_steps"] == {"default": 64, "type": "int", "min": 1, "max": 1000, "choices": None}
    assert specs["target_faces"]["min"] == 1_000 and specs["target_faces"]["max"] == 1_000_000
    for key, value in (("inference_steps", 0), ("inference_steps", 1001), ("target_faces", 999),
                       ("grid_size", 193), ("guidance_scale", 0.5), ("seed", -1)):
        with pytest.raises(ValueError, match=f"setting '{key}' must be"):
            generator.normalize_settings({key: value})
    monkeypatch.setenv("ASSET_STUDIO_SHAP_E_WEIGHTS", "s3://models/shap-e")
    assert generator.normalize_settings()["weights"] == "s3://models/shap-e"


def test_needs_a_gpu_but_may_fall_back_to_cpu():
    needs = ShapEGenerator.needs
    assert needs.gpu and needs.num_gpus == 1.0 and needs.cpu_fallback and 4 <= needs.gpu_memory_gib <= 12


def test_registered_through_the_entry_point_group_only(tmp_path, monkeypatch):
    from ray_jobs.generators import registry

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared[registry.ENTRY_POINT_GROUP]["shap-e"] == "ray_jobs.generators.shap_e:ShapEGenerator"
    assert "shap-e" not in registry.BUILTIN_GENERATORS
    # found like a plugin package: a dist-info on the path declaring the entry point
    info = tmp_path / "shap_e_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shap-e-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nshap-e = ray_jobs.generators.shap_e:ShapEGenerator\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.forget_loaded()
    try:
        assert isinstance(registry.get_generator("shap-e"), ShapEGenerator)
    finally:
        registry.forget_loaded()


def test_importing_the_module_does_not_import_torch():
    code = "import sys, ray_jobs.generators.shap_e; print('torch' in sys.modules or 'diffusers' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "False"
