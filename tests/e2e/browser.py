"""Driving the app in Debian's Chromium as a person would: widgets by their labels, the map by
pixels, and what the page shows read back from the Plotly figures and tables in it.

Shared by the browser tests and bench/browser_latency.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own browser download does not work here
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1100}
TIMEOUT_S = 60.0  # one rerun of the page, including a cold engine run, on a busy 2-core machine

# The 2-D map: the map component's figure (ui/map_component.js), or the server-drawn Plotly
# figure with the invisible click grid (meta.role "click") when the component is off.
FIND_MAP = """() => document.querySelector('.ov-map.js-plotly-plot') || [...document.querySelectorAll('.js-plotly-plot')]
    .find(gd => gd._fullData && gd.data && gd.data.some(t => t.meta && t.meta.role === 'click'))"""

# The map component's view object (its playback state and decoded data).
VIEW = "(document.querySelector('.ov-root') || {}).parentElement?.__optvisView"

# The map's marks, from _fullData, where Plotly has decoded the base64 arrays the server sends.
READ_MAP = f"""() => {{
    const gd = ({FIND_MAP})();
    if (!gd) return null;
    const roles = new Set(['path', 'start', 'end', 'diverged', 'playback', 'minimum', 'saddle']);
    const out = gd._fullData.filter(t => t.meta && roles.has(t.meta.role)).map(t => ({{
        role: t.meta.role, config: t.meta.config ?? null, name: t.name, showlegend: t.showlegend,
        x: Array.from(t.x || []), y: Array.from(t.y || []),
    }}));
    const view = {VIEW};
    if (view && view.frames && view.root.dataset.ready === view.dataId) {{
        // the component's playback markers, as the server-drawn map names its playback traces
        const step = view.frames[view.frame];
        view.runs.forEach((r, k) => out.push({{role: 'playback', config: k, name: `${{r.label}} at step ${{step}}`,
            showlegend: false, x: [r.path[2 * view.frame]], y: [r.path[2 * view.frame + 1]]}}));
    }} else if (view) {{
        return null;  // a new run is being drawn
    }}
    return out;
}}"""

# Pixel (in the page) of a data point (x, y) of the map: the axes' own data-to-pixel maps.
MAP_PIXEL = f"""([x, y]) => {{
    const gd = ({FIND_MAP})();
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
    return [box.left + xa._offset + xa.l2p(x), box.top + ya._offset + ya.l2p(y)];
}}"""

# Every data grid's accessible table (what st.dataframe draws on a canvas) as header + rows.
READ_TABLES = """() => [...document.querySelectorAll('[data-testid="stDataFrame"] table')].map(t => ({
    header: [...t.querySelectorAll('thead th')].map(c => c.textContent),
    rows: [...t.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(c => c.textContent)),
}))"""

# Streamlit's own end-to-end tests wait on these attributes of the app's root element.
IDLE = """() => !!document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]'
                                      + '[data-test-connection-state="CONNECTED"]')
    && !document.querySelector('[data-testid="stStatusWidget"]') && !document.querySelector('[data-stale="true"]')"""


def launch(playwright):
    """Headless Chromium from the Debian package."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)


# --- waiting --------------------------------------------------------------------------------------


def wait_until(read: Callable[[], Any], check: Callable[[Any], bool], what: str, timeout: float = TIMEOUT_S):
    """Poll read() until check(value) holds; return that value, or fail saying `what` and the last value.

    A check that raises on a value (a page half redrawn) counts as not holding yet.
    """
    deadline = time.monotonic() + timeout
    while True:
        value, problem = read(), None
        try:
            if value is not None and check(value):
                return value
        except (AssertionError, LookupError, TypeError, ValueError, AttributeError) as exc:
            problem = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                                 + (f" ({type(problem).__name__}: {problem})" if problem else "")
                                 + f"; last seen: {str(value)[:2000]}")
        time.sleep(0.05)


def wait_idle(page, timeout: float = TIMEOUT_S) -> None:
    """The script run is over (connected, not running, no "Running..." widget, no stale element).

    Right after an action the run may not have started yet: wait first for what the action
    changes (settle), then for this."""
    page.wait_for_function(IDLE, timeout=timeout * 1e3, polling=100)


def wait_whole(page, timeout: float = TIMEOUT_S) -> None:
    """The run is over and the page is whole: a new session's first view (the map, ui/first_view.py)
    has been followed by the run that draws the rest, the sidebar's controls drawn."""
    wait_idle(page, timeout)
    page.wait_for_function("() => !document.querySelector('.st-key-rest_pending')", timeout=timeout * 1e3, polling=100)
    wait_idle(page, timeout)
    # the sidebar's controls come with the rest; the browser may still be rendering them
    page.wait_for_function("""() => !document.querySelector('.ov-root')
        || document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]')""", timeout=timeout * 1e3, polling=100)


