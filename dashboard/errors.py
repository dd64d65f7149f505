"""One sentence for the user per failure: what went wrong and what to do about it.

The client's typed errors already say both; anything else is a bug, logged with its traceback
for whoever runs the dashboard and shown as one line."""

from __future__ import annotations

import logging

from ray_jobs.errors import translate

log = logging.getLogger(__name__)


def explain(error: BaseException) -> str:
    known = translate(error)
    if known is not None:
        return str(known)
    log.error("unexpected error in the dashboard", exc_info=error)
    first = " ".join(str(error).split())[:200] or "no message"
    return f"Unexpected error ({type(error).__name__}: {first}). The dashboard's log has the details."
