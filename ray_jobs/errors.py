"""The errors a user of the studio meets: one small family, each saying what happened and what to do.

Every front shows ``str(error)`` as it is: the CLI on one line of stderr (and in the JSON row's
``error``), the dashboard in ``st.error``. ``exit_code`` is what the CLI exits with; the codes are
listed in the README. Lower layers keep their own exceptions (the store's, the generators');
``translate`` turns them into this family at the client's door.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1      # some image failed, a job ended badly, or the thing asked for does not exist
EXIT_USAGE = 2       # a bad argument, image or setting: fix the input
EXIT_STORE = 3       # the asset store cannot be used
EXIT_CLUSTER = 4     # the Ray cluster cannot be used
EXIT_INTERNAL = 70   # a bug: run again with --debug for the traceback


class StudioError(Exception):
    """Base of the family. ``str()`` is "<what happened>. <what to do>", on one line."""

    exit_code = EXIT_FAILED

    def __init__(self, what: str, hint: str = "") -> None:
        self.what = " ".join(str(what).split()).rstrip(". ")
        self.hint = " ".join(str(hint).split())
        super().__init__(f"{self.what}. {self.hint}" if self.hint else f"{self.what}.")

    def __reduce__(self):  # crosses Ray's process boundary with both parts intact
        return type(self), (self.what, self.hint)


# ---- the input -----------------------------------------------------------------------------

class BadInput(StudioError, ValueError):
    """An argument, file or setting that cannot be used."""

    exit_code = EXIT_USAGE


class BadImage(BadInput):
    """The image cannot be turned into a model (unreadable, truncated, not an image, too large)."""


class BadSettings(BadInput):
    """A generator setting or an environment setting is wrong."""


class NotFound(StudioError, LookupError):
    """The asset, job or object asked for does not exist (any more)."""


class BrokenAsset(StudioError):
    """One asset's stored record is damaged; other assets are fine."""


# ---- the store -----------------------------------------------------------------------------

class StoreProblem(StudioError):
    """The asset store cannot be used right now."""

    exit_code = EXIT_STORE


class StoreMissing(StoreProblem):
    """The bucket (or folder) does not exist."""


class StoreDenied(StoreProblem):
    """The credentials are not allowed to do this."""


class StoreUnreachable(StoreProblem):
    """Nothing answers at the store's endpoint."""


class StoreTooSlow(StoreUnreachable):
    """The endpoint accepted the connection but did not answer in time."""


class StoreFailed(StoreProblem):
    """The store answered with errors (5xx, throttling) or holds a damaged object."""


# ---- the cluster ---------------------------------------------------------------------------

class ClusterProblem(StudioError):
    """The Ray cluster cannot be used right now."""

    exit_code = EXIT_CLUSTER


class ClusterUnreachable(ClusterProblem):
    """The Ray cluster cannot be reached; the message says which address and what to do."""


class ClusterAuthError(ClusterUnreachable):
    """The cluster answered but refused our token (or we had none)."""


class NoGpuAvailable(ClusterProblem):
    """No GPU now and no CPU fallback allowed; the message says what to change."""


class RegistryLost(ClusterProblem):
    """The registry actor is gone for good (e.g. the head node was replaced)."""


# ---- a job's end ---------------------------------------------------------------------------

class JobProblem(StudioError):
    """A generation job ended without a model."""


class JobFailed(JobProblem):
    """The worker could not build the model; the message carries its reason."""


class JobTimedOut(JobProblem):
    """The job ran past its time limit."""


class JobCancelled(JobProblem):
    """Someone cancelled the job."""


def error_line(error: BaseException, *, limit: int = 200) -> str:
    """A lower layer's exception as it goes inside one of our messages: "<Type>: <the first line of
    its text>", the text cut to ``limit`` characters (libraries' messages run to pages)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0][:limit]}" if lines else type(error).__name__


def translate(error: BaseException) -> StudioError | None:
    """The family member for a lower layer's error, or None when it is not one we know.

    Store and settings errors keep their own text (it already says what to do)."""
    from storage import errors as store

    if isinstance(error, StudioError):
        return error
    if isinstance(error, store.SettingsError):
        return BadSettings(error.what, error.hint)
    if isinstance(error, store.KeyNotFound):
        return NotFound(error.what, error.hint)
    if isinstance(error, store.InvalidKey):
        return BadInput(error.what, error.hint)
    if isinstance(error, store.CorruptManifest):
        return BrokenAsset(error.what, error.hint)
    if isinstance(error, store.StoreError):
        kind = next((studio for lower, studio in _STORE_KINDS if isinstance(error, getattr(store, lower, ()))),
                    StoreFailed)
        return kind(error.what, error.hint)
    from ray_jobs.generators.base import ImageError

    if isinstance(error, ImageError):
        return BadImage(str(error))
    return None


# Most specific first: a timeout is a kind of unreachable.
_STORE_KINDS = (
    ("BucketMissing", StoreMissing),
    ("AccessDenied", StoreDenied),
    ("StoreTimeout", StoreTooSlow),
    ("StoreUnreachable", StoreUnreachable),
)
