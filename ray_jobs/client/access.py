"""Who may do what: roles from configuration, checked before every action a front performs.

Roles, each including the one before: **viewer** (browse, preview, download), **editor** (also
generate, regenerate, cancel), **admin** (also delete, see settings and the audit trail).

`STUDIO_ADMINS` and `STUDIO_EDITORS` list who is what: emails or `@domain` entries, separated by
commas or spaces. Everyone else who signed in is a viewer. Without sign-in configured the
dashboard is reachable from this machine only, and its user gets `STUDIO_ANONYMOUS_ROLE`
(default admin: it is your own machine).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from ray_jobs.errors import StudioError


class Role(IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


# The least role each action needs.
ACTIONS: dict[str, Role] = {
    "browse": Role.VIEWER, "download": Role.VIEWER,
    "generate": Role.EDITOR, "regenerate": Role.EDITOR, "cancel": Role.EDITOR,
    "delete": Role.ADMIN, "settings": Role.ADMIN, "test settings": Role.ADMIN, "audit": Role.ADMIN,
}


class NotAllowed(StudioError):
    """The signed-in user's role does not allow this action."""


@dataclass(frozen=True)
class User:
    name: str  # the email, or who runs the CLI
    role: Role
    signed_in: bool  # False: the open, local-only dashboard (or the CLI)

    def may(self, action: str) -> bool:
        return self.role >= ACTIONS[action]

    def require(self, action: str) -> None:
        """NotAllowed, saying who may, unless this user may do `action`."""
        if not self.may(action):
            needed = ACTIONS[action].label
            raise NotAllowed(f"{self.name} is a {self.role.label} and may not {action}",
                             f"Ask an admin to add you to STUDIO_{needed.upper()}S to {action}.")


def _entries(text: str | None) -> list[str]:
    return [entry.lower() for entry in re.split(r"[\s,;]+", text or "") if entry]


def _listed(email: str, entries: list[str]) -> bool:
    email = email.lower()
    return any(email == entry or (entry.startswith("@") and email.endswith(entry)) for entry in entries)


def role_for(email: str, environ: Mapping[str, str] | None = None) -> Role:
    """The role configuration gives a signed-in user."""
    env = os.environ if environ is None else environ
    if _listed(email, _entries(env.get("STUDIO_ADMINS"))):
        return Role.ADMIN
    if _listed(email, _entries(env.get("STUDIO_EDITORS"))):
        return Role.EDITOR
    return Role.VIEWER


def anonymous_user(environ: Mapping[str, str] | None = None) -> User:
    """The user of a dashboard without sign-in (local only), or of the CLI: named from the environment."""
    env = os.environ if environ is None else environ
    wanted = (env.get("STUDIO_ANONYMOUS_ROLE") or "admin").strip().upper()
    if wanted not in Role.__members__:
        raise StudioError(f"STUDIO_ANONYMOUS_ROLE={wanted.lower()!r} is not a role",
                          "Use viewer, editor or admin.")
    name = env.get("STUDIO_USER") or env.get("USER") or env.get("LOGNAME") or "local user"
    return User(name=name, role=Role[wanted], signed_in=False)
