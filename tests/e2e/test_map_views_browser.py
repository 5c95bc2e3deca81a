"""The map component for a lecture hall (issue #14) in Chromium, read back from the drawn figure
and the DOM: the divergence preset's exit arrow, a 1000-start swarm's end-point density and
exits, identical optimizers told apart, and the component's words in Chinese. References: the
engine's run for the same settings (array path), the last exits walked point by point
(tests/test_map_views.py), the catalogues' English."""

from __future__ import annotations

import math
import re
from urllib.parse import urlencode

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import open_app
from tests.test_map_views import last_exit
from ui import i18n, state
from ui.presets import PRESETS

CJK = re.compile(r"[\u4e00-\u9fff]")

# Per map trace with a meta role: what Chromium holds after Plotly decoded the data, and where
# a trace's first point lies in the plot area's pixels.
READ = """(role) => {
    const gd = document.querySelector('.ov-map.js-plotly-plot');
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const flat = (z) => (z && typeof z[0] === 'object' ? Array.from(z).flatMap((row) => Array.from(row)) : Array.from(z || []));
    return gd._fullData.filter((t) => t.meta && t.meta.role === role).map((t) => ({
        config: t.meta.config, meta: t.meta, type: t.type, opacity: t.opacity,
        x: Array.from(t.x || []), y: Array.from(t.y || []), z: t.type === 'heatmap' ? flat(t.z) : null,
        symbol: t.marker ? t.marker.symbol : null, angle: t.marker ? t.marker.angle : null,
        px: t.x && t.x.length ? [xa.c2p(t.x[0]), ya.c2p(t.y[0])] : null, plot: [xa._length, ya._length],
    }));
}"""


def link(app_url: str, config, preset: str | None = None, **extra) -> str:
    return f"{app_url}?{urlencode({**state.encode(config, preset), **extra}, doseq=True)}"


def read(page, role: str) -> list[dict]:
    return page.evaluate(READ, role)


def component_text(page) -> dict:
    return page.evaluate("""() => {
        const root = document.querySelector('.ov-root');
        return {exit: [...root.querySelectorAll('.ov-map .textpoint text')].map((t) => t.textContent),
                legend: [...root.querySelectorAll('.ov-legend-text')].map((e) => e.textContent),
                step: root.querySelector('.ov-step').textContent, key: root.querySelector('.ov-key').textContent,
                toggle: root.querySelector('.ov-arrows-toggle').textContent,
                title: root.querySelector('.ov-chart-title').textContent,
                table: root.querySelector('.ov-internals').innerText,
                labels: [...root.querySelectorAll('.ov-controls [aria-label]')].map((e) => e.getAttribute('aria-label')),
                all: root.innerText};
    }""")


def test_the_divergence_presets_exit_arrow_is_drawn_on_the_border_pointing_out(page, app_url):
    config = PRESETS["divergence"].config
    open_app(page, link(app_url, config, "divergence"))
    res = run(get_surface(config.surface), list(config.optimizers), [config.start], config.steps, compiled=False)
    (arrow,) = [t for t in read(page, "diverged") if t["config"] == 3]
    assert arrow["symbol"] == ["arrow"]  # no cross pretending the run ended inside
    u, v = arrow["px"]
    width, height = arrow["plot"]
    assert min(u, width - u, v, height - v) < 0.5  # on the frame's border, in pixels
    stop = int(res.stop_index()[3, 0])
    point, direction = last_exit(res.path[3, 0, : stop + 1], res.surface.bounds)
    (x0, x1), (y0, y1) = res.surface.bounds
    assert math.hypot(arrow["x"][0] - point[0], arrow["y"][0] - point[1]) < 2e-3 * (x1 - x0)
    # the drawn heading (clockwise from up, the map at equal scale) is the last exit's direction
    angle = math.radians(arrow["angle"][0] if isinstance(arrow["angle"], list) else arrow["angle"])
    assert np.array([math.sin(angle), math.cos(angle)]) @ direction / np.linalg.norm(direction) > 0.9999
    assert component_text(page)["exit"] == ["step 70 → (-5.2e5, 9.0e5)"]


