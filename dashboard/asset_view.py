"""One generated asset: the 3D preview, downloads in every format, its URL and quality figures."""

from __future__ import annotations

import time

import streamlit as st

from dashboard.errors import explain
from dashboard.formatting import count, duration, file_size, seconds, when
from dashboard.scene_export import PreviewExportFailed
from ray_jobs.client import MODEL_FORMATS, AssetVersion, Manifest, StudioClient

UI_LINK_EXPIRY_S = 3600  # the longest a link shown in the dashboard lives (S3_URL_EXPIRY_SECONDS is for the CLI)
FORMAT_LABELS = {"glb": "GLB (textured)", "obj": "OBJ + texture (zip)", "ply": "PLY (vertex colours)",
                 "stl": "STL (geometry only)"}


def show_asset(client: StudioClient, manifest: Manifest, *, version: int | None = None,
               preferred_format: str = "glb", key: str = "asset") -> None:
    chosen = manifest.version(version) if version else manifest.latest_version
    glb = chosen.files["glb"]
    preview_column, facts_column = st.columns([3, 2], gap="medium")
    with preview_column:
        try:
            from dashboard import viewer  # heavy (pyvista, vtk): loaded when a model is first shown

            shown = viewer.show_preview(glb.key, lambda: client.preview_model(manifest, chosen.version))
            if shown.shown_faces < shown.source_faces:
                st.caption(f"Preview simplified to {count(shown.shown_faces)} of {count(shown.source_faces)} "
                           "faces; downloads keep every face.")
            else:
                st.caption("Drag to orbit, scroll to zoom.")
        except PreviewExportFailed as error:  # one sentence for the user already
            st.warning(str(error))
        except Exception as error:  # a broken preview must not hide the downloads
            st.warning(f"The 3D preview could not be shown: {explain(error)}")
    with facts_column:
        show_downloads(client, manifest, chosen, preferred_format=preferred_format, key=key)
        show_link(client, glb.key)
        show_quality(chosen)
        show_origin(manifest)
        show_mask(client, manifest, chosen.version)


def show_downloads(client: StudioClient, manifest: Manifest, chosen: AssetVersion, *,
                   preferred_format: str, key: str) -> None:
    st.markdown("**Download**")
    ordered = [preferred_format] + [fmt for fmt in MODEL_FORMATS if fmt != preferred_format]
    columns = st.columns(len(ordered))
    stem = _file_stem(manifest.name)
    for column, fmt in zip(columns, ordered):
        stored = chosen.files.get(fmt)
        extension = "zip" if fmt == "obj" else fmt
        with column:
            st.download_button(
                fmt.upper(),
                help=f"Download as {FORMAT_LABELS.get(fmt, fmt.upper())}",
                # Deferred: bytes are read (or converted from the GLB) only when clicked.
                data=_reader(client, stored.key) if stored else _converter(client, manifest, fmt, chosen.version),
                file_name=f"{stem}.{extension}",
                mime=stored.content_type if stored else None,
                type="primary" if fmt == preferred_format else "secondary",
                key=f"{key}-download-{fmt}-v{chosen.version}",
                on_click="ignore",
                width="stretch",
            )


def show_link(client: StudioClient, glb_key: str) -> None:
    settings = client.storage_settings
    if not settings.use_s3:
        st.caption(f"Stored in the asset store as `{glb_key}`")  # the key, never a path on the server
        return
    # links shown on a page travel further than the page: they expire within the hour
    expires_s = min(settings.url_expiry_s, UI_LINK_EXPIRY_S)
    try:
        url = client.url(glb_key, expires_s=expires_s)
    except Exception as error:
        st.warning(f"No link for this file: {explain(error)}")
        return
    st.markdown("**Presigned download link (GLB)**")
    st.code(url, language=None, wrap_lines=True)
    st.caption(f"Valid for {duration(expires_s)} (until {when(time.time() + expires_s)}); anyone with the link "
               "can download.")


def show_quality(chosen: AssetVersion) -> None:
    quality = chosen.quality or {}
    st.markdown("**Quality**")
    faces, watertight, iou = st.columns(3)
    faces.metric("Faces", count(quality.get("faces")))
    watertight.metric("Watertight", {True: "yes", False: "no"}.get(quality.get("watertight"), "–"))
    iou.metric("Silhouette IoU", f"{quality['iou']:.3f}" if isinstance(quality.get("iou"), (int, float)) else "–")
    total = sum(chosen.timings.values()) if chosen.timings else None
    st.caption(f"Version {chosen.version} · made {when(chosen.created_at)} · "
               f"{file_size(sum(f.size for f in chosen.files.values()))} · {seconds(total)} to generate")
    if chosen.timings:
        with st.expander("Timings per step"):
            st.table({"step": list(chosen.timings), "time": [seconds(v) for v in chosen.timings.values()]})


def show_origin(manifest: Manifest) -> None:
    """Which generator, version and model weights made the asset (they are part of its identity)."""
    settings = manifest.settings or {}
    made_by = f"Made by **{manifest.generator}**"
    if settings.get("generator_version"):
        made_by += f" v{settings['generator_version']}"
    if settings.get("weights_id"):
        made_by += f" with weights `{settings.get('weights', '?')}` ({str(settings['weights_id'])[:19]}…)"
    st.caption(made_by)


def show_mask(client: StudioClient, manifest: Manifest, version: int) -> None:
    """The source image with what was taken as the object outlined, the rest dimmed."""
    try:
        overlay = client.mask_overlay(manifest, version)
    except Exception as error:
        st.caption(f"The object mask cannot be shown: {explain(error)}")
        return
    if overlay is not None:
        segmenter = (manifest.version(version).quality or {}).get("segmenter", "")
        st.image(overlay, width=160, output_format="PNG", caption=f"Taken as the object ({segmenter.split('-')[0] or 'mask'})")


def _reader(client: StudioClient, key: str):
    return lambda: client.read(key)


def _converter(client: StudioClient, manifest: Manifest, fmt: str, version: int):
    return lambda: client.export_format(manifest, fmt, version)


def _file_stem(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem) or "model"
