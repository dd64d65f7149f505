"""Jobs page: what the cluster offers and what it is doing, live; cancel a job, read its error."""

import streamlit as st

from dashboard.access import current_user
from dashboard.errors import explain
from dashboard.formatting import seconds, when
from dashboard.state import client_or_banner, cluster_started, connect_cluster, describe_ray_address

REFRESH_S = 2.0

st.title("Jobs")
client = client_or_banner()
if client is None:
    st.stop()
st.caption(f"Cluster: {describe_ray_address(client.ray_address)} · refreshes every {REFRESH_S:g} s")


def cluster_section() -> bool:
    try:
        connect_cluster(client)
        status = client.cluster_status()
    except Exception as error:
        st.error(f"**The Ray cluster is not reachable.** {explain(error)}", icon="🚫")
        return False
    nodes, cpus, gpus, workers = st.columns(4)
    nodes.metric("Nodes", len(status.nodes))
    cpus.metric("CPUs free / total", f"{status.cpus_free:g} / {status.cpus_total:g}")
    gpus.metric("GPUs free / total", f"{status.gpus_free:g} / {status.gpus_total:g}")
    workers.metric("Generation workers", status.workers)
    st.caption("GPU types: " + (", ".join(status.gpu_names) if status.gpu_names else
                                "none (jobs run on CPU, slower)" if not status.gpus_total else "not reported"))
    show_pools(status.pool)
    with st.expander(f"Nodes ({len(status.nodes)})"):
        st.dataframe([{"address": node.get("address"), "head": node.get("head"), "CPUs": node.get("cpus"),
                       "GPUs": node.get("gpus"), "GPU type": ", ".join(node.get("gpu_names") or [])}
                      for node in status.nodes], hide_index=True, width="stretch")
    return True


def show_pools(workers: list[dict]) -> None:
    """One line per pool: the CPU pool runs every generator placed on CPU, each GPU generator has its own."""
    if not workers:
        st.caption("Worker pools: none yet (a pool starts with the first job that needs it).")
        return
    pools: dict[str, list[dict]] = {}
    for worker in workers:
        pools.setdefault(worker.get("pool") or "?", []).append(worker)
    st.markdown("**Worker pools**")
    st.dataframe([{"pool": name, "generators": ", ".join(members[0].get("serves") or members[0].get("generators") or []),
                   "workers": len(members),
                   "runs on": "GPU" if any(member.get("num_gpus") for member in members) else "CPU",
                   "busy": sum(1 for member in members if member.get("job_id")),
                   "nodes": len({member.get("node_id") for member in members if member.get("node_id")})}
                  for name, members in sorted(pools.items())], hide_index=True, width="stretch")


def jobs_section() -> None:
    st.subheader("Generation jobs")
    try:
        jobs = client.jobs()
    except Exception as error:
        st.error(f"Could not read the job list. {explain(error)}")
        return
    if not jobs:
        st.info("No generation jobs on this cluster yet. Start one on the Generate page.")
        return
    st.dataframe(
        [{"name": job.name, "state": job.state, "progress": job.percent / 100.0, "stage": job.stage,
          "message": job.message, "created": when(job.created_at),
          "took": seconds((job.finished_at or 0) - job.started_at) if job.finished_at and job.started_at else "–",
          "worker": job.worker or "–", "job id": job.job_id} for job in jobs],
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                                   format="percent")},
        hide_index=True, width="stretch",
    )
    active = [job for job in jobs if job.state in ("queued", "running", "stopping")]
    if (active or st.session_state.get("cancel_target")) and current_user().may("cancel"):
        cancel_picker(active)
    for job in (job for job in jobs if job.state == "failed"):
        with st.expander(f"❌ {job.name} failed ({when(job.finished_at)})"):
            st.code(job.error or job.message or "no error text", language=None, wrap_lines=True)


def _remember_pick() -> None:
    st.session_state.cancel_target = st.session_state.cancel_pick


