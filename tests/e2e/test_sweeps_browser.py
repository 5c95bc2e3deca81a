"""The sweeps section in a real browser: the basin maps are drawn and a click on a pixel moves the
start there; a click on an lr curve and on a heatmap cell loads that setting into the optimizer's
panel. Screenshots of the open section at 1400 x 1000 and, the same page resized, 1920 x 1080
(artifacts/screenshots)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from surfaces import get_surface
from tests.e2e.browser import first_point, marks, open_app, read_map, settle, wait_idle, wait_until
from tests.e2e.conftest import SCREENSHOTS

HIMMELBLAU = "surface=himmelblau&opt=sgd~lr%3A0.01&opt=sgd~lr%3A0.005~momentum%3A0.9&opt=adam~lr%3A0.05&start=0.5,0.5&steps=100"
RASTRIGIN = "surface=rastrigin&opt=sgd~lr%3A0.002&opt=adam~lr%3A0.1&start=2.2,-1.3&steps=150"
QUADRATIC = "surface=quadratic&opt=sgd~lr%3A0.1~momentum%3A0.5&start=2,2&steps=200"

# A figure of the page by the role of one of its traces, and what its traces hold (decoded).
FIND = """(role) => [...document.querySelectorAll('.js-plotly-plot')]
    .find(gd => gd._fullData && gd._fullData.some(t => t.meta && t.meta.role === role))"""
READ = f"""(role) => {{
    const gd = ({FIND})(role);
    if (!gd) return null;
    return gd._fullData.filter(t => t.meta).map(t => ({{
        role: t.meta.role, config: t.meta.config ?? null, metric: t.meta.metric ?? null,
        x: Array.from(t.x || []), y: Array.from(t.y || []), xaxis: t.xaxis, yaxis: t.yaxis,
        customdata: Array.from(t.customdata || []).map(c => Array.isArray(c) || ArrayBuffer.isView(c) ? Array.from(c) : c),
    }}));
}}"""
# Page pixel of data point (x, y) on the subplot axes (xaxis, yaxis) of that figure.
PIXEL = f"""([role, x, y, xname, yname]) => {{
    const gd = ({FIND})(role);
    gd.scrollIntoView({{block: 'center'}});
    const xa = gd._fullLayout[xname], ya = gd._fullLayout[yname], box = gd.getBoundingClientRect();
    return [box.left + xa._offset + xa.c2p(x), box.top + ya._offset + ya.c2p(y)];
}}"""


@pytest.fixture
def sized_page(browser, app_server):
    """A page factory at a given viewport; fails the test if the server logged a traceback."""
    contexts = []
    before = len(app_server.log_text())

    def make(width: int, height: int):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(60_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    logged = app_server.log_text()[before:]
    assert "Traceback" not in logged, f"the server logged an error during the test:\n{logged}"


def read(page, role: str):
    return page.evaluate(READ, role)


# Whether the toggle labelled `title` is on (its input checked); null when there is none.
CHECKED = """(title) => { const l = [...document.querySelectorAll('label')].find(l => l.innerText.trim() === title);
    const i = l && l.querySelector('input'); return i ? i.checked : null; }"""


def open_view(page, title: str, role: str) -> list[dict]:
    """Open the section (once) and switch on the view titled `title`; wait for its figure."""
    section = page.get_by_test_id("stExpander").filter(has_text="Which settings work").first
    if section.locator("details").get_attribute("open") is None:
        section.locator("summary").click()
    switch = section.get_by_text(title, exact=True)
    switch.click()
    try:  # CI twice saw a click on the quadratic's toggle leave it off (not seen here in 3 x 4 runs)
        wait_until(lambda: page.evaluate(CHECKED, title), bool, f"the {title} toggle on", timeout=10)
    except AssertionError:
        print(f"the click on {title!r} left its toggle off; clicked again")
        switch.click()
    try:
        traces = wait_until(lambda: read(page, role), bool, f"the {title} figure")
    except AssertionError as exc:  # say what the section showed instead
        shown = section.inner_text()[:1500]
        raise AssertionError(f"{exc}; the toggle's input checked: {page.evaluate(CHECKED, title)}; "
                             f"the section shows: {shown}") from None
    wait_idle(page)
    return read(page, role) or traces


def _safely(check):
    """check(), False while the page is half drawn (the map is between two runs: no marks yet)."""
    try:
        return check()
    except (TypeError, LookupError):
        return False


def click(page, role: str, trace: dict, i: int, done, what: str) -> None:
    """Click point i of `trace` in the figure with `role` until done() holds (a click that lands
    while Plotly is still redrawing the figure selects nothing: up to three tries)."""
    x, y = trace["x"][i], trace["y"][i]
    for attempt in range(3):
        px, py = page.evaluate(PIXEL, [role, x, y, _axis(trace["xaxis"], "x"), _axis(trace["yaxis"], "y")])
        page.mouse.move(px - 4, py - 4)
        page.mouse.move(px, py)
        time.sleep(1.0)  # Plotly picks the point under the hover (throttled) before the click selects it
        page.mouse.click(px, py)
        try:
            wait_until(lambda: _safely(done), bool, what, timeout=20 if attempt < 2 else 60)
            return
        except AssertionError:
            if attempt == 2:
                raise


def _axis(name: str, letter: str) -> str:
    return letter + "axis" + name[1:]  # "x2" -> "xaxis2", "x" -> "xaxis"


def options(page) -> list[str]:
    return parse_qs(urlparse(page.url).query)["opt"]


def test_basin_map_click_moves_the_start(sized_page, app_url):
    page = sized_page(1600, 1100)
    open_app(page, f"{app_url}/?{HIMMELBLAU}")
    traces = open_view(page, "Basin-of-convergence maps", "basin-click")
    grids = [t for t in traces if t["role"] == "basin-click"]
    assert len(grids) == 3
    # a click point of the second map: row 30, column 45 of its grid
    grid = grids[1]
    side = int(round(np.sqrt(len(grid["x"]))))
    i = 30 * side + 45
    target = (grid["x"][i], grid["y"][i])
    click(page, "basin-click", grid, i, lambda: first_point(marks(read_map(page), "start")[0]) == target,
          "the start at the clicked pixel")
    shown = settle(page, lambda m: first_point(marks(m, "start")[0]) == target, "the start at the clicked pixel")
    assert all(first_point(t) == target for t in marks(shown, "path"))
    assert f"start={target[0]!r}%2C{target[1]!r}" in page.url
    (x0, x1), (y0, y1) = get_surface("himmelblau").bounds
    assert x0 < target[0] < x1 and y0 < target[1] < y1
    paths = wait_until(lambda: [t for t in read(page, "basin-click") or [] if t["role"] == "basin-path"],
                       lambda p: len(p) == 3 and all((t["x"][0], t["y"][0]) == target for t in p),
                       "the basin maps' paths from the new start")
    assert len(paths) == 3


def test_lr_curve_and_heatmap_clicks_load_the_setting(sized_page, app_url):
    page = sized_page(1600, 1100)
    open_app(page, f"{app_url}/?{HIMMELBLAU}")
    traces = open_view(page, "Learning-rate sweep", "lr-curve")
    (adam,) = [t for t in traces if t["role"] == "lr-curve" and t["config"] == 2 and t["metric"] == "distance"]
    i = next(i for i, y in enumerate(adam["y"]) if y == y and i > 20)
    lr = adam["x"][i]
    click(page, "lr-curve", adam, i, lambda: options(page)[2] == f"adam~lr:{lr!r}", "Adam's lr in the link")
    wait_idle(page)
    assert page.get_by_text("Loaded Adam").count() >= 1

    open_app(page, f"{app_url}/?{QUADRATIC}")
    traces = open_view(page, "Two-parameter sweep", "grid-click")
    assert len([t for t in traces if t["role"] == "bound"]) == 2
    (cells,) = [t for t in traces if t["role"] == "grid-click"]
    i = len(cells["x"]) // 2 + 3
    momentum, lr = cells["customdata"][i]
    click(page, "grid-click", cells, i, lambda: options(page)[0] == f"sgd~lr:{lr!r}~momentum:{momentum!r}",
          "the cell's setting in the link")


def shoot(page, name: str) -> None:
    """One PNG per open view (each fits a viewport; the page scrolls inside its own container)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for view in ("basins", "lr", "grid"):
        box = page.locator(f".st-key-sweeps-{view}-view")
        if box.count():
            box.scroll_into_view_if_needed()
            box.screenshot(path=str(SCREENSHOTS / f"{name}-{view}.png"))


