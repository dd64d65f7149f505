import numpy as np
import pytest
import torch

from ray_jobs.generators.base import GenerationCancelled, ImageError
from ray_jobs.generators.export import export_mesh
from ray_jobs.generators.mask import NO_OBJECT_MESSAGE
from ray_jobs.generators.registry import get_generator
from tests.plugins.gltf_validator import problems, validate_glb
from tests.plugins.images import SHAPES, encode, object_image, object_pixels, shape_mask


@pytest.mark.parametrize("shape", SHAPES)
def test_closed_manifold_mesh_matching_the_silhouette(generated, shape):
    result = generated(shape)
    mesh = result.mesh
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward normals
    edges = np.sort(mesh.edges, axis=1)
    assert np.all(np.unique(edges, axis=0, return_counts=True)[1] == 2)  # manifold: two faces per edge
    assert len(np.unique(np.sort(mesh.faces, axis=1), axis=0)) == len(mesh.faces)  # no duplicate faces
    assert mesh.area_faces.min() > 0
    assert result.quality["watertight"] is True
    assert result.quality["iou"] >= 0.97
    truth = shape_mask(shape, 256)
    assert (result.mask & truth).sum() / (result.mask | truth).sum() > 0.99


@pytest.mark.parametrize("shape", ["figure", "star"])
def test_thin_parts_have_thickness(generated, shape):
    # the only vertices in the z = 0 plane are the silhouette, where front meets back;
    # every triangle reaches off that plane, so no part is a zero-thickness sheet
    mesh = generated(shape).mesh
    z = mesh.vertices[:, 2]
    on_rim = np.abs(z) < 1e-9
    assert not on_rim[mesh.faces].all(axis=1).any()
    assert np.abs(z[~on_rim]).min() > 1e-4


def test_normalised_to_gltf_frame(generated):
    mesh = generated("disc").mesh
    low, high = mesh.bounds
    assert np.allclose((low + high) / 2, 0, atol=1e-9)
    assert np.isclose((high - low).max(), 1.0)
    # a disc inflates to a round lens: as wide as tall, thick but thinner than wide
    width, height, depth = high - low
    assert np.isclose(width, height, rtol=0.02)
    assert 0.3 < depth < 1.0


def test_orientation_image_right_is_x_image_up_is_y():
    # a big disc in the upper right, a small square in the lower left of the picture
    mask = shape_mask("disc", 200, box=(0.5, 0.05, 0.95, 0.5))
    mask[160:190, 10:40] = True
    result = get_generator().generate(encode(object_pixels(mask, alpha=True)), {"resolution": 200}, device="cpu")
    mesh = result.mesh
    big = mesh.vertices[:, 0] > 0
    assert big.mean() > 0.7  # most of the surface is the disc, on the +X side
    assert mesh.vertices[big, 1].mean() > 0.2  # and it is up (+Y)
    # the front (+Z) shows the image unmirrored: texture u grows with x on the front
    front = mesh.vertices[:, 2] > 0
    uv = mesh.visual.uv
    assert np.corrcoef(mesh.vertices[front, 0], uv[front, 0])[0, 1] > 0.99
    assert np.corrcoef(mesh.vertices[front, 1], uv[front, 1])[0, 1] > 0.99
    # front faces point toward +Z
    assert (mesh.face_normals[mesh.triangles_center[:, 2] > 0.05, 2] > 0).all()


def test_texture_and_material(generated):
    mesh = generated("disc").mesh
    material = mesh.visual.material
    assert material.metallicFactor == 0.0
    assert 0.7 <= material.roughnessFactor <= 1.0
    texture = np.asarray(material.baseColorTexture)
    # the object's colours fill the texture: no background colour leaks in around it
    near_white = (texture.astype(int).min(axis=2) > 240).mean()
    assert near_white < 0.01
    assert mesh.visual.uv.min() >= 0 and mesh.visual.uv.max() <= 1
    # the back shows the image mirrored: a back vertex has the UV of the front vertex in front of it
    front = mesh.vertices[:, 2] > 0
    back = mesh.vertices[:, 2] < 0
    front_uv = {tuple(np.round(xy, 9)): uv for xy, uv in zip(mesh.vertices[front, :2], mesh.visual.uv[front])}
    assert back.sum() == front.sum()
    for xy, uv in zip(mesh.vertices[back, :2], mesh.visual.uv[back]):
        assert np.array_equal(front_uv[tuple(np.round(xy, 9))], uv)


