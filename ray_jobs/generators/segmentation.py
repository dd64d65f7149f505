"""Which pixels are the object: the segmentation stage every generator runs first.

The ``segmenter`` setting chooses how:

- ``alpha``: the image's own transparency (it must have a real one);
- ``flood``: the weight-free method of mask.py, for plain grey or white backgrounds;
- ``rembg``: a learned background remover (U²-Net through rembg) from a model file
  ``u2net.onnx`` in a folder (the ``segmenter_model`` setting: a folder, or ``s3://`` synced
  once per node like generator weights; default ``U2NET_HOME``). Never downloaded at run time
  unless the deployer allows downloads;
- ``auto`` (the default): alpha when the image has a real one, else rembg when its model is
  configured, else flood.

What an asset's identity records is the setting plus the version of every method it can
pick (``segmenter_id``), so a new method or another model never answers with an old mask; the
manifest records which one did the work (``quality["segmenter"]``).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ray_jobs.generators.base import ImageError, ResolvedWeights, WeightsSpec

SEGMENTERS = ("auto", "alpha", "flood", "rembg")
# Each method's version is part of an asset's identity: raise it when its masks change.
ALPHA_VERSION = "1"
FLOOD_VERSION = "10"  # mask.py's weight-free method
REMBG_MODEL_FILE = "u2net.onnx"


@dataclass(frozen=True)
class LearnedSegmenter:
    """The rembg model as the weights code sees a model's owner: a name and where its files are."""

    name: str = "rembg segmenter"
    weights: WeightsSpec = WeightsSpec(hub_id="", env="U2NET_HOME", required_files=(REMBG_MODEL_FILE,),
                                       setting="segmenter_model", home=str(Path("~/.u2net")))


LEARNED = LearnedSegmenter()


def segmentation_settings() -> dict[str, Any]:
    """The settings a generator adds to its own to run this stage (see ``Generator.default_settings``)."""
    return {"segmenter": "auto", "segmenter_model": LEARNED.weights.default_source()}


def segmenter_identity(settings: dict[str, Any], s3=None) -> str:
    """What decides the mask for these settings, e.g. "auto: alpha-1, flood-10" (ValueError when the
    rembg model asked for cannot be found, naming the ways to provide it)."""
    from ray_jobs.generators.weights import WeightsMissing, weights_identity

    choice = settings["segmenter"]
    flood, alpha = f"flood-{FLOOD_VERSION}", f"alpha-{ALPHA_VERSION}"
    if choice == "alpha":
        return alpha
    if choice == "flood":
        return flood
    try:
        learned = f"rembg-{weights_identity(LEARNED, settings['segmenter_model'], s3)}"
    except WeightsMissing:
        if choice == "rembg":
            raise
        learned = None  # auto without a model: the weight-free method
    return learned if choice == "rembg" else f"auto: {alpha}, {learned or flood}"


def segmenter_model_for_run(identity_settings: dict[str, Any], s3=None) -> ResolvedWeights | None:
    """The rembg model on this machine when the asset's identity says it is used, else None."""
    from ray_jobs.generators.weights import resolve_weights

    segmenter_id = str(identity_settings.get("segmenter_id", ""))
    if "rembg-" not in segmenter_id:
        return None
    expected = segmenter_id.split("rembg-", 1)[1]
    return resolve_weights(LEARNED, identity_settings["segmenter_model"], s3, expected_identity=expected)


def segment(rgb: np.ndarray, alpha: np.ndarray | None, settings: dict[str, Any],
            learned_model: ResolvedWeights | None) -> tuple[np.ndarray, str]:
    """(the object's mask, which segmenter made it); ImageError saying what to do when none can."""
    from ray_jobs.generators.mask import BackgroundNotPlain, object_mask

    choice = settings.get("segmenter", "auto")
    has_alpha = alpha is not None and int(alpha.min()) < 128
    if choice == "alpha" or (choice == "auto" and has_alpha):
        if not has_alpha:
            raise ImageError("segmenter 'alpha' needs an image with a transparent background: use such an image, "
                             "or segmenter 'auto'")
        return object_mask(rgb, alpha), f"alpha-{ALPHA_VERSION}"
    if choice == "rembg" or (choice == "auto" and learned_model is not None):
        if learned_model is None:
            raise ImageError("segmenter 'rembg' has no model here: put u2net.onnx in U2NET_HOME or set segmenter_model")
        return _learned_mask(rgb, learned_model), f"rembg-{learned_model.identity}"
    try:
        return object_mask(rgb, None), f"flood-{FLOOD_VERSION}"
    except BackgroundNotPlain:
        raise ImageError(
            "the background is not plain, so the weight-free segmenter cannot tell the object from it: use an "
            "image with a transparent or plain background, or the learned segmenter (segmenter 'rembg' or "
            "'auto' with a U²-Net model: u2net.onnx in U2NET_HOME on every machine, or --set "
            "segmenter_model=/folder or s3://bucket/prefix holding it)") from None


_sessions_lock = threading.Lock()


@functools.lru_cache(maxsize=2)
def _session(model_file: str, identity: str):
    """One rembg session per model per process: loading the network costs more than running it.

    rembg opens a model only from inside its home folder (U2NET_HOME): the folder the model was
    resolved to is made that home while the session loads."""
    import os

    from rembg import new_session

    saved = os.environ.get("U2NET_HOME")
    os.environ["U2NET_HOME"] = str(Path(model_file).parent)
    try:
        return new_session("u2net_custom", model_path=model_file)
    finally:
        if saved is None:
            os.environ.pop("U2NET_HOME", None)
        else:
            os.environ["U2NET_HOME"] = saved


def _learned_mask(rgb: np.ndarray, model: ResolvedWeights) -> np.ndarray:
    from PIL import Image
    from rembg import remove

    from ray_jobs.generators.mask import object_mask

    with _sessions_lock:
        session = _session(str(Path(model.folder) / REMBG_MODEL_FILE), model.identity)
    coverage = np.asarray(remove(Image.fromarray(rgb, "RGB"), session=session, only_mask=True).convert("L"))
    if int(coverage.min()) >= 128:
        raise ImageError("the learned segmenter took the whole image for the object: use an image with the "
                         "object clear of the frame's edges")
    return object_mask(rgb, coverage)  # its coverage as an alpha: thresholded, specks dropped, pinholes closed


def mask_png(mask: np.ndarray) -> bytes:
    """The mask as a small black-and-white PNG (stored beside the model for the dashboard's overlay)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(mask.astype(bool)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
