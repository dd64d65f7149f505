"""Human progress on stderr: one bar per image, redrawn in place on a terminal,
one line per stage otherwise (logs, CI), so stdout stays clean for --json."""

from __future__ import annotations

import sys
from typing import TextIO

from ray_jobs.cluster.job_model import ProgressEvent

BAR_WIDTH = 24


class ProgressBars:
    def __init__(self, stream: TextIO | None = None):
        self._stream = stream or sys.stderr
        self._live = self.on_terminal(self._stream)
        self._percent: dict[str, float] = {}
        self._open_line = False

    @staticmethod
    def on_terminal(stream: TextIO | None = None) -> bool:
        stream = stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def update(self, label: str, event: ProgressEvent) -> None:
        percent = max(event.percent, self._percent.get(label, 0.0))  # a joined job may replay older stages
        self._percent[label] = percent
        filled = int(BAR_WIDTH * percent / 100)
        line = f"{label[:28]:<28} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:5.1f}%  {event.message[:70]}"
        if self._live:
            self._stream.write("\r\033[K" + line)
            self._open_line = True
        else:
            self._stream.write(line + "\n")
        self._stream.flush()

    def end(self, label: str, text: str) -> None:
        if self._open_line:
            self._stream.write("\r\033[K")
            self._open_line = False
        self._stream.write(f"{label[:28]:<28} {text}\n")
        self._stream.flush()
