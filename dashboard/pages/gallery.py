"""Gallery page: every generated asset, newest first, a page at a time; open one to preview,
switch versions, download or delete it."""

import streamlit as st

from dashboard.access import current_user
from dashboard.asset_view import show_asset
from dashboard.errors import explain
from dashboard.formatting import count, file_size, when
from dashboard.state import client_or_banner, small_object
from ray_jobs.errors import NotFound

PAGE_SIZE = 24
COLUMNS = 4
# Thumbnails are square: each card keeps a square box as wide as the card for its thumbnail before the
# image arrives, so the name and Open button below it do not move down when it loads (a click aimed
# before that shift landed beside the button). Streamlit's image wrappers otherwise take the width of
# the image, which is unknown until it arrives.
THUMBNAIL_BOX_STYLE = ('<style>[class*="st-key-gallery-card-"] [data-testid="stFullScreenFrame"] div { width: 100%; } '
                       '[class*="st-key-gallery-card-"] img { width: 100% !important; height: auto; '
                       'aspect-ratio: 1 / 1; object-fit: contain; }</style>')

st.title("Gallery")
client = client_or_banner()
if client is None:
    st.stop()
state = st.session_state
user = current_user()


def open_asset(asset_id: str) -> None:
    state.gallery_selected = asset_id


def close_asset() -> None:
    state.gallery_selected = None


def reset_paging() -> None:
    state.gallery_cursors = [None]


def ask_delete(asset_id: str) -> None:
    state.gallery_confirm_delete = asset_id


def keep_asset() -> None:
    state.gallery_confirm_delete = None


# The open dialog is kept in session state, so any rerun (not only the one that opened it) shows it.
@st.dialog("Delete this asset?", on_dismiss=keep_asset)
def confirm_delete(asset_id: str, name: str, versions: int) -> None:
    st.write(f"**{name}** and all {versions} version(s) with every file will be removed from the store. "
             "This cannot be undone.")
    keep, delete = st.columns(2)
    if keep.button("Keep it", width="stretch", on_click=keep_asset):
        st.rerun()
    if delete.button("Delete", type="primary", width="stretch"):
        try:  # the role is checked here, on the server, whatever the page showed
            removed = client.audited(user, "delete", asset_id, lambda: client.delete_asset(asset_id))
        except Exception as error:
            st.error(f"Could not delete it. {explain(error)}")
            return
        state.gallery_selected = state.gallery_confirm_delete = None
        state.gallery_notice = f"Deleted **{name}** ({removed} objects)."
        st.rerun()


def asset_detail(asset_id: str) -> None:
    st.button("← Back to the gallery", on_click=close_asset)
    try:
        manifest = client.get_asset(asset_id)
    except NotFound:
        st.warning("This asset is gone (deleted elsewhere?).")
        return
    except Exception as error:
        st.error(f"Could not read this asset. {explain(error)}")
        return
    st.subheader(manifest.name)
    numbers = [v.version for v in manifest.versions]
    version_column, regenerate_column, delete_column = st.columns([3, 1, 1], vertical_alignment="bottom")
    version = version_column.selectbox(
        "Version", sorted(numbers, reverse=True), key=f"version-{asset_id}",
        format_func=lambda n: f"v{n} — {when(manifest.version(n).created_at)}" + (" (latest)" if n == manifest.latest else ""),
    )
    if user.may("regenerate") and manifest.source_key:
        if regenerate_column.button("Regenerate", width="stretch", help="Build a new version from the source image"):
            regenerate(manifest)
    if user.may("delete"):
        delete_column.button("Delete asset…", width="stretch", on_click=ask_delete, args=(asset_id,))
    if state.get("gallery_confirm_delete") == asset_id:
        confirm_delete(asset_id, manifest.name, len(numbers))
    show_asset(client, manifest, version=version, key=f"gallery-{asset_id}")
    with st.expander("Manifest details"):
        st.caption(f"Asset id `{manifest.asset_id}` · generator `{manifest.generator}` · "
                   f"source image sha256 `{manifest.source_sha256[:16]}…`")
        st.json(manifest.to_dict(), expanded=1)


def regenerate(manifest) -> None:
    """A new version from the stored source image with today's generator (audited)."""
    def submit():
        image = client.read(manifest.source_key)
        return client.submit(image, manifest.name, manifest.settings, force=True, source_key=manifest.source_key)

    try:
        submission = client.audited(user, "regenerate", manifest.asset_id, submit)
    except Exception as error:
        st.error(f"Could not regenerate it. {explain(error)}")
        return
    st.success(f"Regenerating as job `{submission.job_id}`: follow it on the Jobs page; the new version "
               "appears here when it is done.")


def asset_card(manifest) -> None:
    latest = manifest.latest_version
    with st.container(border=True, key=f"gallery-card-{manifest.asset_id}"):
        thumbnail = latest.files.get("thumbnail")
        if thumbnail:
            try:
                # stored as PNG: said so, Streamlit sends the bytes as they are (its "auto" re-encodes
                # an opaque PNG as JPEG, 24 times per page)
                st.image(small_object(client, thumbnail.key), width="stretch", output_format="PNG")
            except Exception:
                st.caption("(thumbnail missing)")
        st.markdown(f"**{manifest.name}**")
        size = sum(f.size for f in latest.files.values())
        st.caption(f"{when(manifest.updated_at)}  \n{count((latest.quality or {}).get('faces'))} faces · "
                   f"{file_size(size)} · v{manifest.latest}")
        st.button("Open", key=f"open-{manifest.asset_id}", on_click=open_asset, args=(manifest.asset_id,),
                  width="stretch")


def asset_grid() -> None:
    state.setdefault("gallery_cursors", [None])
    search = st.text_input("Search by name", key="gallery_search", on_change=reset_paging,
                           placeholder="Type part of a name, then Enter")
    page_number = len(state.gallery_cursors)
    try:
        page = client.list_assets(limit=PAGE_SIZE, cursor=state.gallery_cursors[-1], name_contains=search or None)
    except Exception as error:
        st.error(f"**The asset store cannot be read.** {explain(error)}", icon="🚫")
        return
    if page.skipped:
        st.warning(f"{len(page.skipped)} damaged asset(s) left out of this page: " + "; ".join(page.skipped[:3]))
    if not page.items:
        st.info("No assets match this search." if search else
                "No assets yet. Make one on the Generate page.")
    else:
        st.html(THUMBNAIL_BOX_STYLE)
    for start in range(0, len(page.items), COLUMNS):
        for column, manifest in zip(st.columns(COLUMNS), page.items[start:start + COLUMNS]):
            with column:
                asset_card(manifest)
    newer, where, older = st.columns([1, 2, 1], vertical_alignment="center")
    if newer.button("← Newer", disabled=page_number == 1, width="stretch"):
        state.gallery_cursors.pop()
        st.rerun()
    where.caption(f"Page {page_number} · newest first · {len(page.items)} shown")
    if older.button("Older →", disabled=page.next_cursor is None, width="stretch"):
        state.gallery_cursors.append(page.next_cursor)
        st.rerun()


if notice := state.pop("gallery_notice", None):
    st.success(notice)
if state.get("gallery_selected"):
    asset_detail(state.gallery_selected)
else:
    asset_grid()
