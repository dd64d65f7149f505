"""The client's door: what lets only the typed errors of `ray_jobs.errors` out, and environment numbers."""

from __future__ import annotations

import functools
import os

from ray_jobs.errors import BadSettings, StudioError, translate


def door(method):
    """Let only the typed errors of `ray_jobs.errors` out of a public method (lower layers' own
    errors are translated; anything else is a bug and passes unchanged)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except StudioError:
            raise
        except Exception as error:
            translated = translate(error)
            if translated is None:
                raise
            raise translated from error

    return wrapper


def env_number(name: str, default: float | None) -> float | None:
    """A non-negative number of GPUs or CPUs per worker from the environment."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise BadSettings(f"{name}={text!r} is not a number of 0 or more",
                          "Set it to what each worker should reserve (e.g. 1 or 0.5), or unset it.")
    return value
