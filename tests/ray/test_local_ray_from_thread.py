"""A local Ray started from a short-lived thread (a Streamlit script run) must outlive it."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray

SCRIPT = textwrap.dedent("""
    import threading, time
    import ray
    from ray_jobs.cluster.connection import connect

    started = {}
    thread = threading.Thread(target=lambda: started.setdefault("where", connect()))
    thread.start()
    thread.join()
    time.sleep(2)  # the starting thread is gone: its cluster must still answer

    @ray.remote
    def answer():
        return 42

    print("answer", ray.get(answer.remote(), timeout=60))
    ray.shutdown()
""")


def test_local_ray_started_from_a_thread_outlives_the_thread():
    # A fresh process: the test session's own Ray is already initialised here.
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "answer 42" in done.stdout
