"""Reaching a Ray cluster: a private local one by default, or the one `RAY_ADDRESS` names.

A wrong address must fail fast with a clear message (stage 10%), so the GCS port is
probed with a plain socket before `ray.init`, which would otherwise retry for a minute.
Ray 2.60 keeps token authentication on; a client connecting to an explicit address only
sends its token when token mode is on in its own process, so we turn it on whenever a
token is available (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH` or `~/.ray/auth_token`).
A wrong token must fail as fast and as quietly: `ray.init` would retry it for ~20 s and
let Ray's C++ client log a warning per try on stderr, so the token is checked first with
one GCS call.
"""

from __future__ import annotations

import os
import socket
import threading
from concurrent.futures import Future
from pathlib import Path
from urllib.parse import urlparse

from ray_jobs.errors import ClusterAuthError, ClusterUnreachable

NAMESPACE = "asset_studio"
PROBE_TIMEOUT_S = 3.0
TOKEN_CHECK_TIMEOUT_S = 3.0
LOCAL_ADDRESSES = (None, "", "local")


def configured_address(explicit: str | None = None) -> str | None:
    """The address to connect to: the argument, else RAY_ADDRESS, else None (private local Ray)."""
    address = explicit if explicit is not None else os.environ.get("RAY_ADDRESS")
    return address.strip() if address and address.strip() else None


def token_source() -> str | None:
    """Where a Ray auth token would come from, or None when there is none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path and Path(path).expanduser().is_file():
        return f"RAY_AUTH_TOKEN_PATH ({path})"
    default = Path.home() / ".ray" / "auth_token"
    if default.is_file():
        return str(default)
    return None


def enable_token_auth_if_available() -> bool:
    """Turn on token mode in this process when a token exists and the mode is not set explicitly.

    Needed for explicit addresses (ray.init and the Jobs SDK): Ray only switches it on by
    itself for a local cluster it starts or finds.
    """
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode.lower() == "token"
    if token_source() is None:
        return False
    os.environ["RAY_AUTH_MODE"] = "token"
    try:  # make the already-loaded Ray config see the new mode, and re-read the token
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError):
        pass
    return True


def gcs_host_port(address: str) -> tuple[str, int] | None:
    """Host and port to probe for a `ray.init` address; None for 'auto' (Ray finds it)."""
    if address == "auto":
        return None
    if address.startswith(("http://", "https://")):
        raise ClusterUnreachable(
            f"RAY_ADDRESS={address} is a dashboard (Jobs API) address, not a cluster address. "
            "Use HOST:6379 (or ray://HOST:10001) for RAY_ADDRESS; pass the http:// address to "
            "submit-batch --address instead."
        )
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise ClusterUnreachable(
            f"RAY_ADDRESS={address} is not HOST:PORT. Set it to the head node's HOST:6379, "
            "or unset it to start a local Ray."
        )
    return parsed.hostname, parsed.port


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Fail within `timeout_s` when nothing listens at the cluster address."""
    target = gcs_host_port(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=timeout_s):
            pass
    except OSError as error:
        raise ClusterUnreachable(
            f"No Ray cluster answers at {address} ({error.strerror or error}). "
            "Check RAY_ADDRESS (the head node's HOST:6379), that the cluster is up "
            "(`ray up cluster.yaml`) and that the port is reachable, or unset RAY_ADDRESS "
            "to run on a local Ray."
        ) from None


_connect_lock = threading.Lock()


def connect(address: str | None = None, *, log_to_driver: bool = False) -> str:
    """Connect this process to Ray (once) and return a description of where."""
    import ray

    with _connect_lock:
        address = configured_address(address)
        if ray.is_initialized():
            current = ray.get_runtime_context().gcs_address
            _refuse_a_switch(current, address)
            return current
        if address in LOCAL_ADDRESSES:
            return _on_lasting_thread(lambda: _start_local(log_to_driver))
        return _connect_to(address, log_to_driver)


def _refuse_a_switch(current: str, wanted: str | None) -> None:
    """A process holds one Ray connection for good: asked for another cluster (RAY_ADDRESS changed
    under a running dashboard, say), say so instead of quietly using the old one."""
    target = None if wanted in LOCAL_ADDRESSES or wanted == "auto" or "://" in (wanted or "") else gcs_host_port(wanted)
    if target is None or same_endpoint(target, current):
        return
    probe(wanted)  # nothing there: that is the clearer message
    raise ClusterUnreachable(
        f"This process already uses the Ray cluster at {current} and cannot switch to RAY_ADDRESS={wanted}. "
        "Restart it (the dashboard: stop and start it again) to use the new address."
    )


def same_endpoint(target: tuple[str, int], current: str) -> bool:
    host, port = target
    current_host, _, current_port = current.rpartition(":")
    if str(port) != current_port:
        return False
    try:
        addresses = {socket.gethostbyname(host), socket.gethostbyname(current_host)}
    except OSError:
        return host == current_host
    return len(addresses) == 1 or any(address.startswith("127.") for address in addresses)


def _start_local(log_to_driver: bool) -> str:
    import ray

    context = ray.init(address="local", namespace=NAMESPACE, log_to_driver=log_to_driver, configure_logging=False)
    return f"local Ray at {context.address_info['gcs_address']}"


