"""The app in a real browser, as a teacher or student uses it.

Each scenario acts through the page (labels, the map's pixels, the playback buttons) and asserts on
what the page then shows: the marks of the Plotly map (read from the figure in the page), legend
entries, the results table, widget values, the address bar. Where the page draws trajectories,
they are compared with optimizers.run for the same settings (array path, as the server runs).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip these tests (or, in CI, fail them) saying what is missing
    expect = None

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import (
    FIND_MAP,
    choose,
    click_map,
    first_point,
    legend,
    marks,
    open_app,
    panel,
    path_names,
    read_map,
    read_roles,
    results_table,
    settle,
    sidebar,
    tables,
    type_number,
    wait_idle,
    wait_until,
)

# The opening view, written out here rather than taken from the app.
DEFAULT_OPTIMIZERS = [
    get_optimizer("sgd", lr=1e-3),
    get_optimizer("sgd", lr=1e-3, momentum=0.9),
    get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True),
    get_optimizer("rmsprop", lr=1e-2),
    get_optimizer("adam", lr=5e-2),
]
DEFAULT_START = (-1.5, 2.0)
DEFAULT_STEPS = 500


def engine(surface, optimizers, start, steps=DEFAULT_STEPS, **kw):
    return run(surface, optimizers, [start], steps, compiled=False, **kw)


def assert_paths_match(map_marks, res) -> None:
    """Every drawn path is the engine's trajectory up to its stop point, named as in the engine."""
    paths = marks(map_marks, "path")
    assert len(paths) == res.shape[0]
    stop = res.stop_index()[:, 0]
    for k, trace in enumerate(paths):
        assert trace["name"].startswith(res.labels[k]), (trace["name"], res.labels[k])
        expected = res.path[k, 0, : stop[k] + 1]
        drawn = np.column_stack([trace["x"], trace["y"]])
        np.testing.assert_allclose(drawn, expected, rtol=1e-12, atol=1e-12, err_msg=res.labels[k])


def playback_step(map_marks) -> int:
    """The step the playback markers show (their names end in 'at step N')."""
    steps = {int(re.search(r"at step (\d+)$", t["name"]).group(1)) for t in marks(map_marks, "playback")}
    assert len(steps) == 1, steps
    return steps.pop()


def button(page, key: str):
    """An icon-only button of the page by its widget key (Streamlit's st-key-<key> class)."""
    return page.locator(f".st-key-{key.replace('.', '-')}").get_by_role("button")  # the visible one


# --- scenarios ------------------------------------------------------------------------------------------


def test_opening_view_shows_the_contour_with_the_default_paths(page, app_url):
    shown = open_app(page, app_url)
    rosenbrock = get_surface("rosenbrock")
    res = engine(rosenbrock, DEFAULT_OPTIMIZERS, DEFAULT_START)
    assert len(marks(shown, "path")) == 5
    assert_paths_match(shown, res)
    assert legend(shown) == [*path_names(shown), "minimum"]
    (start,) = marks(shown, "start")
    assert first_point(start) == DEFAULT_START
    (minimum,) = marks(shown, "minimum")
    assert first_point(minimum) == (1.0, 1.0)
    assert len(marks(shown, "playback")) == 5
    # the surface's level image drawn under the paths, its colourbar, and the title and formula
    drawn = page.evaluate(f"""() => {{ const gd = ({FIND_MAP})();
        const img = gd.querySelector('.layer-subplot .imagelayer image');
        return [img ? img.getAttribute('href') || img.getAttribute('xlink:href') : '',
                gd.querySelectorAll('.colorbar').length]; }}""")
    assert drawn[0].startswith("data:image/png;base64,") and drawn[1] == 1
    assert page.get_by_role("heading", name="Optimizers on 2-D surfaces").is_visible()
    rows = results_table(page)
    assert [r["optimizer"] for r in rows] == list(res.labels)
    assert all(r["outcome"] for r in rows)
    assert "surface=rosenbrock" in page.url and page.url.count("opt=") == 5


def test_pick_another_surface(page, app_url):
    open_app(page, app_url)
    choose(sidebar(page), "Surface", "Himmelblau")
    himmelblau = get_surface("himmelblau")
    start = tuple(himmelblau.default_starts[0])
    shown = settle(page, lambda m: all(first_point(t) == start for t in marks(m, "path"))
                   and len(marks(m, "minimum")[0]["x"]) == 4, "the paths on Himmelblau")
    assert_paths_match(shown, engine(himmelblau, DEFAULT_OPTIMIZERS, start))
    (saddles,) = marks(shown, "saddle")
    assert len(saddles["x"]) == 4 and "saddle" in legend(shown)
    assert "surface=himmelblau" in page.url
    assert page.get_by_text("Himmelblau —").first.is_visible()  # the caption under the formula


