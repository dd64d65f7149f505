"""The audit trail: who deleted, regenerated or tested what, when, and how it ended, kept in the
store under `audit/` (one small JSON object per record, grouped by day). Mixed into StudioClient.

Records are written by the fronts around each such action (`audited`); a record that cannot be
written is logged and never fails the action it describes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from ray_jobs.client.access import NotAllowed, User
from ray_jobs.client.door import door

logger = logging.getLogger(__name__)
Result = TypeVar("Result")


class AuditTrail:
    def audited(self, user: User, action: str, target: str, perform: Callable[[], Result]) -> Result:
        """Check `user` may do `action` (NotAllowed if not), do it, and record who, what and how it ended."""
        try:
            user.require(action)
            outcome = perform()
        except Exception as error:
            self._record(user, action, target, "refused" if isinstance(error, NotAllowed) else "failed", str(error))
            raise
        self._record(user, action, target, "done", "")
        return outcome

    def _record(self, user: User, action: str, target: str, result: str, detail: str) -> None:
        from storage.keys import audit_key

        at = time.time()
        record = {"at": at, "who": user.name, "role": user.role.label, "signed_in": user.signed_in,
                  "action": action, "target": target, "result": result, "detail": detail[:500]}
        try:
            self._catalog.store.put(audit_key(at, uuid.uuid4().hex[:12]), json.dumps(record).encode(),
                                    content_type="application/json")
        except Exception as error:  # noqa: BLE001 - the action happened; losing its record must not undo that
            logger.error("could not write the audit record %s: %s", record, error)

    @door
    def audit_trail(self, *, days: int = 7, limit: int = 200) -> list[dict[str, Any]]:
        """The newest records of the last `days` days, newest first, at most `limit`."""
        from storage.keys import AUDIT_LOG

        found: list[dict[str, Any]] = []
        today = datetime.now(timezone.utc)
        for back in range(days):
            day = f"{AUDIT_LOG}{today - timedelta(days=back):%Y-%m-%d}/"
            keys = sorted((info.key for info in self._catalog.store.iter_keys(day)), reverse=True)
            for key in keys[: limit - len(found)]:
                try:
                    found.append(json.loads(self._catalog.read(key)))
                except (ValueError, LookupError):
                    continue  # a damaged or vanished record: the others still show
            if len(found) >= limit:
                break
        return found
