"""Declared settings read back as plain data, and enforced exactly as declared."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

from ray_jobs.generators.base import Generator
from ray_jobs.generators.registry import get_generator, setting_specs


class ToyGenerator(Generator):
    name = "toy"
    steps = ("toy",)
    setting_ranges = {"count": (1, None), "scale": (None, 2.5)}
    setting_choices = {"style": ("plain", "bold")}

    def default_settings(self):
        return {"count": 3, "scale": 1.0, "smooth": True, "style": "plain", "tags": None}

    def validate_settings(self, settings):
        if settings["style"] == "bold" and not settings["smooth"]:
            raise ValueError("setting 'style' bold needs smooth")
        return settings

    def run(self, image, settings, runner, device):
        raise NotImplementedError


def test_inflate_specs_are_plain_data(monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    specs = setting_specs("inflate")
    assert specs == {
        "resolution": {"default": 512, "type": "int", "min": 64, "max": 2048, "choices": None},
        "target_faces": {"default": 30_000, "type": "int", "min": 1_000, "max": 1_000_000, "choices": None},
        "thickness": {"default": 1.0, "type": "float", "min": 0.05, "max": 4.0, "choices": None},
        "segmenter": {"default": "auto", "type": "str", "min": None, "max": None,
                      "choices": ["auto", "alpha", "flood", "rembg"]},
        "segmenter_model": {"default": "~/.u2net", "type": "str", "min": None, "max": None, "choices": None},
    }
    assert json.loads(json.dumps(specs)) == specs
    assert setting_specs() == specs  # the default generator
    specs["resolution"]["max"] = 1  # a copy: changing it changes nothing
    assert setting_specs("inflate")["resolution"]["max"] == 2048


@pytest.mark.parametrize("key", ["resolution", "target_faces", "thickness"])
def test_validation_enforces_exactly_the_declared_bounds(key):
    generator = get_generator("inflate")
    spec = generator.setting_specs()[key]
    assert generator.normalize_settings({key: spec["min"]})[key] == spec["min"]
    assert generator.normalize_settings({key: spec["max"]})[key] == spec["max"]
    step = 1 if spec["type"] == "int" else None
    above = spec["max"] + step if step else math.nextafter(spec["max"], math.inf)
    below = spec["min"] - step if step else math.nextafter(spec["min"], -math.inf)
    for value in (above, below):
        with pytest.raises(ValueError, match=f"'{key}' must be between {spec['min']} and {spec['max']}"):
            generator.normalize_settings({key: value})


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**400])
def test_non_finite_and_huge_numbers_are_refused_with_the_key(value):
    with pytest.raises(ValueError, match="'resolution' must be"):
        get_generator("inflate").normalize_settings({"resolution": value})
    with pytest.raises(ValueError, match="'scale' must be a number"):
        ToyGenerator().normalize_settings({"scale": value})


def test_types_and_open_bounds_come_from_the_declaration():
    toy = ToyGenerator()
    assert toy.setting_specs() == {
        "count": {"default": 3, "type": "int", "min": 1, "max": None, "choices": None},
        "scale": {"default": 1.0, "type": "float", "min": None, "max": 2.5, "choices": None},
        "smooth": {"default": True, "type": "bool", "min": None, "max": None, "choices": None},
        "style": {"default": "plain", "type": "str", "min": None, "max": None, "choices": ["plain", "bold"]},
        "tags": {"default": None, "type": None, "min": None, "max": None, "choices": None},
    }
    with pytest.raises(ValueError, match="setting 'style' must be one of plain, bold, got 'fancy'"):
        toy.normalize_settings({"style": "fancy"})
    settings = toy.normalize_settings({"count": 10**6, "scale": -7, "smooth": False, "tags": ["a"]})
    assert settings == {"count": 10**6, "scale": -7.0, "smooth": False, "style": "plain", "tags": ["a"]}
    assert isinstance(settings["scale"], float)  # 1 and 1.0 give one identity


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"count": 0}, "'count' must be no less than 1"),
        ({"count": 2.5}, "'count' must be a whole number no less than 1"),
        ({"scale": 2.6}, "'scale' must be no more than 2.5"),
        ({"scale": "big"}, "'scale' must be a number no more than 2.5"),
        ({"smooth": 1}, "'smooth' must be true or false"),
        ({"style": 3}, "'style' must be text"),
        ({"style": "odd"}, "'style' must be one of plain, bold"),
        ({"style": "bold", "smooth": False}, "'style' bold needs smooth"),  # the subclass's own rule still runs
    ],
)
def test_toy_settings_are_refused_with_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        ToyGenerator().normalize_settings(overrides)


def test_a_range_for_an_unknown_setting_is_a_declaration_error():
    class Broken(ToyGenerator):
        setting_ranges = {"cuont": (1, 5)}

    with pytest.raises(TypeError, match="cuont"):
        Broken().setting_specs()


def test_setting_specs_do_not_import_torch():
    # forms read the specs on every page load: torch would add seconds
    code = textwrap.dedent(
        """
        import sys
        from ray_jobs.generators.registry import setting_specs
        setting_specs("inflate")
        print("torch" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
