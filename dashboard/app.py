"""Entry point of the dashboard: `streamlit run dashboard/app.py`. Layout and navigation only."""

import sys
from pathlib import Path

# Pages import `dashboard`, `ray_jobs` and `storage` from the repository root, wherever streamlit was started.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import streamlit as st  # noqa: E402

from dashboard.access import sidebar_user, sign_in_gate  # noqa: E402
from dashboard.state import sidebar_summary, warm_up_in_background  # noqa: E402

st.set_page_config(page_title="3D Asset Studio", page_icon="🧊", layout="wide")
user = sign_in_gate()  # with sign-in configured, nothing else renders before it

PAGES_DIR = Path(__file__).parent / "pages"
navigation = st.navigation(
    [
        st.Page(PAGES_DIR / "generate.py", title="Generate", icon=":material/view_in_ar:", default=True),
        st.Page(PAGES_DIR / "gallery.py", title="Gallery", icon=":material/grid_view:"),
        st.Page(PAGES_DIR / "jobs.py", title="Jobs", icon=":material/memory:"),
        st.Page(PAGES_DIR / "settings.py", title="Settings", icon=":material/settings:"),
    ]
)
warm_up_in_background()
sidebar_user(user)
sidebar_summary()
navigation.run()
