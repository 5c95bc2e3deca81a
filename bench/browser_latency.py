"""Slider change to updated figure, in Chromium, on the default view of the 2-D page.

    python -m bench.browser_latency [--changes 20]

Starts `streamlit run app.py` on a loopback port (the production setup: nothing disabled) and
opens the page in Debian's headless Chromium. Two sliders are timed, each on a fresh page (its
own session, the default view): Adam's learning rate, which reruns the engine, and Rosenbrock's
`b`, which reruns the engine and also redraws the map's surface image. Each change presses an
arrow key on the slider, moving it one notch down its log grid (lr 0.05, 0.04, 0.03, ...;
b 100, 80, 60, ...: every value new, so every change runs the engine). The time is measured in
the page, from the keydown event to the first animation frame in which the map shows new paths
(its Plotly figure's, or a released notch's runs drawn on the map's overlay over the figure's
hidden traces, which the component names in `dataset.shown`). Adam's lr slider is the page's own
(ui/live_slider): its notches are the lr preview's, so the map draws the exact run for the new
value from the preview at once and the server's rerun (its start and end are timed too) brings the charts and the table. Rosenbrock's
`b` is a live slider too: its preview holds every optimizer's run on the surface at each notch and
the surface's image, so the map shows them at once and the rerun brings the full-size image,
the charts and the table. The drag preview's frame time is measured on both sliders.
Target: median <= 1.3x the bare one-slider app's, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.app_server import streamlit_server  # noqa: E402
from tests.e2e.browser import (  # noqa: E402
    FIND_MAP,
    VIEWPORT,
    launch,
    open_app,
    panel,
    point_at_slider,
    sidebar,
    wait_idle,
    wait_whole,
)

RATIO_TARGET = 1.3  # slider release to updated map, against the bare app's floor
WARMUP = 3  # changes before timing: first-figure costs, the engine's kernels
# The timed sliders: name -> (title of the optimizer panel holding it, or None for the surface's
# controls; its label). Rosenbrock is the default view's surface.
SLIDERS = {"Adam's lr": ("5. Adam", "lr"), "Rosenbrock's b": (None, "b")}

# Arm the measurement: t0 at the next keydown (capture phase, before the slider sees it), t1 at
# the first animation frame whose map shows different paths (their names hold the lr, their
# last points move with the surface).
ARM_TEMPLATE = """() => {{
    const signature = () => {{
        const gd = ({find})();
        const paths = gd ? gd._fullData.filter(t => t.meta && t.meta.role === 'path') : [];
        const shown = document.querySelector('.ov-root');  // a released notch's runs drawn over the hidden traces
        return paths.map(t => t.name + ':' + t.x[t.x.length - 1] + ',' + t.y[t.y.length - 1]).join(';')
            + '|' + (shown ? shown.dataset.shown || '' : '');
    }};
    const before = signature();
    const probe = window.__latency = {{t0: null, t1: null, run: null, done: null}};
    window.addEventListener('keydown', () => {{ probe.t0 = performance.now(); }}, {{capture: true, once: true}});
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver((records, observer) => {{  // when the server starts and ends the script run
        if (probe.t0 === null) return;
        for (const record of records) {{  // a fast run's two changes may arrive in one callback
            const now = performance.now();
            if (record.oldValue !== 'running' && probe.run === null) probe.run = now;
            if (record.oldValue === 'running' && probe.run !== null) {{ probe.done = now; observer.disconnect(); return; }}
        }}
    }}).observe(app, {{attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state']}});
    const poll = () => {{
        if (probe.t0 !== null && signature() !== before) {{ probe.t1 = performance.now(); return; }}
        requestAnimationFrame(poll);
    }};
    requestAnimationFrame(poll);
}}"""
ARM = ARM_TEMPLATE.format(find=FIND_MAP)
BARE_FIND = "() => document.querySelector('.js-plotly-plot')"
# The floor: a bare Streamlit app with one slider and one Plotly chart, on the same server setup.
BARE_APP = """import numpy as np
import streamlit as st

v = st.slider("v", 0.0, 1.0, 0.5, 0.01)
x = np.linspace(0.0, 1.0, 500)
st.plotly_chart({"data": [{"type": "scatter", "x": x.tolist(), "y": (v * x).tolist(), "name": f"v={v}",
                           "meta": {"role": "path"}}]})
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Messages:
    """Counts the websocket messages the page receives from the server (each ForwardMsg: one
    element sent, a script-state change, ...) and their bytes."""

    def __init__(self, page):
        self.count, self.bytes = 0, 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._received))

    def _received(self, payload) -> None:
        self.count += 1
        self.bytes += len(payload or b"")

    def mark(self) -> tuple[int, int]:
        return self.count, self.bytes


MESSAGES: dict[int, Messages] = {}  # per page, by id(page)


def measure(page, key: str, arm: str = ARM) -> dict[str, float]:
    """One slider change: press `key` on the focused slider; times in ms from the keydown to the
    run's start ("run"), to the updated figure ("figure") and to the run's end ("done"). A run so
    short that the page never shows it running (the bare app's) counts as starting and ending at
    the updated figure."""
    page.evaluate(arm)
    counter = MESSAGES.get(id(page))
    before = counter.mark() if counter else (0, 0)
    page.keyboard.press(key)
    page.wait_for_function("() => window.__latency.t1 !== null && (window.__latency.done !== null"
                           " || (window.__latency.run === null && document.querySelector("
                           "'[data-test-script-state=\"notRunning\"]')))", timeout=60_000, polling=50)
    probe = page.evaluate("() => window.__latency")
    for field in ("run", "done"):
        probe[field] = probe["t1"] if probe[field] is None else probe[field]
    wait_idle(page)
    after = counter.mark() if counter else (0, 0)
    times = {name: probe[field] - probe["t0"] for name, field in (("run", "run"), ("figure", "t1"), ("done", "done"))}
    return {**times, "messages": after[0] - before[0], "kib": (after[1] - before[1]) / 1024}


def series(page, slider, changes: int, arm: str = ARM) -> list[dict[str, float]]:
    """`changes` timed notches down `slider` (a locator), after WARMUP notches up and back."""
    slider.focus()
    for _ in range(WARMUP):  # up and back: values the timed changes do not use
        measure(page, "ArrowRight", arm)
    for _ in range(WARMUP):
        measure(page, "ArrowLeft", arm)
    return [measure(page, "ArrowLeft", arm) for _ in range(changes)]


def report(name: str, timeline: list[dict[str, float]]) -> str:
    """One row of the table: the figure times' median, p95, min and max, then the medians of the
    run's start and end (ms from the keydown)."""
    times = [t["figure"] for t in timeline]
    run, done, messages, kib = (statistics.median(t[k] for t in timeline) for k in ("run", "done", "messages", "kib"))
    return (f"{name:<34}{statistics.median(times):8.1f}{percentile(times, 95):8.1f}{min(times):8.1f}"
            f"{max(times):8.1f}{run:12.1f}{done:10.1f}{messages:10.0f}{kib:9.0f}")


# --- the map component: playback, scrubbing, the lr preview ---------------------------------------

VIEW_JS = "document.querySelector('.ov-root').parentElement.__optvisView"


def playback_figures(page, seconds: float = 3.0) -> dict[str, float]:
    """Frames per second while playing, the scrubber's input-to-drawn latency, the preview's
    frame time (ms, median over dragging the lr preview across its range) and the JS time of
    drawing one playback frame."""
    page.evaluate(f"() => {{ const v = {VIEW_JS}; v.show(0); }}")
    page.locator(".ov-play").click()
    start = page.evaluate(f"() => [{VIEW_JS}.framesDrawn, performance.now()]")
    page.wait_for_timeout(seconds * 1000)
    end = page.evaluate(f"() => [{VIEW_JS}.framesDrawn, performance.now()]")
    page.locator(".ov-play").click()
    fps = (end[0] - start[0]) / ((end[1] - start[1]) / 1000)
    scrub = page.evaluate(f"""async () => {{
        const v = {VIEW_JS}, s = v.scrub, out = [];
        for (let i = 0; i < 40; i++) {{
            s.value = String((i * 37) % (v.frames.length)); const t0 = performance.now();
            s.dispatchEvent(new Event('input'));
            await new Promise(r => requestAnimationFrame(() => r()));  // the next painted frame
            out.push(performance.now() - t0);
        }}
        out.sort((a, b) => a - b); return out[Math.floor(out.length / 2)]; }}""")
    preview = drag_preview_ms(page, "adam_lr")
    frame_ms = float(page.evaluate(f"() => {VIEW_JS}.frameMs"))
    return {"fps": fps, "scrub_ms": scrub, "preview_ms": preview, "frame_ms": frame_ms}


ASKED = {"SGD's momentum": "opt1.sgd.momentum", "Rosenbrock's b": "surface.rosenbrock.b"}  # previewed on request


def preview_on_request_ms(page, slider_id: str) -> float:
    """ms from the pointer coming to the live slider `slider_id` until the map holds its preview
    (the browser asks the server for it: a rerun of the preview's fragment, then its file)."""
    wait_idle(page)
    start = page.evaluate("() => performance.now()")
    point_at_slider(page, slider_id)
    page.wait_for_function(f"() => !!{VIEW_JS}.entryFor({slider_id!r})", timeout=60_000, polling="raf")
    return page.evaluate("() => performance.now()") - start


def drag_preview_ms(page, suffix: str) -> float | None:
    """Median ms from a drag's input event to the next painted frame, dragging the live slider
    whose id ends with `suffix` across its range (no release); None without a preview."""
    return page.evaluate(f"""async (suffix) => {{
        const s = [...document.querySelectorAll('.ls-input')].find(e => e.id.endsWith(suffix));
        if (!s || !{VIEW_JS}.previewPaths) return null; const out = [], start = s.value;
        for (let j = 0; j <= Number(s.max); j++) {{
            s.value = String(j); const t0 = performance.now(); s.dispatchEvent(new Event('input'));
            await new Promise(r => requestAnimationFrame(() => r())); out.push(performance.now() - t0);
        }}
        s.value = start; s.dispatchEvent(new Event('input'));
        out.sort((a, b) => a - b); return out[Math.floor(out.length / 2)]; }}""", suffix)


SHOWS_VALUE = f"""(text) => {{  // ms from the last keydown until the map's path for Adam is the run at lr=text
    const probe = window.__burst;
    return new Promise((resolve) => {{
        const poll = () => {{
            const gd = ({FIND_MAP})();
            const shown = gd && gd.data.some(t => t.meta && t.meta.role === 'path' && t.name.startsWith('Adam (lr=' + text + ')'));
            if (shown) return resolve(performance.now() - probe.last);
            if (performance.now() - probe.last > 60000) return resolve(Infinity);  // never shown: reported, not a hang
            requestAnimationFrame(poll);
        }};
        poll();
    }});
}}"""


def burst(page, slider, presses: int = 10, gap_s: float = 0.1) -> tuple[float, float]:
    """`presses` arrow presses (gap_s apart) on Adam's lr `slider`: (s from the last press until the
    map shows the path of the last value, s until the server's run for it is drawn too)."""
    slider.focus()
    page.evaluate("() => { window.__burst = {last: 0}; window.addEventListener('keydown', () => "
                  "{ window.__burst.last = performance.now(); }, {capture: true}); }")
    for _ in range(presses):
        page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(gap_s * 1000)
    value = slider.get_attribute("aria-valuetext")
    shown = page.evaluate(SHOWS_VALUE, value) / 1000
    if shown == float("inf"):
        return shown, shown
    wait_idle(page)
    page.wait_for_function(f"() => {VIEW_JS}.root.dataset.ready === {VIEW_JS}.dataId && {VIEW_JS}.pendingRun === -1",
                           timeout=60_000)
    return shown, (page.evaluate("() => performance.now() - window.__burst.last")) / 1000


def first_view(browser, url: str) -> tuple[float, float, float]:
    """(s to the first words saying what is computed, s to the drawn map, s to the whole page:
    the run after the first view, ui/first_view.py, over) on a new session."""
    page = browser.new_page(viewport=VIEWPORT)
    start = page.evaluate("() => performance.now()")
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => document.body && /Optimizers on 2-D surfaces/.test(document.body.innerText)",
                           timeout=60_000, polling=20)
    words = page.evaluate("() => performance.now()")
    page.wait_for_selector(".ov-root[data-ready]", timeout=60_000)
    drawn = page.evaluate("() => performance.now()")
    wait_whole(page)
    whole = page.evaluate("() => performance.now()")
    page.close()
    return (words - start) / 1000, (drawn - start) / 1000, (whole - start) / 1000


