"""One sentence for the user per failure: what went wrong and what to do about it."""

from __future__ import annotations

from ray_jobs.client import ClusterUnreachable, NoGpuAvailable
from storage.errors import AccessDenied, SettingsError, StoreError


def explain(error: BaseException) -> str:
    if isinstance(error, ClusterUnreachable):
        return (f"Could not reach the Ray cluster: {error}  \nCheck RAY_ADDRESS (Settings page), "
                "or unset it to run on a local Ray.")
    if isinstance(error, NoGpuAvailable):
        return (f"No GPU is available: {error}  \nAdd a GPU worker to the cluster, or allow the CPU "
                "fallback (slower).")
    if isinstance(error, AccessDenied):
        return f"The asset store refused access: {error}"
    if isinstance(error, StoreError):
        return f"The asset store failed: {error}"
    if isinstance(error, SettingsError):
        return f"The settings are invalid: {error}"
    if isinstance(error, TimeoutError):
        return f"Generation timed out: {error or 'no answer in time'}.  \nTry again, or use a lower resolution."
    if isinstance(error, ValueError):
        # Generators raise ValueError subclasses (ImageError) for unusable images and settings.
        return f"This input cannot be used: {error}"
    return f"Unexpected error ({type(error).__name__}): {error}  \nSee the dashboard's log for details."
