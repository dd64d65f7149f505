import io
import zipfile

import numpy as np
import pytest
import trimesh
from PIL import Image

from ray_jobs.generators.export import CONTENT_TYPES, FORMATS, angle_weighted_normals, export_mesh, load_glb
from ray_jobs.generators.quality import quality_figures
from tests.plugins.gltf_validator import problems, validate_glb


def test_format_tables_cover_every_format():
    assert FORMATS == ("glb", "obj", "ply", "stl")
    assert set(CONTENT_TYPES) == set(FORMATS)
    assert CONTENT_TYPES["glb"] == "model/gltf-binary" and CONTENT_TYPES["obj"] == "application/zip"


def test_glb_round_trip_keeps_geometry_texture_and_quality(generated):
    result = generated("ring")
    data = export_mesh(result.mesh, "glb")
    assert data[:4] == b"glTF"
    loaded = load_glb(data)
    assert loaded.is_watertight
    assert np.allclose(loaded.vertices, result.mesh.vertices, atol=1e-6)
    assert np.array_equal(loaded.faces, result.mesh.faces)
    assert np.allclose(loaded.visual.uv, result.mesh.visual.uv, atol=1e-6)
    material = loaded.visual.material
    texture = result.mesh.visual.material.baseColorTexture
    assert material.baseColorTexture.size == texture.size
    # the fast PNG setting applies only during the export, and the texels come back exactly
    assert not hasattr(texture, "encoderinfo")
    assert np.array_equal(np.asarray(material.baseColorTexture.convert("RGB")), np.asarray(texture.convert("RGB")))
    assert material.metallicFactor == 0.0
    # without the generator's frame the IoU fits the mesh box to the mask box: still a match
    assert quality_figures(loaded, result.mask)["iou"] >= 0.97


def test_glb_of_a_plain_mesh_is_valid_too():
    report = validate_glb(export_mesh(trimesh.creation.icosphere(), "glb"))
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)


def test_obj_zip_has_mtl_and_texture(generated):
    mesh = generated("star").mesh
    archive = zipfile.ZipFile(io.BytesIO(export_mesh(mesh, "obj")))
    names = set(archive.namelist())
    assert {"model.obj", "model.mtl"} <= names
    textures = [name for name in names if name.endswith(".png")]
    assert len(textures) == 1
    mtl = archive.read("model.mtl").decode()
    assert f"map_Kd {textures[0]}" in mtl
    assert Image.open(io.BytesIO(archive.read(textures[0]))).size == mesh.visual.material.baseColorTexture.size
    obj_text = archive.read("model.obj").decode()
    assert "mtllib model.mtl" in obj_text
    loaded = trimesh.load(io.BytesIO(archive.read("model.obj")), file_type="obj", process=False, maintain_order=True)
    assert len(loaded.faces) == len(mesh.faces)
    assert np.allclose(loaded.bounds, mesh.bounds, atol=1e-5)


def test_ply_carries_vertex_colours_from_the_texture(generated):
    mesh = generated("disc").mesh
    loaded = trimesh.load(io.BytesIO(export_mesh(mesh, "ply")), file_type="ply", process=False)
    assert len(loaded.vertices) == len(mesh.vertices) and loaded.is_watertight
    colours = loaded.visual.vertex_colors[:, :3].astype(int)
    # the drawn object is orange and purple stripes: vertex colours come from it, not grey
    orange = (np.abs(colours - (235, 140, 20)).max(axis=1) < 40).mean()
    purple = (np.abs(colours - (150, 30, 120)).max(axis=1) < 40).mean()
    assert orange > 0.2 and purple > 0.2


def test_stl_is_the_closed_geometry(generated):
    mesh = generated("figure").mesh
    loaded = trimesh.load(io.BytesIO(export_mesh(mesh, "stl")), file_type="stl")
    assert loaded.is_watertight
    assert np.isclose(loaded.volume, mesh.volume, rtol=1e-4)


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown format 'fbx': use one of glb, obj, ply, stl"):
        export_mesh(trimesh.creation.box(), "fbx")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_converts_from_a_stored_glb(generated, fmt):
    # the client converts downloads from the stored GLB, not from the generator's mesh
    mesh = generated("ring").mesh
    loaded = load_glb(export_mesh(mesh, "glb"))
    data = export_mesh(loaded, fmt)
    if fmt == "obj":
        archive = zipfile.ZipFile(io.BytesIO(data))
        assert {"model.obj", "model.mtl"} <= set(archive.namelist())
        assert any(name.endswith(".png") for name in archive.namelist())
        again = trimesh.load(io.BytesIO(archive.read("model.obj")), file_type="obj", process=False, maintain_order=True)
    else:
        again = trimesh.load(io.BytesIO(data), file_type=fmt, process=False, force="mesh")
    assert np.allclose(again.bounds, mesh.bounds, atol=1e-5)
    assert len(again.faces) == len(mesh.faces)


def test_vertex_normals_match_trimesh(generated):
    meshes = [generated("ring").mesh, trimesh.creation.box(), trimesh.creation.cylinder(radius=0.3, height=1.0)]
    for mesh in meshes:
        fresh = trimesh.Trimesh(np.array(mesh.vertices), np.array(mesh.faces), process=False)
        assert np.allclose(angle_weighted_normals(fresh), fresh.vertex_normals, atol=1e-12)


def test_the_client_offers_exactly_the_formats_export_writes():
    """The fronts list MODEL_FORMATS (from the store's file names, cheap to import); export writes FORMATS."""
    from ray_jobs.client import MODEL_FORMATS
    from ray_jobs.generators.export import FORMATS

    assert MODEL_FORMATS == FORMATS
