"""Real-browser helpers: a `streamlit run` of the dashboard on loopback, and Chromium with the
network cut off at everything but 127.0.0.1 (the preview must work offline). Playwright is
imported only where it is used; the caller starts it and passes it in."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
    # WebGL without a GPU: ANGLE on SwiftShader.
    "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
LOCAL_PREFIXES = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_store_env(store_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment for a dashboard on the local folder ``store_dir`` and its own local Ray:
    any cluster address or S3 settings left out, this repository importable, ``settings`` added."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("RAY_ADDRESS", "USE_S3", "S3_", "AWS_"))}
    env.update(LOCAL_STORAGE_DIR=str(store_dir), PYTHONPATH=str(REPO_ROOT), **settings)
    return env


@contextmanager
def streamlit_server(env: dict[str, str], log_path: Path, *, port: int | None = None, startup_s: float = 60,
                     script: Path = REPO_ROOT / "dashboard" / "app.py", cwd: Path = REPO_ROOT):
    """Start `streamlit run <script>` (the dashboard) on 127.0.0.1; yields its base URL and the process.
    Streamlit reads `.streamlit/secrets.toml` from `cwd` (sign-in tests give it one of their own)."""
    port = port or free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script),
               "--server.address=127.0.0.1", f"--server.port={port}", "--server.headless=true",
               "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not listen on {port} within {startup_s} s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process
    finally:
        stop(process, grace_s=20)


def stop(process: subprocess.Popen, grace_s: float) -> None:
    """Ask a server we started to end; kill it when it has not within `grace_s`."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def offline_browser(playwright, *, viewport=(1400, 1000)):
    """Chromium whose every request to a host other than 127.0.0.1 is aborted (and recorded)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    context.blocked = []

    def only_loopback(route):
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            route.continue_()
        else:
            context.blocked.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    try:
        yield context
    finally:
        context.close()
        browser.close()


def preview_frame(page, timeout_ms: float = 60_000, *, newer_than_ms: float = 0):
    """The iframe that holds the 3D preview (the one whose document loads vtk.js); with
    `newer_than_ms` (epoch ms), only a frame whose document started after that moment."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        for frame in page.frames:
            try:
                if (frame != page.main_frame and frame.locator("canvas").count() > 0
                        and frame.evaluate("performance.timeOrigin") > newer_than_ms):
                    return frame
            except PlaywrightError:  # a frame replaced by a rerun while we looked at it
                continue
        page.wait_for_timeout(100)
    raise AssertionError("no preview frame with a canvas appeared")


def upload_received(page, file_name: str, timeout_ms: float = 60_000) -> None:
    """Wait until the Generate page lists `file_name` as ready: the server has the upload. The
    uploader shows the name as soon as the browser starts sending it; a click on Generate before
    the server has it runs without the file."""
    page.get_by_text("Ready to generate:").filter(has_text=file_name).wait_for(timeout=timeout_ms)


def gallery_settled(page, timeout_ms: float = 60_000) -> None:
    """Wait until the Gallery's run has drawn its last element (the pager caption) and every
    thumbnail has loaded, so that screenshots and timings include the thumbnails (the cards keep
    their place while they load)."""
    page.get_by_text("newest first").wait_for(timeout=timeout_ms)
    page.wait_for_function("() => Array.from(document.images).every(image => image.complete)", timeout=timeout_ms)


def painted_preview(page, timeout_ms: float = 60_000, *, newer_than_ms: float = 0) -> dict:
    """`canvas_pixels` of the preview, looking again when a rerun replaces the frame meanwhile."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            return canvas_pixels(preview_frame(page, timeout_ms, newer_than_ms=newer_than_ms), timeout_ms)
        except PlaywrightError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def canvas_pixels(frame, timeout_ms: float = 30_000) -> dict:
    """Whether the preview's canvas is WebGL, and how many distinct colours its screenshot holds."""
    from PIL import Image

    canvas = frame.locator("canvas").first
    canvas.wait_for(state="visible", timeout=timeout_ms)
    is_webgl = canvas.evaluate(
        "c => !!(c.getContext('webgl2') || c.getContext('webgl') || c.getContext('experimental-webgl'))")
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        image = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20) or []
        background = max(colours)[1] if colours else None
        painted = sum(n for n, colour in colours if colour != background)
        if painted > 500 or time.monotonic() > deadline:
            return {"webgl": is_webgl, "colours": len(colours), "painted_pixels": painted,
                    "size": image.size}
        time.sleep(0.25)