def test_a_thousand_start_swarm_shows_its_end_density_age_and_exits(page, app_url):
    optimizers = (get_optimizer("sgd", lr=0.01), get_optimizer("adam", lr=0.1), get_optimizer("sgd", lr=0.03))
    config = state.make_config("himmelblau", swarm=1000, swarm_seed=3, steps=120, optimizers=optimizers)
    open_app(page, link(app_url, config))
    res = run(get_surface("himmelblau"), list(optimizers), config.starts(), config.steps, compiled=False)
    stop = res.stop_index()
    (x0, x1), (y0, y1) = res.surface.bounds
    density = read(page, "density")
    assert [t["config"] for t in density] == [0, 1, 2] and all(t["type"] == "heatmap" for t in density)
    for t in density:
        k = t["config"]
        kept = np.nonzero(res.diverged_at[k] < 0)[0]
        end = res.path[k, kept, stop[k, kept]]
        inside = (end[:, 0] >= x0) & (end[:, 0] <= x1) & (end[:, 1] >= y0) & (end[:, 1] <= y1)
        assert sum(t["z"]) == pytest.approx(inside.sum(), rel=1e-4)
    assert page.locator(".ov-map .heatmaplayer image").count() == 3  # drawn, one layer each
    bands = [t for t in read(page, "path") if t["config"] == 0]
    assert len(bands) == 4 and [t["opacity"] for t in bands] == sorted(t["opacity"] for t in bands)
    (crosses,) = read(page, "diverged")
    n = np.nonzero(res.diverged_at[2] >= 0)[0]
    assert crosses["config"] == 2 and len(crosses["x"]) == len(n) > 50
    for x, y, i in list(zip(crosses["x"], crosses["y"], n))[::10]:
        point, _ = last_exit(res.path[2, i, : stop[2, i] + 1], res.surface.bounds)
        assert math.hypot(x - point[0], y - point[1]) < 2e-3 * (x1 - x0), i
        assert min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-6


def test_identical_optimizers_get_their_own_dash_and_a_same_path_note(page, app_url):
    optimizers = (get_optimizer("sgd", lr=1e-3), get_optimizer("sgd", lr=1e-3), get_optimizer("adam", lr=0.05))
    open_app(page, link(app_url, state.make_config("rosenbrock", steps=200, optimizers=optimizers)))
    text = component_text(page)
    assert text["legend"][:3] == ["SGD (lr=0.001)", "SGD (lr=0.001) — same path as SGD (lr=0.001)", "Adam (lr=0.05)"]
    dashes = page.evaluate("""() => [...document.querySelectorAll('.ov-legend-item')].slice(0, 3)
        .map((e) => e.querySelector('line').getAttribute('stroke-dasharray'))""")
    # Adam's path runs over the first 200 steps of SGD's for most of their length: dashed too (it
    # hides them on a small map, plots.contour.hiding), without a 'same path' note
    res = run(get_surface("rosenbrock"), optimizers, [[-1.5, 2.0]], 200, compiled=False)
    from plots.contour import hiding
    assert hiding(res)[2] == [0, 1]
    assert dashes[0] == "" and dashes[1] not in ("", None) and dashes[2] not in ("", None, dashes[1])
    drawn = page.evaluate("""() => document.querySelector('.ov-map.js-plotly-plot')._fullData
        .filter((t) => t.meta && t.meta.role === 'path').map((t) => [t.line.dash, t.marker.symbol])""")
    assert drawn[0][0] == "solid" and drawn[1][0] != "solid" and drawn[1][1] != drawn[0][1]


def test_the_components_words_are_chinese_with_lang_zh(page, app_url):
    config = PRESETS["divergence"].config
    open_app(page, link(app_url, config, "divergence", lang="zh"))
    text = component_text(page)
    for name in ("step", "key", "toggle", "title", "table"):
        assert CJK.search(text[name]), (name, text[name])
    assert all(CJK.search(label) for label in text["labels"]), text["labels"]
    assert text["exit"] == ["第 70 步 → (-5.2e5, 9.0e5)"]
    assert text["legend"][3] == "SGD (lr=2.2) — 在第 71 步发散"
    hover = page.evaluate("""() => Object.fromEntries(document.querySelector('.ov-map.js-plotly-plot').data
        .filter((t) => t.meta && ['path', 'end', 'start', 'diverged'].includes(t.meta.role))
        .map((t) => [`${t.meta.role}${t.meta.config ?? ''}`, t.hovertext ? t.hovertext[0] : t.hovertemplate]))""")
    assert "梯度" in hover["path0"] and "有效学习率" in hover["path0"] and "第 %{customdata[0]} 步" in hover["path0"]
    assert CJK.search(hover["end0"]) and CJK.search(hover["start"])
    assert hover["diverged3"].startswith("<b>SGD (lr=2.2)</b><br>在第 71 步发散<br>最后一个有限点，第 70 步")
    # no English words of the component's catalogue anywhere in it
    english = i18n.flat(i18n.catalogue("en")["map"])
    words = {w.strip(" ()—:;,.·") for template in english.values() for w in re.split(r"\{\w+\}", template)}
    shown = [w for w in words if len(w) >= 4 and w in text["all"]]
    assert not shown, shown
