"""The Generate page's generator picker and the settings form each generator declares.

Widgets are built from what the generator declares (type, default, range), so a plugin's
settings appear here without any change to the dashboard; the two settings everyone knows
(resolution, target faces) keep their familiar widgets.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ray_jobs.client import StudioClient

RESOLUTIONS = [128, 256, 384, 512, 768, 1024, 1536, 2048]
STATUS_ICONS = {"ready": "✅", "weights missing": "⚠️", "needs a GPU": "⚠️", "cannot be loaded": "🚫"}
LIST_TTL_S = 30  # weights are looked up (a folder hashed, a prefix listed): not on every rerun


@st.cache_data(ttl=LIST_TTL_S, show_spinner="Looking up the generators…")
def _generators(_client: StudioClient, store: str) -> list[dict[str, Any]]:
    return _client.generators()


def pick_generator(client: StudioClient) -> tuple[str, dict[str, Any]]:
    """The chosen generator's name and the settings the user set (validated later, at the door)."""
    listed = _generators(client, client.store_description())
    by_name = {info["name"]: info for info in listed}
    name = st.selectbox("Generator", list(by_name), key="generator_pick",
                        format_func=lambda pick: f"{STATUS_ICONS.get(by_name[pick]['status'], '')} {pick}")
    info = by_name[name]
    _show_status(info)
    return name, _settings_form(name, info.get("settings") or {})


def _show_status(info: dict[str, Any]) -> None:
    needs = info.get("needs") or {}
    where = (f"GPU, about {needs.get('gpu_memory_gib', 0):g} GiB" + ("; CPU fallback allowed"
             if needs.get("cpu_fallback") else "") if needs.get("gpu") else "CPU")
    if info["status"] == "ready":
        weights = info.get("weights")
        model = f" · model `{weights['source']}`" if weights else ""
        st.caption(f"v{info.get('version')} · runs on {where}{model}")
    else:
        st.warning(f"**{info['name']}: {info['status']}.** {info.get('problem') or ''}")


def _settings_form(name: str, specs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if "resolution" in specs:
        spec = specs["resolution"]
        settings["resolution"] = st.select_slider("Resolution", _within(spec, RESOLUTIONS), value=int(spec["default"]),
                                                  help="Higher gives finer detail and takes longer.",
                                                  key=f"{name}-resolution")
    if "target_faces" in specs:
        spec = specs["target_faces"]
        settings["target_faces"] = st.number_input("Target faces", min_value=int(spec["min"]),
                                                   max_value=int(spec["max"]), step=1_000, value=int(spec["default"]),
                                                   key=f"{name}-target_faces")
    if "weights" in specs:
        settings["weights"] = st.text_input(
            "Model weights", value=str(specs["weights"]["default"]), key=f"{name}-weights",
            help="A folder on every machine, s3://bucket/prefix (synced to each node once), or a model hub id.")
    others = [key for key in specs if key not in settings]
    if others:
        with st.expander("More settings"):
            for key in others:
                settings[key] = _widget(name, key, specs[key])
    return settings


def _widget(name: str, key: str, spec: dict[str, Any]) -> Any:
    label, widget_key = key.replace("_", " ").capitalize(), f"{name}-{key}"
    kind, low, high, default = spec["type"], spec["min"], spec["max"], spec["default"]
    if spec.get("choices"):
        return st.selectbox(label, spec["choices"], index=spec["choices"].index(default), key=widget_key)
    if kind == "bool":
        return st.checkbox(label, value=default, key=widget_key)
    if kind == "int":
        return int(st.number_input(label, min_value=low, max_value=high, value=int(default), step=1, key=widget_key))
    if kind == "float":
        return float(st.number_input(label, min_value=None if low is None else float(low),
                                     max_value=None if high is None else float(high), value=float(default),
                                     key=widget_key))
    if kind == "str":
        return st.text_input(label, value=default, key=widget_key)
    return default  # a setting of another JSON type: not editable here, its default applies


def _within(spec: dict, values: list[int]) -> list[int]:
    """The choices the generator accepts (its declared range), its default among them."""
    low, high = spec.get("min"), spec.get("max")
    allowed = [v for v in values if (low is None or v >= low) and (high is None or v <= high)]
    return sorted(set(allowed) | {int(spec["default"])})
