"""The results charts as Chromium draws them (ui/figures_component): the schedule preset's smoothed
lines with their span written on the chart, and the divergence preset's blow-up inside the loss
axis with the value it reached. Read from the drawn Plotly figures (_fullData, _fullLayout) and
the annotations' text in the DOM.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from tests.e2e.browser import open_app, wait_until
from ui import state
from ui.presets import PRESETS

# Per results chart: its y axis title, type and range, the traces by role (with their span and
# number of points) and the annotations' texts as drawn (SVG text, without the zero-width spaces
# Plotly puts around a superscript).
READ_CHARTS = """() => {
    const row = document.querySelector('.fg-row');
    if (!row || row.dataset.ready !== row.dataset.id) return null;
    return [...row.querySelectorAll('.js-plotly-plot')].map(gd => ({
        title: gd._fullLayout.yaxis.title.text, type: gd._fullLayout.yaxis.type, range: gd._fullLayout.yaxis.range,
        traces: gd._fullData.filter(t => t.meta && t.visible !== false).map(t => ({
            role: t.meta.role, config: t.meta.config, span: t.meta.span ?? null, n: t.y.length,
            last: t.y.length ? t.y[t.y.length - 1] : null, color: (t.line || {}).color || null})),
        notes: [...gd.querySelectorAll('.annotation-text')].map(a => a.textContent.replace(/\u200b/g, '')),
        // the span's words lie above the plot area, off the lines: their bottom at or over its top
        spanAbove: [...gd.querySelectorAll('.annotation')].filter(a => a.textContent.startsWith('EMA')).map(
            a => a.getBoundingClientRect().bottom <= gd.querySelector('.bglayer rect, .nsewdrag').getBoundingClientRect().top + 1),
    }));
}"""


def url(base: str, name: str) -> str:
    return f"{base}/?{urlencode(state.encode(PRESETS[name].config, name), doseq=True)}"


def charts(page) -> list[dict]:
    return wait_until(lambda: page.evaluate(READ_CHARTS), lambda c: c is not None and len(c) == 3, "the results charts")


def test_the_schedule_preset_draws_smoothed_medians_with_their_span(page, app_url):
    open_app(page, url(app_url, "schedule"))
    loss, distance, grad_norm = charts(page)
    steps = PRESETS["schedule"].config.steps
    for fig in (loss, grad_norm):
        assert fig["notes"] == ["EMA, span 10 steps"] and fig["spanAbove"] == [True], fig
        medians = [t for t in fig["traces"] if t["role"] == "median"]
        raws = [t for t in fig["traces"] if t["role"] == "raw"]
        assert len(medians) == len(raws) == 3
        assert all(t["span"] == 10 and t["n"] == steps + 1 for t in medians)
        assert all(t["color"].startswith("rgba(") for t in raws)  # faint
    assert distance["notes"] == [] and not any(t["role"] == "raw" for t in distance["traces"])


def test_the_divergence_preset_draws_the_blow_up(page, app_url):
    open_app(page, url(app_url, "divergence"))
    loss = charts(page)[0]
    assert loss["type"] == "log" and loss["notes"] == ["5.4×1011"], loss["notes"]  # 10<sup>11</sup> as text
    (marker,) = [t for t in loss["traces"] if t["role"] == "diverged"]
    assert marker["config"] == 3 and f"{marker['last']:.2g}" == "5.4e+11"
    assert loss["range"][1] > math.log10(marker["last"])
    (line,) = [t for t in loss["traces"] if t["role"] == "line" and t["config"] == 3]
    assert line["n"] == 71 and line["last"] == marker["last"]  # drawn up to its last finite point
