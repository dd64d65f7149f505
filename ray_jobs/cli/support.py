"""Pieces the generation commands share: building the client, following jobs, and the
one-line JSON answer per image (`generate` and `batch` print the same shape)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from ray_jobs.client import RegistryLost, StudioClient, Submission, glb_key
from ray_jobs.cluster.connection import ClusterUnreachable
from ray_jobs.cluster.resources import NoGpuAvailable
from ray_jobs.cluster.job_model import CANCELLED, DEFAULT_TIMEOUT_S, DONE, TIMEOUT_ENV, JobStatus, check_timeout
from ray_jobs.cli.progress_bars import ProgressBars


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", default=None, metavar="NAME",
                        help="generator to use (default inflate; plugins add theirs through an entry point)")
    parser.add_argument("--set", dest="extra_settings", action="append", default=[], metavar="KEY=VALUE",
                        help="any other generator setting (repeatable); VALUE is read as JSON when it parses")
    parser.add_argument("--resolution", type=int, default=None, help="working resolution in pixels")
    parser.add_argument("--faces", type=int, default=None, help="target number of faces")
    parser.add_argument("--timeout", type=_time_limit, default=None, metavar="S",
                        help="per-image time limit in seconds, counted from when a worker starts it "
                             f"(default {DEFAULT_TIMEOUT_S:g}, or {TIMEOUT_ENV})")
    add_cluster_options(parser)


def _time_limit(text: str) -> float:
    try:
        return check_timeout(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The generator settings asked for on the command line (unknown keys are refused by the generator)."""
    settings: dict[str, Any] = {} if args.generator is None else {"generator": args.generator}
    for item in args.extra_settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r} is not KEY=VALUE: write e.g. --set resolution=256")
        try:
            settings[key.strip()] = json.loads(text)
        except ValueError:
            settings[key.strip()] = text
    settings.update((key, value) for key, value in (("resolution", args.resolution), ("target_faces", args.faces))
                    if value is not None)
    return settings


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-cpu-fallback", action="store_true",
                        help="fail at the GPU stage instead of running on CPU when the cluster has no GPU")
    parser.add_argument("--workers", type=int, default=None, help="size of the warm worker pool")
    parser.add_argument("--worker-gpus", type=float, default=None,
                        help="GPUs per worker (default: 1 when the cluster has GPUs, else 0)")


def client_from_args(args: argparse.Namespace) -> StudioClient:
    return StudioClient(allow_cpu_fallback=False if args.no_cpu_fallback else None, pool_size=args.workers,
                        worker_gpus=args.worker_gpus)


@dataclass
class ImageOutcome:
    """One image's answer, printed as one JSON line."""

    image: str
    status: str  # exists | generated | joined | failed | cancelled
    asset_id: str | None = None
    key: str | None = None
    url: str | None = None
    seconds: float = 0.0
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps({"image": self.image, "status": self.status, "asset_id": self.asset_id, "key": self.key,
                           "url": self.url, "seconds": round(self.seconds, 3), "error": self.error})


def format_key(client: StudioClient, manifest, fmt: str) -> tuple[str | None, str | None, str | None]:
    """(key, url, error) of the model in `fmt` for the manifest's latest version."""
    files = manifest.latest_version.files
    if fmt not in files:
        key = glb_key(manifest)
        return key, client.catalog.url(key), (
            f"this version has no {fmt.upper()} file; the GLB is given instead. Regenerate with --force "
            "to store every format")
    key = files[fmt].key
    return key, client.catalog.url(key), None


class PendingImage:
    """An image on its way: submitted (or answered at once), waiting for its job to end."""

    def __init__(self, label: str, started: float):
        self.label = label
        self.started = started
        self.submission: Submission | None = None
        self.outcome: ImageOutcome | None = None

    def fail(self, error: str) -> None:
        self.outcome = ImageOutcome(self.label, "failed", error=error, seconds=time.perf_counter() - self.started)


