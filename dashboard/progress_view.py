"""How one generation's progress looks: a bar, a status line and a step-by-step log."""

from __future__ import annotations

import time
from collections.abc import Iterable

import streamlit as st

from dashboard.formatting import seconds

# Streamlit's bundled icon font: shows the same with no emoji font installed.
STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/autorenew:", "done": ":material/check_circle:",
               "failed": ":material/error:", "cancelled": ":material/cancel:", "exists": ":material/check_circle:",
               "submitting": ":material/upload:", "stopping": ":material/pending:"}


def show_progress(name: str, state: str, percent: float, stage: str, message: str, events: Iterable,
                  *, started_at: float | None = None) -> None:
    icon = STATE_ICONS.get(state, "•")
    st.progress(min(max(percent, 0.0), 100.0) / 100.0, text=f"{icon} **{name}** — {percent:.0f}%")
    elapsed = f" · {seconds(time.time() - started_at)} elapsed" if started_at and state in ("queued", "running", "stopping") else ""
    st.caption(f"Status: **{state}** · stage: {stage or '–'} · {message or ''}{elapsed}")
    with st.expander("Step log", expanded=False):
        st.code(step_log(events) or "(no steps yet)", language=None)


def step_log(events: Iterable) -> str:
    lines = []
    for event in events:
        clock = time.strftime("%H:%M:%S", time.localtime(event.at))
        lines.append(f"{clock}  {event.percent:5.1f}%  {event.stage:<12} {event.message}")
    return "\n".join(lines)