# Records the computed opacity and transition of each element container Streamlit marks stale.
WATCH_STALE = """() => {
    window.__stale = [];
    new MutationObserver(records => records.forEach(r => {
        if (r.target.getAttribute('data-stale') === 'true') {
            const style = getComputedStyle(r.target);
            window.__stale.push([style.opacity, style.transitionDuration]);
        }
    })).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-stale']});
}"""


def test_add_an_optimizer_and_move_its_learning_rate(page, app_url):
    open_app(page, app_url)
    sidebar(page).get_by_role("button", name="Add optimizer").click()
    shown = settle(page, lambda m: len(marks(m, "path")) == 6, "a sixth path")
    assert path_names(shown)[5].startswith("Adam (lr=0.01)")
    rosenbrock = get_surface("rosenbrock")
    added = panel(page, "6. Adam")

    # one notch of the log-scale slider: 0.01 -> 0.012 on its 1-1.2-1.5-2-... grid
    before = marks(shown, "path")[5]
    added.get_by_role("slider", name="lr").focus()
    page.evaluate(WATCH_STALE)
    page.keyboard.press("ArrowRight")
    shown = settle(page, lambda m: path_names(m)[5].startswith("Adam (lr=0.012)"), "Adam at lr 0.012")
    # the map shows the run at once from the drag preview; the panel's number follows with the rerun
    wait_until(lambda: added.get_by_label("lr (exact)").input_value(), lambda v: v == "0.012", "the panel's lr")
    wait_idle(page)
    # while the rerun ran, the elements waiting to be redrawn were not faded (no flicker per notch)
    stale = page.evaluate("() => window.__stale")
    assert stale, "no element was marked stale during the rerun"
    assert all(opacity == "1" and duration == "0s" for opacity, duration in stale), stale[:5]
    after = marks(shown, "path")[5]
    assert (after["x"], after["y"]) != (before["x"], before["y"])
    assert added.get_by_label("lr (exact)").input_value() == "0.012"

    # an exact value typed into the number input
    type_number(added, "lr (exact)", "0.003")
    shown = settle(page, lambda m: path_names(m)[5].startswith("Adam (lr=0.003)"), "Adam at lr 0.003")
    res = engine(rosenbrock, [*DEFAULT_OPTIMIZERS, get_optimizer("adam", lr=0.003)], DEFAULT_START)
    assert_paths_match(shown, res)
    assert [r["optimizer"] for r in results_table(page)][5] == "Adam (lr=0.003)"
    assert "opt=adam~lr%3A0.003" in page.url


def test_click_on_the_map_moves_the_start(page, app_url):
    open_app(page, app_url)
    target = (1.5, -0.5)  # far from every default path
    px, py = click_map(page, *target)
    # the exact clicked point goes to the server: within the data size of one pixel of the target
    pixel = page.evaluate(f"""() => {{ const gd = ({FIND_MAP})(); const xa = gd._fullLayout.xaxis;
        return Math.abs(xa.p2l(1) - xa.p2l(0)); }}""")
    moved = lambda m: math.dist(first_point(marks(m, "start")[0]), target) < 1.5 * pixel  # noqa: E731
    shown = settle(page, lambda m: moved(m) and all(first_point(t) == first_point(marks(m, "start")[0])
                                                    for t in marks(m, "path")), "the paths from the clicked point")
    start = first_point(marks(shown, "start")[0])
    assert start != DEFAULT_START
    assert_paths_match(shown, engine(get_surface("rosenbrock"), DEFAULT_OPTIMIZERS, start))
    side = sidebar(page)
    assert float(side.get_by_label("x", exact=True).input_value()) == pytest.approx(start[0], rel=1e-5)
    assert float(side.get_by_label("y", exact=True).input_value()) == pytest.approx(start[1], rel=1e-5)
    assert f"start={start[0]!r}%2C{start[1]!r}" in page.url


COUNT_RUNS = """() => { if (!window.__runs) { window.__runs = 0;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(() => { if (app.getAttribute('data-test-script-state') === 'running') window.__runs++; })
        .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']}); }
    return window.__runs; }"""


