"""The dashboard's side of the preview export: one export process (dashboard.scene_worker), started
ahead of the first preview and reused, so a preview waits for the export alone, not for imports.

The process is started with subprocess, never forked from the dashboard (a multi-threaded process
whose children can inherit held locks) and never through multiprocessing (whose start methods
differ between Python versions). An export that fails, crashes or hangs is one
PreviewExportFailed; the next preview starts a fresh process. A process is retired after
EXPORTS_PER_PROCESS exports: each export leaves about a megabyte behind in it.
"""

from __future__ import annotations

import atexit
import subprocess
import sys
import threading
from pathlib import Path

from dashboard.scene_worker import read_frame, write_frame
from ray_jobs.client.preview_model import PreviewModel

REPO_ROOT = Path(__file__).resolve().parents[1]
# A decimated preview exports in under a second once the process is warm; a loaded machine gets ample room.
EXPORT_TIMEOUT_S = 60.0
EXPORTS_PER_PROCESS = 40


class PreviewExportFailed(Exception):
    """The 3D scene could not be exported for the browser; the message is one sentence for the user."""


class SceneExporter:
    """Exports are serialised: one process, one request at a time (each takes well under a second)."""

    def __init__(self, *, timeout_s: float = EXPORT_TIMEOUT_S, exports_per_process: int = EXPORTS_PER_PROCESS):
        self.timeout_s = timeout_s
        self.exports_per_process = exports_per_process
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._exports = 0

    def start(self) -> None:
        """Start the export process now (it warms up in the background) unless one is running."""
        with self._lock:
            self._running_process()

    def export_html(self, model: PreviewModel, height: int) -> str:
        with self._lock:
            process = self._running_process()
            timed_out = threading.Event()

            def stop_hung_export() -> None:
                timed_out.set()
                process.kill()  # the blocked write or read below then ends

            watchdog = threading.Timer(self.timeout_s, stop_hung_export)
            watchdog.start()
            try:
                write_frame(process.stdin, (model, height))
                outcome, text = read_frame(process.stdout)
            except (OSError, EOFError):
                self._stop()
                if timed_out.is_set():
                    raise PreviewExportFailed(f"The 3D preview was not ready within {self.timeout_s:.0f} s; "
                                              "download the model to view it.") from None
                raise PreviewExportFailed(f"The 3D preview's export stopped (exit code {process.poll()}); "
                                          "download the model to view it.") from None
            finally:
                watchdog.cancel()
            self._exports += 1
            if self._exports >= self.exports_per_process:
                self._stop()
                self._running_process()  # the next one warms up while this preview is shown
        if outcome != "html":
            raise PreviewExportFailed(f"The 3D preview could not be made ({text}); download the model to view it.")
        return text

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def _running_process(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "dashboard.scene_worker"], cwd=REPO_ROOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self._exports = 0
        return self._process

    def _stop(self) -> None:
        """Closing its input ends a healthy process; one that does not end at once is killed."""
        process, self._process = self._process, None
        if process is None:
            return
        for pipe in (process.stdin, process.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_exporter = SceneExporter()
atexit.register(_exporter.close)


def exporter() -> SceneExporter:
    """The dashboard's one export process, shared by every session."""
    return _exporter
