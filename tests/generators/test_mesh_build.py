import numpy as np
import pytest
import torch
import trimesh
from scipy import ndimage

from ray_jobs.generators.mesh_build import build_closed_mesh


def _random_blobs(seed: int, size: int = 96) -> np.ndarray:
    """Noise smoothed and cut at a level: many components, holes and saddle cells."""
    noise = np.random.default_rng(seed).normal(size=(size, size))
    field = ndimage.gaussian_filter(noise, 2.5)
    mask = field > 0.02
    mask[:6], mask[-6:], mask[:, :6], mask[:, -6:] = False, False, False, False
    return mask


@pytest.mark.parametrize("step", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_marching_squares_case_closes_up(seed, step):
    mask = _random_blobs(seed)
    level = torch.from_numpy(ndimage.uniform_filter(mask.astype(np.float32), 3))
    height = torch.from_numpy(np.where(level.numpy() >= 0.5, 3.0, 0.0).astype(np.float32))
    surface = build_closed_mesh(level, height, step, thickness=1.0)
    vertices = surface.vertices.numpy() * np.array([1.0, -1.0, 1.0])  # rows grow downward: flip to y up
    mesh = trimesh.Trimesh(vertices, surface.faces.numpy(), process=False)
    assert len(mesh.faces) > 100
    edges = np.sort(mesh.edges, axis=1)
    assert np.all(np.unique(edges, axis=0, return_counts=True)[1] == 2), "every edge joins exactly two faces"
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert mesh.area_faces.min() > 0
    # front faces look toward +z, back faces toward -z
    centres_z = mesh.triangles_center[:, 2]
    assert (mesh.face_normals[centres_z > 0, 2] > 0).all() and (mesh.face_normals[centres_z < 0, 2] < 0).all()


def test_silhouette_follows_the_level_crossing_not_the_grid():
    # a disc's 0.5 crossing has radius 30: silhouette points sit on it, between grid points
    size = 80
    rows, cols = np.mgrid[:size, :size].astype(np.float32)
    distance = np.hypot(rows - 40, cols - 40)
    level = torch.from_numpy(np.clip(30.5 - distance, 0, 1).astype(np.float32))
    height = torch.from_numpy(np.where(distance < 30, 5.0, 0.0).astype(np.float32))
    surface = build_closed_mesh(level, height, 4, thickness=1.0)
    vertices = surface.vertices.numpy()
    rim = vertices[np.abs(vertices[:, 2]) < 1e-9]
    radii = np.hypot(rim[:, 0] - 40.5, rim[:, 1] - 40.5)  # pixel centres at +0.5
    assert len(rim) > 40
    assert np.abs(radii - 30.0).max() < 0.1


@pytest.mark.parametrize("corner_level", [1.0, 0.6], ids=["joined", "separate"])
def test_saddle_cells_close_up_both_ways(corner_level):
    # two squares touching at one corner: the cell between them is a marching-squares saddle
    level = np.zeros((12, 12), np.float32)
    level[2:6, 2:6] = 1.0
    level[6:10, 6:10] = 1.0
    level[5, 5] = level[6, 6] = corner_level  # centre average 0.5 joins, 0.3 separates
    height = np.where(level >= 0.5, 2.0, 0.0).astype(np.float32)
    surface = build_closed_mesh(torch.from_numpy(level), torch.from_numpy(height), 1, thickness=1.0)
    vertices = surface.vertices.numpy() * np.array([1.0, -1.0, 1.0])
    mesh = trimesh.Trimesh(vertices, surface.faces.numpy(), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert len(mesh.split(only_watertight=True)) == (1 if corner_level == 1.0 else 2)


def test_unequal_row_and_column_steps_close_up():
    mask = _random_blobs(3)
    level = torch.from_numpy(ndimage.uniform_filter(mask.astype(np.float32), 3))
    height = torch.from_numpy(np.where(level.numpy() >= 0.5, 3.0, 0.0).astype(np.float32))
    square = build_closed_mesh(level, height, (3, 3), thickness=1.0)
    wide = build_closed_mesh(level, height, (3, 4), thickness=1.0)
    vertices = wide.vertices.numpy() * np.array([1.0, -1.0, 1.0])
    mesh = trimesh.Trimesh(vertices, wide.faces.numpy(), process=False)
    assert mesh.is_watertight and mesh.is_winding_consistent and mesh.volume > 0
    assert 0.6 < len(wide.faces) / len(square.faces) < 0.9  # about 3/4 of the cells
