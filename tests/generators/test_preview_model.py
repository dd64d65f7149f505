"""The preview's model: a GLB read into plain arrays, decimated for large meshes, colours kept."""

import numpy as np
import pytest
import trimesh
from PIL import Image
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from ray_jobs.client.preview_model import PreviewModel, preview_model
from ray_jobs.generators.preview import PREVIEW_MAX_TEXTURE_PX
from ray_jobs.generators.export import export_mesh, load_glb
from ray_jobs.generators.materials import sample_texture

RED, BLUE = (220, 30, 30), (30, 30, 220)


def _two_island_sphere(texture_px: int = 2048) -> trimesh.Trimesh:
    """A sphere whose front half (z >= 0) maps onto the red left half of its texture and whose back
    maps onto the blue right half: the equator is a UV seam with duplicated vertices."""
    sphere = trimesh.creation.icosphere(subdivisions=5)  # 20480 faces
    front = sphere.triangles_center[:, 2] >= 0
    vertices = sphere.vertices[sphere.faces].reshape(-1, 3)  # every face its own corners
    faces = np.arange(len(vertices)).reshape(-1, 3)
    island = np.repeat(np.where(front, 0.0, 0.5), 3)
    uv = np.column_stack([island + 0.05 + 0.2 * (vertices[:, 0] + 1), 0.1 + 0.4 * (vertices[:, 1] + 1)])
    pixels = np.empty((texture_px // 2, texture_px, 3), np.uint8)
    pixels[:, : texture_px // 2] = RED
    pixels[:, texture_px // 2 :] = BLUE
    material = PBRMaterial(baseColorTexture=Image.fromarray(pixels, "RGB"))
    return trimesh.Trimesh(vertices, faces, visual=TextureVisuals(uv=uv, material=material), process=False)


def _two_colour_sphere() -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=5)
    colours = np.where(sphere.vertices[:, 2:3] >= 0, [*RED, 255], [*BLUE, 255]).astype(np.uint8)
    return trimesh.Trimesh(sphere.vertices, sphere.faces, vertex_colors=colours, process=False)


def test_small_models_are_shown_whole_and_exactly(generated):
    result = generated("ring")
    glb = export_mesh(result.mesh, "glb")
    model = preview_model(glb)
    stored = load_glb(glb)
    assert isinstance(model, PreviewModel)
    assert model.source_faces == model.shown_faces == len(stored.faces)
    assert np.array_equal(model.faces, stored.faces) and np.allclose(model.vertices, stored.vertices)
    assert np.allclose(model.uv, stored.visual.uv)
    texture = result.mesh.visual.material.baseColorTexture
    assert model.texture.dtype == np.uint8 and model.texture.shape == (texture.height, texture.width, 3)
    assert np.array_equal(model.texture, np.asarray(texture.convert("RGB")))
    assert model.vertex_colors is None


@pytest.mark.parametrize("max_faces", [200, 1_000, 5_000])
def test_large_models_are_decimated_to_at_most_max_faces(generated, max_faces):
    glb = export_mesh(generated("ring").mesh, "glb")
    model = preview_model(glb, max_faces=max_faces)
    assert model.source_faces > 20_000
    assert max_faces / 2 <= model.shown_faces <= max_faces  # bounded, yet not needlessly coarse
    assert model.faces.shape == (model.shown_faces, 3)
    assert model.faces.min() >= 0 and model.faces.max() < len(model.vertices)
    assert model.uv.shape == (len(model.vertices), 2) and model.vertex_colors is None
    # the decimated shape keeps the model's extent, to within two cells of the clustering grid
    stored = load_glb(glb)
    cells = 2 / np.sqrt(max_faces / 4)
    assert np.allclose(model.vertices.min(axis=0), stored.vertices.min(axis=0), atol=cells)
    assert np.allclose(model.vertices.max(axis=0), stored.vertices.max(axis=0), atol=cells)


def test_decimation_keeps_uv_seams_and_texture_colours():
    model = preview_model(export_mesh(_two_island_sphere(), "glb"), max_faces=2_000)
    assert model.source_faces == 20_480 and model.shown_faces <= 2_000
    # no face reaches across the seam into the other UV island
    island_of_corner = model.uv[model.faces][:, :, 0] >= 0.5
    assert (island_of_corner.all(axis=1) | ~island_of_corner.any(axis=1)).all()
    # each face still shows its side's colour
    centre_uv = model.uv[model.faces].mean(axis=1)
    colours = sample_texture(model.texture, centre_uv)
    front = model.vertices[model.faces].mean(axis=1)[:, 2] > 0
    assert (colours[front] == RED).all() and (colours[~front] == BLUE).all()


def test_large_textures_are_shrunk_for_the_page():
    model = preview_model(export_mesh(_two_island_sphere(texture_px=2 * PREVIEW_MAX_TEXTURE_PX), "glb"))
    assert model.texture.shape == (PREVIEW_MAX_TEXTURE_PX // 2, PREVIEW_MAX_TEXTURE_PX, 3)


def test_vertex_colours_survive_decimation():
    model = preview_model(export_mesh(_two_colour_sphere(), "glb"), max_faces=1_000)
    assert model.texture is None and model.uv is None
    assert model.shown_faces <= 1_000
    assert model.vertex_colors.dtype == np.uint8 and model.vertex_colors.shape == (len(model.vertices), 3)
    z = model.vertices[:, 2]
    # away from the equator a cluster holds one side's vertices only
    assert (model.vertex_colors[z > 0.2] == RED).all() and (model.vertex_colors[z < -0.2] == BLUE).all()


def test_a_glb_without_triangles_is_refused():
    with pytest.raises(ValueError):
        preview_model(b"glTF not really")


def test_the_dashboard_draws_the_model_as_given(generated):
    pv = pytest.importorskip("pyvista")
    from dashboard.preview_mesh import preview_mesh

    model = preview_model(export_mesh(generated("ring").mesh, "glb"), max_faces=1_000)
    shown = preview_mesh(model)
    assert isinstance(shown.polydata, pv.PolyData)
    assert shown.polydata.n_cells == model.shown_faces and shown.polydata.n_points == len(model.vertices)
    assert np.allclose(shown.polydata.active_texture_coordinates, model.uv)
    assert shown.texture is model.texture
    assert (shown.source_faces, shown.shown_faces) == (model.source_faces, model.shown_faces)


def test_a_large_model_gets_a_preview_copy_within_the_face_budget(tmp_path):
    """Made once at publish time: the dashboard reads the light copy, never the full model."""
    from bench.harness.scenes import publish_asset, textured_sphere
    from ray_jobs.client import StudioClient
    from ray_jobs.generators.preview import PREVIEW_MAX_FACES, preview_glb
    from storage.catalog import AssetCatalog
    from storage.settings import StorageSettings
    from storage.store import open_store

    assert preview_glb(textured_sphere(3)) is None  # small: the model is its own preview
    settings = StorageSettings.from_env({"LOCAL_STORAGE_DIR": str(tmp_path)})
    large = textured_sphere(7, texture_px=256)  # 327,680 faces
    manifest = publish_asset(AssetCatalog(open_store(settings)), b"large image", "large.png", mesh=large)
    files = manifest.latest_version.files
    assert set(files) == {"glb", "thumbnail", "preview"} and files["preview"].size < files["glb"].size / 2

    model = StudioClient(storage_settings=settings).preview_model(manifest)
    assert model.source_faces == len(large.faces) and 0 < model.shown_faces <= PREVIEW_MAX_FACES
    assert model.texture is not None and model.uv is not None and len(model.uv) == len(model.vertices)
