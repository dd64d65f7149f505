"""`doctor`'s cluster lines: reachable, token accepted, CPUs, the store from every node, GPUs,
a worker answers, Jobs API."""

from __future__ import annotations

from ray_jobs.client.doctor import CheckLine

WORKER_ANSWER_TIMEOUT_S = 120.0  # a fresh worker imports torch and loads its generator first
NODE_STORE_TIMEOUT_S = 30.0  # all nodes together; the task itself takes well under a second
NODE_CREDENTIALS_FIX = ("Give the cluster's nodes credentials: an IAM instance profile in cluster.yaml (see its "
                        "comments) or AWS_* variables in the nodes' environment (where `ray start` runs).")


def cluster_checks(client=None) -> list[CheckLine]:
    from ray_jobs.client import StudioClient
    from ray_jobs.cluster.resources import NoGpuAvailable
    from ray_jobs.cluster.connection import ClusterAuthError, ClusterUnreachable, configured_address, token_source

    address = configured_address()
    lines = [CheckLine("cluster address", True, address or "RAY_ADDRESS not set: a private local Ray is used")]
    client = client or StudioClient()
    try:
        client.connect()
    except ClusterAuthError as error:
        return lines + [CheckLine("token accepted", False, str(error),
                                  "Copy the head node's ~/.ray/auth_token here, or set RAY_AUTH_TOKEN.")]
    except ClusterUnreachable as error:
        return lines + [CheckLine("cluster reachable", False, str(error),
                                  "Fix RAY_ADDRESS (HOST:6379) or unset it to use a local Ray.")]
    lines.append(CheckLine("cluster reachable", True, client.cluster_status().address))
    lines.append(CheckLine("token accepted", True, f"token from {token_source() or 'the local cluster'}"))

    status = client.cluster_status()
    lines.append(CheckLine("CPUs", status.cpus_total > 0,
                           f"{status.cpus_free:g} of {status.cpus_total:g} free on {len(status.nodes)} node(s)",
                           "The cluster has no CPUs: check the node types in cluster.yaml."))
    lines.extend(node_store_checks(client.storage_settings))
    try:
        from ray_jobs.cluster.resources import plan_gpus

        plan = plan_gpus(status, allow_cpu_fallback=client.allow_cpu_fallback, pool_size=1,
                         worker_gpus=client.worker_gpus)
        lines.append(CheckLine("GPUs", True, plan.message))
    except NoGpuAvailable as error:
        lines.append(CheckLine("GPUs", False, str(error), "Add GPU nodes or set ASSET_STUDIO_ALLOW_CPU=1."))
        return lines

    try:
        answer = client.ping_worker(timeout_s=WORKER_ANSWER_TIMEOUT_S)
        where = f"{answer['name']} on {answer['node_ip']} ({'GPU ' + ','.join(answer['gpu_ids']) if answer['gpu_ids'] else 'CPU'})"
        lines.append(CheckLine("worker answers", True, where))
    except Exception as error:  # noqa: BLE001 - any failure means no worker can take jobs
        lines.append(CheckLine("worker answers", False, f"{type(error).__name__}: {error}",
                               "Check the cluster's resources (`ray status`) and the worker logs."))

    from ray_jobs.cluster.ray_job_api import dashboard_address, list_ray_jobs

    try:
        count = len(list_ray_jobs())
        lines.append(CheckLine("Ray Jobs API", True, f"{dashboard_address()}: {count} job(s)"))
    except Exception as error:  # noqa: BLE001
        lines.append(CheckLine("Ray Jobs API", False, str(error).splitlines()[0],
                               "Forward the dashboard (`ray dashboard cluster.yaml`) and set "
                               "RAY_JOBS_ADDRESS=http://localhost:8265."))
    return lines


def node_store_checks(storage_settings, timeout_s: float = NODE_STORE_TIMEOUT_S) -> list[CheckLine]:
    """One line per alive node: can a job there open the store with the node's own credentials?"""
    from ray_jobs.cluster.store_probe import probe_store_from_nodes

    try:
        probes = probe_store_from_nodes(storage_settings, timeout_s=timeout_s)
    except Exception as error:  # noqa: BLE001 - doctor reports, it never crashes
        return [CheckLine("store reachable from the nodes", False, f"{type(error).__name__}: {error}",
                          "Check the cluster's state with `ray status`.")]
    labels = _node_labels(probes)
    return [CheckLine(f"store reachable from node {label}", probe.ok, probe.detail,
                      "" if probe.ok else _node_fix(probe, storage_settings))
            for label, probe in zip(labels, probes)]


def _node_labels(probes) -> list[str]:
    """The node's IP, marked when it is the head; its short id too where IPs alone would not tell nodes apart."""
    labels = [probe.node_ip + (" (head)" if probe.head else "") for probe in probes]
    return [label if labels.count(label) == 1 else f"{label} [id {probe.node_id[:8]}]"
            for label, probe in zip(labels, probes)]


def _node_fix(probe, storage_settings) -> str:
    if probe.error_kind == "AccessDenied":
        if "credentials" in probe.detail.lower():  # none at all on that node
            return NODE_CREDENTIALS_FIX
        return (f"The node's credentials may not use s3://{storage_settings.bucket}: let its IAM role (or keys) "
                "do s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket there. " + NODE_CREDENTIALS_FIX)
    return probe.hint or "Check the node's Ray worker logs."
