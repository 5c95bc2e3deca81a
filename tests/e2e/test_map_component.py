"""The map component in Chromium: the lr drag preview, hover, arrows and the internals at a step,
each compared with optimizers.run for the same settings (array path, as the test server runs)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import VIEW, open_app, panel, wait_until
from tests.e2e.test_browser import DEFAULT_OPTIMIZERS, DEFAULT_START, DEFAULT_STEPS
from ui import widgets

ROSENBROCK = get_surface("rosenbrock")


def preview_ready(page) -> bool:
    return page.evaluate(f"() => !!({VIEW} && {VIEW}.previewPaths)")


ADAM_SLIDER = "[...document.querySelectorAll('.ls-input')].find(e => e.id.includes('opt4_adam_lr'))"


def drag_preview(page, index: int) -> dict:
    """Move Adam's lr slider in the sidebar to notch `index` as a drag does (input events, no
    release); return what the map's overlay draws: the path and the text above the map."""
    return page.evaluate(f"""(j) => {{ const s = {ADAM_SLIDER}; s.value = String(j);
        s.dispatchEvent(new Event('input'));
        return {{path: Array.from({VIEW}.previewPath), text: document.querySelector('.ov-preview').textContent,
                 ms: Number({VIEW}.root.dataset.previewMs)}}; }}""", index)


def map_path(page, k: int) -> dict:
    return page.evaluate("""(k) => { const t = document.querySelector('.ov-map.js-plotly-plot').data
        .find(t => t.meta && t.meta.role === 'path' && t.meta.config === k);
        return {name: t.name, x: Array.from(t.x), y: Array.from(t.y)}; }""", k)


def engine_path(lr: float) -> np.ndarray:
    res = run(ROSENBROCK, [get_optimizer("adam", lr=lr)], [DEFAULT_START], DEFAULT_STEPS, compiled=False)
    return res.path[0, 0, : res.stop_index()[0, 0] + 1]


def on_path(xy: np.ndarray, path: np.ndarray) -> float:
    """The largest distance of a drawn point from the run's points (0: each is one of them, float32)."""
    return float(np.min(np.linalg.norm(path[None, :, :] - xy[:, None, :], axis=-1), axis=1).max())


def test_dragging_the_lr_slider_draws_engine_runs_and_release_shows_the_exact_run_at_once(page, app_url):
    open_app(page, app_url)
    wait_until(lambda: preview_ready(page), bool, "the lr preview's data")
    grid = widgets.log_grid(1e-5, 10.0)  # the lr slider's notches, every one computed
    assert page.evaluate(f"() => Number({ADAM_SLIDER}.max)") == len(grid) - 1
    for j in (0, 20, len(grid) - 1):
        drawn = drag_preview(page, j)
        xy = np.array(drawn["path"]).reshape(-1, 2)
        path = engine_path(float(grid[j]))
        assert on_path(xy, path) < 1e-5, j
        np.testing.assert_allclose(xy[[0, -1]], path[[0, -1]], rtol=1e-6, atol=1e-6)
        assert "preview of lr: the engine's run at this value" in drawn["text"]
        assert f"one of {len(grid)} computed" in drawn["text"]
        assert drawn["ms"] < 33
    # release on a notch: the map's Adam path is that run at once, before the server's rerun
    j = grid.index(0.02)
    page.evaluate(f"""(j) => {{ const s = {ADAM_SLIDER}; s.value = String(j);
        s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change')); }}""", j)
    shown = page.evaluate(f"""() => {{ const v = {VIEW}, gd = v.mapDiv;
        const hidden = gd._fullData.filter(t => t.meta && t.meta.config === 4 && ['path', 'end'].includes(t.meta.role));
        return {{label: v.exact.label, path: Array.from(v.exact.path), shown: v.root.dataset.shown,
                 hidden: hidden.map(t => [t.opacity, t.hoverinfo])}}; }}""")
    assert shown["label"] == "Adam (lr=0.02)" and shown["shown"].startswith("4:Adam (lr=0.02):")
    assert on_path(np.array(shown["path"]).reshape(-1, 2), engine_path(0.02)) < 1e-5
    assert shown["hidden"] and all(h == [0, "skip"] for h in shown["hidden"])  # the old run's marks
    assert "Adam (lr=0.02): the engine's run at this lr" in page.locator(".ov-preview").inner_text()
    # ... and the release goes into Adam's panel; the server's run replaces it with the same path
    adam = panel(page, "5. Adam")
    wait_until(lambda: adam.get_by_label("lr (exact)", exact=True).input_value(),
               lambda v: float(v) == pytest.approx(0.02, rel=1e-12), "the released lr in the panel")
    expected = run(ROSENBROCK, [*DEFAULT_OPTIMIZERS[:4], get_optimizer("adam", lr=0.02)], [DEFAULT_START],
                   DEFAULT_STEPS, compiled=False)
    drawn_end = wait_until(
        lambda: page.evaluate(f"() => {VIEW}.dataId === {VIEW}.root.dataset.ready && {VIEW}.pendingRun === -1"
                              f" && Array.from({VIEW}.runs[4].path)"),
        lambda p: p and np.allclose(np.array(p).reshape(-1, 2)[-1], expected.path[4, 0, -1], rtol=0, atol=0),
        "Adam's run at the released lr")
    assert len(drawn_end) == 2 * (DEFAULT_STEPS + 1)
    assert map_path(page, 4)["name"] == "Adam (lr=0.02)"
    assert page.evaluate(f"() => {VIEW}.exact === null && {VIEW}.mapDiv._fullData.every(t => t.opacity === 1)")