# Records, from now on, the attribute changes of the component's root and the nodes inserted
# into it: either makes the browser restyle the whole page (Streamlit's :has() rules on .stApp).
WATCH_RESTYLES = """() => {
    window.__rootAttrs = []; window.__inserted = [];
    const root = document.querySelector('.ov-root');
    new MutationObserver(records => records.forEach(r => window.__rootAttrs.push(r.attributeName)))
        .observe(root, {attributes: true});
    new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(n => window.__inserted.push((r.target.className || r.target.nodeName) + " > " + (n.className || n.nodeName)))))
        .observe(root, {childList: true, subtree: true});
}"""


def test_play_pause_and_scrub_the_playback(page, app_url):
    """Playback runs in the browser: the markers move along the engine's paths, Pause stops them
    at once, and neither playing nor scrubbing makes the server run the script again. A frame
    changes no attribute of the component's root and inserts no node into it."""
    shown = open_app(page, app_url)
    paths = marks(shown, "path")
    last = playback_step(shown)
    assert last == DEFAULT_STEPS - 1  # it opens on the last update
    runs = page.evaluate(COUNT_RUNS)

    page.locator(".ov-play").click()  # at the end: plays from the start
    shown = wait_until(lambda: read_map(page), lambda m: 0 < playback_step(m) < last, "the markers moving")
    page.evaluate(WATCH_RESTYLES)
    first_seen = playback_step(shown)
    shown = wait_until(lambda: read_map(page), lambda m: playback_step(m) > first_seen + 10, "the markers moving on")
    assert marks(shown, "path") == paths  # playing never recomputes or redraws the paths
    assert page.evaluate("() => [window.__rootAttrs, window.__inserted]") == [[], []]
    page.locator(".ov-play").click()  # pause
    paused = playback_step(read_map(page))
    assert 0 < paused < last
    page.wait_for_timeout(500)
    assert playback_step(read_map(page)) == paused
    expect(page.locator(".ov-play")).to_have_attribute("aria-pressed", "false")

    # scrub: the step slider by keyboard, then the step buttons
    page.locator(".ov-scrub").focus()
    page.keyboard.press("Home")
    shown = wait_until(lambda: read_map(page), lambda m: playback_step(m) == 0, "step 0")
    for trace in marks(shown, "playback"):
        assert first_point(trace) == DEFAULT_START
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    wait_until(lambda: read_map(page), lambda m: playback_step(m) == 3, "step 3")
    page.get_by_role("button", name="one step forward").click()
    shown = wait_until(lambda: read_map(page), lambda m: playback_step(m) == 4, "step 4")
    for marker, path in zip(marks(shown, "playback"), marks(shown, "path")):
        assert first_point(marker) == (path["x"][4], path["y"][4])
    assert "Internals at step 4" in page.locator(".ov-internals").inner_text()
    page.get_by_role("button", name="last step").click()
    shown = wait_until(lambda: read_map(page), lambda m: playback_step(m) == DEFAULT_STEPS, f"step {DEFAULT_STEPS}")
    assert marks(shown, "path") == paths
    assert page.evaluate(COUNT_RUNS) == runs  # no server rerun while playing or scrubbing


def test_a_shared_link_opens_the_same_state(new_page, app_url):
    teacher = new_page()
    open_app(teacher, app_url)
    side = sidebar(teacher)
    choose(side, "Surface", "Beale")
    beale = get_surface("beale")
    settle(teacher, lambda m: first_point(marks(m, "start")[0]) == tuple(beale.default_starts[0]), "Beale")
    type_number(panel(teacher, "5. Adam"), "lr (exact)", "0.02")
    settle(teacher, lambda m: path_names(m)[4].startswith("Adam (lr=0.02)"), "Adam at lr 0.02")
    type_number(side, "steps", "300")
    shown = settle(teacher, lambda m: playback_step(m) == 299, "300 steps")
    link = teacher.url

    student = new_page()  # another browser context: a new session with nothing but the link
    opened = open_app(student, link)
    assert opened == shown
    assert student.url == link
    assert sidebar(student).get_by_label("Surface", exact=True).input_value() == "Beale"
    assert sidebar(student).get_by_label("steps", exact=True).input_value() == "300"
    assert panel(student, "5. Adam").get_by_label("lr (exact)").input_value() == "0.02"
    assert results_table(student) == results_table(teacher)
    optimizers = [*DEFAULT_OPTIMIZERS[:4], get_optimizer("adam", lr=0.02)]
    assert_paths_match(opened, engine(beale, optimizers, tuple(beale.default_starts[0]), steps=300))


