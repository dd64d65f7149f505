"""A Shap-E image-to-3D pipeline with tiny random weights, saved like the real one: for fast CPU tests.

The components follow the shapes diffusers' own fast tests use, shrunk further. Two things random
weights cannot give, both set here for this test model only before saving:

- the renderer's marching-cubes lookup tables: buffers that real checkpoints store and a fresh
  model leaves all zero, so every mesh would come out empty. They are computed below.
- a shape worth checking: a random implicit function is noise, a surface everywhere. The renderer's
  weights are set so its signed distance is a tall ellipsoid whatever the latent, coloured by
  position: red grows along Shap-E's +x (image right), green along +z (up), blue along -y (toward
  the viewer of the front), so a test can see the axes land where glTF wants them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Corner k of a marching-cubes cell sits at (x, y, z) = bits of k: the renderer builds its case
# number as bit k = "corner k is inside".
CORNERS = [(k & 1, (k >> 1) & 1, (k >> 2) & 1) for k in range(8)]
# The renderer's 12 cell edges, in its order: 4 along x (at y, z = 00, 10, 01, 11), then 4 along y
# (at x, z), then 4 along z (at x, y); each as its two corner numbers.
EDGES = [(0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (0, 4), (1, 5), (2, 6), (3, 7)]
# The 6 cell faces, each as its 4 corners in order around it.
FACES = [(0, 2, 6, 4), (1, 3, 7, 5), (0, 1, 5, 4), (2, 3, 7, 6), (0, 1, 3, 2), (4, 5, 7, 6)]
MAX_TRIANGLES = 5  # the renderer's table holds 5 triangles per case

IMAGE_SIDE = 32  # the image encoder's input size; the image processor must produce it

# The ellipsoid: inside where sum_i WEIGHT_i * cos(x_i) > LEVEL, about 1 - |x|^2 / 2 per axis, so
# half-axes of about 0.4 across (x, y) and 0.8 up (z) in the renderer's [-1, 1]^3 box.
ELLIPSOID_WEIGHTS = (1.0, 1.0, 0.25)
ELLIPSOID_LEVEL = 2.17
SIGNAL_OFFSET = 5.0  # keeps hidden values where SiLU is nearly the identity (and always increasing)
COLOUR_OFFSET = 3.0
# Where posenc_nerf puts x_i (index i) and cos(x_i) (after x and the 45 sines) among its 93 features.
COS_FEATURES = (48, 49, 50)


def marching_cubes_tables() -> tuple[np.ndarray, np.ndarray]:
    """(cases (256, 5, 3) edge numbers, masks (256, 5) bool) in the renderer's layout, triangles
    wound counter-clockwise seen from outside.

    Each case's surface is traced on the cell's faces: a face whose inside corners are diagonal
    keeps them apart, the same rule on both cells sharing the face, so neighbouring cells meet
    without gaps. The traced loops are fanned into triangles.
    """
    cases = np.zeros((256, MAX_TRIANGLES, 3), np.int64)
    masks = np.zeros((256, MAX_TRIANGLES), bool)
    edge_of = {frozenset(pair): number for number, pair in enumerate(EDGES)}
    for case in range(256):
        inside = [bool(case >> k & 1) for k in range(8)]
        links: dict[int, list[int]] = {}
        for face in FACES:
            for a, b in _face_segments(face, inside):
                first, second = edge_of[frozenset(a)], edge_of[frozenset(b)]
                links.setdefault(first, []).append(second)
                links.setdefault(second, []).append(first)
        triangles = [triangle for loop in _loops(links) for triangle in _fan(loop, inside)]
        assert len(triangles) <= MAX_TRIANGLES, (case, triangles)
        if triangles:
            cases[case, : len(triangles)] = triangles
            masks[case, : len(triangles)] = True
    return cases, masks


def _face_segments(face: tuple[int, ...], inside: list[bool]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The surface's crossings of one face, as pairs of cut edges (each edge as its two corners)."""
    sides = [(face[i], face[(i + 1) % 4]) for i in range(4)]
    cut = [side for side in sides if inside[side[0]] != inside[side[1]]]
    if len(cut) == 2:
        return [(cut[0], cut[1])]
    if len(cut) == 4:  # inside corners diagonal: cut around each inside corner on its own
        corners = [corner for corner in face if inside[corner]]
        return [tuple(side for side in sides if corner in side) for corner in corners]
    return []


def _loops(links: dict[int, list[int]]) -> list[list[int]]:
    """The closed chains of cut edges (every cut edge lies on two faces, so on two segments)."""
    loops, seen = [], set()
    for start in sorted(links):
        if start in seen:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            following = [edge for edge in links[current] if edge != previous]
            nxt = following[0] if following else links[current][0]
            if nxt == start:
                break
            loop.append(nxt)
            seen.add(nxt)
            previous, current = current, nxt
        loops.append(loop)
    return loops


