import numpy as np
import pytest

from ray_jobs.generators.base import ImageError
from ray_jobs.generators.mask import FLOOD_VERSION, NO_OBJECT_MESSAGE, flood_mask, object_mask
from tests.plugins.images import BACKGROUNDS, SHAPES, object_pixels, shape_mask


def _arrays(image):
    pixels = np.asarray(image)
    if image.mode == "RGBA":
        return pixels[..., :3], pixels[..., 3]
    return pixels, None


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "ring"])
def test_plain_backgrounds_in_several_colours(shape, background):
    truth = shape_mask(shape, 160)
    mask = object_mask(*_arrays(object_pixels(truth, BACKGROUNDS[background])))
    assert _iou(mask, truth) > 0.98


@pytest.mark.parametrize("shape", SHAPES)
def test_alpha_gives_the_exact_mask_with_holes(shape):
    truth = shape_mask(shape, 160)
    mask = object_mask(*_arrays(object_pixels(truth, alpha=True)))
    assert np.array_equal(mask, truth)


def test_alpha_hole_stays_open():
    truth = shape_mask("ring", 160)
    mask = object_mask(*_arrays(object_pixels(truth, alpha=True)))
    assert not mask[80, 80]  # the ring's centre


def test_interior_area_of_background_colour_stays_object():
    # a white patch inside the object on a white background is not reached by the flood
    truth = shape_mask("disc", 160)
    pixels = np.asarray(object_pixels(truth, BACKGROUNDS["white"])).copy()
    pixels[70:90, 70:90] = 255
    mask = object_mask(pixels, None)
    assert mask[70:90, 70:90].all()
    assert _iou(mask, truth) > 0.98


def test_specks_are_dropped_and_parts_kept():
    truth = shape_mask("parts", 160)
    pixels = np.asarray(object_pixels(truth, BACKGROUNDS["green"])).copy()
    pixels[5:7, 150:152] = (0, 0, 0)  # a speck of dirt in a corner
    mask = object_mask(pixels, None)
    assert not mask[5:7, 150:152].any()
    assert _iou(mask, truth) > 0.98  # both parts stay


def test_pinholes_in_alpha_are_closed():
    truth = shape_mask("disc", 160)
    holed = truth.copy()
    holed[80, 80] = False
    mask = object_mask(*_arrays(object_pixels(holed, alpha=True)))
    assert mask[80, 80]


def test_noisy_background_still_separates():
    rng = np.random.default_rng(0)
    truth = shape_mask("star", 160)
    pixels = np.asarray(object_pixels(truth, BACKGROUNDS["grey"])).astype(np.int16)
    pixels = np.clip(pixels + rng.normal(0, 6, pixels.shape), 0, 255).astype(np.uint8)
    assert _iou(object_mask(pixels, None), truth) > 0.97


@pytest.mark.parametrize(
    "pixels, alpha",
    [
        (np.full((64, 64, 3), 200, np.uint8), None),  # one flat colour: nothing to separate
        (np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8), None),  # no plain background
        (np.full((64, 64, 3), 90, np.uint8), np.zeros((64, 64), np.uint8)),  # fully transparent
    ],
    ids=["flat", "noise", "transparent"],
)
def test_no_object_is_refused_with_what_to_do(pixels, alpha):
    with pytest.raises(ImageError, match=NO_OBJECT_MESSAGE):
        object_mask(pixels, alpha)
    assert NO_OBJECT_MESSAGE == "no foreground object found: use an image with a transparent or plain background"


@pytest.mark.parametrize("background", sorted(BACKGROUNDS))
def test_ring_on_a_plain_background_keeps_its_hole(background):
    # background seen through the object is background, not a hole to fill
    truth = shape_mask("ring", 160)
    mask = object_mask(*_arrays(object_pixels(truth, BACKGROUNDS[background])))
    assert not mask[80, 80]
    assert _iou(mask, truth) > 0.98


def test_the_flood_method_is_named_by_version():
    truth = shape_mask("star", 160)
    pixels = np.asarray(object_pixels(truth, BACKGROUNDS["grey"]))
    assert FLOOD_VERSION == "10"
    assert np.array_equal(flood_mask(pixels), object_mask(pixels, None))
    assert _iou(flood_mask(pixels, "1"), truth) > 0.98  # the old method stays available for comparison
    with pytest.raises(ImageError, match=NO_OBJECT_MESSAGE):
        flood_mask(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8), "1")
