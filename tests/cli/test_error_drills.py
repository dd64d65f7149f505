"""Every fault a new user meets on the command line ends in one clear line: the CLI runs as a
subprocess against a moto S3 server (a fault proxy in front of it injects 403s and a hung
endpoint), and each drill asserts the exit code, exactly one error line on stderr without a
traceback, the JSON row's `error`, and that nothing new landed in the store.

No drill here reaches a Ray cluster: RAY_ADDRESS points at a closed port, so a command that
wrongly went on to the cluster stage would fail with the cluster's exit code instead.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image

from ray_jobs.errors import EXIT_FAILED, EXIT_INTERNAL, EXIT_STORE, EXIT_USAGE
from tests.ray.images import object_png
from tests.storage.fault_proxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
HANG_LIMIT_S = 15.0  # "about 10 s" for a hung endpoint, with room for a slow machine
OWN_VARIABLES = ("USE_S3_STORAGE", "S3_BUCKET_NAME", "S3_REGION", "S3_ENDPOINT_URL", "LOCAL_STORAGE_DIR",
                 "S3_URL_EXPIRY_SECONDS", "S3_CACHE_DIR", "RAY_ADDRESS", "RAY_JOBS_ADDRESS")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in OWN_VARIABLES}
    clean.update(env, PYTHONPATH=str(REPO), RAY_ADDRESS=f"127.0.0.1:{closed_port()}")
    return subprocess.run([sys.executable, "-m", "ray_jobs", *args], env=clean, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def one_error_line(run: subprocess.CompletedProcess) -> str:
    """The run's stderr is exactly one line, an error, and no traceback."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    return lines[0]


def rows(run: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in run.stdout.splitlines() if line.strip()]


def bucket_objects(moto_endpoint: str, bucket: str) -> list[str]:
    from storage.s3_store import make_client

    answer = make_client("us-east-1", moto_endpoint).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in answer.get("Contents", []))


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(object_png(7))
    return path


@pytest.fixture
def proxied_env(s3_env, moto_endpoint):
    with FaultProxy(moto_endpoint) as proxy:
        yield proxy, {**s3_env, "S3_ENDPOINT_URL": proxy.endpoint}


# ---- the store fails during generate and batch ----------------------------------------------

STORE_FAULTS = ["bucket missing", "access denied", "endpoint down", "endpoint hangs"]