def open_app(page, url: str, timeout: float = TIMEOUT_S) -> list[dict]:
    """Load the page and wait for the map and the end of the runs (the whole page); return the map's marks."""
    page.goto(url)
    marks = wait_until(lambda: read_map(page), lambda m: any(t["role"] == "path" for t in m), "the map", timeout)
    wait_whole(page, timeout)
    assert_no_exception(page)
    return read_map(page) or marks


def settle(page, check: Callable[[list[dict]], bool], what: str, timeout: float = TIMEOUT_S) -> list[dict]:
    """Wait until the map satisfies check, then until the run is over; return the map's marks."""
    wait_until(lambda: read_map(page), check, what, timeout)
    wait_idle(page, timeout)
    assert_no_exception(page)
    marks = read_map(page)
    assert marks is not None and check(marks), f"{what} no longer holds once the run ended"
    return marks


# --- reading the page -------------------------------------------------------------------------------


def read_map(page) -> list[dict] | None:
    return page.evaluate(READ_MAP)


def marks(map_marks: list[dict], role: str) -> list[dict]:
    return [t for t in map_marks if t["role"] == role]


def path_names(map_marks: list[dict]) -> list[str]:
    return [t["name"] for t in marks(map_marks, "path")]


def legend(map_marks: list[dict]) -> list[str]:
    """The legend entries of the map (traces shown in the legend)."""
    return [t["name"] for t in map_marks if t["showlegend"]]


def first_point(trace: dict) -> tuple[float, float]:
    return trace["x"][0], trace["y"][0]


def tables(page) -> list[dict]:
    return page.evaluate(READ_TABLES)


def results_table(page, timeout: float = TIMEOUT_S) -> list[dict[str, str]]:
    """The results table (the one with an "outcome" column) as one dict per row.

    The data grid fills its accessible table after it is drawn: wait for the rows.
    """
    found = wait_until(lambda: [t for t in tables(page) if "outcome" in t["header"] and t["rows"]],
                       bool, "the results table", timeout)
    return [dict(zip(found[0]["header"], row)) for row in found[0]["rows"]]


def assert_no_exception(page) -> None:
    shown = page.locator('[data-testid="stException"]')
    assert shown.count() == 0, "the page shows an exception:\n" + "\n".join(shown.all_inner_texts())


# --- acting -------------------------------------------------------------------------------------------


def sidebar(page):
    return page.get_by_test_id("stSidebar")


def panel(page, title: str):
    """An optimizer panel of the sidebar by its header ("5. Adam"), opened."""
    box = sidebar(page).get_by_test_id("stExpander").filter(has_text=title).first
    details = box.locator("details")
    if details.get_attribute("open") is None:
        box.locator("summary").click()
        box.get_by_text("optimizer", exact=True).wait_for()
    return box


def choose(scope, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label` inside `scope` (page, sidebar or panel)."""
    page = getattr(scope, "page", scope)  # a Locator knows its page; `has` takes page-rooted locators
    scope.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option, exact=True).click()  # the list opens outside the sidebar


def type_number(scope, label: str, value: float | str) -> None:
    """Type a value into the number input labelled `label` and commit it with Enter."""
    field = scope.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")


def point_at_slider(page, slider_id: str) -> None:
    """Move the pointer onto the sidebar's live slider `slider_id` (its session-state key), as a
    user's goes there before dragging it: the page then asks the server for that slider's drag
    preview, unless it came with the page (the learning rates' do)."""
    css_id = "ls-" + "".join(c if c.isalnum() or c in "_-" else "_" for c in slider_id)
    page.locator(f"input#{css_id}").hover()


def click_map(page, x: float, y: float) -> tuple[float, float]:
    """Click the map at data coordinates (x, y); return the pixel clicked."""
    page.evaluate(f"() => ({FIND_MAP})().scrollIntoView({{block: 'center'}})")
    px, py = page.evaluate(MAP_PIXEL, [x, y])
    page.mouse.move(px - 5, py - 5)
    page.mouse.move(px, py)  # Plotly picks the point under the hover, then the click selects it
    page.mouse.click(px, py)
    return px, py


def screenshot(page, folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Every figure's traces by role: {role: [[x...] per trace]} (the MNIST page's charts carry meta roles too).
READ_ROLES = """() => {
    const out = {};
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        for (const t of gd._fullData || []) {
            const role = t.meta && t.meta.role;
            if (role) (out[role] = out[role] || []).push(Array.from(t.x || []));
        }
    }
    return out;
}"""


def read_roles(page) -> dict[str, list[list[float]]]:
    return page.evaluate(READ_ROLES)