def _on_lasting_thread(start):
    """Run `start` on a thread that lives as long as the process.

    Ray starts a local cluster's processes with PR_SET_PDEATHSIG, which fires when the *thread*
    that started them exits: started from a short-lived thread (a Streamlit script run, a thread
    pool), the local cluster would die with that thread.
    """
    if threading.current_thread() is threading.main_thread():
        return start()
    started: Future = Future()

    def keep_alive() -> None:
        try:
            started.set_result(start())
        except BaseException as error:  # handed to the caller
            started.set_exception(error)
            return
        threading.Event().wait()

    threading.Thread(target=keep_alive, name="local-ray-keeper", daemon=True).start()
    return started.result()


def _connect_to(address: str, log_to_driver: bool) -> str:
    import ray

    probe(address)
    enable_token_auth_if_available()
    check_token(address)
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=log_to_driver, configure_logging=False)
    except Exception as error:  # noqa: BLE001 - every failure here means "cannot use that cluster"
        raise _connection_error(address, error) from None
    return f"Ray cluster at {address}"


def check_token(address: str, timeout_s: float = TOKEN_CHECK_TIMEOUT_S) -> None:
    """Raise ClusterAuthError at once when the cluster at `address` refuses this process's token.

    Call it after `enable_token_auth_if_available`, so the token is sent as ray.init would send it.
    Says nothing when the cluster accepts it or the answer is unclear: ray.init then decides.
    """
    if _gcs_refuses_token(address, timeout_s):
        raise auth_error(f"The Ray cluster at {address}")


def _gcs_refuses_token(address: str, timeout_s: float) -> bool:
    """Ask the GCS for its cluster id once, with our token: True when it answers UNAUTHENTICATED.

    Private Ray parts, because Ray has no public way to check a token: ray.init retries a refused
    token for ~20 s (one GCS client per second) and its C++ client logs a warning per try on
    stderr. `init_grpc_channel` adds the same token metadata (and TLS settings) as Ray's own
    Python clients, and a Python gRPC call logs nothing. Any other outcome (these modules moved
    in another Ray, Ray Client or 'auto' addresses, a GCS still starting, a timeout) is False
    and leaves the verdict to ray.init, as before this check existed.
    """
    if "://" in address or address == "auto":
        return False
    try:
        import grpc
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:
        return False
    host, port = gcs_host_port(address)
    try:
        channel = init_grpc_channel(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    except Exception:  # noqa: BLE001 - no verdict rather than a wrong one
        return False
    try:
        gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
            gcs_service_pb2.GetClusterIdRequest(), timeout=timeout_s)
    except grpc.RpcError as error:
        return error.code() == grpc.StatusCode.UNAUTHENTICATED
    except Exception:  # noqa: BLE001 - as above
        return False
    finally:
        channel.close()
    return False


def auth_error(refuser: str) -> ClusterAuthError:
    """`refuser` ("The Ray cluster at HOST:PORT") refused our token, or our lack of one: say where ours came from."""
    mode = os.environ.get("RAY_AUTH_MODE")
    source = token_source()
    if mode is not None and mode.lower() != "token":
        sent = f"RAY_AUTH_MODE={mode} here, so no token was sent"
        hint = "Unset RAY_AUTH_MODE (or set it to token) and set RAY_AUTH_TOKEN to the head node's ~/.ray/auth_token."
    elif source is None:
        sent = "no token found here (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
        hint = "Set RAY_AUTH_TOKEN to the head node's ~/.ray/auth_token, or copy that file here."
    else:
        sent = f"the token from {source} is not the cluster's"
        hint = "Set RAY_AUTH_TOKEN to the head node's ~/.ray/auth_token, or copy that file here."
    return ClusterAuthError(f"{refuser} refused our token: {sent}", hint)


def first_line(text: str) -> str:
    """The line of an error text that says what happened, short enough for a one-line message.

    The first non-empty line; when the text carries a traceback (Ray's Jobs API answers a 500 with
    one), what precedes it plus its last line, the exception itself.
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    marker = "Traceback (most recent call last):"
    if any(marker in candidate for candidate in lines):
        lead = line.split(marker, 1)[0].strip() if marker in line else line
        line = f"{lead} {lines[-1]}" if lines[-1] != lead else lead
    return line if len(line) <= 200 else line[:197] + "..."


def _connection_error(address: str, error: BaseException) -> ClusterUnreachable:
    """Say why ray.init failed at an address whose port answered: most often the token."""
    chain, cause = [], error
    while cause is not None and len(chain) < 5:
        chain.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    text = " | ".join(chain)
    first = first_line(str(error)) or type(error).__name__
    if address == "auto":
        return ClusterUnreachable(
            "No Ray cluster is running on this machine. Set RAY_ADDRESS to the cluster's HOST:6379 "
            "(or start one with `ray start --head`)."
        )
    if any(word in text.lower() for word in ("auth", "token", "unauthenticated")):
        return auth_error(f"The Ray cluster at {address}")
    token = token_source()
    return ClusterUnreachable(
        f"Could not connect to the Ray cluster at {address} ({first}), although its port answers. "
        f"Either it refused our token (from {token or 'none found'}): copy the head node's "
        "~/.ray/auth_token here or set RAY_AUTH_TOKEN; or it runs another Ray version than this "
        "client (2.60). Check RAY_ADDRESS too."
    )