def wait_drawn_to_width(page) -> None:
    """Every chart of the page fills its column's width again after a resize, and holds."""
    read = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(gd => gd._fullLayout && gd.clientWidth)
        .map(gd => [Math.round(gd._fullLayout.width), gd.clientWidth, Math.round(gd.getBoundingClientRect().top)])"""
    last = None
    for _ in range(240):
        time.sleep(0.25)
        now = page.evaluate(read)
        if now == last and all(abs(drawn - width) <= 2 for drawn, width, _ in now):
            wait_idle(page)
            return
        last = now
    raise AssertionError(f"the charts did not settle to their columns' width: {last}")


SHOT_SIZES = [(1400, 1000), (1920, 1080)]


def test_screenshots_of_the_open_section(sized_page, app_url):
    """Each link's views opened at 1400 x 1000 and shot, then the same page set to 1920 x 1080 and
    shot again once its charts have been redrawn to their columns' new width."""
    page = sized_page(*SHOT_SIZES[0])
    links = (("himmelblau", HIMMELBLAU, (("Basin-of-convergence maps", "basin-click"),
                                         ("Learning-rate sweep", "lr-curve"), ("Two-parameter sweep", "grid-click"))),
             ("quadratic", QUADRATIC, (("Two-parameter sweep", "grid-click"),)),
             ("rastrigin", RASTRIGIN, (("Basin-of-convergence maps", "basin-click"),)))
    for name, link, views in links:
        page.set_viewport_size(dict(zip(("width", "height"), SHOT_SIZES[0])))
        open_app(page, f"{app_url}/?{link}")
        for title, role in views:
            open_view(page, title, role)
        for i, (width, height) in enumerate(SHOT_SIZES):
            if i:
                page.set_viewport_size({"width": width, "height": height})
                wait_drawn_to_width(page)
                for _, role in views:
                    assert read(page, role), f"the {role} figure at {width}x{height}"
            shoot(page, f"sweeps-{name}-{width}x{height}")


