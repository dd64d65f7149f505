"""Pieces the CLI commands share: building the client, following image jobs, and the one-line
JSON answer per image (`generate` and `batch` print the same shape).

Errors: one image's problem (bad image, failed job) fails that image alone; a store problem
stops the run (every later image would meet it too); an unreachable cluster fails only the
images that need it (existing assets are still answered). Each distinct error is printed once
on stderr; the exit code is the highest of the failed images' codes (see ray_jobs.errors).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray_jobs.client import JobStatus, StudioClient, Submission, ray_address_from_env
from ray_jobs.client.studio_client import raise_for_end
from ray_jobs.cli.progress_bars import ProgressBars
from ray_jobs.cluster.job_model import DEFAULT_TIMEOUT_S, TIMEOUT_ENV, check_timeout
from ray_jobs.errors import EXIT_OK, ClusterProblem, StoreProblem, StudioError


def add_generation_options(parser: argparse.ArgumentParser, *, time_limit: bool = True, cluster: bool = True) -> None:
    parser.add_argument("--generator", default=None, metavar="NAME",
                        help="generator to use (default inflate; plugins add theirs through an entry point)")
    parser.add_argument("--set", dest="extra_settings", action="append", default=[], metavar="KEY=VALUE",
                        help="any other generator setting (repeatable); VALUE is read as JSON when it parses")
    parser.add_argument("--weights", default=None, metavar="SOURCE",
                        help="where a learned generator's model is: a folder, s3://bucket/prefix or a hub id "
                             "(see `python -m ray_jobs generators`)")
    parser.add_argument("--segmenter", choices=("auto", "alpha", "flood", "rembg"), default=None,
                        help="how the object is cut out: auto (alpha, else rembg when its model is set up, else "
                             "flood), the image's alpha, flood (plain backgrounds, no model) or rembg (U²-Net)")
    parser.add_argument("--resolution", type=int, default=None, help="working resolution in pixels")
    parser.add_argument("--faces", type=int, default=None, help="target number of faces")
    if time_limit:
        parser.add_argument("--timeout", type=_time_limit, default=None, metavar="S",
                            help="per-image time limit in seconds, counted from when a worker starts it "
                                 f"(default {DEFAULT_TIMEOUT_S:g}, or {TIMEOUT_ENV})")
    if cluster:
        add_cluster_options(parser)


def _time_limit(text: str) -> float:
    try:
        return check_timeout(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The generator settings asked for on the command line (unknown keys are refused by the generator)."""
    from ray_jobs.errors import BadInput

    settings: dict[str, Any] = {} if args.generator is None else {"generator": args.generator}
    for item in args.extra_settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--set {item!r} is not KEY=VALUE", "Write it like --set resolution=256.")
        try:
            settings[key.strip()] = json.loads(text)
        except ValueError:
            settings[key.strip()] = text
    named = (("resolution", args.resolution), ("target_faces", args.faces), ("weights", args.weights),
             ("segmenter", args.segmenter))
    settings.update((key, value) for key, value in named if value is not None)
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


def existing_cluster_client() -> StudioClient:
    """A client for commands that inspect jobs: they must find a running cluster, never start one."""
    return StudioClient(ray_address=ray_address_from_env() or "auto")


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
    exit_code: int = EXIT_OK

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "cancelled")

    def to_json(self) -> str:
        return json.dumps({"image": self.image, "status": self.status, "asset_id": self.asset_id, "key": self.key,
                           "url": self.url, "seconds": round(self.seconds, 3), "error": self.error})


class PendingImage:
    """An image on its way: submitted (or answered at once), waiting for its job to end."""

    def __init__(self, label: str):
        self.label = label
        self.started = time.perf_counter()
        self.submission: Submission | None = None
        self.outcome: ImageOutcome | None = None

    def answer(self, status: str, asset_id: str | None = None, key: str | None = None, url: str | None = None,
               note: str | None = None) -> None:
        self.outcome = ImageOutcome(self.label, status, asset_id, key, url, time.perf_counter() - self.started, note)

    def fail(self, error: StudioError, status: str = "failed") -> None:
        self.outcome = ImageOutcome(self.label, status, seconds=time.perf_counter() - self.started,
                                    error=str(error), exit_code=error.exit_code)


