import subprocess
import sys
import textwrap

import pytest

from ray_jobs.generators.base import Generator
from ray_jobs.generators.registry import (
    DEFAULT_GENERATOR,
    forget_loaded,
    available_generators,
    get_generator,
    identity_settings,
)


def test_inflate_is_registered_and_default():
    assert DEFAULT_GENERATOR == "inflate"
    assert "inflate" in available_generators()
    generator = get_generator()
    assert isinstance(generator, Generator)
    assert generator.name == "inflate"
    assert get_generator("inflate") is generator  # shared instance


def test_unknown_generator_names_the_choices():
    with pytest.raises(ValueError, match="unknown generator 'nope'.*inflate"):
        get_generator("nope")


def test_identity_settings_are_complete_and_stable(monkeypatch, tmp_path):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no learned segmenter's model here
    identity = identity_settings("inflate", {"resolution": 256})
    assert identity == {"generator": "inflate", "generator_version": "1", "resolution": 256, "target_faces": 30_000,
                        "thickness": 1.0, "segmenter": "auto", "segmenter_model": "~/.u2net",
                        "segmenter_id": "auto: alpha-1, flood-10"}
    assert identity_settings("inflate", identity) == identity  # an identity dict goes back in unchanged
    assert identity_settings("inflate", {"resolution": 256.0}) == identity  # 256.0 is 256


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"colour": 1}, "unknown setting 'colour'"),
        ({"resolution": 10}, "'resolution' must be between 64 and 2048"),
        ({"resolution": "big"}, "'resolution' must be a whole number"),
        ({"resolution": 300.5}, "'resolution' must be a whole number"),
        ({"target_faces": True}, "'target_faces' must be a whole number"),
        ({"thickness": 0}, "'thickness' must be between"),
        ({"generator": "other"}, "settings are for generator 'other'"),
    ],
)
def test_bad_settings_are_refused_with_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        identity_settings("inflate", overrides)


def test_registry_does_not_import_torch():
    # the CLI's quick commands use identity_settings; torch would add seconds to each
    code = textwrap.dedent(
        """
        import sys
        from ray_jobs.generators.registry import identity_settings, get_generator
        identity_settings("inflate", {})
        get_generator().default_settings()
        print("torch" in sys.modules, "scipy" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_generators_from_entry_points_are_found(tmp_path, monkeypatch):
    # a real installed-distribution layout on sys.path, as a separate package would add
    (tmp_path / "echo_generator.py").write_text(
        textwrap.dedent(
            """
            from ray_jobs.generators.base import Generator, GenerationResult

            class EchoGenerator(Generator):
                name = "echo"
                steps = ("echo",)

                def default_settings(self):
                    return {"size": 1}

                def run(self, image, settings, runner, device):
                    return runner.run("echo", lambda: GenerationResult(mesh=None, mask=None, device="cpu"))
            """
        )
    )
    dist_info = tmp_path / "echo_generator-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-generator\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[asset_studio.generators]\necho = echo_generator:EchoGenerator\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_loaded()
    try:
        assert "echo" in available_generators()
        steps = []
        result = get_generator("echo").generate(b"", progress=lambda step, fraction: steps.append((step, fraction)))
        assert steps == [("echo", 0.0), ("echo", 1.0)]
        assert set(result.timings) == {"echo"}
        assert identity_settings("echo", {"size": 3}) == {"generator": "echo", "generator_version": "1", "size": 3}
    finally:
        forget_loaded()
