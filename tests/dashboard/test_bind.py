"""Safe by default: the dashboard started the README's way, without sign-in, listens on 127.0.0.1
only; another address without sign-in is refused unless STUDIO_ALLOW_ANONYMOUS=1 says so."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from bench.bench_dashboard import dashboard_memory_settings
from bench.harness.browser import REPO_ROOT, free_port, stop

LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def listening_addresses(port: int) -> set[str]:
    """The local addresses (IPv4 and IPv6) something listens on at `port`, from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, state = fields[1], fields[3]
            host, _, port_hex = address.rpartition(":")
            if state == LISTEN and int(port_hex, 16) == port:
                found.add(host)
    return found


def dashboard_env(tmp_path, **extra: str) -> dict[str, str]:
    # the allocator settings too: the script's own defaults are what the test checks
    env = {name: value for name, value in os.environ.items() if not name.startswith(("STUDIO_", "RAY_ADDRESS", "MALLOC_"))}
    env.update(LOCAL_STORAGE_DIR=str(tmp_path / "store"), **extra)
    return env


def test_without_sign_in_it_listens_on_loopback_only(tmp_path):
    port = free_port()
    log = open(tmp_path / "dashboard.log", "w")
    process = subprocess.Popen(["bash", "scripts/dashboard.sh"], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=dashboard_env(tmp_path, STUDIO_PORT=str(port)))
    try:
        deadline = time.monotonic() + 240  # the script first checks the environment (pip, quick when set up)
        while not listening_addresses(port):
            assert process.poll() is None, (tmp_path / "dashboard.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the dashboard did not start listening"
            time.sleep(0.3)
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else (no 0.0.0.0, no ::)
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        # the allocator settings of scripts/dashboard-memory.env reach the dashboard's process (exec'd by the script)
        environ = dict(item.split("=", 1) for item in Path(f"/proc/{process.pid}/environ").read_text().split("\0") if "=" in item)
        expected = dashboard_memory_settings(dashboard_env(tmp_path))
        assert expected == {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "262144"}
        assert {name: environ.get(name) for name in expected} == expected
        # and no file watcher (it scans every loaded module for each new session)
        arguments = Path(f"/proc/{process.pid}/cmdline").read_text().split("\0")
        assert arguments[arguments.index("--server.fileWatcherType") + 1] == "none"
    finally:
        stop(process, grace_s=20)
        log.close()


def test_another_address_without_sign_in_needs_an_explicit_opt_in(tmp_path):
    run = subprocess.run(["bash", "scripts/dashboard.sh"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                         env=dashboard_env(tmp_path, STUDIO_ADDRESS="0.0.0.0", STUDIO_PORT=str(free_port())))
    assert run.returncode == 2
    assert "Refusing to listen on 0.0.0.0 without sign-in" in run.stderr and "STUDIO_ALLOW_ANONYMOUS=1" in run.stderr