def bare_floor(browser, changes: int) -> list[dict[str, float]]:
    """The slider-to-chart times of the bare one-slider app (BARE_APP), on its own server."""
    script = ROOT / "artifacts" / "bench_bare_app.py"
    script.parent.mkdir(exist_ok=True)
    script.write_text(BARE_APP)
    with streamlit_server(name="bench-bare-app", script=str(script.relative_to(ROOT))) as server:
        page = browser.new_page(viewport=VIEWPORT)
        MESSAGES[id(page)] = Messages(page)
        page.goto(server.url)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        wait_idle(page)
        slider = page.get_by_role("slider")
        timeline = series(page, slider, changes, ARM_TEMPLATE.format(find=BARE_FIND))
        page.close()
        firsts, words = [], []
        for _ in range(3):
            page = browser.new_page(viewport=VIEWPORT)
            start = page.evaluate("() => performance.now()")
            page.goto(server.url, wait_until="commit")
            page.wait_for_selector('[data-testid="stSlider"]', timeout=60_000)  # its first words: the slider's label
            words.append((page.evaluate("() => performance.now()") - start) / 1000)
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=60_000)
            firsts.append((page.evaluate("() => performance.now()") - start) / 1000)
            page.close()
    return timeline, statistics.median(firsts), statistics.median(words)


