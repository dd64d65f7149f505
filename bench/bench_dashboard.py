"""Dashboard speed and memory, measured in a real headless Chromium (network cut off) against
`streamlit run dashboard/app.py` on loopback. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_dashboard.py [--loads 5] [--previews 20] [--assets 10000] [--generations 3]

Figures, side by side in one run (targets from the preview issue):
- first paint of each page against a one-line Streamlit app's (<= 1.2x); the Gallery with N assets.
  Beside it, the same page of a bare four-page app (titles only, same URLs): Streamlit's own cost
  of a page that is not at "/" (its frontend first looks for the server under the page's path and
  retries at the root 100 ms later), so what is left above that floor is this dashboard's
- 3D preview from the Gallery: click Open -> WebGL canvas painted, median and max; a 1M-face asset (<= 3 s)
- 3D preview visible after a generation completes: success text -> canvas painted
- Streamlit process RSS after 1, 10 and 20 previews in one session (<= 400 MB) and its slope over
  the last 10 (no growth per preview)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.harness.browser import (gallery_settled, local_store_env, offline_browser, painted_preview,  # noqa: E402
                                   streamlit_server, upload_received)
from bench.harness.scenes import object_image, publish_asset, textured_sphere  # noqa: E402

PAGES = {  # url path -> (title, a locator factory that says the page's content is drawn)
    "": ("Generate a 3D model", lambda page: page.get_by_role("button", name="Generate 3D Model")),
    "gallery": ("Gallery", lambda page: page.get_by_role("button", name="Open").first),
    "jobs": ("Jobs", lambda page: page.get_by_role("button", name="Start the local Ray cluster")),
    # the audit trail is drawn last, below the store checks (which run only when asked)
    "settings": ("Settings", lambda page: page.get_by_role("heading", name="Audit trail")),
}


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})"


def fill_store(store_dir: Path, total: int, previewable: int) -> tuple[float, list[tuple[str, str]]]:
    """`previewable` real assets (distinct textured meshes), then clones of one manifest up to
    `total`, written straight into the store as a gallery index entry plus a manifest each."""
    from storage import keys
    from storage.catalog import AssetCatalog
    from storage.local_store import LocalStore

    started = time.perf_counter()
    catalog = AssetCatalog(LocalStore(store_dir))
    template = publish_asset(catalog, object_image("disc", 64), "template").to_dict()
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    # A local store keeps key K in the file <root>/K: write the files directly (fast, no fsync).
    for number in range(total - previewable - 1):
        asset_id = hashlib.md5(f"clone-{number}".encode()).hexdigest()
        created = base + timedelta(seconds=number)
        stamp = created.isoformat().replace("+00:00", "Z")
        manifest = dict(template, asset_id=asset_id, name=f"clone-{number:05d}", created_at=stamp,
                        updated_at=stamp, source_sha256="0" * 64)
        for key, data in ((keys.manifest_key(asset_id), json.dumps(manifest).encode()),
                          (keys.index_key(created, asset_id, manifest["name"]), b"")):
            path = store_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    names = []
    if previewable:  # a large asset: its preview is decimated once, then kept by key
        big = publish_asset(catalog, object_image("star", 64), "large-1m-faces", mesh=textured_sphere(8))
        names.append((big.name, big.asset_id))
    for number in range(previewable):  # newest: the Gallery's first page
        mesh = textured_sphere(5, texture_px=512, seed=number + 1)
        manifest = publish_asset(catalog, object_image("ring", 64 + number), f"preview-{number:02d}", mesh=mesh)
        names.append((manifest.name, manifest.asset_id))
    return time.perf_counter() - started, names


def dashboard_memory_settings(env: dict[str, str]) -> dict[str, str]:
    """The allocator settings scripts/dashboard.sh gives the dashboard (values in `env` win)."""
    settings = {}
    for line in (REPO_ROOT / "scripts" / "dashboard-memory.env").read_text().splitlines():
        name, _, value = line.partition("=")
        if value and not name.startswith("#"):
            settings[name.strip()] = env.get(name.strip(), value.strip())
    return settings


@contextmanager
def bare_streamlit(workdir: Path, env: dict):
    """The floor under every figure: a one-line Streamlit app, same machine, same browser."""
    script = workdir / "hello.py"
    script.write_text('import streamlit as st\nst.title("Hello")\n')
    with streamlit_server(env, workdir / "hello.log", script=script) as (url, _):
        yield url


@contextmanager
def bare_multipage_streamlit(workdir: Path, env: dict):
    """The same four URLs and titles as the dashboard, each page a title only."""
    script = workdir / "pages.py"
    pages = ", ".join(f"st.Page(lambda: st.title({title!r}), title={title!r}, url_path={(path or 'generate')!r}"
                      f"{', default=True' if not path else ''})" for path, (title, _) in PAGES.items())
    script.write_text(f"import streamlit as st\nst.navigation([{pages}]).run()\n")
    with streamlit_server(env, workdir / "pages.log", script=script) as (url, _):
        yield url


def time_to_heading(context, url: str, heading: str):
    """(the open tab, seconds from navigating a fresh tab to `url` until `heading` is drawn, the
    perf_counter moment it started: later figures of the same load are measured from it)."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for(timeout=60_000)
    return page, time.perf_counter() - started, started


