"""Real (small) assets published straight into a store: a textured mesh, its GLB and thumbnail,
under the identity the dashboard looks up. Shared by the dashboard tests and its benchmark."""

from __future__ import annotations

import numpy as np


def textured_sphere(subdivisions: int = 3, texture_px: int = 64, seed: int = 0):
    import trimesh
    from PIL import Image

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions)
    vertices = mesh.vertices
    uv = np.c_[np.arctan2(vertices[:, 1], vertices[:, 0]) / (2 * np.pi) + 0.5, vertices[:, 2] * 0.5 + 0.5]
    texture = np.zeros((texture_px, texture_px, 3), np.uint8)
    texture[:, : texture_px // 2] = (220, 90, 40)
    texture[:, texture_px // 2:] = (40, 90, 220)
    if seed:  # distinct textures make distinct assets
        texture = (texture + np.random.default_rng(seed).integers(0, 30, texture.shape)).astype(np.uint8)
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(texture))
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, material=material)
    return mesh


def publish_asset(catalog, image: bytes, name: str, *, settings: dict | None = None, mesh=None):
    """Publish a real (small) asset for `image` under the identity the dashboard looks up."""
    from ray_jobs.generators.export import export_mesh
    from ray_jobs.generators.registry import identity_settings
    from ray_jobs.generators.thumbnail import render_thumbnail
    from storage.keys import sha256_hex

    mesh = mesh if mesh is not None else textured_sphere()
    identity = identity_settings("inflate", settings or {})
    return catalog.publish(
        image_sha256=sha256_hex(image), name=name, generator="inflate",
        settings={k: v for k, v in identity.items() if k != "generator"},
        files={"glb": (export_mesh(mesh, "glb"), "model/gltf-binary"),
               "thumbnail": (render_thumbnail(mesh, size=96), "image/png")},
        timings={"generate": 0.5}, quality={"faces": len(mesh.faces), "watertight": True, "iou": 0.97},
    )
