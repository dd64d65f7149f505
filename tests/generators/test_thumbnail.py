import io

import numpy as np
import trimesh
from PIL import Image

from ray_jobs.generators.export import export_mesh, load_glb
from ray_jobs.generators.thumbnail import BACKGROUND, render_thumbnail


def _pixels(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB")).astype(int)


def test_textured_thumbnail_shows_the_object_in_its_colours(generated):
    pixels = _pixels(render_thumbnail(generated("disc").mesh))
    assert pixels.shape == (256, 256, 3)
    background = (np.abs(pixels - BACKGROUND).max(axis=2) <= 2)
    assert 0.2 < (~background).mean() < 0.9  # the object fills a good part, not all
    assert background[0].all() and background[-1].all()  # margins stay clear
    hue_orange = (pixels[..., 0] > pixels[..., 2] + 60) & (pixels[..., 1] > pixels[..., 2] + 20)
    hue_purple = (pixels[..., 0] > pixels[..., 1] + 40) & (pixels[..., 2] > pixels[..., 1] + 40)
    assert hue_orange.mean() > 0.03 and hue_purple.mean() > 0.03  # texture, lit


def test_three_quarter_view_shows_the_side():
    # a flat slab seen straight on would look like a square; from 3/4 the +X side shows too
    slab = trimesh.creation.box(extents=(1.0, 1.0, 0.2))
    pixels = _pixels(render_thumbnail(slab, size=128))
    shades = {tuple(p) for p in pixels.reshape(-1, 3) if np.abs(p - BACKGROUND).max() > 2}
    grey_levels = sorted({p[0] for p in shades})
    assert grey_levels[-1] - grey_levels[0] > 30  # at least two faces, lit differently


def test_thumbnail_of_a_loaded_glb_matches_the_original(generated):
    mesh = generated("star").mesh
    original = _pixels(render_thumbnail(mesh, size=96))
    reloaded = _pixels(render_thumbnail(load_glb(export_mesh(mesh, "glb")), size=96))
    assert np.abs(original - reloaded).mean() < 2.0


def test_size_is_respected_and_untextured_meshes_render():
    pixels = _pixels(render_thumbnail(trimesh.creation.icosphere(), size=64))
    assert pixels.shape == (64, 64, 3)
    assert (np.abs(pixels - BACKGROUND).max(axis=2) > 2).mean() > 0.3
