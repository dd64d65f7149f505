"""Generate page: pick images, choose settings, press "Generate 3D Model", watch, preview, download."""

import streamlit as st

from dashboard import generation
from dashboard.asset_view import FORMAT_LABELS, show_asset
from dashboard.access import allowed_or_say, current_user
from dashboard.errors import explain
from dashboard.generator_form import pick_generator
from dashboard.progress_view import show_progress
from dashboard.state import client_or_banner, connect_cluster, small_object, source_preview, store_label
from ray_jobs.client import IMAGE_SUFFIXES, MODEL_FORMATS

IMAGE_TYPES = [suffix.lstrip(".") for suffix in IMAGE_SUFFIXES]
STORE_PICKS_PER_PAGE = 12
DONE_MESSAGE = "✅ 3D generation completed successfully!"

st.title("Generate a 3D model")
st.caption("Each image becomes a textured 3D model (GLB) stored next to it. A model already made from the "
           "same image with the same settings is shown at once instead of being made again.")

client = client_or_banner()
if client is None:
    st.stop()
user = current_user()
runs: list[generation.Run] = st.session_state.setdefault("generate_runs", [])
busy = any(run.active for run in runs)


def store_picker() -> None:
    """The store's source images with a checkbox each; what is ticked is kept in
    `store_picks` (key -> name), so it stays chosen while the other tab is open."""
    picks: dict[str, str] = st.session_state.setdefault("store_picks", {})

    def toggle(key: str, name: str) -> None:
        if st.session_state[f"pick-{key}"]:
            picks[key] = name
        else:
            picks.pop(key, None)

    search = st.text_input("Search source images by name", key="pick_search", placeholder="e.g. chair")
    try:
        images, _ = client.source_images(limit=STORE_PICKS_PER_PAGE, name_contains=search or None)
    except Exception as error:
        st.error(f"Could not list the store's images. {explain(error)}")
        return
    if not images:
        st.info("No source images in the store yet (images/uploaded/, images/generated/). Upload one instead.")
        return
    for column, image in zip(st.columns(4) * 3, images):
        with column:
            try:
                preview = source_preview(client, image.key)
            except Exception as error:
                st.caption(f"(cannot be read. {explain(error)})")
            else:
                if preview is None:
                    st.caption("(this file cannot be shown as an image)")
                else:
                    st.image(preview, width="stretch", output_format="PNG")
            st.checkbox(image.name, value=image.key in picks, key=f"pick-{image.key}", on_change=toggle,
                        args=(image.key, image.name))


def picked_sources() -> list[generation.SourceInput]:
    """The store images ticked in the store tab, whichever tab is open now."""
    picked = []
    for key, name in list(st.session_state.get("store_picks", {}).items()):
        try:
            picked.append(generation.SourceInput(name, small_object(client, key), key))
        except Exception as error:
            st.session_state.store_picks.pop(key)
            st.warning(f"{name} can no longer be read from the store and was unticked. {explain(error)}")
    return picked


sources_column, settings_column = st.columns([2, 1], gap="large")
with sources_column:
    # The store tab lists the store and draws its images only while it is open: not on every
    # load and rerun of this page. The uploader is always drawn: a widget not drawn drops its files.
    upload_tab, store_tab = st.tabs(["Upload images", "Pick from the store"], key="source_tab", on_change="rerun")
    with upload_tab:
        uploads = st.file_uploader("Product or concept images (one object each, plain background works best)",
                                   type=IMAGE_TYPES, accept_multiple_files=True, key="uploads")
    if store_tab.open:
        with store_tab:
            store_picker()
    picked = picked_sources()
with settings_column:
    generator_name, generator_settings = pick_generator(client)
    output_format = st.selectbox("Output format", MODEL_FORMATS, format_func=lambda fmt: FORMAT_LABELS[fmt])
    generate = (allowed_or_say(user, "generate", "generating models")
                and st.button("Generate 3D Model", type="primary", disabled=busy, width="stretch"))

inputs = [generation.SourceInput(upload.name, upload.getvalue()) for upload in uploads or []] + picked
if inputs:  # what the server has received: an upload still on its way is not listed yet
    with sources_column:
        shown = ", ".join(item.name for item in inputs[:5])
        st.caption(f"Ready to generate: {shown}" + (f" and {len(inputs) - 5} more" if len(inputs) > 5 else ""))
if generate and not user.may("generate"):  # checked again here: a button is not a guard
    st.error(f"You are a {user.role.label} and may not generate models. Ask an admin.")
elif generate:
    if not inputs:
        st.warning("Upload an image or pick one from the store first.")
    else:
        settings = {"generator": generator_name, **generator_settings}
        runs = generation.check_all(client, inputs, settings)
        st.session_state.generate_runs = runs
        if any(run.state == "submitting" for run in runs):
            with st.status("Sending the new images to the cluster…", expanded=True) as submitting:
                generation.submit_missing(client, runs, inputs, settings, lambda: connect_cluster(client),
                                          on_event=lambda run, event: submitting.write(f"{run.name}: {event.message}"))
                submitting.update(label="Sent to the cluster", state="complete", expanded=False)


def finished_view(run: generation.Run) -> None:
    if run.state == "exists":
        st.success(f"✅ 3D model already exists in {store_label(client.storage_settings)}!  \n"
                   f"**{run.name}** was made before with these settings.")
    elif run.state == "done":
        st.success(f"{DONE_MESSAGE}  \n**{run.name}** is stored and ready to download.")
    elif run.state == "cancelled":
        st.warning(f"Generation of **{run.name}** was cancelled. Press Generate 3D Model to start it again.")
    else:
        st.error(f"**Generation failed for {run.name}.** {run.error}")


def live_progress() -> None:
    for run in st.session_state.generate_runs:
        if run.active and run.job_id:
            generation.refresh(client, run)
    for index, run in enumerate(st.session_state.generate_runs):
        if not run.active:
            continue
        with st.container(border=True):
            show_progress(run.name, run.state, run.percent, run.stage, run.message, run.events,
                          started_at=run.started_at)
            if run.job_id and st.button("Cancel", key=f"cancel-{run.job_id}-{index}"):
                generation.cancel(client, run)
    if not any(run.active for run in st.session_state.generate_runs):
        st.rerun()  # everything finished: draw the results outside this fragment


runs = st.session_state.generate_runs
if runs:
    st.subheader("Results")
    if any(run.active for run in runs):
        # Poll the jobs' actor state twice a second; only this part of the page reruns.
        st.fragment(live_progress, run_every=0.5)()
    for run in runs:
        if not run.active:
            with st.container(border=True):
                finished_view(run)
                if run.events:
                    show_progress(run.name, run.state, run.percent, run.stage, run.message, run.events)
    ready = [run for run in runs if run.manifest is not None]
    if ready:
        chosen = ready[0]
        if len(ready) > 1:
            chosen = st.selectbox("Show model", ready, format_func=lambda run: run.name)
        st.markdown(f"#### {chosen.name}")
        show_asset(client, chosen.manifest, preferred_format=output_format, key=f"generate-{chosen.asset_id}")
