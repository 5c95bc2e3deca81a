"""A new session's first view: the map first, the rest of the page once the map is drawn.

A browser handles a run's elements in order, but the 2-D page's ~150 elements below and beside
the map (the theory panel, sweeps, results table and charts, update rules, code) load their own
scripts and render in the same frames as the map's component, which then waits for them: on a
new session the map appeared after about 7 s on a quiet machine, against 2.5 s for a bare
one-chart app. So a browser session's first run draws the header and the map, and says what
follows; the map component, once it has drawn, asks for the next run (its "drawn" trigger),
which draws the whole page. The sidebar's controls (two dozen slider components) and the drag
preview wait for that run too (`deferred`): rendered in the map's frames they held its first
draw back (bench/browser_latency.py's new session). Where the first run shows no map (an error,
no optimizer), nothing would ask for the rest: that run draws it all. Only the first run of a
session is cut, and only for a browser (its User-Agent): a client that runs no script (AppTest,
the load tests' websocket sessions) would never ask for the rest, so it gets the whole page at
once. Plotly.js starts
loading with the page's first element (`plotly_early`), not when the map's module first runs.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
SEEN = "first_view.seen"  # set by the first run of a session
ss = st.session_state


def _is_browser() -> bool:
    """Whether this session's client is a web browser: it runs the map component's script."""
    try:
        agent = st.context.headers.get("User-Agent", "") or ""
    except Exception:  # no request behind this run (bare mode, AppTest)
        return False
    return agent.startswith("Mozilla/")


def start_run() -> None:
    """Call once at the top of each run of the page: decides whether this run is cut."""
    ss["first_view.cut"] = SEEN not in ss and _is_browser()
    ss["first_view.deferred"] = False
    ss[SEEN] = True


def cut() -> bool:
    """Whether this run draws only the first view (the map asks for the rest once drawn)."""
    return bool(ss.get("first_view.cut"))


def map_sent() -> None:
    """Call where a cut run has sent the map: the rest of the page, the sidebar's controls
    included, waits for the run the map asks for once drawn."""
    ss["first_view.deferred"] = True


def deferred() -> bool:
    """Whether this run leaves the sidebar's controls and the drag preview to the next run: it is
    cut and has sent the map, which will ask for that run."""
    return bool(ss.get("first_view.deferred"))


def plotly_early() -> str:
    """HTML for st.html(unsafe_allow_javascript=True) that starts loading Plotly.js at once, through
    the same loader (and promise) as the components' (ui/plotly_loader.js)."""
    loader = (HERE / "plotly_loader.js").read_text()
    return "<script>(() => {\n" + loader + "\nloadPlotly().catch(() => {});\n})();</script>"
