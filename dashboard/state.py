"""The dashboard's long-lived objects and the banners shown when they cannot be made.

One StudioClient per (storage settings, Ray address), kept by `st.cache_resource` across reruns
and sessions. Making a client touches neither the store nor Ray: a local Ray starts only when a
page first needs the cluster (a generation, the Jobs page), never at import.
"""

from __future__ import annotations

import gc
import threading

import streamlit as st

from ray_jobs.client import StorageSettings, StudioClient, ray_address_from_env, storage_settings_from_env
from ray_jobs.errors import BadImage, BadSettings, StudioError


def storage_settings() -> StorageSettings:
    """Read on every run (cheap), so a changed environment shows up without a restart."""
    return storage_settings_from_env()


def describe_ray_address(address: str | None) -> str:
    if address:
        return address
    return "local Ray on this machine (" + ("running" if cluster_started() else "starts on first need") + ")"


@st.cache_resource(show_spinner=False)
def _client_for(settings: StorageSettings, address: str | None) -> StudioClient:
    return StudioClient(storage_settings=settings, ray_address=address)


def studio_client() -> StudioClient:
    """The shared client; raises BadSettings when the environment is misconfigured."""
    return _client_for(storage_settings(), ray_address_from_env())


def client_or_banner() -> StudioClient | None:
    """The client, or None after showing a banner that says which setting to fix."""
    try:
        return studio_client()
    except StudioError as error:
        st.error(f"**The settings are invalid.** {error}  \nSee the Settings page.", icon="🚫")
        return None


def connect_cluster(client: StudioClient) -> None:
    """Reach Ray (a local one starts on first need and outlives this script run)."""
    client.connect()


def cluster_started() -> bool:
    """Whether this process already reached Ray (so showing the cluster starts nothing new)."""
    import ray

    return ray.is_initialized()


def store_label(settings: StorageSettings) -> str:
    """Where the wording of user messages says assets live."""
    return "S3" if settings.use_s3 else "the asset store"


def sidebar_summary() -> None:
    with st.sidebar:
        try:
            settings = storage_settings()
            where = f"S3 bucket `{settings.bucket}`" if settings.use_s3 else f"local folder `{settings.local_dir}`"
        except BadSettings:
            where = "invalid settings (see Settings)"
        st.caption(f"**Store:** {where}  \n**Cluster:** {describe_ray_address(ray_address_from_env())}")


@st.cache_resource(show_spinner=False)
def warm_up_in_background() -> threading.Thread:
    """Start the 3D preview's export process and import its libraries here (pyvista, VTK,
    stpyvista: seconds) once per server, in the background, so neither the first page nor the
    first preview waits for them."""

    def load() -> None:
        from dashboard import viewer

        try:
            viewer.warm_up()
        except Exception:  # noqa: BLE001 - the first preview meets the same failure and says it on its page
            pass

        # Streamlit runs a full garbage collection after every script run, holding the GIL while the
        # page's first elements wait to be sent: walking the ~200k objects the imports made takes
        # ~0.15 s. They live as long as the server, so the collector is told to skip them.
        gc.collect()
        gc.freeze()

    thread = threading.Thread(target=load, name="preview-warm-up", daemon=True)
    thread.start()
    return thread


def small_object(client: StudioClient, key: str) -> bytes:
    """Bytes of a thumbnail or source image, cached: stored keys never change their content."""
    return _small_object(client.store_description(), key, client)


@st.cache_data(max_entries=512, show_spinner=False)
def _small_object(store_id: str, key: str, _client: StudioClient) -> bytes:
    """`store_id` is part of the cache key only: the same key in two stores is two objects."""
    return _client.read(key)


PICKER_SIDE = 256  # px: the store picker shows a dozen source images at a time, each this small


def source_preview(client: StudioClient, key: str) -> bytes | None:
    """A stored source image scaled to fit PICKER_SIDE px, as PNG (None when it cannot be decoded),
    cached: the originals are product photos of megabytes each, which Streamlit would otherwise
    send to the browser, and re-encode, on every rerun of the picker."""
    return _source_preview(client.store_description(), key, client)


@st.cache_data(max_entries=256, show_spinner=False)
def _source_preview(store_id: str, key: str, _client: StudioClient) -> bytes | None:
    try:
        return _client.source_preview(key, PICKER_SIDE)
    except BadImage:
        return None
