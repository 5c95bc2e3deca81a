"""Slider change to updated figure, in Chromium, on the default view of the 2-D page.

    python -m bench.browser_latency [--changes 20]

Starts `streamlit run app.py` on a loopback port (the production setup: nothing disabled) and
opens the page in Debian's headless Chromium. Two sliders are timed, each on a fresh page (its
own session, the default view): Adam's learning rate, which reruns the engine, and Rosenbrock's
`b`, which reruns the engine and also redraws the map's surface image. Each change presses an
arrow key on the slider, moving it one notch down its log grid (lr 0.05, 0.04, 0.03, ...;
b 100, 80, 60, ...: every value new, so every change runs the engine). The time is measured in
the page, from the keydown event to the first animation frame in which the map's Plotly figure
holds new paths: the server rerun, the transfer, and Plotly's redraw. Target: median <= 300 ms.
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
from tests.e2e.browser import FIND_MAP, VIEWPORT, launch, open_app, panel, sidebar, wait_idle  # noqa: E402

TARGET_MS = 300.0
WARMUP = 3  # changes before timing: first-figure costs, the engine's kernels
# The timed sliders: name -> (title of the optimizer panel holding it, or None for the surface's
# controls; its label). Rosenbrock is the default view's surface.
SLIDERS = {"Adam's lr": ("5. Adam", "lr"), "Rosenbrock's b": (None, "b")}

# Arm the measurement: t0 at the next keydown (capture phase, before the slider sees it), t1 at
# the first animation frame whose map shows different paths (their names hold the lr, their
# last points move with the surface).
ARM = f"""() => {{
    const signature = () => {{
        const gd = ({FIND_MAP})();
        const paths = gd ? gd._fullData.filter(t => t.meta && t.meta.role === 'path') : [];
        return paths.map(t => t.name + ':' + t.x[t.x.length - 1] + ',' + t.y[t.y.length - 1]).join(';');
    }};
    const before = signature();
    const probe = window.__latency = {{t0: null, t1: null, run: null, done: null}};
    window.addEventListener('keydown', () => {{ probe.t0 = performance.now(); }}, {{capture: true, once: true}});
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver((_, observer) => {{  // when the server starts and ends the script run
        const state = app.getAttribute('data-test-script-state');
        if (probe.t0 === null) return;
        if (state === 'running' && probe.run === null) probe.run = performance.now();
        if (state === 'notRunning' && probe.run !== null) {{ probe.done = performance.now(); observer.disconnect(); }}
    }}).observe(app, {{attributes: true, attributeFilter: ['data-test-script-state']}});
    const poll = () => {{
        if (probe.t0 !== null && signature() !== before) {{ probe.t1 = performance.now(); return; }}
        requestAnimationFrame(poll);
    }};
    requestAnimationFrame(poll);
}}"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(page, key: str) -> dict[str, float]:
    """One slider change: press `key` on the focused slider; times in ms from the keydown to the
    run's start ("run"), to the updated figure ("figure") and to the run's end ("done")."""
    page.evaluate(ARM)
    page.keyboard.press(key)
    page.wait_for_function("() => window.__latency.t1 !== null && window.__latency.done !== null",
                           timeout=60_000, polling=50)
    probe = page.evaluate("() => window.__latency")
    wait_idle(page)
    return {name: probe[field] - probe["t0"] for name, field in (("run", "run"), ("figure", "t1"), ("done", "done"))}


def series(page, slider, changes: int) -> list[dict[str, float]]:
    """`changes` timed notches down `slider` (a locator), after WARMUP notches up and back."""
    slider.focus()
    for _ in range(WARMUP):  # up and back: values the timed changes do not use
        measure(page, "ArrowRight")
    for _ in range(WARMUP):
        measure(page, "ArrowLeft")
    return [measure(page, "ArrowLeft") for _ in range(changes)]


def report(name: str, timeline: list[dict[str, float]]) -> str:
    """One row of the table: the figure times' median, p95, min and max, then the medians of the
    run's start and end (ms from the keydown)."""
    times = [t["figure"] for t in timeline]
    run, done = (statistics.median(t[k] for t in timeline) for k in ("run", "done"))
    return (f"{name:<34}{statistics.median(times):8.1f}{percentile(times, 95):8.1f}{min(times):8.1f}"
            f"{max(times):8.1f}{run:12.1f}{done:10.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()

    rows, medians = [], {}
    with streamlit_server(name="bench-browser-latency") as server, sync_playwright() as playwright:
        browser = launch(playwright)
        for name, (panel_title, label) in SLIDERS.items():
            page = browser.new_page(viewport=VIEWPORT)  # a new session: the default view
            open_app(page, server.url)
            scope = panel(page, panel_title) if panel_title else sidebar(page)
            slider = scope.locator(f'input[type="range"][aria-label="{label}"]')  # its accessible name is longer
            timeline = series(page, slider, args.changes)
            last = scope.get_by_label(f"{label} (exact)", exact=True).input_value()
            rows.append(report(f"{name} (last {last})", timeline))
            medians[name] = statistics.median(t["figure"] for t in timeline)
            page.close()
        browser.close()

    print(f"default view, each slider moved down {args.changes} notches on a fresh page, Chromium headless")
    print(f"{'slider change -> updated figure, ms':<34}{'median':>8}{'p95':>8}{'min':>8}{'max':>8}"
          f"{'run starts':>12}{'run over':>10}")
    print("\n".join(rows))
    print("  (run starts / run over: medians from the keydown to the script run's start and end)")
    print(f"target median <= {TARGET_MS:.0f} ms: "
          + ", ".join(f"{name} {'met' if m <= TARGET_MS else 'NOT met'}" for name, m in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
