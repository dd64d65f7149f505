import numpy as np
import trimesh

from ray_jobs.generators.quality import edge_checks, quality_figures, silhouette_iou


def _square_mask(size=100, low=20, high=80):
    mask = np.zeros((size, size), bool)
    mask[low:high, low:high] = True
    return mask


def test_figures_for_a_closed_box():
    box = trimesh.creation.box(extents=(1.0, 1.0, 0.3))
    figures = quality_figures(box, _square_mask())
    assert figures["faces"] == 12 and figures["vertices"] == 8
    assert figures["watertight"] is True and figures["winding_consistent"] is True
    assert figures["iou"] > 0.99


def test_iou_drops_for_a_wrong_shape():
    disc = trimesh.creation.cylinder(radius=0.5, height=0.2, sections=64)  # axis along Z
    # box fitting makes a disc's box match the square's box; the corners stay uncovered
    assert abs(silhouette_iou(disc, _square_mask()) - np.pi / 4) < 0.02


def test_iou_uses_the_generator_frame_when_present():
    box = trimesh.creation.box(extents=(1.0, 1.0, 0.3))
    # the frame maps the mesh onto pixels 20..80 of a 100 px image, then shifts it 20 px right
    box.metadata["image_frame"] = {"scale": 1 / 60, "centre": [50.0 + 20.0, -50.0, 0.0]}
    iou = silhouette_iou(box, _square_mask())
    assert abs(iou - 40 / 80) < 0.02  # columns 40..80 overlap, 20..100 is the union


def test_edge_checks_agree_with_trimesh_on_broken_meshes():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    faces = np.asarray(sphere.faces)
    flipped = faces.copy()
    flipped[:3] = flipped[:3, ::-1]
    variants = {
        "closed": faces,
        "holed": faces[3:],
        "flipped": flipped,
        "duplicated": np.vstack([faces, faces[:2]]),
    }
    answers = {}
    for name, variant in variants.items():
        mesh = trimesh.Trimesh(sphere.vertices, variant, process=False)
        answers[name] = edge_checks(variant, len(mesh.vertices))
        assert answers[name] == (mesh.is_watertight, mesh.is_winding_consistent), name
    assert answers["closed"] == (True, True) and answers["holed"][0] is False and answers["flipped"][1] is False