def submit_image(client: StudioClient, pending: PendingImage, data: bytes, name: str, settings: dict, *,
                 bars: ProgressBars | None, fmt: str = "glb", force: bool = False, timeout_s: float | None = None,
                 source_key: str | None = None, cluster_error: list[str] | None = None) -> None:
    """Stages 5-20 for one image; `cluster_error` remembers an unreachable cluster for the next images."""
    on_progress = (lambda event: bars.update(pending.label, event)) if bars else None
    try:
        if cluster_error:
            check = client.check(data, name, settings)
            if not check.exists or force:
                pending.fail(cluster_error[0])
                return
        pending.submission = client.submit(data, name, settings, force=force, timeout_s=timeout_s,
                                           on_progress=on_progress, source_key=source_key,
                                           formats=(fmt,) if fmt != "glb" else ())
    except (ClusterUnreachable, NoGpuAvailable, RegistryLost) as error:
        if cluster_error is not None:
            cluster_error.append(str(error))
        pending.fail(str(error))
        return
    except ValueError as error:  # bad image or settings: the message says what to do
        pending.fail(str(error))
        return
    if pending.submission.status == "exists":
        manifest = pending.submission.manifest
        key, url, error = format_key(client, manifest, fmt)
        pending.outcome = ImageOutcome(pending.label, "exists", manifest.asset_id, key, url,
                                       time.perf_counter() - pending.started, error)


def finish_image(client: StudioClient, pending: PendingImage, *, bars: ProgressBars | None, fmt: str = "glb") -> ImageOutcome:
    """Follow the image's job (if it has one) to its end and build its answer."""
    if pending.outcome is None:
        submission = pending.submission
        on_progress = (lambda event: bars.update(pending.label, event)) if bars else None
        known = len(submission.events) if submission.status == "submitted" else 0
        try:
            status = client.wait(submission.job_id, on_progress=on_progress, known_events=known)
            pending.outcome = outcome_from_status(client, pending, status, fmt)
        except (RegistryLost, KeyError) as error:
            pending.fail(str(error).strip("'\""))
    if bars:
        outcome = pending.outcome
        bars.end(pending.label, f"{outcome.status} in {outcome.seconds:.1f} s" +
                 (f": {outcome.error}" if outcome.status in ("failed", "cancelled") and outcome.error else ""))
    return pending.outcome


def outcome_from_status(client: StudioClient, pending: PendingImage, status: JobStatus, fmt: str) -> ImageOutcome:
    seconds = time.perf_counter() - pending.started
    if status.state == DONE and status.manifest is not None:
        key, url, error = format_key(client, status.manifest, fmt)
        if pending.submission.status == "joined":
            kind = "joined"
        else:
            kind = "generated" if status.generated else "exists"
        return ImageOutcome(pending.label, kind, status.asset_id, key, url, seconds, error)
    kind = "cancelled" if status.state == CANCELLED else "failed"
    return ImageOutcome(pending.label, kind, status.asset_id, seconds=seconds,
                        error=status.error or status.message or kind)


def print_json_line(outcome: ImageOutcome) -> None:
    print(outcome.to_json(), flush=True)


def warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def existing_cluster_client(args: argparse.Namespace) -> StudioClient:
    """A client for commands that inspect jobs: they must find a running cluster, never start one."""
    from ray_jobs.cluster.connection import configured_address

    return StudioClient(ray_address=configured_address() or "auto")


def add_jobs_address_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None,
                        help="Ray Jobs API address, e.g. http://HEAD:8265 (default: RAY_JOBS_ADDRESS, "
                             "or the dashboard of the connected cluster)")


def add_job_command(subparsers: argparse._SubParsersAction, name: str, help_text: str, func) -> argparse.ArgumentParser:
    """A command about one job: JOB is a generation job id (gen-...) or a Ray Job id (raysubmit_...)."""
    parser = subparsers.add_parser(name, help=help_text)
    parser.add_argument("job_id", metavar="JOB")
    add_jobs_address_option(parser)
    parser.set_defaults(func=func)
    return parser