def server_drawn(changes: int) -> int:
    """The slider timings of the page with the map drawn by the server, and the bare app's."""
    with streamlit_server(env={"OPTVIS_MAP_COMPONENT": "0"}, name="bench-server-drawn") as server, \
            sync_playwright() as playwright:
        browser = launch(playwright)
        floor, _, _ = bare_floor(browser, changes)
        page = browser.new_page(viewport=VIEWPORT)
        MESSAGES[id(page)] = Messages(page)
        open_app(page, server.url)
        slider = panel(page, "5. Adam").locator('input[type="range"][aria-label="lr"]')
        timeline = series(page, slider, changes)
        browser.close()
    print(report("bare one-slider app (the floor)", floor))
    print(report("Adam's lr, server-drawn map", timeline))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--server-drawn", action="store_true",
                        help="time the page with the map component off (OPTVIS_MAP_COMPONENT=0), for comparison")
    args = parser.parse_args()
    if args.server_drawn:
        return server_drawn(args.changes)

    rows, medians, surface_preview_ms, asked = [], {}, None, {}
    with streamlit_server(name="bench-browser-latency") as server, sync_playwright() as playwright:
        browser = launch(playwright)
        floor, bare_first, bare_words = bare_floor(browser, args.changes)
        rows.append(report("bare one-slider app (the floor)", floor))
        medians["floor"] = statistics.median(t["figure"] for t in floor)
        open_app(browser.new_page(viewport=VIEWPORT), server.url)  # warm the server
        first = [first_view(browser, server.url) for _ in range(3)]
        for name, (panel_title, label) in SLIDERS.items():
            page = browser.new_page(viewport=VIEWPORT)  # a new session: the default view
            MESSAGES[id(page)] = Messages(page)
            open_app(page, server.url)
            scope = panel(page, panel_title) if panel_title else sidebar(page)
            slider = scope.locator(f'input[type="range"][aria-label="{label}"]')  # its accessible name is longer
            timeline = series(page, slider, args.changes)
            last = scope.get_by_label(f"{label} (exact)", exact=True).input_value()
            rows.append(report(f"{name} (last {last})", timeline))
            medians[name] = statistics.median(t["figure"] for t in timeline)
            if panel_title:  # the component's own figures, on this page
                play = playback_figures(page)
                burst_s = burst(page, slider)
            else:
                asked = {name: preview_on_request_ms(page, ident) for name, ident in ASKED.items()}
                surface_preview_ms = drag_preview_ms(page, "rosenbrock_b")
            page.close()
        browser.close()

    print(f"default view, each slider moved down {args.changes} notches on a fresh page, Chromium headless")
    print(f"{'slider change -> updated figure, ms':<34}{'median':>8}{'p95':>8}{'min':>8}{'max':>8}"
          f"{'run starts':>12}{'run over':>10}{'messages':>10}{'KiB':>9}")
    print("\n".join(rows))
    print("  (run starts / run over: medians from the keydown to the script run's start and end; messages, KiB:"
          " medians of what the server sent the page for the change, one message per element re-sent)")
    floor_ms = medians.pop("floor")
    for name, m in medians.items():
        print(f"{name}: {m:.1f} ms = {m / floor_ms:.2f}x the bare app's {floor_ms:.1f} ms "
              f"(target <= {RATIO_TARGET}x: {'met' if m <= RATIO_TARGET * floor_ms else 'NOT met'})")
    words = statistics.median(f[0] for f in first)
    drawn = statistics.median(f[1] for f in first)
    whole = statistics.median(f[2] for f in first)
    print(f"new session on a warm server (median of 3): words on screen after {words:.2f} s (target <= 1 s: "
          f"{'met' if words <= 1 else 'NOT met'}), map drawn after {drawn:.2f} s (target <= 3 s: "
          f"{'met' if drawn <= 3 else 'NOT met'}); the bare one-slider app shows its first words after {bare_words:.2f} s"
          f" and its chart after {bare_first:.2f} s on the same browser ({words / bare_words:.1f}x and "
          f"{drawn / bare_first:.1f}x); the whole page (the run after the first view) is over after {whole:.2f} s")
    print(f"playback {play['fps']:.1f} frames/s (target >= 30: {'met' if play['fps'] >= 30 else 'NOT met'}); "
          f"scrub to drawn frame {play['scrub_ms']:.1f} ms (target <= 50: {'met' if play['scrub_ms'] <= 50 else 'NOT met'}); "
          f"one frame's drawing {play['frame_ms']:.2f} ms")
    if play["preview_ms"] is not None:
        print(f"lr drag preview: {play['preview_ms']:.1f} ms per frame (target <= 33: "
              f"{'met' if play['preview_ms'] <= 33 else 'NOT met'})")
    for name, ms in asked.items():
        print(f"{name}'s preview, from the pointer coming to its slider until the map holds it: {ms:.0f} ms")
    if surface_preview_ms is not None:
        print(f"Rosenbrock's b drag preview (every optimizer's run and the surface's image): {surface_preview_ms:.1f} ms"
              f" per frame (target <= 33: {'met' if surface_preview_ms <= 33 else 'NOT met'})")
    print(f"burst of 10 presses 0.1 s apart on Adam's lr: the map shows the last value's run {burst_s[0]:.2f} s "
          f"after the last press (target <= 1.5 s: {'met' if burst_s[0] <= 1.5 else 'NOT met'}); the server's run "
          f"for it (charts, table) drawn after {burst_s[1]:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