def faulty_store(fault: str, s3_env: dict, proxy: FaultProxy, proxy_env: dict) -> tuple[dict, str]:
    """Environment with the fault in place, and a word the error line must contain."""
    if fault == "bucket missing":
        return {**s3_env, "S3_BUCKET_NAME": "no-such-bucket-here"}, "no-such-bucket-here"
    if fault == "access denied":
        proxy.fail(status=403, code="AccessDenied")
        return proxy_env, "denied"
    if fault == "endpoint down":
        return {**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"}, "127.0.0.1"
    proxy.hang()
    return proxy_env, "answer"


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_generate_with_the_store_failing(fault, s3_env, proxied_env, moto_endpoint, photo):
    proxy, proxy_env = proxied_env
    before = bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"])
    env, word = faulty_store(fault, s3_env, proxy, proxy_env)
    started = time.monotonic()
    run = cli(env, "generate", str(photo), "--json")
    took = time.monotonic() - started
    line = one_error_line(run)
    [row] = rows(run)
    assert run.returncode == EXIT_STORE, run.stderr
    assert row["status"] == "failed" and row["error"] and word in line.lower() + row["error"].lower(), line
    assert line == f"error: {row['error']}"
    assert bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"]) == before
    if fault == "endpoint hangs":
        assert took < HANG_LIMIT_S, f"a hung endpoint held the command for {took:.1f} s"


@pytest.mark.parametrize("fault", STORE_FAULTS)
def test_batch_with_the_store_failing(fault, s3_env, proxied_env, moto_endpoint):
    proxy, proxy_env = proxied_env
    before = bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"])
    env, word = faulty_store(fault, s3_env, proxy, proxy_env)
    run = cli(env, "batch", "images/uploaded/", "--json")
    line = one_error_line(run)
    assert run.returncode == EXIT_STORE and word in line.lower(), run.stderr
    assert bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"]) == before


def test_store_down_with_several_images_is_said_once(s3_env, photo, tmp_path):
    second = tmp_path / "second.png"
    second.write_bytes(object_png(8))
    run = cli({**s3_env, "S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"},
              "generate", str(photo), str(second), "--json")
    line = one_error_line(run)
    assert [row["error"] for row in rows(run)] == [line.removeprefix("error: ")] * 2
    assert run.returncode == EXIT_STORE


# ---- a damaged manifest fails its own image only (batch: tests/ray/test_batch.py) ----------

def test_garbage_manifest_fails_only_its_image(s3_env, moto_endpoint, photo):
    from ray_jobs.generators.registry import DEFAULT_GENERATOR, identity_settings
    from storage.catalog import AssetCatalog
    from storage.keys import sha256_hex
    from storage.settings import StorageSettings
    from storage.store import open_store

    store = open_store(StorageSettings.from_env(s3_env))
    manifest = AssetCatalog(store).publish(
        image_sha256=sha256_hex(photo.read_bytes()), name="photo.png", generator=DEFAULT_GENERATOR,
        settings=identity_settings(DEFAULT_GENERATOR, None), files={"glb": (b"glTF", "model/gltf-binary")},
        timings={}, quality={})
    manifest_key = next(key for key in bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"])
                        if manifest.asset_id in key and key.endswith("manifest.json"))
    store.put(manifest_key, b"{not json", content_type="application/json")
    store.put("images/uploaded/photo.png", photo.read_bytes(), content_type="image/png")
    before = bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"])

    generate = cli(s3_env, "generate", str(photo), "--json")
    line = one_error_line(generate)
    [row] = rows(generate)
    assert generate.returncode == EXIT_FAILED and row["status"] == "failed"
    assert "photo.png" in line and manifest_key in row["error"], line
    assert bucket_objects(moto_endpoint, s3_env["S3_BUCKET_NAME"]) == before


# ---- unusable images ------------------------------------------------------------------------

def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height (a decompression bomb's shape)."""
    buffer = BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


UNUSABLE = {
    "empty.png": b"",
    "truncated.png": object_png(3)[:200],
    "text.png": b"this is a shopping list, not a picture\n",
    "bomb.png": png_claiming(30_000, 30_000),
    "drawing.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle r="20"/></svg>',
}


@pytest.mark.parametrize("name", UNUSABLE)
def test_check_refuses_an_unusable_image(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(UNUSABLE[name])
    run = cli({"LOCAL_STORAGE_DIR": str(tmp_path / "store")}, "check", str(path))
    line = one_error_line(run)
    assert run.returncode == EXIT_USAGE and name in line, run.stderr
    assert "no asset yet" not in run.stdout


@pytest.mark.parametrize("name", ["empty.png", "bomb.png"])
def test_generate_refuses_an_unusable_image_before_the_cluster(name, tmp_path):
    path = tmp_path / name
    path.write_bytes(UNUSABLE[name])
    store = tmp_path / "store"
    run = cli({"LOCAL_STORAGE_DIR": str(store)}, "generate", str(path), "--json")
    line = one_error_line(run)
    [row] = rows(run)
    assert run.returncode == EXIT_USAGE and row["status"] == "failed" and row["error"] in line
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


# ---- bad arguments --------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["../", "/etc/"])
def test_batch_outside_the_store_is_one_line(prefix, tmp_path):
    run = cli({"LOCAL_STORAGE_DIR": str(tmp_path / "store")}, "batch", prefix)
    one_error_line(run)
    assert run.returncode == EXIT_USAGE


def test_bad_setting_is_one_line(tmp_path, photo):
    run = cli({"LOCAL_STORAGE_DIR": str(tmp_path / "store")}, "generate", str(photo), "--json",
              "--set", "target_faces=2000000")
    line = one_error_line(run)
    assert run.returncode == EXIT_USAGE and "target_faces" in line


def test_bad_environment_setting_is_one_line(tmp_path, photo):
    run = cli({"USE_S3_STORAGE": "maybe"}, "check", str(photo))
    line = one_error_line(run)
    assert run.returncode == EXIT_USAGE and "USE_S3_STORAGE" in line


def test_an_unexpected_error_is_one_line_unless_debug(monkeypatch, capsys, tmp_path):
    """A bug still reaches the user as one line, with the way to see more."""
    from ray_jobs.cli import main as cli_main
    from ray_jobs.cli.commands import assets

    def broken(args):
        raise RuntimeError("something nobody planned for\nsecond line")

    monkeypatch.setattr(assets, "run", broken)
    monkeypatch.setenv("LOCAL_STORAGE_DIR", str(tmp_path / "store"))
    assert cli_main.main(["assets"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--debug" in err and "Traceback" not in err
    assert cli_main.main(["assets", "--debug"]) == EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err