def test_a_too_large_learning_rate_diverges_visibly(page, app_url):
    open_app(page, app_url)
    type_number(panel(page, "1. SGD"), "lr (exact)", "0.01")
    res = engine(get_surface("rosenbrock"), [get_optimizer("sgd", lr=0.01), *DEFAULT_OPTIMIZERS[1:]], DEFAULT_START)
    step = int(res.diverged_at[0, 0])
    assert step > 0
    label = f"SGD (lr=0.01) — diverged at step {step}"
    shown = settle(page, lambda m: path_names(m)[0] == label, f"the legend entry {label!r}")
    assert_paths_match(shown, res)
    assert label in legend(shown)
    (cross,) = [t for t in marks(shown, "diverged") if t["config"] == 0]
    assert len(cross["x"]) == 1
    (x0, x1), (y0, y1) = get_surface("rosenbrock").bounds
    assert x0 <= cross["x"][0] <= x1 and y0 <= cross["y"][0] <= y1  # drawn inside the frame
    assert all(not t["x"] for t in marks(shown, "diverged") if t["config"] != 0)
    rows = results_table(page)
    assert f"diverged at step {step}" in rows[0]["outcome"]
    assert not any("diverged" in r["outcome"] for r in rows[1:])


def test_a_broken_link_falls_back_with_a_note(page, app_url):
    shown = open_app(page, f"{app_url}/?surface=nowhere&steps=1000000000&opt=bogus~lr:1&start=nan,1&zzz=1")
    note = page.get_by_test_id("stAlert").filter(has_text="could not be used")
    assert note.count() == 1
    text = note.inner_text()
    for bad in ("nowhere", "steps", "bogus", "start", "zzz"):
        assert bad in text, (bad, text)
    assert_paths_match(shown, engine(get_surface("rosenbrock"), DEFAULT_OPTIMIZERS, DEFAULT_START))
    wait_until(lambda: sidebar(page).get_by_label("steps", exact=True).input_value(),
               lambda v: v == str(DEFAULT_STEPS), "the default steps in the sidebar")


def test_mnist_trains_live_on_the_embedded_set_and_stops(page, app_url):
    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="MNIST").click()
    train = page.get_by_role("button", name="Train")
    expect(train).to_be_enabled()
    side = sidebar(page)
    side.get_by_role("radio", name="steps", exact=True).click()  # "Train for": steps
    type_number(side, "steps", "5000")  # far more than the test waits for: it is stopped
    expect(side.get_by_text("5,000 steps")).to_be_visible()
    wait_idle(page)
    assert "embedded" in side.get_by_test_id("stCaptionContainer").first.inner_text().lower()

    train.click()
    points = lambda roles: min((len(x) for x in roles.get("smooth", [])), default=0)  # noqa: E731
    shown = wait_until(lambda: read_roles(page), lambda r: len(r.get("smooth", [])) == 5 and points(r) > 0,
                       "the live loss chart")
    first = points(shown)
    wait_until(lambda: read_roles(page), lambda r: points(r) > first, "the live loss chart growing")
    progress = page.get_by_test_id("stProgress")
    expect(progress.get_by_text(re.compile(r"Step [\d,]+ / 5,000"))).to_be_visible()

    page.get_by_role("button", name="Stop").click()
    stopped = page.get_by_test_id("stAlert").filter(has_text="Stopped after")
    expect(stopped).to_be_visible(timeout=60_000)
    wait_idle(page)
    done = int(re.search(r"Stopped after ([\d,]+) of 5,000 steps", stopped.inner_text()).group(1).replace(",", ""))
    assert 0 < done < 5000
    final = read_roles(page)
    assert all(len(x) > 0 and x[-1] <= done for x in final["smooth"])  # the chart ends where training stopped
    rows = wait_until(lambda: [t for t in tables(page) if "status" in t["header"] and t["rows"]], bool,
                      "the MNIST results table")[0]
    assert len(rows["rows"]) == 5
    status = rows["header"].index("status")
    assert all(row[status] == "stopped" for row in rows["rows"]), rows
    assert "landscape" in final and len(final["path"]) == 5  # the loss landscape with each optimizer's path
    assert not page.get_by_role("button", name="Stop").is_enabled()
