"""Sign-in and roles on the dashboard: Streamlit's own `st.login()` with the organisation's OpenID
Connect provider (the `[auth]` section of `.streamlit/secrets.toml`), roles from configuration.

With `[auth]` configured, nothing but the sign-in screen renders before sign-in. Without it the
dashboard is meant for this machine only (scripts/dashboard.sh binds 127.0.0.1) and says so.
Every page checks the role again right before each action (`current_user().require(...)`), so a
hidden button is never the only guard.
"""

from __future__ import annotations

import streamlit as st

from ray_jobs.client.access import Role, User, anonymous_user, role_for


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all (FileNotFoundError, or Streamlit's own parse error)
        return False


def current_user() -> User:
    """The signed-in user with their role; the local user when sign-in is not configured."""
    if not auth_configured():
        return anonymous_user()
    if not st.user.is_logged_in:
        return User(name="nobody", role=Role.VIEWER, signed_in=False)  # never reaches an action: the gate stops first
    email = str(st.user.get("email") or st.user.get("sub") or "")
    return User(name=email, role=role_for(email), signed_in=True)


def sign_in_gate() -> User:
    """Before any page: the sign-in screen (and stop) when sign-in is configured and nobody is signed in."""
    if auth_configured() and not st.user.is_logged_in:
        # the only page there is until sign-in: no other page is even listed (nor reachable by its URL)
        st.navigation([st.Page(_sign_in_page, title="Sign in", url_path="sign-in")], position="hidden").run()
        st.stop()
    return current_user()


def _sign_in_page() -> None:
    st.title("3D Asset Studio")
    st.write("Sign in with your organisation's account to browse, generate and download 3D assets.")
    st.button("Sign in", type="primary", on_click=st.login)


def sidebar_user(user: User) -> None:
    with st.sidebar:
        if user.signed_in:
            st.caption(f"Signed in as **{user.name}** ({user.role.label})")
            st.button("Sign out", on_click=st.logout, key="sign-out")
        else:
            st.caption(f"⚠️ No sign-in configured: open to anyone on this machine (as {user.role.label}). "
                       "See the README to add sign-in.")


def allowed_or_say(user: User, action: str, what: str) -> bool:
    """Whether `user` may do `action`; when not, one line saying who may (shown in place of the control)."""
    if user.may(action):
        return True
    st.info(f"You are a {user.role.label}: {what} needs the {_needed(action)} role. Ask an admin.", icon="🔒")
    return False


def _needed(action: str) -> str:
    from ray_jobs.client.access import ACTIONS

    return ACTIONS[action].label
