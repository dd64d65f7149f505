"""`shap-e`: OpenAI's Shap-E image-to-3D model (Jun & Nichol, 2023), run through diffusers.

The object is cut out of the image and centred on white, the way the model saw its training
renders. A diffusion prior turns the image's CLIP embedding into a latent that sets the weights
of an implicit function; marching cubes meshes its signed distance, and its colour head colours
the vertices. The mesh keeps those colours as vertex colours (glTF ``COLOR_0``), is reduced to
the face budget and turned into glTF's frame.

torch and diffusers are imported only when a model loads or a generation runs, so listing
generators and normalising settings stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ray_jobs.errors import error_line
from ray_jobs.generators.base import GenerationResult, Generator, Needs, StepRunner, WeightsSpec, resolve_device

# What a diffusers pipeline folder holds before any weights: the index and each part's config.
PIPELINE_CONFIG_FILES = (
    "model_index.json",
    "prior/config.json",
    "image_encoder/config.json",
    "image_processor/preprocessor_config.json",
    "scheduler/scheduler_config.json",
    "shap_e_renderer/config.json",
)
# Parts with weights; the hub stores them as .bin or .safetensors, so either will do.
WEIGHTED_PARTS = ("prior", "image_encoder", "shap_e_renderer")
WEIGHT_SUFFIXES = (".safetensors", ".bin")

WORKING_RESOLUTION = 512  # longest image side the mask is found at
OBJECT_FILL = 0.8  # share of the conditioning image the object's longer side spans, as in centred renders
BACKGROUND = 255  # white, as behind the objects in the model's own example images
QUERY_BATCH = 32_768  # grid points per call of the implicit function when sampling the signed distance
NO_SURFACE_HINT = "try another seed, a guidance_scale between 3 and 5, or an image of the whole object on a plain background"


class ShapEGenerator(Generator):
    name = "shap-e"
    version = "1"
    # fp16 weights take 1.6 GiB (846M parameters); marching cubes' buffers, which do not depend on the
    # model's size, take about 1 GiB more on the default 128³ grid and 3.5 GiB on the largest allowed
    # (192³); with CUDA's own share, 6 covers a run
    needs = Needs(gpu=True, num_gpus=1.0, gpu_memory_gib=6.0, cpu_fallback=True)
    weights = WeightsSpec(
        hub_id="openai/shap-e-img2img", env="ASSET_STUDIO_SHAP_E_WEIGHTS", required_files=PIPELINE_CONFIG_FILES
    )
    steps = ("load", "mask", "condition", "diffuse", "surface", "mesh", "quality")
    step_weights = {"load": 1.0, "mask": 1.0, "condition": 0.5, "diffuse": 12.0, "surface": 4.0, "mesh": 2.0, "quality": 1.0}
    setting_ranges = {
        "guidance_scale": (1.0, 20.0),
        "inference_steps": (1, 1000),
        "grid_size": (16, 192),  # marching cubes' memory grows with the grid's cube: see needs
        "target_faces": (1_000, 1_000_000),
        "seed": (0, 2**32 - 1),
    }

    def default_settings(self) -> dict[str, Any]:
        return {
            **self.weights_settings(),
            **self.segmentation_settings(),
            "guidance_scale": 3.0,  # how closely the shape follows the image (classifier-free guidance; 1 = off)
            "inference_steps": 64,  # denoising steps of the prior: fewer is faster and rougher
            "grid_size": 128,  # marching-cubes samples per side of the model's box: surface detail and faces
            "target_faces": 30_000,  # the mesh is reduced to at most this many faces
            "seed": 0,  # the diffusion's starting noise: another seed gives another plausible shape
        }

    def load_model(self, folder: Path, device: str) -> Any:
        """The diffusers pipeline on ``device`` (fp16 on CUDA); ValueError naming what the folder lacks."""
        folder = Path(folder)
        _check_folder(folder)
        import torch
        from transformers.utils import logging as transformers_logging

        # a worker's log is for what went wrong: no loading progress bars, and no notice that the image
        # processor runs on PIL because torchvision is kept out (set before diffusers imports it)
        transformers_logging.set_verbosity_error()
        from diffusers import ShapEImg2ImgPipeline
        from diffusers.utils import logging as diffusers_logging

        for library in (diffusers_logging, transformers_logging):
            library.disable_progress_bar()
            library.set_verbosity_error()
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        try:
            pipeline = ShapEImg2ImgPipeline.from_pretrained(folder, local_files_only=True, dtype=dtype)
        except Exception as error:  # noqa: BLE001 - any loader failure is one line for the user
            raise ValueError(f"the Shap-E model in '{folder}' cannot be loaded ({error_line(error)}): "
                             f"use a folder saved by ShapEImg2ImgPipeline.save_pretrained or the hub's "
                             f"{self.weights.hub_id}") from None
        if not bool(pipeline.shap_e_renderer.mesh_decoder.masks.any()):
            # fresh, untrained renderers have all-zero tables: every mesh would come out empty
            raise ValueError(f"the Shap-E model in '{folder}' has empty marching-cubes tables in shap_e_renderer: "
                             f"use weights saved from {self.weights.hub_id}")
        pipeline.set_progress_bar_config(disable=True)
        return pipeline.to(device)

    def run(self, image, settings: dict[str, Any], runner: StepRunner, device: str | None) -> GenerationResult:
        from ray_jobs.generators.image_io import load_image, working_arrays
        from ray_jobs.generators.segmentation import segment

        device = resolve_device(device)
        pipeline = runner.model
        rgb, alpha = runner.run("load", lambda: working_arrays(load_image(image), WORKING_RESOLUTION))
        mask, segmenter = runner.run("mask", segment, rgb, alpha, settings, runner.segmenter_model)
        condition = runner.run("condition", conditioning_image, rgb, alpha, mask, _processor_side(pipeline))
        latents = runner.run("diffuse", diffuse, pipeline, condition, settings, device)
        surface = runner.run("surface", extract_surface, pipeline, latents, settings["grid_size"], device)
        mesh = runner.run("mesh", coloured_mesh, surface, settings["target_faces"])
        quality = runner.run("quality", _quality, mesh, mask, surface)
        return GenerationResult(mesh=mesh, mask=mask, quality={**quality, "segmenter": segmenter}, device=device)


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ValueError(f"the Shap-E model folder '{folder}' does not exist: point the weights setting at a saved model")
    missing = [name for name in PIPELINE_CONFIG_FILES if not (folder / name).is_file()]
    missing += [f"{part}/ weights (*.safetensors or *.bin)" for part in WEIGHTED_PARTS
                if not any(path.suffix in WEIGHT_SUFFIXES for path in (folder / part).glob("*"))]
    if missing:
        raise ValueError(f"the Shap-E model folder '{folder}' is missing {', '.join(missing)}: "
                         f"copy the whole model folder (as save_pretrained writes it)")


def _processor_side(pipeline) -> int:
    """The square side the image processor hands the encoder (its crop, else its resize)."""
    processor = pipeline.image_processor
    size = processor.crop_size if getattr(processor, "do_center_crop", False) else processor.size
    size = dict(size) if not isinstance(size, int) else {"height": size}
    return int(size.get("height") or size.get("shortest_edge"))


def conditioning_image(rgb: np.ndarray, alpha: np.ndarray | None, mask: np.ndarray, side: int):
    """The object alone, centred on white in a ``side`` square, its longer side OBJECT_FILL of it."""
    from PIL import Image

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    coverage = mask[top:bottom, left:right].astype(np.float32)
    if alpha is not None:  # keep soft edges where the image has them
        coverage *= alpha[top:bottom, left:right].astype(np.float32) / 255.0
    cut = rgb[top:bottom, left:right].astype(np.float32)
    composite = cut * coverage[..., None] + BACKGROUND * (1.0 - coverage[..., None])
    height, width = composite.shape[:2]
    canvas_side = int(np.ceil(max(height, width) / OBJECT_FILL))
    canvas = np.full((canvas_side, canvas_side, 3), BACKGROUND, np.uint8)
    offset_row, offset_col = (canvas_side - height) // 2, (canvas_side - width) // 2
    canvas[offset_row : offset_row + height, offset_col : offset_col + width] = np.clip(composite + 0.5, 0, 255)
    return Image.fromarray(canvas, "RGB").resize((side, side), Image.Resampling.LANCZOS)


def diffuse(pipeline, image, settings: dict[str, Any], device: str):
    """The prior's latent for the image (1, tokens, width).

    The pipeline's ``output_type="mesh"`` does this and then the surface extraction with a fixed
    128³ grid; taking the latent and extracting separately gives the ``grid_size`` setting and a
    point between the two long stages where a cancelled job stops."""
    import torch

    generator = torch.Generator(device=device).manual_seed(settings["seed"])
    return pipeline(
        image,
        num_inference_steps=settings["inference_steps"],
        guidance_scale=settings["guidance_scale"],
        generator=generator,
        output_type="latent",
    ).images


def extract_surface(pipeline, latents, grid_size: int, device: str):
    """The renderer's marching-cubes mesh of the latent (diffusers' MeshDecoderOutput); ValueError when empty."""
    renderer = pipeline.shap_e_renderer
    # the renderer colours the mesh right after meshing it and fails deep inside on an empty one:
    # stop it at the meshing with the reason instead
    hook = renderer.mesh_decoder.register_forward_hook(_refuse_empty_surface)
    try:
        return renderer.decode_to_mesh(latents[0][None], device, grid_size=grid_size, query_batch_size=QUERY_BATCH)
    finally:
        hook.remove()


def _refuse_empty_surface(module, inputs, output) -> None:
    if len(output.faces) == 0:
        raise ValueError(f"the model produced no surface for this image: its signed distance is negative "
                         f"everywhere on the grid; {NO_SURFACE_HINT}")


def coloured_mesh(surface, target_faces: int):
    """A trimesh with sRGB vertex colours: at most ``target_faces`` faces, outward winding, glTF frame."""
    import torch
    import trimesh

    vertices = surface.verts.detach().float().cpu().numpy().astype(np.float64)
    faces = surface.faces.detach().cpu().numpy().astype(np.int64)
    linear = torch.stack([surface.vertex_channels[c] for c in "RGB"], dim=1).float().cpu().numpy()
    if not np.isfinite(vertices).all():
        raise ValueError(f"the model produced no surface for this image: its signed distance is not finite; {NO_SURFACE_HINT}")
    colours = np.column_stack([_srgb_bytes(linear), np.full(len(linear), 255, np.uint8)])
    vertices, faces, colours = _weld(vertices, faces, colours)
    if len(faces) > target_faces:
        vertices, faces, colours = _reduce(vertices, faces, colours, target_faces)
    if len(faces) == 0:
        raise ValueError(f"the model produced no surface for this image: only degenerate triangles; {NO_SURFACE_HINT}")
    vertices = _to_gltf_frame(vertices)
    if _signed_volume(vertices, faces) < 0:  # marching-cubes tables differ in winding: make normals point out
        faces = faces[:, ::-1].copy()
    return trimesh.Trimesh(vertices, faces, vertex_colors=colours, process=False)


def _srgb_bytes(linear: np.ndarray) -> np.ndarray:
    """Linear 0..1 colours as sRGB bytes: the renderer linearises its colour head's output, while
    trimesh, the thumbnail and the dashboard treat vertex colours as display (sRGB) values."""
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _weld(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray):
    """One vertex per position, no faces with a repeated corner, no unused vertices.

    A grid value of exactly zero puts the crossings of all its edges on one point."""
    unique, first, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    faces = inverse.ravel()[faces]
    colours = colours[first]
    return _compact(unique, _proper_faces(faces), colours)


def _proper_faces(faces: np.ndarray) -> np.ndarray:
    """Faces with three different corners, each corner set once.

    Two copies of a face wound opposite ways cancel: they are a part thinner than a clustering
    cell collapsed into a sheet, which encloses nothing."""
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])]
    order = np.argsort(faces, axis=1)
    # sorting by an even permutation (a rotation of the corners) keeps the winding
    rotation = (order == [0, 1, 2]).all(axis=1) | (order == [1, 2, 0]).all(axis=1) | (order == [2, 0, 1]).all(axis=1)
    unique, inverse = np.unique(np.take_along_axis(faces, order, axis=1), axis=0, return_inverse=True)
    winding = np.bincount(inverse.ravel(), np.where(rotation, 1.0, -1.0), minlength=len(unique))
    kept = unique[winding != 0]
    return np.where((winding[winding != 0] > 0)[:, None], kept, kept[:, ::-1])


def _compact(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray):
    used = np.zeros(len(vertices), bool)
    used[faces.ravel()] = True
    new_id = np.cumsum(used) - 1
    return vertices[used], new_id[faces], colours[used]


def _reduce(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, target_faces: int):
    """At most ``target_faces`` faces by grid clustering of vertices (as previews are made), colours averaged."""
    from ray_jobs.generators.preview import cluster_vertices

    budget = target_faces
    for _ in range(8):  # clustering aims at the budget; rarely it lands above, then aim lower
        merged, merged_faces, _, merged_colours = cluster_vertices(vertices, faces, budget, colors=colours)
        merged_faces = _proper_faces(merged_faces)
        if len(merged_faces) <= target_faces:
            break
        budget = int(budget * 0.9)
    return _compact(merged, merged_faces, merged_colours)


def _to_gltf_frame(vertices: np.ndarray) -> np.ndarray:
    """Shap-E's frame (Z up, the front seen from -Y, image right = +X) to glTF's (Y up, front toward
    +Z): (x, y, z) -> (x, z, -y), a rotation. Then the box centred at the origin, longest side 1."""
    turned = np.column_stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]])
    low, high = turned.min(axis=0), turned.max(axis=0)
    return (turned - (low + high) / 2.0) / float((high - low).max())


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    corners = vertices[faces]
    return float(np.einsum("fd,fd->f", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0)


def _quality(mesh, mask: np.ndarray, surface) -> dict[str, Any]:
    from ray_jobs.generators.quality import quality_figures

    # iou: the front view against the image's mask, fitted box to box (the model picks its own scale)
    return {**quality_figures(mesh, mask), "surface_faces": int(len(surface.faces))}