@pytest.mark.parametrize("shape", ["ring", "figure", "parts"])
def test_glb_passes_the_khronos_validator(generated, shape):
    report = validate_glb(export_mesh(generated(shape).mesh, "glb"))
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, problems(report)


@pytest.mark.parametrize("background", ["white", "black", "blue"])
def test_plain_background_images(generated, background):
    result = generated("star", alpha=False, background=background)
    assert result.mesh.is_watertight
    assert result.quality["iou"] >= 0.97


@pytest.mark.parametrize("shape", ["disc", "figure"])
@pytest.mark.parametrize("target", [2_000, 12_000, 30_000])
def test_face_count_follows_the_target(shape, target):
    mesh = get_generator().generate(object_image(shape, 256, alpha=True), {"target_faces": target}, device="cpu").mesh
    assert 0.65 < len(mesh.faces) / target < 1.35


def test_thickness_setting_scales_depth():
    image = object_image("disc", 256, alpha=True)
    generator = get_generator()
    round_lens = generator.generate(image, {"target_faces": 4_000}, device="cpu").mesh
    thin = generator.generate(image, {"target_faces": 4_000, "thickness": 0.5}, device="cpu").mesh
    assert np.isclose(thin.extents[2], 0.5 * round_lens.extents[2], rtol=0.05)


def test_progress_reports_every_step_in_order():
    reports = []
    result = get_generator().generate(object_image("disc", 128, alpha=True), {"resolution": 128}, progress=lambda s, f: reports.append((s, f)), device="cpu")
    steps = [step for step, _ in reports]
    assert steps[:-1] == list(get_generator().steps)
    assert reports[-1] == (get_generator().steps[-1], 1.0)
    fractions = [fraction for _, fraction in reports]
    assert fractions[0] == 0.0 and fractions == sorted(fractions)
    assert set(result.timings) == set(get_generator().steps)


@pytest.mark.parametrize("stop_before", ["load", "mask", "geometry", "texture", "quality"])
def test_cancellation_between_steps(stop_before):
    reached = []

    def should_cancel():
        return stop_before in reached

    def progress(step, fraction):
        reached.append(step)

    # cancel as the step is reported: the check before the *next* step stops the run
    steps = get_generator().steps
    with pytest.raises(GenerationCancelled, match="cancelled"):
        get_generator().generate(object_image("disc", 96), {"resolution": 96}, progress=progress, should_cancel=should_cancel, device="cpu")
    assert reached[-1] == stop_before
    assert len(reached) == steps.index(stop_before) + 1


def test_no_object_image_is_refused():
    flat = object_image("disc", 64, background="grey", box=(0.5, 0.5, 0.5, 0.5))  # nothing drawn
    with pytest.raises(ImageError, match=NO_OBJECT_MESSAGE):
        get_generator().generate(flat, device="cpu")


def test_bad_device_is_refused():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        get_generator().generate(object_image("disc", 64), device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_and_cuda_give_the_same_mesh():
    image = object_image("figure", 256, alpha=True)
    cpu = get_generator().generate(image, device="cpu")
    gpu = get_generator().generate(image, device="cuda")
    assert gpu.device.startswith("cuda")
    assert np.array_equal(cpu.mesh.faces, gpu.mesh.faces)
    assert np.abs(cpu.mesh.vertices - gpu.mesh.vertices).max() < 1e-4
    assert np.abs(np.asarray(cpu.mesh.visual.uv) - np.asarray(gpu.mesh.visual.uv)).max() < 1e-6
    texture_difference = np.abs(
        np.asarray(cpu.mesh.visual.material.baseColorTexture, np.int16) - np.asarray(gpu.mesh.visual.material.baseColorTexture, np.int16)
    )
    assert texture_difference.max() <= 1


def test_object_cut_by_the_image_border_still_closes():
    # the disc runs off the left and top edges of the picture
    image = object_image("disc", 200, alpha=True, box=(-0.3, -0.3, 0.6, 0.6))
    result = get_generator().generate(image, {"resolution": 200}, device="cpu")
    assert result.mesh.is_watertight and result.quality["iou"] >= 0.97


def test_tiny_image_is_worked_at_the_set_resolution():
    result = get_generator().generate(object_image("star", 40, alpha=True), {"resolution": 256}, device="cpu")
    assert result.mask.shape == (256, 256)
    assert result.mesh.is_watertight and result.quality["iou"] >= 0.97
