"""Settings page: where assets are stored and which cluster runs the jobs, secrets masked,
with the doctor's checks and a connection test for the store and the cluster."""

import streamlit as st

from dashboard.access import allowed_or_say, current_user
from dashboard.formatting import when
from dashboard.state import describe_ray_address, studio_client
from ray_jobs.client import STORE_PREFIXES, ray_address_from_env
from ray_jobs.client.doctor import CheckLine
from ray_jobs.errors import BadSettings

LABELS = {
    "backend": "Storage backend", "bucket": "S3 bucket", "region": "S3 region", "endpoint_url": "S3 endpoint",
    "access_key_id": "Access key id", "secret_access_key": "Secret access key", "url_expiry_s": "Download link expiry (s)",
    "cache_dir": "Download cache folder", "cache_size_mb": "Download cache size (MB)", "local_dir": "Local store folder",
}

st.title("Settings")
st.caption("Read from the environment when the dashboard starts (USE_S3_STORAGE, S3_BUCKET_NAME, S3_REGION, "
           "S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, LOCAL_STORAGE_DIR, RAY_ADDRESS). "
           "Secrets are never shown.")
user = current_user()
if not allowed_or_say(user, "settings", "the settings page"):
    st.stop()


def show_checks(lines: list[CheckLine]) -> None:
    for line in lines:
        if line.ok:
            st.markdown(f":green[:material/check_circle:] **{line.name}**: {line.detail}")
        else:
            st.markdown(f":red[:material/cancel:] **{line.name}**: {line.detail}  \n**Fix:** {line.fix or '–'}")


try:
    client = studio_client()
except BadSettings as error:
    client = None
    st.error(f"**The settings are invalid.** {error.what}.  \n**Fix:** {error.hint}", icon="🚫")

store_column, cluster_column = st.columns(2, gap="large")
with store_column:
    st.subheader("Storage")
    if client is not None:
        masked = client.storage_settings.masked()
        st.table({"setting": [LABELS.get(name, name) for name in masked], "value": list(masked.values())})
        st.markdown("**Key prefixes**")
        st.table({"what": list(STORE_PREFIXES), "prefix": list(STORE_PREFIXES.values())})

with cluster_column:
    st.subheader("Cluster")
    st.table({"setting": ["Ray address"], "value": [describe_ray_address(ray_address_from_env())]})
    st.caption("Set RAY_ADDRESS (e.g. ray://head:10001 or head:6379) to use a Ray cluster; the auth token comes "
               "from RAY_AUTH_TOKEN or ~/.ray/auth_token.")
    if st.button("Test cluster connection", key="test-cluster", disabled=client is None):
        with st.spinner("Reaching the cluster and a worker… (a local Ray starts now if none runs)"):
            st.session_state.cluster_checks = client.audited(user, "test settings", "cluster", client.cluster_checks)
    if "cluster_checks" in st.session_state:
        show_checks(st.session_state.cluster_checks)
    else:
        st.caption("Not tested yet: the cluster is reached only when needed.")

# Last: the store checks touch the store (seconds on a slow one), everything above is already drawn.
with store_column:
    if client is not None:
        st.markdown("**Store checks** (the `doctor` command's storage steps)")
        # Only on request: the checks write and delete a probe object in the store.
        if st.button("Test store connection", key="test-store"):
            with st.spinner("Checking the store…"):
                st.session_state.store_checks = client.audited(user, "test settings", "store", client.store_checks)
        if "store_checks" in st.session_state:
            show_checks(st.session_state.store_checks)
        else:
            st.caption("Not tested yet: the test writes and removes a small probe object.")

st.subheader("Audit trail")
st.caption("Deletions, regenerations and settings tests from the dashboard and the CLI, newest first "
           "(the last 7 days; kept in the store under audit/).")
if client is not None:
    try:
        records = client.audit_trail()
    except Exception as error:
        st.warning(f"Could not read the audit trail: {error}")
        records = []
    if records:
        st.dataframe([{"when": when(record["at"]), "who": record["who"], "role": record.get("role"),
                       "action": record["action"], "target": record["target"], "result": record["result"],
                       "detail": record.get("detail", "")} for record in records], hide_index=True, width="stretch")
    else:
        st.caption("Nothing recorded yet.")
