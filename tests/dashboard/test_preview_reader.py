"""The preview's own GLB reader: numpy alone for the GLBs this studio writes, trimesh for any other."""

from __future__ import annotations

from bench.harness.scenes import textured_sphere
from ray_jobs.client.preview_model import preview_model
from ray_jobs.generators.export import export_mesh


def test_the_dashboard_reads_its_own_glbs_without_trimesh_as_trimesh_does():
    """The preview's GLB reader (numpy alone) gives what trimesh's load gives, for a textured, a
    vertex-coloured and a plain model; a GLB it does not know is left to trimesh."""
    import numpy as np
    import trimesh

    from ray_jobs.client.preview_model import _read_plain_glb, _read_with_trimesh

    coloured = trimesh.creation.icosphere(3)
    coloured.visual.vertex_colors = np.where(coloured.vertices[:, 2:3] > 0, [255, 0, 0, 255], [0, 0, 255, 255])
    for mesh in (textured_sphere(3, texture_px=32), coloured, trimesh.creation.icosphere(2)):
        glb = export_mesh(mesh, "glb")
        assert _read_plain_glb(glb) is not None
        fast, slow = preview_model(glb), _read_with_trimesh(glb)
        for ours, theirs in zip((fast.vertices, fast.faces, fast.uv, fast.texture, fast.vertex_colors), slow):
            assert (ours is None and theirs is None) or np.allclose(ours, theirs)
    moved = trimesh.Scene()
    moved.add_geometry(textured_sphere(2), transform=trimesh.transformations.translation_matrix([1, 0, 0]))
    glb = trimesh.exchange.gltf.export_glb(moved)
    assert _read_plain_glb(glb) is None
    assert np.allclose(preview_model(glb).vertices.mean(axis=0), [1, 0, 0], atol=0.05)
