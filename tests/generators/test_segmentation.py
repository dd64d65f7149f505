"""The segmentation stage: which segmenter `auto` picks, what an asset's identity records, the learned
segmenter through rembg's real loading path (a tiny ONNX model with U²-Net's input and outputs,
built here), and the message for a background no configured segmenter can handle."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.harness.scenes import object_pixels, shape_mask
from ray_jobs.generators.base import ImageError
from ray_jobs.generators.registry import get_generator, identity_settings
from ray_jobs.generators.segmentation import REMBG_MODEL_FILE, mask_png, segment
from ray_jobs.generators.weights import resolve_weights
from ray_jobs.generators.segmentation import LEARNED

U2NET_SIDE = 320  # U²-Net's input: (1, 3, 320, 320); its seven side outputs: (1, 1, 320, 320)


def save_tiny_u2net(folder) -> None:
    """A one-layer stand-in for U²-Net with its exact input and outputs: bright pixels are the object
    (the channel mean of rembg's normalised input, through a steep sigmoid)."""
    import onnx
    from onnx import TensorProto, helper

    shape = [1, 3, U2NET_SIDE, U2NET_SIDE]
    out_shape = [1, 1, U2NET_SIDE, U2NET_SIDE]
    nodes = [helper.make_node("ReduceMean", ["input.1", "axes"], ["mean"], keepdims=1),
             helper.make_node("Sub", ["mean", "threshold"], ["centred"]),
             helper.make_node("Mul", ["centred", "steepness"], ["scaled"]),
             helper.make_node("Sigmoid", ["scaled"], ["d0"])]
    nodes += [helper.make_node("Identity", ["d0"], [f"d{index}"]) for index in range(1, 7)]
    graph = helper.make_graph(
        nodes, "tiny_u2net",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(f"d{index}", TensorProto.FLOAT, out_shape) for index in range(7)],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
                     helper.make_tensor("threshold", TensorProto.FLOAT, [], [0.5]),
                     helper.make_tensor("steepness", TensorProto.FLOAT, [], [8.0])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / REMBG_MODEL_FILE))


@pytest.fixture(scope="module")
def u2net_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("u2net")
    save_tiny_u2net(folder)
    return folder


def cluttered_scene(size: int = 160):
    """A bright disc on a dark, busy background (blocks of many colours, like a room behind a product):
    no plain border to flood from."""
    truth = shape_mask("disc", size)
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 150, (size // 16 + 1, size // 16 + 1, 3))
    background = np.kron(blocks, np.ones((16, 16, 1)))[:size, :size]
    rgb = np.where(truth[..., None], [235, 225, 210], background).astype(np.uint8)
    return rgb, truth


def iou(a, b) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_auto_picks_alpha_then_the_weight_free_method():
    truth = shape_mask("figure", 160)
    cut = np.asarray(object_pixels(truth, alpha=True))
    mask, used = segment(cut[..., :3], cut[..., 3], {"segmenter": "auto"}, None)
    assert used == "alpha-1" and np.array_equal(mask, truth)
    plain = np.asarray(object_pixels(truth, (128, 128, 128)))
    mask, used = segment(plain, None, {"segmenter": "auto"}, None)
    assert used == "flood-10" and iou(mask, truth) > 0.97


def test_asking_for_alpha_on_an_image_without_one_says_what_to_do():
    plain = np.asarray(object_pixels(shape_mask("disc", 64), (128, 128, 128)))
    with pytest.raises(ImageError, match="needs an image with a transparent background"):
        segment(plain, None, {"segmenter": "alpha"}, None)


def test_a_busy_background_without_a_learned_segmenter_says_which_one_would_handle_it():
    rgb, _ = cluttered_scene()
    with pytest.raises(ImageError) as raised:
        segment(rgb, None, {"segmenter": "auto"}, None)
    text = str(raised.value)
    assert "background is not plain" in text and "rembg" in text and "U2NET_HOME" in text and "\n" not in text


def test_the_learned_segmenter_separates_what_the_flood_cannot(u2net_folder):
    rgb, truth = cluttered_scene()
    model = resolve_weights(LEARNED, str(u2net_folder))
    mask, used = segment(rgb, None, {"segmenter": "auto"}, model)  # auto with a model: rembg for RGB
    assert used == f"rembg-{model.identity}" and iou(mask, truth) > 0.95
    mask, used = segment(rgb, None, {"segmenter": "rembg"}, model)
    assert used.startswith("rembg-") and iou(mask, truth) > 0.95


def test_identity_records_what_decides_the_mask(u2net_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.u2net
    plain = identity_settings("inflate", {})
    assert plain["segmenter"] == "auto" and plain["segmenter_id"] == "auto: alpha-1, flood-10"
    learned = identity_settings("inflate", {"segmenter_model": str(u2net_folder)})
    assert learned["segmenter_id"].startswith("auto: alpha-1, rembg-sha256:")
    assert identity_settings("inflate", {"segmenter": "flood"})["segmenter_id"] == "flood-10"
    with pytest.raises(ValueError, match="setting 'segmenter_model' of generator 'rembg segmenter'.*--set segmenter_model="):
        identity_settings("inflate", {"segmenter": "rembg"})  # asked for, but no model anywhere
    with pytest.raises(ValueError, match="'segmenter' must be one of auto, alpha, flood, rembg"):
        identity_settings("inflate", {"segmenter": "magic"})


def test_inflate_runs_the_learned_segmenter_and_records_it(u2net_folder):
    rgb, truth = cluttered_scene(192)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    model = resolve_weights(LEARNED, str(u2net_folder))
    result = get_generator("inflate").generate(buffer.getvalue(), {"resolution": 192, "segmenter": "rembg",
                                                                   "segmenter_model": str(u2net_folder)},
                                               segmenter_model=model)
    assert result.quality["segmenter"] == f"rembg-{model.identity}"
    assert iou(result.mask, truth) > 0.95 and result.quality["watertight"]


def test_the_stored_mask_is_small_and_exact():
    truth = shape_mask("ring", 512)
    data = mask_png(truth)
    assert len(data) < 8_000
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("L")) >= 128, truth)


def test_the_overlay_dims_the_background_and_outlines_the_object():
    from ray_jobs.client.mask_overlay import OUTLINE_RGB, overlay_png

    truth = shape_mask("disc", 128)
    source = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 200, 200)).save(source, format="PNG")
    shown = np.asarray(Image.open(io.BytesIO(overlay_png(source.getvalue(), mask_png(truth)))))
    assert shown.shape == (128, 128, 3)
    assert tuple(shown[0, 0]) == (70, 70, 70)  # background at 35 %
    assert tuple(shown[64, 64]) == (200, 200, 200)  # the object as it is
    assert (shown == OUTLINE_RGB).all(axis=2).sum() > 0