def first_paints(context, url: str, bare_url: str, pages_url: str, loads: int):
    """(bare app's first paints, per page: (title painted, content ready, the bare four-page app's
    same page painted)), each a fresh tab. Taken in turns, the bare app then every page of both
    apps, round after round, so a slower stretch of the machine weighs on all of them alike; the
    first round only fills the browser's cache and is dropped."""
    bare: list[float] = []
    figures: dict[str, tuple[list[float], list[float], list[float]]] = {
        path or "generate": ([], [], []) for path in PAGES}
    for round_number in range(loads + 1):
        page, painted, _ = time_to_heading(context, bare_url, "Hello")
        page.close()
        if round_number:
            bare.append(painted)
        for path, (title, ready) in PAGES.items():
            page, floor, _ = time_to_heading(context, f"{pages_url}/{path}", title)
            page.close()
            page, painted, started = time_to_heading(context, f"{url}/{path}", title)
            ready(page).wait_for(timeout=60_000)
            complete = time.perf_counter() - started
            page.close()
            if round_number:
                painted_times, ready_times, floor_times = figures[path or "generate"]
                painted_times.append(painted)
                ready_times.append(complete)
                floor_times.append(floor)
    return bare, figures


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def idle(page) -> None:
    """Wait until Streamlit has finished the current run (its "running" indicator is gone)."""
    page.locator("[data-testid=stStatusWidget]").wait_for(state="hidden", timeout=60_000)


def previews(context, url: str, pid: int, names: list[tuple[str, str]]) -> tuple[list[float], list[float]]:
    """Open each asset from the Gallery in one session; time to a painted canvas, RSS after each."""
    page = context.new_page()
    page.goto(f"{url}/gallery")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    times, rss, retries = [], [rss_mb(pid)], 0
    for name, asset_id in names:
        open_button = page.locator(f".st-key-open-{asset_id} button")  # the card's button, keyed by asset id
        open_button.wait_for(timeout=60_000)
        gallery_settled(page)
        idle(page)
        started = time.perf_counter()
        open_button.click()
        heading = page.get_by_role("heading", name=name)
        try:
            heading.wait_for(timeout=15_000)
        except PlaywrightTimeout:  # a click that landed while a rerun was starting: counted, then retried
            retries += 1
            open_button.click()
            heading.wait_for(timeout=60_000)
        assert painted_preview(page)["painted_pixels"] > 1000
        times.append(time.perf_counter() - started)
        rss.append(rss_mb(pid))
        page.get_by_role("button", name="← Back to the gallery").click()
        page.get_by_role("button", name="Open").first.wait_for(timeout=60_000)
    page.close()
    if retries:
        print(f"  ({retries} Open click(s) had to be repeated)")
    return times, rss


