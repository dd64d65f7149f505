"""What a 3D preview draws, as plain arrays: a stored GLB read, its base colour found, fewer faces if large.

Versions published with a preview file (large models: decimated once at job time, see
generators.preview) are read from it; older ones are decimated here. A front turns a PreviewModel
into its own drawing objects without knowing any mesh library. GLBs as this studio writes them are
read with numpy alone (a dashboard then never loads trimesh, a large import); others with trimesh.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import numpy as np

from ray_jobs.generators.preview import PREVIEW_MAX_FACES, cluster_vertices, preview_pixels, texture_pixels


@dataclass
class PreviewModel:
    vertices: np.ndarray                # N x 3 float64, glTF frame (Y up)
    faces: np.ndarray                   # M x 3 int64 indices into vertices
    uv: np.ndarray | None               # N x 2 float64 texture coordinates, None when untextured
    texture: np.ndarray | None          # H x W x 3|4 uint8 base colour, None when untextured
    vertex_colors: np.ndarray | None    # N x 3 uint8 when the mesh has colours but no texture
    source_faces: int                   # faces in the stored model
    shown_faces: int                    # faces kept for the preview (len(faces))


def preview_model(glb_bytes: bytes, *, max_faces: int = PREVIEW_MAX_FACES) -> PreviewModel:
    """The GLB as a PreviewModel of at most ``max_faces`` faces; ValueError when it holds no triangle mesh."""
    plain = _read_plain_glb(glb_bytes)
    if plain is not None:
        vertices, faces, uv, image, colors = plain
        texture = preview_pixels(image) if image is not None and uv is not None else None
        uv, colors = (uv, None) if texture is not None else (None, colors)
    else:
        vertices, faces, uv, texture, colors = _read_with_trimesh(glb_bytes)
    source_faces = len(faces)
    if source_faces > max_faces:
        vertices, faces, uv, colors = cluster_vertices(vertices, faces, max_faces, uv=uv, colors=colors)
    return PreviewModel(vertices, faces, uv, texture, colors, source_faces, len(faces))


def _read_with_trimesh(glb_bytes: bytes):
    """Any GLB trimesh reads (several meshes, node transforms, ...): slower, and a large import."""
    from ray_jobs.generators.export import load_glb

    mesh = load_glb(glb_bytes)
    texture = texture_pixels(mesh)
    uv = np.asarray(mesh.visual.uv, dtype=np.float64) if texture is not None else None
    colors = _vertex_colors_of(mesh) if texture is None else None
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64), uv, texture, colors


_COMPONENTS = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
_TRANSFORMS = ("matrix", "translation", "rotation", "scale")


def _read_plain_glb(data: bytes):
    """(vertices, faces, uv, base-colour image, vertex colours) of a GLB as this studio writes it: one
    indexed triangle primitive, no node transform. None for anything else (trimesh reads those).
    Read with numpy alone, so the dashboard, which only previews, never loads trimesh for it."""
    if len(data) < 28 or data[:4] != b"glTF":
        return None
    json_length, json_kind = struct.unpack_from("<II", data, 12)
    if json_kind != 0x4E4F534A or len(data) < 28 + json_length:
        return None
    gltf = json.loads(data[20:20 + json_length])
    bin_length, bin_kind = struct.unpack_from("<II", data, 20 + json_length)
    binary = memoryview(data)[28 + json_length:28 + json_length + bin_length]
    meshes, nodes = gltf.get("meshes") or [], gltf.get("nodes") or []
    if (bin_kind != 0x004E4942 or len(meshes) != 1 or len(meshes[0].get("primitives", [])) != 1
            or gltf.get("extensionsRequired") or len(gltf.get("buffers", [])) != 1
            or any(key in node for node in nodes for key in _TRANSFORMS) or sum("mesh" in n for n in nodes) != 1):
        return None
    primitive = meshes[0]["primitives"][0]
    attributes = primitive.get("attributes", {})
    if primitive.get("mode", 4) != 4 or "indices" not in primitive or "POSITION" not in attributes:
        return None

    def accessor(index: int) -> np.ndarray | None:
        spec = gltf["accessors"][index]
        dtype, width = _COMPONENTS.get(spec.get("componentType")), _WIDTHS.get(spec.get("type"))
        if dtype is None or width is None or "bufferView" not in spec or "sparse" in spec:
            return None
        view = gltf["bufferViews"][spec["bufferView"]]
        if view.get("byteStride", np.dtype(dtype).itemsize * width) != np.dtype(dtype).itemsize * width:
            return None  # interleaved
        values = np.frombuffer(binary, dtype, spec["count"] * width, view.get("byteOffset", 0) + spec.get("byteOffset", 0))
        return values.reshape(-1, width) if width > 1 else values

    vertices, indices = accessor(attributes["POSITION"]), accessor(primitive["indices"])
    if vertices is None or indices is None or vertices.dtype != np.float32 or len(indices) % 3:
        return None
    uv = image = colors = None
    if "TEXCOORD_0" in attributes:
        uv = accessor(attributes["TEXCOORD_0"])
        if uv is None or uv.dtype != np.float32:
            return None
        uv = np.column_stack([uv[:, 0], 1.0 - uv[:, 1]]).astype(np.float64)  # glTF's v runs down, trimesh's up
    material = gltf["materials"][primitive["material"]] if "material" in primitive else {}
    texture = material.get("pbrMetallicRoughness", {}).get("baseColorTexture")
    if texture is not None:
        picture = gltf["images"][gltf["textures"][texture["index"]]["source"]]
        if "bufferView" not in picture:
            return None
        from PIL import Image

        view = gltf["bufferViews"][picture["bufferView"]]
        start = view.get("byteOffset", 0)
        try:  # the two formats glTF allows
            image = Image.open(io.BytesIO(binary[start:start + view["byteLength"]]), formats=("PNG", "JPEG"))
            image.load()
        except (OSError, Image.DecompressionBombError):
            return None
    if "COLOR_0" in attributes:
        colors = accessor(attributes["COLOR_0"])
        if colors is None:
            return None
        if colors.dtype == np.float32:
            colors = (colors * 255).round()
        elif colors.dtype == np.uint16:
            colors = colors // 257
        colors = colors[:, :3].astype(np.uint8)
    return vertices.astype(np.float64), indices.astype(np.int64).reshape(-1, 3), uv, image, colors


def _vertex_colors_of(mesh) -> np.ndarray | None:
    if getattr(mesh.visual, "kind", None) != "vertex":
        return None
    return np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.uint8)
