"""Can every node of the cluster open the store, with the node's own credentials?

A worker opens the store from the StorageSettings its job carries. Those settings hold no
secret (the key id and whether a secret is set, nothing more), and the S3 backend builds its
boto3 client from the default credential chain of the process it runs in: on a node, the
node's environment, its ~/.aws files or its instance profile. So the client's own store
check says nothing about the nodes. This probe asks each of them: one tiny task per alive
node, pinned there, that opens the store as a job would and makes one cheap read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

PROBE_TIMEOUT_S = 30.0
TASK_NAME = "asset-studio-store-probe"


@dataclass(frozen=True)
class NodeProbe:
    """One node's answer. `answered` is False when the node gave none within the timeout."""

    node_id: str
    node_ip: str
    head: bool
    ok: bool
    answered: bool
    detail: str  # what was read, or the store's own error text
    hint: str = ""  # the store's hint when it failed
    error_kind: str = ""  # the error's class name (e.g. "AccessDenied"), "" when ok


def read_store_here(storage_settings: Any) -> dict[str, Any]:
    """On the node: open the store from the settings a job carries and list one generated asset key."""
    from storage.errors import StoreError
    from storage.keys import GENERATED_ASSETS
    from storage.store import open_store

    started = time.perf_counter()
    try:
        store = open_store(storage_settings)
        if not storage_settings.use_s3 and not storage_settings.local_dir.is_dir():
            # Listing a missing folder answers "empty"; a worker here would write beside the client's store.
            raise StoreError(f"The local store folder {storage_settings.local_dir} does not exist on this node",
                             "Use S3 storage (USE_S3_STORAGE=true) with a cluster of several machines, "
                             "or mount the same folder on every node.")
        store.list_page(GENERATED_ASSETS, limit=1)
    except StoreError as error:
        return {"ok": False, "detail": error.what, "hint": error.hint, "error_kind": type(error).__name__}
    except Exception as error:  # noqa: BLE001 - whatever breaks here would break a job the same way
        return {"ok": False, "detail": f"{type(error).__name__}: {error}", "hint": "",
                "error_kind": type(error).__name__}
    seconds = time.perf_counter() - started
    return {"ok": True, "detail": f"listed {GENERATED_ASSETS} of {store.describe()} in {seconds:.2f} s"}


def probe_store_from_nodes(storage_settings: Any, timeout_s: float = PROBE_TIMEOUT_S) -> list[NodeProbe]:
    """Each alive node's answer (head first), all within `timeout_s` together. Needs a connected Ray."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = sorted((node for node in ray.nodes() if node.get("Alive")),
                   key=lambda node: (not _is_head(node), node.get("NodeManagerAddress") or "", node["NodeID"]))
    if not nodes:
        return []
    task = ray.remote(read_store_here)
    pending = {}
    for node in nodes:
        # No CPU and no GPU asked: the probe never waits behind busy workers. Pinned hard: an
        # answer from another node would say nothing about this one.
        ref = task.options(
            num_cpus=0, num_gpus=0, max_retries=0, name=TASK_NAME,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
        ).remote(storage_settings)
        pending[ref] = node
    ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_s)
    for ref in late:
        try:
            ray.cancel(ref)
        except Exception:  # noqa: BLE001 - it may have finished meanwhile; nobody waits for it
            pass
    ready_refs = set(ready)
    return [_answer(ref, node) if ref in ready_refs else _no_answer(node, timeout_s) for ref, node in pending.items()]


def _is_head(node: dict[str, Any]) -> bool:
    return "node:__internal_head__" in node.get("Resources", {})


def _probe(node: dict[str, Any], **fields: Any) -> NodeProbe:
    return NodeProbe(node_id=node["NodeID"], node_ip=node.get("NodeManagerAddress") or "unknown address",
                     head=_is_head(node), **fields)


def _answer(ref: Any, node: dict[str, Any]) -> NodeProbe:
    import ray

    try:
        answer = ray.get(ref, timeout=5)
    except Exception as error:  # noqa: BLE001 - the task could not run there at all (import, worker crash, node died)
        reason = (str(error).strip().splitlines() or [type(error).__name__])[-1]  # a traceback ends with it
        return _probe(node, ok=False, answered=True, error_kind=type(error).__name__,
                      detail=f"the probe task failed on the node: {reason}",
                      hint="The node must run this project's code and packages: check its Ray worker logs.")
    return _probe(node, ok=bool(answer["ok"]), answered=True, detail=answer["detail"],
                  hint=answer.get("hint", ""), error_kind=answer.get("error_kind", ""))


def _no_answer(node: dict[str, Any], timeout_s: float) -> NodeProbe:
    return _probe(node, ok=False, answered=False, error_kind="Timeout",
                  detail=f"no answer within {timeout_s:g} s (the node could not start the probe task, "
                         "or the store did not answer it)",
                  hint="Check the node in `ray status` and its Ray logs, and that it reaches the store's endpoint.")