# Page boxes [left, top, right, bottom] of the lr sweep figure's legend, axis titles, x tick
# labels and column titles, as the browser laid them out.
LR_BOXES = f"""() => {{
    const gd = ({FIND})('lr-curve');
    const box = el => {{ const b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }};
    const all = css => [...gd.querySelectorAll(css)].map(box).filter(b => b[2] > b[0] && b[3] > b[1]);
    return {{legend: all('.legend .bg'), titles: all('.g-xtitle, .g-x2title, .g-x3title'),
             ticks: all('.xtick text, .x2tick text, .x3tick text'), columns: all('.annotation'), figure: box(gd)}};
}}"""


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_lr_sweep_legend_covers_no_axis_title_at_lecture_sizes(sized_page, app_url):
    """At 1400 x 1000 and 1920 x 1080 the lr curves' legend, as drawn, shares no pixel with the
    three "learning rate" titles, the x tick labels or the column titles, and lies inside the figure;
    no two column titles overlap."""
    page = sized_page(*SHOT_SIZES[0])
    open_app(page, f"{app_url}/?{HIMMELBLAU}")
    open_view(page, "Learning-rate sweep", "lr-curve")
    for i, (width, height) in enumerate(SHOT_SIZES):
        if i:
            page.set_viewport_size({"width": width, "height": height})
            wait_drawn_to_width(page)
        boxes = page.evaluate(LR_BOXES)
        assert len(boxes["legend"]) == 1 and len(boxes["titles"]) == 3 and len(boxes["columns"]) == 3, boxes
        assert len(boxes["ticks"]) >= 9, boxes  # every column keeps its tick labels
        (legend,) = boxes["legend"]
        clashes = [(kind, b) for kind in ("titles", "ticks", "columns") for b in boxes[kind] if _overlap(legend, b)]
        assert not clashes, f"{width}x{height}: the legend {legend} covers {clashes}"
        top, bottom = boxes["figure"][1], boxes["figure"][3]
        assert top - 1 <= legend[1] and legend[3] <= bottom + 1, (width, legend, boxes["figure"])
        columns = boxes["columns"]
        assert not [(a, b) for i, a in enumerate(columns) for b in columns[i + 1:] if _overlap(a, b)], columns
