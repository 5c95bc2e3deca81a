"""The 2-D page on one screen, in Chromium at a lecture hall's window sizes (issue #14).

At 1400x1000 and 1920x1080 the story, the play control, the whole map with its axes and the
effective-lr chart are inside the window without scrolling; at 1024x768 the map keeps a usable
size, and with the sidebar closed its legend beside it, in view. At every size: the legend lies
beside the map (or below it), never over its plot area, and is no taller than it; no text is cut
(an element's text running past a box that hides its overflow, or an SVG label past its chart's
edge), read from the DOM. Presentation mode (one click, present=1 in the link): the sidebar
collapsed, every chart's text at least 16 px (read from the SVG text nodes), thicker lines. Each
page is screenshotted at each size into tests/e2e/screenshots/ (gitignored): the default page,
every preset of ui/presets.py, and presentation mode.

The default page and presentation mode are opened afresh at every size (the map's first fit to
the window); each preset, and a preset in presentation mode, is opened once, at its first size,
and the same page is then resized to the others (the fit the component redoes on every resize), which checks the same geometry,
clipping and fonts for a fraction of a page load each.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.browser import VIEW, assert_no_exception, read_map, wait_idle, wait_until, wait_whole
from ui import state
from ui.presets import PRESETS

SHOTS = Path(__file__).parent / "screenshots"
SIZES = {"1400x1000": (1400, 1000), "1920x1080": (1920, 1080), "1024x768": (1024, 768)}
ONE_SCREEN = ("1400x1000", "1920x1080")  # everything that tells the story fits without scrolling
MAX_SIDE_GAP = 60  # px between the map's colour bar and the side column (the legend's left edge)
PAGES = ("default", *PRESETS, "present", "rosenbrock+present")
FRESH_EVERY_SIZE = ("default", "present")  # the others (presets, a preset in presentation mode): opened once, then resized
MIN_MAP_PLOT = 300  # px, each side of the map's plot area at 1024x768
MIN_PRESENT_FONT = 16

# Geometry of the page as drawn, in viewport pixels: {x, y, r, b, w, h} boxes.
GEOMETRY = """() => {
  const box = (r) => r && ({x: r.left, y: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height});
  const union = (els) => {
    const rs = [...els].map((e) => e.getBoundingClientRect()).filter((r) => r.width > 0 && r.height > 0);
    if (!rs.length) return null;
    return box({left: Math.min(...rs.map((r) => r.left)), top: Math.min(...rs.map((r) => r.top)),
                right: Math.max(...rs.map((r) => r.right)), bottom: Math.max(...rs.map((r) => r.bottom)),
                width: 1, height: 1});
  };
  const plot = (gd) => {
    // the plot area: the x and y axes' drawn extent (an equal-scale map is narrower than its domain)
    const r = gd.getBoundingClientRect(), full = gd._fullLayout;
    const axes = Object.keys(full).filter((k) => /^[xy]axis\\d*$/.test(k)).map((k) => full[k]);
    const xs = axes.filter((a) => a._id[0] === "x"), ys = axes.filter((a) => a._id[0] === "y");
    const left = Math.min(...xs.map((a) => a._offset)), right = Math.max(...xs.map((a) => a._offset + a._length));
    const top = Math.min(...ys.map((a) => a._offset)), bottom = Math.max(...ys.map((a) => a._offset + a._length));
    return box({left: r.left + left, top: r.top + top, right: r.left + right, bottom: r.top + bottom,
                width: right - left, height: bottom - top});
  };
  const chart = (gd) => gd && {
    plot: plot(gd),
    axes: union(gd.querySelectorAll(".xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .g-x2title text, .g-y2title text")),
    plotlyLegend: union(gd.querySelectorAll(".legend")),
    colorbar: union(gd.querySelectorAll(".colorbar")),
  };
  const q = (s) => document.querySelector(s);
  return {
    viewport: {w: innerWidth, h: innerHeight},
    map: chart(q(".ov-map.js-plotly-plot")), eff: chart(q(".ov-eff.js-plotly-plot")),
    legend: box(q(".ov-legend")?.getBoundingClientRect()),
    legendItems: document.querySelectorAll(".ov-legend-item").length,
    play: box(q(".ov-play")?.getBoundingClientRect()),
    scrub: box(q(".ov-scrub")?.getBoundingClientRect()),
    story: box(q(".st-key-story")?.getBoundingClientRect()),
    sidebarCollapsed: q('[data-testid="stSidebar"]')?.getAttribute("data-collapsed"),
  };
}"""

# Text that is cut: an element's own text running past an ancestor (up to the page's main area)
# that hides its overflow, or an SVG text of a chart running past the chart's edge.
CLIPPED = """() => {
  const out = [];
  const expanded = document.querySelector('[data-testid="stSidebar"]')?.getAttribute("data-collapsed") === "false";
  const roots = [document.querySelector('[data-testid="stMain"]'), expanded && document.querySelector('[data-testid="stSidebar"]')];
  for (const root of roots.filter(Boolean)) {
    for (const el of root.querySelectorAll("*")) {
      if (el.closest('[data-testid="stDataFrame"], svg, .katex, [data-testid="stCode"], [data-testid="stExpanderDetails"]')) continue;
      const texts = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim());
      if (!texts.length || !el.getClientRects().length) continue;
      const range = document.createRange();
      range.selectNodeContents(el);
      const t = range.getBoundingClientRect();
      if (!t.width) continue;
      for (let a = el; a && a !== root.parentElement; a = a.parentElement) {
        const cs = getComputedStyle(a);
        if (!["hidden", "clip"].includes(cs.overflowX) && cs.textOverflow !== "ellipsis") continue;
        const r = a.getBoundingClientRect();
        if (t.right > r.right + 1 || t.left < r.left - 1 || a.scrollWidth > a.clientWidth + 1) {
          out.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.trim().slice(0, 60)}`);
          break;
        }
      }
    }
  }
  // a formula: KaTeX's display box scrolls what does not fit (its struts make it 2 px wider than
  // its box: a cut formula is tens of px more); an inline one must end inside its text's box
  for (const k of document.querySelectorAll('[data-testid="stMain"] .katex')) {
    if (!k.getClientRects().length || k.closest('[data-testid="stExpanderDetails"]')) continue;
    const box = k.closest(".katex-display") || k.closest('[data-testid="stMarkdownContainer"]') || k.parentElement;
    const r = box.getBoundingClientRect(), b = k.getBoundingClientRect();
    if (box.scrollWidth > box.clientWidth + 8 || b.right > r.right + 8) out.push(`formula: ${k.textContent.trim().slice(0, 60)}`);
  }
  for (const gd of document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot')) {
    const svg = gd.querySelector(".main-svg");
    if (!svg || !svg.getClientRects().length) continue;
    const r = svg.getBoundingClientRect();
    for (const t of gd.querySelectorAll(".main-svg text, .main-svg ~ .main-svg text")) {
      const b = t.getBoundingClientRect();
      if (!b.width || !t.textContent.trim() || t.closest(".hoverlayer")) continue;
      if (b.left < r.left - 1 || b.right > r.right + 1 || b.top < r.top - 1 || b.bottom > r.bottom + 1) {
        out.push(`svg text of ${gd.className}: ${t.textContent.trim().slice(0, 60)}`);
      }
    }
  }
  return out;
}"""

# Font sizes (px) of the charts' SVG text, by kind; the component's own legend and key.
FONTS = """() => {
  const size = (el) => parseFloat(getComputedStyle(el).fontSize);
  const out = {};
  const add = (kind, els) => { for (const e of els) if (e.textContent.trim() && e.getClientRects().length)
    (out[kind] = out[kind] || []).push(size(e)); };
  const charts = document.querySelectorAll('[data-testid="stMain"] .js-plotly-plot');
  for (const gd of charts) {
    add("ticks", gd.querySelectorAll(".xtick text, .ytick text, .cbaxis text"));
    add("titles", gd.querySelectorAll(".g-xtitle text, .g-ytitle text, .g-x2title text, .g-y2title text, .cbtitle text"));
    add("legend", gd.querySelectorAll(".legendtext"));
    add("annotations", gd.querySelectorAll(".annotation-text"));
  }
  add("component legend", document.querySelectorAll(".ov-legend-text"));
  add("arrow key", document.querySelectorAll(".ov-key"));
  const map = document.querySelector(".ov-map.js-plotly-plot");
  out.lines = map ? map._fullData.filter((t) => t.meta && t.meta.role === "path").map((t) => t.line.width) : [];
  out.charts = charts.length;
  return out;
}"""


def link(name: str) -> str:
    """The page's query string: a preset's whole setup (its config and its name), with
    present=1 for a '+present' name."""
    base, _, present = name.partition("+")
    params = {} if base in ("default", "present") else state.encode(PRESETS[base].config, base)
    if present or base == "present":
        params["present"] = "1"
    return "?" + urlencode(params, doseq=True) if params else ""


class Windows:
    """The pages of this module in one browser. open(size, name) loads `name` afresh in a window of
    that size; show(size, name) resizes the page it showed last instead, when that page shows
    `name`, and keeps the page for the next show(). Either way the map is drawn and fitted."""

    def __init__(self, browser, url: str):
        self.browser, self.url = browser, url
        self.kept = None  # (name, page): the page show() may resize
        self.contexts = []  # every context opened, closed at the end

    def open(self, size: str, name: str):
        self.close_kept()
        width, height = SIZES[size]
        context = self.browser.new_context(viewport={"width": width, "height": height})
        self.contexts.append(context)
        context.set_default_timeout(60_000)
        page = context.new_page()
        page.goto(self.url + "/" + link(name))
        wait_until(lambda: read_map(page), lambda m: any(t["role"] == "path" for t in m), "the map")
        wait_whole(page)
        assert_no_exception(page)
        wait_fitted(page)
        return page

    def show(self, size: str, name: str):
        if self.kept is not None and self.kept[0] == name:
            page = self.kept[1]
            self.kept = None  # kept again only once it is fitted at the new size
            resize(page, size)
        else:
            page = self.open(size, name)
        self.kept = (name, page)
        return page

    def close_kept(self) -> None:
        if self.kept is not None:
            self.kept[1].context.close()
            self.kept = None

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture(scope="module")
def windows(browser, app_server):
    shared = Windows(browser, app_server.url)
    yield shared
    shared.close()


@pytest.fixture
def window(windows, app_server):
    """window(size, name[, shot][, fresh]) -> a page at that window size showing `name`, its map drawn
    and fitted: loaded afresh and closed after the test, or (fresh=False) the page of the test
    before, resized, when it showed the same name. Each page is screenshotted at the end of the
    test (the window only: what fits without scrolling) as <shot or name>-<size>.png; the test
    fails if the server logged a traceback meanwhile."""
    shots = []

    def open_at(size: str, name: str, shot: str | None = None, fresh: bool = True):
        page = windows.open(size, name) if fresh else windows.show(size, name)
        shots.append((page, f"{shot or name}-{size}", fresh))
        return page

    before = len(app_server.log_text())
    yield open_at
    SHOTS.mkdir(parents=True, exist_ok=True)
    for page, shot, fresh in shots:
        try:
            page.screenshot(path=str(SHOTS / f"{shot}.png"))
        finally:
            if fresh:
                page.context.close()
    logged = app_server.log_text()[before:]
    assert "Traceback" not in logged, f"the server logged an error during the test:\n{logged}"


def resize(page, size: str) -> None:
    """Set the window of a fitted page to `size` and wait until the map is fitted to it again."""
    width, height = SIZES[size]
    page.evaluate(f"() => {{ delete {VIEW}.root.dataset.mapHeight; }}")  # set again by the fit the resize starts
    page.set_viewport_size({"width": width, "height": height})
    wait_fitted(page)
    assert page.evaluate("[innerWidth, innerHeight]") == [width, height]


def wait_fitted(page) -> None:
    """The map component has drawn its run and sized it to the window, and the size holds."""
    read = f"() => {VIEW} && {VIEW}.root.dataset.ready === {VIEW}.dataId && {VIEW}.root.dataset.mapHeight"
    wait_until(lambda: page.evaluate(read), bool, "the map fitted to the window")
    last = None
    for _ in range(40):  # the component fits once more after what is above it has drawn
        time.sleep(0.25)
        now = page.evaluate(f"() => [{VIEW}.root.dataset.mapHeight, document.querySelector('.ov-map').getBoundingClientRect().top]")
        if now == last:
            return
        last = now
    raise AssertionError(f"the map's size kept changing: {last}")


def inside(box: dict, viewport: dict, what: str) -> None:
    assert box is not None, f"{what} is not on the page"
    assert box["x"] >= -1 and box["y"] >= -1 and box["r"] <= viewport["w"] + 1 and box["b"] <= viewport["h"] + 1, \
        f"{what} {box} is not inside the {viewport['w']}x{viewport['h']} window"


def overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["r"] - 1 and b["x"] < a["r"] - 1 and a["y"] < b["b"] - 1 and b["y"] < a["b"] - 1


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", PAGES)
def test_page_layout(window, size, name):
    page = window(size, name, fresh=name in FRESH_EVERY_SIZE)
    geo = page.evaluate(GEOMETRY)
    view = geo["viewport"]
    plot = geo["map"]["plot"]
    # the legend: the component's list beside the map, none of Plotly's on it, no taller than the plot
    assert geo["map"]["plotlyLegend"] is None
    assert geo["legendItems"] >= 2 and not overlap(geo["legend"], plot), (geo["legend"], plot)
    assert geo["legend"]["h"] <= plot["h"], (geo["legend"], plot)
    if size in ONE_SCREEN:
        inside(plot, view, "the map's plot area")
        inside(geo["map"]["axes"], view, "the map's axes")
        inside(geo["eff"]["plot"], view, "the effective-lr chart")
        inside(geo["eff"]["axes"], view, "the effective-lr chart's axes")
        inside(geo["play"], view, "the play button")
        inside(geo["scrub"], view, "the scrubber")
        if name not in ("default", "present"):
            inside(geo["story"], view, "the story")
    # a map shorter than its column is wide gives the side column the rest: no white gap between
    right = max(plot["r"], (geo["map"]["colorbar"] or plot)["r"])
    if size in ONE_SCREEN:
        assert geo["legend"]["x"] - right <= MAX_SIDE_GAP, (right, geo["legend"])
    else:
        assert plot["w"] >= MIN_MAP_PLOT and plot["h"] >= MIN_MAP_PLOT, plot
        if geo["sidebarCollapsed"] == "true":
            # one column, the sidebar closed: the legend in the white beside the map, in view
            inside(geo["legend"], view, "the legend")
            assert 0 <= geo["legend"]["x"] - right <= MAX_SIDE_GAP and geo["legend"]["y"] < plot["b"], (right, geo["legend"])
    assert page.evaluate(CLIPPED) == []
    if name.endswith("present"):
        assert geo["sidebarCollapsed"] == "true"
        assert_presentation_fonts(page.evaluate(FONTS))


def assert_presentation_fonts(fonts: dict) -> None:
    assert fonts["charts"] >= 3 and fonts["ticks"] and fonts["titles"]
    for kind in ("ticks", "titles", "legend", "annotations", "component legend", "arrow key"):
        small = [size for size in fonts.get(kind, []) if size < MIN_PRESENT_FONT]
        assert not small, f"{kind}: {len(small)} texts under {MIN_PRESENT_FONT} px ({sorted(set(small))})"
    assert fonts["lines"] and min(fonts["lines"]) >= 3.5, fonts["lines"]


def test_presentation_mode_is_one_click_and_in_the_link(window):
    page = window("1400x1000", "default", shot="presentation-toggled")
    fonts = page.evaluate(FONTS)
    assert max(fonts["lines"]) <= 3  # the default lines, for comparison
    page.get_by_test_id("stMain").locator(".st-key-present_toggle").get_by_text("Presentation").click()
    wait_until(lambda: page.evaluate("location.search"), lambda url: "present=1" in url, "present=1 in the link")
    wait_until(lambda: page.evaluate(f"() => {VIEW}.root.dataset.ready"), lambda ready: ready.endswith("-present"),
               "the map drawn for presentation")
    wait_idle(page)
    wait_fitted(page)
    geo = page.evaluate(GEOMETRY)
    assert geo["sidebarCollapsed"] == "true"
    inside(geo["map"]["plot"], geo["viewport"], "the map's plot area")
    inside(geo["map"]["axes"], geo["viewport"], "the map's axes")
    assert_presentation_fonts(page.evaluate(FONTS))
    assert page.evaluate(CLIPPED) == []
    # and back: the link loses present=1, the sidebar opens again
    page.get_by_test_id("stMain").locator(".st-key-present_toggle").get_by_text("Presentation").click()
    wait_until(lambda: page.evaluate("location.search"), lambda url: "present=1" not in url, "present=1 gone from the link")
    wait_until(lambda: page.evaluate(GEOMETRY)["sidebarCollapsed"], lambda c: c == "false", "the sidebar open again")


STORY = """() => {
  const d = document.querySelector('.st-key-story details.ov-story');
  if (!d) return null;
  const body = d.querySelector('p');
  return {open: d.open, summary: d.querySelector('summary').innerText, body: body.textContent,
          bodyShown: body.checkVisibility()};
}"""


def test_a_presentations_story_shows_its_first_sentence_and_opens_in_one_click(window):
    """In presentation mode a preset's story is its title and first sentence, so that the map gets
    the window's height; one click on it shows the rest (the map refits, still on screen), a second
    folds it again."""
    page = window("1920x1080", "rosenbrock+present", shot="story-folded")
    whole = " ".join(PRESETS["rosenbrock"].story.split())
    folded = page.evaluate(STORY)
    assert folded is not None and not folded["open"] and not folded["bodyShown"], folded
    title, _, first = folded["summary"].partition(" — ")
    first, more, _ = first.partition("Read on")
    assert title == PRESETS["rosenbrock"].title and more and first.endswith(".") and whole.startswith(first)
    assert " ".join(f"{first} {folded['body']}".split()) == whole  # nothing lost
    geo = page.evaluate(GEOMETRY)
    assert geo["map"]["plot"]["h"] >= 600, geo["map"]["plot"]  # a whole story kept it near 530 px
    height = page.evaluate(f"() => {VIEW}.root.dataset.mapHeight")

    page.locator(".st-key-story summary").click()
    wait_until(lambda: page.evaluate(f"() => {VIEW}.root.dataset.mapHeight"), lambda h: h != height, "the map refitted")
    wait_fitted(page)
    opened = page.evaluate(STORY)
    assert opened["open"] and opened["bodyShown"]
    geo = page.evaluate(GEOMETRY)
    inside(geo["map"]["plot"], geo["viewport"], "the map's plot area under the whole story")
    inside(geo["map"]["axes"], geo["viewport"], "the map's axes under the whole story")

    page.locator(".st-key-story summary").click()
    wait_until(lambda: page.evaluate(f"() => {VIEW}.root.dataset.mapHeight"), lambda h: h == height, "the map back at its height")