class ImageRun:
    """Many images through one client: submit them all first (they spread over the warm workers),
    then follow each to its end in the order given."""

    def __init__(self, client: StudioClient, settings: dict[str, Any], *, json_lines: bool, fmt: str = "glb",
                 force: bool = False, timeout_s: float | None = None):
        self.client = client
        self.settings = settings
        self.fmt = fmt
        self.force = force
        self.timeout_s = timeout_s
        # Bars on a terminal, or as log lines when stdout is not JSON; never noise around --json in a pipe.
        self.bars = ProgressBars() if (not json_lines or ProgressBars.on_terminal()) else None
        self.pending: list[PendingImage] = []
        self._store_error: StoreProblem | None = None
        self._cluster_error: ClusterProblem | None = None
        self._said: set[str] = set()

    def submit(self, label: str, read: Callable[[], bytes], name: str, source_key: str | None = None) -> None:
        """Stages 5-20 for one image; `read` gives its bytes (a file, or a store key)."""
        pending = PendingImage(label)
        self.pending.append(pending)
        if self._store_error is not None:
            return self._fail(pending, self._store_error)
        on_progress = (lambda event: self.bars.update(label, event)) if self.bars else None
        try:
            data = read()
            if self._cluster_error is not None:  # existing assets can still be answered
                if self.force or not self.client.check(data, name, self.settings).exists:
                    return self._fail(pending, self._cluster_error)
            pending.submission = self.client.submit(
                data, name, self.settings, force=self.force, timeout_s=self.timeout_s, on_progress=on_progress,
                source_key=source_key, formats=(self.fmt,) if self.fmt != "glb" else ())
        except StoreProblem as error:
            self._store_error = error
            return self._fail(pending, error)
        except ClusterProblem as error:
            self._cluster_error = error
            return self._fail(pending, error)
        except StudioError as error:  # this image's own problem
            return self._fail(pending, error)
        if pending.submission.status == "exists":
            self._answer(pending, "exists", pending.submission.manifest)

    def finish(self, pending: PendingImage) -> ImageOutcome:
        """Follow the image's job (if it has one) to its end and build its answer."""
        if pending.outcome is None:
            submission = pending.submission
            on_progress = (lambda event: self.bars.update(pending.label, event)) if self.bars else None
            known = len(submission.events) if submission.status == "submitted" else 0
            try:
                status = self.client.wait(submission.job_id, on_progress=on_progress, known_events=known)
                self._answer_from_status(pending, status)
            except StudioError as error:
                self._fail(pending, error)
        outcome = pending.outcome
        if self.bars:
            self.bars.end(pending.label, f"{outcome.status} in {outcome.seconds:.1f} s")
        return outcome

    def outcomes(self):
        for pending in self.pending:
            yield self.finish(pending)

    def exit_code(self) -> int:
        return max((p.outcome.exit_code for p in self.pending if p.outcome and p.outcome.failed), default=EXIT_OK)

    def _answer_from_status(self, pending: PendingImage, status: JobStatus) -> None:
        try:
            manifest = raise_for_end(status)
        except StudioError as error:
            return self._fail(pending, error, "cancelled" if status.state == "cancelled" else "failed")
        if pending.submission.status == "joined":
            kind = "joined"
        else:
            kind = "generated" if status.generated else "exists"
        self._answer(pending, kind, manifest)

    def _answer(self, pending: PendingImage, kind: str, manifest) -> None:
        try:
            key, note = self.client.model_file(manifest, self.fmt)
            pending.answer(kind, manifest.asset_id, key, self.client.url(key), note)
        except StudioError as error:
            self._fail(pending, error)

    def _fail(self, pending: PendingImage, error: StudioError, status: str = "failed") -> None:
        pending.fail(error, status)
        # A shared cause (the store, the cluster) is said once; an image's own problem names the image.
        shared = error is self._store_error or error is self._cluster_error
        line = f"error: {error}" if shared else f"error: {pending.label}: {error}"
        if line not in self._said:
            self._said.add(line)
            warn(line)


def print_json_line(outcome: ImageOutcome) -> None:
    print(outcome.to_json(), flush=True)


def warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def add_jobs_address_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None,
                        help="Ray Jobs API address, e.g. http://HEAD:8265 (default: RAY_JOBS_ADDRESS, else the "
                             "dashboard the RAY_ADDRESS cluster reports, else its host's port 8265)")


def add_job_command(subparsers: argparse._SubParsersAction, name: str, help_text: str, func) -> argparse.ArgumentParser:
    """A command about one job: JOB is a generation job id (gen-...) or a Ray Job id (raysubmit_...)."""
    parser = subparsers.add_parser(name, help=help_text)
    parser.add_argument("job_id", metavar="JOB")
    add_jobs_address_option(parser)
    parser.set_defaults(func=func)
    return parser
