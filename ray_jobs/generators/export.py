"""Mesh files: GLB (the stored form), and OBJ (zipped with MTL and texture), PLY, STL."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import trimesh
from trimesh.visual.color import ColorVisuals
from trimesh.visual.material import PBRMaterial
from trimesh.visual.texture import TextureVisuals

from ray_jobs.generators.materials import base_colour_image, sample_texture

FORMATS = ("glb", "obj", "ply", "stl")
CONTENT_TYPES = {
    "glb": "model/gltf-binary",
    "obj": "application/zip",
    "ply": "application/octet-stream",
    "stl": "model/stl",
}
# zlib level for the texture PNG inside GLB and OBJ files: level 1 encodes a photo several
# times faster than the default 6 for a file about 2% larger
TEXTURE_COMPRESS_LEVEL = 1
# The material of vertex-coloured meshes in GLB files: a rough non-metal, as generators' textured ones
VERTEX_COLOUR_MATERIAL = {"metallicFactor": 0.0, "roughnessFactor": 0.9}


def export_mesh(mesh: trimesh.Trimesh, fmt: str = "glb") -> bytes:
    """The mesh as file bytes in ``fmt`` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format '{fmt}': use one of {', '.join(FORMATS)}")
    return _EXPORTERS[fmt](mesh)


def load_glb(data: bytes) -> trimesh.Trimesh:
    """A GLB's meshes as one textured Trimesh, vertices exactly as stored."""
    scene = trimesh.load(io.BytesIO(data), file_type="glb", process=False, force="scene")
    for geometry in scene.geometry.values():
        colours = getattr(geometry.visual, "vertex_attributes", {}).get("color")
        if colours is not None and base_colour_image(geometry) is None:
            # COLOR_0 beside an untextured material (as _glb writes it): vertex colours again, which
            # joining the scene into one mesh keeps (a material's extra attributes it drops)
            geometry.visual = ColorVisuals(geometry, vertex_colors=np.asarray(colours))
    loaded = scene.to_mesh()
    if not isinstance(loaded, trimesh.Trimesh):
        raise ValueError("the GLB holds no triangle mesh")
    return loaded


@contextmanager
def _fast_texture_png(mesh: trimesh.Trimesh) -> Iterator[None]:
    """While exporting, the texture saves as a fast PNG (Pillow merges ``encoderinfo`` into save())."""
    image = base_colour_image(mesh)
    if image is None:
        yield
        return
    previous = getattr(image, "encoderinfo", None)
    image.encoderinfo = {**(previous or {}), "compress_level": TEXTURE_COMPRESS_LEVEL}
    try:
        yield
    finally:
        if previous is None:
            del image.encoderinfo
        else:
            image.encoderinfo = previous


def _glb(mesh: trimesh.Trimesh) -> bytes:
    if "vertex_normals" not in mesh._cache:  # normals loaded from a file are kept as they are
        mesh.vertex_normals = angle_weighted_normals(mesh)  # cached: the thumbnail reuses them
    with _fast_texture_png(mesh):
        # normals travel with the mesh so viewers shade it smoothly without recomputing
        return trimesh.exchange.gltf.export_glb(_with_colour_material(mesh), include_normals=True)


def _with_colour_material(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A vertex-coloured mesh as one whose colours ride as COLOR_0 beside a rough non-metal material:
    without a material glTF viewers use the default one, fully metallic, which draws the colours dark."""
    if mesh.visual.kind != "vertex":
        return mesh
    visual = TextureVisuals(material=PBRMaterial(name="vertex_colours", **VERTEX_COLOUR_MATERIAL))
    visual.vertex_attributes["color"] = np.asarray(mesh.visual.vertex_colors)
    return trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_normals=mesh.vertex_normals, visual=visual,
                           metadata=mesh.metadata, process=False)


def angle_weighted_normals(mesh: trimesh.Trimesh) -> np.ndarray:
    """(V, 3) unit vertex normals: face normals weighted by the corner angle, as trimesh computes
    them (Thuerrner & Wuethrich 1998), summed with bincount instead of a sparse matrix (faster)."""
    vertices = np.asarray(mesh.vertices, np.float64)
    faces = np.asarray(mesh.faces, np.int64)
    corners = vertices[faces]
    # edge k runs from corner k to corner k+1
    edges = np.roll(corners, -1, axis=1) - corners
    normals = np.cross(edges[:, 0], edges[:, 1])
    length = np.sqrt(np.einsum("fd,fd->f", normals, normals))
    usable = length > 0  # degenerate faces add nothing, as in trimesh
    normals /= np.where(usable, length, 1.0)[:, None]
    edge_length = np.sqrt(np.einsum("fkd,fkd->fk", edges, edges))
    # the angle at corner k lies between edge k and the reversed edge k-1
    cosine = -np.einsum("fkd,fkd->fk", edges, np.roll(edges, 1, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        angles = np.arccos(np.clip(cosine / (edge_length * np.roll(edge_length, 1, axis=1)), -1.0, 1.0))
    angles[~usable] = 0.0
    summed = np.column_stack([
        np.bincount(faces.ravel(), (angles * normals[:, axis : axis + 1]).ravel(), minlength=len(vertices))
        for axis in range(3)
    ])
    summed_length = np.sqrt(np.einsum("vd,vd->v", summed, summed))
    return summed / np.where(summed_length > 0, summed_length, 1.0)[:, None]


def _obj_zip(mesh: trimesh.Trimesh) -> bytes:
    with _fast_texture_png(mesh):
        text, files = trimesh.exchange.obj.export_obj(
            mesh, include_normals=True, include_texture=True, return_texture=True, mtl_name="model.mtl", digits=6
        )
    buffer = io.BytesIO()
    # fast deflate for the text; the PNG texture is compressed already
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("model.obj", text)
        for name, content in files.items():
            archive.writestr(name, content, compress_type=zipfile.ZIP_STORED if name.endswith(".png") else None)
    return buffer.getvalue()


def _ply(mesh: trimesh.Trimesh) -> bytes:
    # PLY readers rarely understand textures: bake the texture into vertex colours
    coloured = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=vertex_colours(mesh), process=False)
    return trimesh.exchange.ply.export_ply(coloured, encoding="binary")


def _stl(mesh: trimesh.Trimesh) -> bytes:
    return trimesh.exchange.stl.export_stl(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False))


def vertex_colours(mesh: trimesh.Trimesh) -> np.ndarray:
    """(V, 4) uint8 RGBA per vertex, sampled from the base-colour texture when there is one."""
    image = base_colour_image(mesh)
    if image is None:
        # colour visuals carry vertex colours already; a material without a texture gives its colour
        visual = mesh.visual if isinstance(mesh.visual, ColorVisuals) else mesh.visual.to_color()
        return np.asarray(visual.vertex_colors)
    return sample_texture(np.asarray(image.convert("RGBA")), mesh.visual.uv)


_EXPORTERS = {"glb": _glb, "obj": _obj_zip, "ply": _ply, "stl": _stl}
