"""`inflate`: the weight-free generator. Silhouette inflation with a Poisson height field.

Following Baran & Lehtinen, "Notes on Inflating Curves" (2009) and Monster Mash
(Dvorožňák et al., 2020): solve -Δh = c on the object's mask with h = 0 outside,
take sqrt(h) so cross-sections come out round, mirror it for the back, join both
at the silhouette, and texture from the image (the back sees the image mirrored).

torch is imported only when a generation runs, so listing generators and
normalising settings stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ray_jobs.generators.base import GenerationResult, Generator, StepRunner, resolve_device

# Floor of the Poisson height (px²) so thin parts never collapse to a zero-thickness sheet.
MIN_HEIGHT_SQUARED = 0.25
ROUGHNESS = 0.9
CPU_THREADS = 1
EDGE_TEXEL_WEIGHT = 0.1


@contextmanager
def _torch_threads(device: str) -> Iterator[None]:
    """One CPU thread for torch while it works: the ops are small and many, and with an OpenMP
    pool every op waits for all its threads, which made a run ten times slower whenever another
    process kept a core busy."""
    if device != "cpu":
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(CPU_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class InflateGenerator(Generator):
    name = "inflate"
    steps = ("load", "mask", "geometry", "texture", "quality")
    step_weights = {"load": 1.0, "mask": 1.0, "geometry": 3.0, "texture": 1.0, "quality": 1.0}
    setting_ranges = {
        "resolution": (64, 2048),
        "target_faces": (1_000, 1_000_000),
        "thickness": (0.05, 4.0),
    }

    def default_settings(self) -> dict[str, Any]:
        return {"resolution": 512, "target_faces": 30_000, "thickness": 1.0, **self.segmentation_settings()}

    def warm_up(self) -> None:
        """One tiny generation: imports torch (over a second) and runs every kernel once."""
        disc = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        ImageDraw.Draw(disc).ellipse((8, 8, 56, 56), fill=(200, 120, 40, 255))
        self.generate(disc, {"resolution": 64, "target_faces": 1_000})

    def run(self, image, settings: dict[str, Any], runner: StepRunner, device: str | None) -> GenerationResult:
        from ray_jobs.generators.image_io import load_image, working_arrays
        from ray_jobs.generators.segmentation import segment
        from ray_jobs.generators.quality import quality_figures

        device = resolve_device(device)
        rgb, alpha = runner.run("load", lambda: working_arrays(load_image(image), settings["resolution"]))
        mask, segmenter = runner.run("mask", segment, rgb, alpha, settings, runner.segmenter_model)
        with _torch_threads(device):
            geometry = runner.run("geometry", build_geometry, mask, settings, device)
            mesh = runner.run("texture", textured_mesh, geometry, rgb)
        quality = runner.run("quality", quality_figures, mesh, mask)
        return GenerationResult(mesh=mesh, mask=mask, quality={**quality, "segmenter": segmenter}, device=device)


class Crop:
    """The window of the working image the mesh is built on: bbox + margin, sides rounded up to ``multiple(longest)``."""

    def __init__(self, mask: np.ndarray, margin: int, multiple: Callable[[int], int]):
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        height = rows[-1] - rows[0] + 1 + 2 * margin
        width = cols[-1] - cols[0] + 1 + 2 * margin
        step = multiple(max(height, width))
        height, width = _round_up(height, step), _round_up(width, step)
        self.top = int(rows[0] - (height - (rows[-1] - rows[0] + 1)) // 2)
        self.left = int(cols[0] - (width - (cols[-1] - cols[0] + 1)) // 2)
        self.shape = (int(height), int(width))

    def cut(self, values: np.ndarray) -> np.ndarray:
        """The window of ``values`` (HxW or HxWxC), zero where it reaches past the image."""
        out = np.zeros(self.shape + values.shape[2:], values.dtype)
        top, left = max(self.top, 0), max(self.left, 0)
        bottom = min(self.top + self.shape[0], values.shape[0])
        right = min(self.left + self.shape[1], values.shape[1])
        out[top - self.top : bottom - self.top, left - self.left : right - self.left] = values[top:bottom, left:right]
        return out


def _round_up(value: int, multiple: int) -> int:
    return int(math.ceil(value / multiple) * multiple)


def grid_step(area: int, target_faces: int) -> tuple[int, int]:
    """Grid step (rows, columns) in whole pixels whose face count is nearest ``target_faces``.

    Front and back each take about two triangles per grid cell: 4 * area / cell area
    faces. Unequal steps (n, n + 1) fill the gap between n² and (n + 1)² cells.
    """
    ideal = math.sqrt(4.0 * area / target_faces)
    low = max(1, math.floor(ideal))
    candidates = [(low, low), (low, low + 1), (low + 1, low + 1)]
    return min(candidates, key=lambda step: abs(math.log(4.0 * area / (step[0] * step[1]) / target_faces)))


@dataclass
class Geometry:
    surface: Any  # mesh_build.SurfaceMesh, in the crop's pixel frame
    crop: Crop
    texel_weight: Any  # torch HxW float: how much each texel's own colour counts (0 = background)


def build_geometry(mask: np.ndarray, settings: Mapping[str, Any], device: str) -> Geometry:
    import torch

    from ray_jobs.generators import poisson
    from ray_jobs.generators.mesh_build import build_closed_mesh

    step = grid_step(int(mask.sum()), settings["target_faces"])
    # margin: the outermost grid rows must lie outside the (blurred) mask
    crop = Crop(mask, margin=max(step) + 3, multiple=poisson.pad_multiple)
    window = torch.from_numpy(crop.cut(mask).astype(np.float32)).to(device)
    level = _blur_121(window)
    inside = (level >= 0.5).to(torch.float32)
    squared = poisson.solve_inflation(inside)
    height = torch.sqrt(squared.clamp_min(MIN_HEIGHT_SQUARED)) * inside
    surface = build_closed_mesh(level, height, step, settings["thickness"])
    if window.is_cuda:
        torch.cuda.synchronize(window.device)  # so the step's time includes its kernels
    # edge pixels often carry blended background colour: they count little, their
    # fully surrounded neighbours fully, so the rim takes its colour from inside
    texel_weight = window * (EDGE_TEXEL_WEIGHT + (1.0 - EDGE_TEXEL_WEIGHT) * (level == 1.0).to(torch.float32))
    return Geometry(surface, crop, texel_weight)


def _blur_121(mask):
    """The mask blurred by a 1-2-1 kernel in each direction (weights /16), by shifted adds.

    Sums of a few small integers are exact in float32 on every device (a convolution may
    use Winograd or TF32 on a GPU), so CPU and CUDA agree on which grid points are inside.
    """
    import torch.nn.functional as F

    padded = F.pad(mask.view(1, 1, *mask.shape), (1, 1, 1, 1)).view(mask.shape[0] + 2, mask.shape[1] + 2)
    rows = padded[:-2] + 2 * padded[1:-1] + padded[2:]
    return (rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]) / 16.0


def textured_mesh(geometry: Geometry, rgb: np.ndarray):
    import torch
    import trimesh
    from trimesh.visual.material import PBRMaterial
    from trimesh.visual.texture import TextureVisuals

    from ray_jobs.generators.texture import fill_background

    surface, crop, texel_weight = geometry.surface, geometry.crop, geometry.texel_weight
    colours = torch.from_numpy(crop.cut(rgb)).to(texel_weight.device).permute(2, 0, 1).to(torch.float32)
    # texels outside the object get its colours diffused outward (no background on the rim)
    filled = fill_background(colours, texel_weight)
    texture = filled.clamp(0, 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()

    pixel_xy = surface.pixel_xy.cpu().numpy().astype(np.float64)
    vertices = surface.vertices.cpu().numpy().astype(np.float64)
    faces = surface.faces.cpu().numpy()
    height, width = crop.shape
    uv = np.column_stack([pixel_xy[:, 0] / width, 1.0 - pixel_xy[:, 1] / height])

    # pixel frame (x right, y down) -> glTF frame (x right, y up), centred, longest side 1
    world = np.column_stack([vertices[:, 0] + crop.left, -(vertices[:, 1] + crop.top), vertices[:, 2]])
    low, high = world.min(axis=0), world.max(axis=0)
    centre = (low + high) / 2.0
    scale = 1.0 / float((high - low).max())
    world = (world - centre) * scale

    material = PBRMaterial(
        name="inflate",
        baseColorTexture=Image.fromarray(texture, "RGB"),
        metallicFactor=0.0,
        roughnessFactor=ROUGHNESS,
    )
    mesh = trimesh.Trimesh(world, faces, visual=TextureVisuals(uv=uv, material=material), process=False)
    # how to map the mesh back onto the working image (used for the silhouette IoU)
    mesh.metadata["image_frame"] = {"scale": scale, "centre": centre.tolist()}
    return mesh

