"""Batch across nodes: a head plus three worker nodes (each advertising a fake GPU; the work runs on
CPU) from `ray.cluster_utils.Cluster`, 200 tiny images, and the worker node that has just built an
image removed mid-batch, without warning. Every image must end with exactly one asset version and
the summary must report no failure (an image whose result was lost with the node and that was
already published is answered "exists" on its rerun). Runs in its own process: a process holds
one Ray connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]


def test_a_node_lost_mid_batch_costs_no_image_and_no_second_version():
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_ADDRESS", "ASSET_STUDIO_"))}
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_batch.py"), "--images", "200",
                          "--remove-node-after", "50", "--rows-per-call", "4", "--json"],
                         env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    summary = figures["summary"]
    assert figures["removed"] and figures["removed"]["at_result"] >= 50, figures["removed"]
    # Rows whose results were lost with the node run again; one already published by then is found
    # by the lookup and answered "exists" (not built twice): every image is accounted for, none failed.
    assert summary["images"] == summary["generated"] + summary["exists"] == 200 and summary["failed"] == 0, summary
    assert figures["assets"] == figures["assets_with_one_version"] == 200
    assert sum(summary["nodes"].values()) == summary["generated"]
    assert figures["removed"]["node"] in " ".join(summary["nodes"])  # the lost node had built images