def preview_after_generation(context, url: str, workdir: Path, count: int) -> tuple[list[float], list[float]]:
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Generate 3D Model").wait_for(timeout=60_000)
    to_preview, job_times = [], []
    for number in range(count):
        image = workdir / f"generate-{number}.png"
        image.write_bytes(object_image(("figure", "star", "parts")[number % 3], 192 + number, alpha=True))
        page.locator("input[type=file]").set_input_files(image)
        upload_received(page, image.name)
        started, clicked_epoch_ms = time.perf_counter(), time.time() * 1000
        page.get_by_role("button", name="Generate 3D Model").click()
        page.get_by_text(f"{image.name} is stored and ready to download").wait_for(timeout=600_000)
        done = time.perf_counter()
        # Only the new model's frame counts: the click removed the previous model's preview.
        assert painted_preview(page, newer_than_ms=clicked_epoch_ms)["painted_pixels"] > 1000
        to_preview.append(time.perf_counter() - done)
        job_times.append(done - started)
    page.close()
    return to_preview, job_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5, help="loads per page for first paint")
    parser.add_argument("--previews", type=int, default=20)
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--generations", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fill_s, names = fill_store(workdir / "store", args.assets, args.previews)
        print(f"store: {args.assets} assets ({args.previews} previewable) written in {fill_s:.1f} s")
        env = local_store_env(workdir / "store", ASSET_STUDIO_WORKERS="1")
        env.update(dashboard_memory_settings(env))  # as scripts/dashboard.sh starts the dashboard
        with streamlit_server(env, workdir / "streamlit.log") as (url, process), sync_playwright() as playwright, \
                offline_browser(playwright) as context:
            started = time.perf_counter()
            page = context.new_page()
            page.goto(url)
            page.get_by_role("button", name="Generate 3D Model").wait_for(timeout=120_000)
            print(f"cold start (server up -> Generate page ready): {time.perf_counter() - started:.2f} s")
            page.close()
            print(f"\nfirst paint, warm server, {args.loads} fresh tabs per page, pages in turns (title / content ready):")
            with bare_streamlit(workdir, env) as bare_url, bare_multipage_streamlit(workdir, env) as pages_url:
                bare, figures = first_paints(context, url, bare_url, pages_url, args.loads)
            print(f"  bare one-line Streamlit app (floor)  {median_ms(bare)}")
            for name, (painted, complete, floor) in figures.items():
                ratio = statistics.median(painted) / statistics.median(bare)
                same_url = statistics.median(painted) / statistics.median(floor)
                print(f"  {name:9s} title {median_ms(painted)}  = {ratio:.2f}x bare, {same_url:.2f}x the bare "
                      f"app's page at this URL\n  {'':9s} ready {median_ms(complete)}\n"
                      f"  {'':9s} bare four-page app, this URL {median_ms(floor)}  = "
                      f"{statistics.median(floor) / statistics.median(bare):.2f}x bare")
            print(f"  (gallery 'ready' = first page of 24 cards from {args.assets} assets)")

            times, rss = previews(context, url, process.pid, names)
            large_s, times, rss = times[0], times[1:], rss[:1] + rss[2:]  # the 1M-face asset went first
            last = rss[-10:]
            slope = statistics.linear_regression(range(len(last)), last).slope
            print(f"\npreview of a 1M-face asset (click Open -> canvas painted): {large_s:.2f} s")
            print(f"preview from the Gallery (click Open -> canvas painted): {median_ms(times)}")
            print(f"streamlit RSS: before {rss[0]:.0f} MB, after 1 preview {rss[1]:.0f} MB, after 10 "
                  f"{rss[min(10, len(rss) - 1)]:.0f} MB, after {len(rss) - 1} {rss[-1]:.0f} MB; slope over the "
                  f"last 10 {slope:+.2f} MB/preview")
            print("  RSS after each preview (MB): " + " ".join(f"{value:.0f}" for value in rss[1:]))

            if args.generations:
                to_preview, job_times = preview_after_generation(context, url, workdir, args.generations)
                print(f"\ngeneration (click -> success text, local Ray started on the first): {median_ms(job_times)}")
                print(f"preview visible after completion (success text -> canvas painted): {median_ms(to_preview)}")
                print(f"streamlit RSS after the generations: {rss_mb(process.pid):.0f} MB")
            print(f"\nrequests to anything but 127.0.0.1 (aborted): {len(context.blocked)}")


if __name__ == "__main__":
    main()