def test_arrows_internals_and_hover_at_a_step(page, app_url):
    open_app(page, app_url)
    res = run(ROSENBROCK, DEFAULT_OPTIMIZERS, [DEFAULT_START], DEFAULT_STEPS, compiled=False)
    page.locator(".ov-scrub").focus()
    page.keyboard.press("Home")
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    wait_until(lambda: page.evaluate(f"() => {VIEW}.frames[{VIEW}.frame]"), lambda s: s == 10, "step 10")
    table = page.locator(".ov-internals").inner_text()
    assert "Internals at step 10" in table
    adam_x = f"{res.path[4, 0, 10, 0]:.4g}"
    assert adam_x in table  # the point, as the engine has it, to 4 significant digits
    key = page.locator(".ov-key").inner_text()
    assert "arrows at step 10" in key and "one scale per run" in key
    page.keyboard.press("ArrowRight")
    assert page.locator(".ov-key").inner_text().split("):", 1)[1] == key.split("):", 1)[1]  # same scale
    # hover on a path point names its step, point, loss, gradient and eff lr
    template = page.evaluate("""() => { const gd = document.querySelector('.ov-map.js-plotly-plot');
        return gd.data.filter(t => t.meta && t.meta.role === 'path').map(t => t.hovertemplate); }""")
    assert all("gradient" in t and "eff. lr" in t and "step" in t for t in template)


def test_the_internals_write_out_the_momentum_recurrence_with_its_numbers(page, app_url):
    """SGD with momentum 0.9 (the default view's second optimizer) at step 40: b_41 = μ b_40 + g_41
    with the run's own numbers, which satisfy it."""
    open_app(page, app_url)
    page.evaluate(f"() => {VIEW}.show({VIEW}.nearestFrame(40))")
    text = page.locator(".ov-internals").inner_text()
    line = [row for row in text.splitlines() if row.startswith("b41 = μ b40 + g41 = 0.9 · ")][0]  # then Nesterov's
    res = run(ROSENBROCK, list(DEFAULT_OPTIMIZERS), [DEFAULT_START], DEFAULT_STEPS, compiled=False)
    b40, b41 = res.state["momentum_buffer"][1, 0, 39], res.state["momentum_buffer"][1, 0, 40]
    g41 = res.grad[1, 0, 40]
    np.testing.assert_allclose(b41, 0.9 * b40 + g41, rtol=1e-12)
    numbers = [float(v) for v in line.split("= 0.9 · ")[1].replace("(", " ").replace(")", " ").replace(",", " ")
               .replace("+", " ").replace("=", " ").split()]
    np.testing.assert_allclose(numbers, [*b40, *g41, *b41], rtol=1e-3)
