"""Settings page: where assets are stored and which cluster runs the jobs, secrets masked,
with the doctor's checks and a connection test for the store and the cluster."""

import streamlit as st

from dashboard.errors import explain
from dashboard.state import connect_cluster, describe_ray_address, ray_address, studio_client
from ray_jobs.client.doctor import CheckLine, storage_checks
from storage import keys
from storage.errors import SettingsError
from storage.settings import StorageSettings

LABELS = {
    "backend": "Storage backend", "bucket": "S3 bucket", "region": "S3 region", "endpoint_url": "S3 endpoint",
    "access_key_id": "Access key id", "secret_access_key": "Secret access key", "url_expiry_s": "Download link expiry (s)",
    "cache_dir": "Download cache folder", "cache_size_mb": "Download cache size (MB)", "local_dir": "Local store folder",
}
PREFIXES = {"Uploaded images": keys.UPLOADED_IMAGES, "Generated images": keys.GENERATED_IMAGES,
            "Generated 3D assets": keys.GENERATED_ASSETS, "Other 3D models": keys.MODEL_ASSETS}

st.title("Settings")
st.caption("Read from the environment when the dashboard starts (USE_S3_STORAGE, S3_BUCKET_NAME, S3_REGION, "
           "S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, LOCAL_STORAGE_DIR, RAY_ADDRESS). "
           "Secrets are never shown.")


def show_checks(lines: list[CheckLine]) -> None:
    for line in lines:
        if line.ok:
            st.markdown(f":green[:material/check_circle:] **{line.name}**: {line.detail}")
        else:
            st.markdown(f":red[:material/cancel:] **{line.name}**: {line.detail}  \n**Fix:** {line.fix or '–'}")


def cluster_check_lines() -> list[CheckLine]:
    try:
        client = studio_client()
        connect_cluster(client)
        status = client.cluster_status()
    except Exception as error:
        return [CheckLine("cluster reachable", False, explain(error),
                          "Start the cluster or fix RAY_ADDRESS; unset it to use a local Ray.")]
    gpus = f"{status.gpus_total:g} GPUs ({', '.join(status.gpu_names) or 'type not reported'})" \
        if status.gpus_total else "no GPU: jobs fall back to the CPU"
    return [CheckLine("cluster reachable", True, f"{status.address}: {len(status.nodes)} node(s)"),
            CheckLine("resources", True, f"{status.cpus_total:g} CPUs, {gpus}")]


store_column, cluster_column = st.columns(2, gap="large")
with store_column:
    st.subheader("Storage")
    try:
        settings = StorageSettings.from_env()
    except SettingsError as error:
        settings = None
        st.error(f"**{error.variable} is wrong.** {error.what}.  \n**Fix:** {error.hint}", icon="🚫")
    if settings is not None:
        st.table({"setting": [LABELS.get(name, name) for name in settings.masked()],
                  "value": list(settings.masked().values())})
        st.markdown("**Key prefixes**")
        st.table({"what": list(PREFIXES), "prefix": list(PREFIXES.values())})

with cluster_column:
    st.subheader("Cluster")
    st.table({"setting": ["Ray address"], "value": [describe_ray_address(ray_address())]})
    st.caption("Set RAY_ADDRESS (e.g. ray://head:10001 or head:6379) to use a Ray cluster; the auth token comes "
               "from RAY_AUTH_TOKEN or ~/.ray/auth_token.")
    if st.button("Test cluster connection", key="test-cluster"):
        with st.spinner("Reaching the cluster… (a local Ray starts now if none runs)"):
            st.session_state.cluster_checks = cluster_check_lines()
    if "cluster_checks" in st.session_state:
        show_checks(st.session_state.cluster_checks)
    else:
        st.caption("Not tested yet: the cluster is reached only when needed.")

# Last: the store checks touch the store (seconds on a slow one), everything above is already drawn.
with store_column:
    st.markdown("**Store checks** (the `doctor` command's storage steps)")
    if st.button("Test store connection", key="test-store") or "store_checks" not in st.session_state:
        with st.spinner("Checking the store…"):
            st.session_state.store_checks = storage_checks(settings) if settings else storage_checks()
    show_checks(st.session_state.store_checks)