def cancel_picker(active) -> None:
    """The job to cancel is remembered by id when picked, so a refresh that reorders or shortens
    the list can never turn the click into a cancel of another job."""
    labels = {job.job_id: f"{job.name} ({job.job_id})" for job in active}
    target = st.session_state.get("cancel_target")
    pick, act = st.columns([3, 1], vertical_alignment="bottom")
    pick.selectbox("Running or queued job", list(labels), index=None, placeholder="Pick a job to cancel",
                   format_func=lambda job_id: labels.get(job_id, job_id), key="cancel_pick", on_change=_remember_pick)
    if act.button("Cancel job", width="stretch", disabled=target is None,
                  help=f"Cancel {labels.get(target, target)}" if target else "Pick a job first"):
        st.session_state.cancel_target = None
        try:  # the role is checked again here, on the server
            current_user().require("cancel")
            stopped = client.cancel(target)
            st.toast(f"Cancelling {target}." if stopped else f"{target} had already ended; nothing was cancelled.")
        except Exception as error:
            st.error(f"Could not cancel {target}. {explain(error)}")


def ray_jobs_section() -> None:
    st.subheader("Ray Jobs (batches submitted from the command line)")
    try:
        ray_jobs = client.ray_jobs()
    except Exception as error:
        st.caption(f"The Ray Jobs API is not available: {explain(error)}")
        return
    if not ray_jobs:
        st.caption("None yet: `python -m ray_jobs submit-batch PREFIX` submits one.")
        return
    reports = {job["job_id"]: batch_report(job) for job in ray_jobs}
    st.dataframe([{"id": job["job_id"], "state": job["state"], "report": report_line(reports[job["job_id"]]),
                   "started": when(job["created_at"]), "entrypoint": job["entrypoint"], "message": job["message"]}
                  for job in ray_jobs], hide_index=True, width="stretch")
    names = {job["job_id"]: job["report"] for job in ray_jobs if reports[job["job_id"]]}
    if names:
        chosen = st.selectbox("Batch report", list(names), key="report_choice")
        show_report(names[chosen], reports[chosen])


def batch_report(job: dict) -> dict | None:
    """The summary a batch Ray Job left in the store (None while it runs, or for other jobs)."""
    if not job.get("report"):
        return None
    try:
        return client.batch_report(job["report"])
    except Exception:  # noqa: BLE001 - a report that cannot be read is shown as missing
        return None


def report_line(report: dict | None) -> str:
    if not report:
        return "–"
    return (f"{report['images']} images: {report['generated']} generated, {report['exists']} existed, "
            f"{report['failed']} failed in {seconds(report['seconds'])}")


def show_report(name: str, report: dict) -> None:
    images, generated, existed, failed = st.columns(4)
    images.metric("Images", report["images"])
    generated.metric("Generated", report["generated"])
    existed.metric("Already there", report["exists"])
    failed.metric("Failed", report["failed"])
    st.markdown(f"[Summary JSON]({report['url']}) · prefix `{report['prefix']}` · report `{report['report']}`")
    if report["failed"]:
        try:
            failures = client.batch_failures(name, limit=50)
        except Exception as error:  # noqa: BLE001
            st.caption(f"The failures could not be read: {explain(error)}")
            return
        st.dataframe([{"image": row["key"], "reason": row["error"]} for row in failures], hide_index=True,
                     width="stretch")


@st.fragment(run_every=REFRESH_S)
def live() -> None:
    if cluster_section():
        jobs_section()
        ray_jobs_section()


if client.ray_address or cluster_started() or st.session_state.get("cluster_wanted"):
    live()
else:
    st.info("The local Ray cluster starts the first time something needs it: a generation, or this button. "
            "Its jobs then appear here.")
    if st.button("Start the local Ray cluster", type="primary"):
        st.session_state.cluster_wanted = True
        st.rerun()
