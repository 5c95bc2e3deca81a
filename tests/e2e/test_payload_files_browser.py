"""In Chromium: the map's run data and the results charts come as files fetched once per id
(ui/static_files), and the live sliders' notches rebuilt in the browser from their compact form
are Python's, bit for bit."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.e2e.browser import VIEW, open_app, panel, wait_idle, wait_until
from ui.live_slider import log_form
from ui.widgets import _fmt, linear_grid, log_grid

SLIDER_JS = (Path(__file__).resolve().parents[2] / "ui" / "live_slider.js").read_text()


def fetched(requests: list[str], kind: str) -> list[str]:
    """The file names of kind `kind` ("map", "figures") among the URLs the page requested."""
    return [url.rsplit("/", 1)[1] for url in requests if "/app/static/data/" in url and f"-{kind}-" in url]


def drawn_id(page) -> str:
    return page.evaluate(f"() => {VIEW}.root.dataset.ready || ''")


def test_each_run_is_fetched_once_and_a_return_to_it_fetches_nothing(page, app_url):
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_app(page, app_url)
    first = drawn_id(page)
    assert fetched(requests, "map") == [next(f for f in fetched(requests, "map") if first in f)]
    assert len(fetched(requests, "figures")) == 1
    slider = panel(page, "5. Adam").locator('input[type="range"][aria-label="lr"]')
    slider.focus()
    page.keyboard.press("ArrowLeft")  # a release one notch down: a new run
    assert slider.get_attribute("aria-valuetext") == "0.04"
    wait_idle(page)
    wait_until(lambda: drawn_id(page), lambda d: d not in ("", first), "the new run drawn")
    second = drawn_id(page)
    assert len(fetched(requests, "map")) == 2 and second in fetched(requests, "map")[1]
    page.keyboard.press("ArrowRight")  # back: the first run again, from the page's cache
    wait_idle(page)
    wait_until(lambda: drawn_id(page), lambda d: d == first, "the first run drawn again")
    assert len(fetched(requests, "map")) == 2
    assert len(fetched(requests, "figures")) == 2  # the charts of the two runs, each once
    names = page.evaluate(f"() => {VIEW}.mapDiv.data.filter(t => t.meta && t.meta.role === 'path').map(t => t.name)")
    assert any(name.startswith("Adam (lr=0.05)") for name in names)  # the opening view's Adam again


def hex_of(value: float) -> str:
    return struct.pack(">d", value).hex()


REBUILD = """async ([src, forms]) => {
    const m = await import(URL.createObjectURL(new Blob([src], {type: 'text/javascript'})));
    const bits = (v) => { const d = new DataView(new ArrayBuffer(8)); d.setFloat64(0, v);
        return [...new Uint8Array(d.buffer)].map(b => b.toString(16).padStart(2, '0')).join(''); };
    return forms.map((data) => Array.from({length: data.count}, (_, i) => [bits(m.value(data, i)), m.text(data, i)]));
}"""


@pytest.mark.parametrize("zero", [False, True])
def test_the_browser_rebuilds_log_grids_and_their_labels_bit_for_bit(page, zero):
    page.set_content("<html><body></body></html>")
    grids = [log_grid(low, high, zero) for low, high in [(1e-5, 10.0), (1.0, 1000.0), (0.0123, 0.5), (1e-6, 1.0),
                                                         (3e-9, 2e8), (1e-300, 1e300), (0.1, 0.1)]]
    labels = [[_fmt(v, off="关") for v in grid] for grid in grids]
    forms = [{**log_form(grid, words), "count": len(grid)} for grid, words in zip(grids, labels)]
    rebuilt = page.evaluate(REBUILD, [SLIDER_JS, forms])
    for grid, words, got in zip(grids, labels, rebuilt):
        assert got == [[hex_of(v), w] for v, w in zip(grid, words)]


def test_the_browser_rebuilds_linear_grids_bit_for_bit(page):
    page.set_content("<html><body></body></html>")
    notches = [(0.0, 0.01, 101), (0.01, 0.01, 100), (0.0, 0.001, 1000), (0.5, 0.005, 100), (-1.0, 0.1, 21)]
    forms = [{"linear": [low, step], "count": count, "fmt": "%g"} for low, step, count in notches]
    rebuilt = page.evaluate(REBUILD, [SLIDER_JS, forms])
    for args, got in zip(notches, rebuilt):
        assert [bits for bits, _ in got] == [hex_of(v) for v in linear_grid(*args)]
