"""The Khronos glTF-Validator (npm `gltf-validator`, installed by `npm ci` in tests/js), called from Python."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

JS_DIR = Path(__file__).resolve().parent.parent / "js"


def validate_glb(data: bytes, timeout_s: float = 60.0) -> dict:
    """The validator's report for GLB bytes; ``report["issues"]`` has numErrors, numWarnings, messages."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed: install Node.js 18+ to run the glTF validator")
    if not (JS_DIR / "node_modules" / "gltf-validator").is_dir():
        raise RuntimeError(f"gltf-validator is not installed: run `npm ci` in {JS_DIR}")
    completed = subprocess.run(
        [node, str(JS_DIR / "validate.js"), "-"], input=data, capture_output=True, timeout=timeout_s, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the glTF validator failed: {completed.stderr.decode(errors='replace')}")
    return json.loads(completed.stdout)


def problems(report: dict) -> list[str]:
    """Errors and warnings (severity 0 and 1) as 'CODE at pointer: message' lines."""
    return [
        f"{message['code']} at {message.get('pointer', '?')}: {message['message']}"
        for message in report["issues"]["messages"]
        if message["severity"] <= 1
    ]