def _fan(loop: list[int], inside: list[bool]) -> list[tuple[int, int, int]]:
    """Triangles fanned from the loop's first edge, turned so their normals point outside."""
    points = np.array([np.mean([CORNERS[c] for c in EDGES[edge]], axis=0) for edge in loop])
    # the loop's normal (Newell) against the direction from inside corners to outside ones
    normal = sum(np.cross(points[i], points[(i + 1) % len(points)]) for i in range(len(points)))
    outward = sum(
        np.subtract(CORNERS[b], CORNERS[a]) if inside[a] else np.subtract(CORNERS[a], CORNERS[b])
        for a, b in (EDGES[edge] for edge in loop)
    )
    if np.dot(normal, outward) < 0:
        loop = loop[::-1]
    return [(loop[0], loop[i], loop[i + 1]) for i in range(1, len(loop) - 1)]


def tiny_pipeline():
    """The five components with tiny random configurations, seeded, tables filled."""
    import torch
    from diffusers import HeunDiscreteScheduler, PriorTransformer, ShapEImg2ImgPipeline
    from diffusers.pipelines.shap_e import ShapERenderer
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    hidden = 16
    encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=hidden, image_size=IMAGE_SIDE, patch_size=8, projection_dim=hidden, intermediate_size=32,
        num_attention_heads=2, num_channels=3, num_hidden_layers=1,
    ))
    processor = CLIPImageProcessor(
        crop_size=IMAGE_SIDE, size=IMAGE_SIDE, do_center_crop=True, do_normalize=True, do_resize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711], resample=3,
    )
    latent_width, renderer_width = 16, 8
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=8, embedding_dim=latent_width, num_embeddings=4 * renderer_width,
        embedding_proj_dim=hidden, time_embed_dim=4 * latent_width, num_layers=1, clip_embed_dim=2 * latent_width,
        additional_embeddings=0, time_embed_act_fn="gelu", norm_in_type="layer", embedding_proj_norm_type="layer",
        encoder_hid_proj_type=None, added_emb_type=None,
    )
    renderer = ShapERenderer(
        param_shapes=((renderer_width, 93), (renderer_width, 8), (renderer_width, 8), (renderer_width, 8)),
        d_latent=latent_width, d_hidden=renderer_width, n_output=12, background=(0.1, 0.1, 0.1),
    )
    cases, masks = marching_cubes_tables()
    renderer.mesh_decoder.cases.copy_(torch.from_numpy(cases))
    renderer.mesh_decoder.masks.copy_(torch.from_numpy(masks))
    shape_as_ellipsoid(renderer)
    scheduler = HeunDiscreteScheduler(
        beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample", use_karras_sigmas=True,
        clip_sample=True, clip_sample_range=1.0,
    )
    return ShapEImg2ImgPipeline(prior=prior, image_encoder=encoder, image_processor=processor,
                                scheduler=scheduler, shap_e_renderer=renderer)


def shape_as_ellipsoid(renderer) -> None:
    """Weights that make the renderer's implicit function the coloured ellipsoid described above.

    Hidden unit 0 carries the ellipsoid's sum, units 1-3 the colour coordinates, through identity
    layers. The first four layers' weights are projected from the latent; zero projections leave
    them equal to the projections' biases, so the field does not depend on the latent.
    """
    import torch
    import torch.nn.functional as F

    layers = renderer.mlp.mlp
    width = renderer.config.d_hidden
    with torch.no_grad():
        first = torch.zeros(width, layers[0].in_features)
        first[0, list(COS_FEATURES)] = torch.tensor(ELLIPSOID_WEIGHTS)
        first[1, 0], first[2, 2], first[3, 1] = 1.0, 1.0, -1.0  # x, z, -y
        projected = [first] + [torch.eye(width)] * 3
        for index, weight in enumerate(projected):
            projection = renderer.params_proj.projections[f"nerstf__mlp__{index}__weight"]
            projection.proj.weight.zero_()
            projection.proj.bias.copy_(weight.reshape(-1))
        for layer in layers[4:-1]:
            layer.weight.zero_()
            layer.weight[:, :width] = torch.eye(width)
        for layer in layers[:-1]:
            layer.bias.zero_()
        layers[0].bias[0] = SIGNAL_OFFSET
        layers[0].bias[1:4] = COLOUR_OFFSET

        def through_hidden_layers(value: float) -> float:
            value = torch.tensor(value)
            for _ in layers[:-1]:
                value = F.silu(value)
            return float(value)

        last = layers[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.weight[0, 0] = 4.0  # signed distance (tanh of it): positive inside
        last.bias[0] = -4.0 * through_hidden_layers(SIGNAL_OFFSET + ELLIPSOID_LEVEL)
        for channel in range(3):  # the colour head's R, G, B (outputs 3-5), sigmoid of them
            last.weight[3 + channel, 1 + channel] = 2.0
            last.bias[3 + channel] = -2.0 * through_hidden_layers(COLOUR_OFFSET)


def save_tiny_shap_e(folder: Path) -> Path:
    """A loadable tiny Shap-E image-to-3D model folder (a few hundred kB), built and saved in seconds."""
    folder = Path(folder)
    tiny_pipeline().save_pretrained(folder)
    return folder
