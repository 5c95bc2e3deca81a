"""The map component in Chromium: the lr drag preview, hover, arrows and the internals at a step,
each compared with optimizers.run for the same settings (array path, as the test server runs)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import VIEW, open_app, panel, wait_until
from tests.e2e.test_browser import DEFAULT_OPTIMIZERS, DEFAULT_START, DEFAULT_STEPS
from ui.map_component import PREVIEW_VALUES, preview_grid

ROSENBROCK = get_surface("rosenbrock")


def preview_ready(page) -> bool:
    return page.evaluate(f"() => !!({VIEW} && {VIEW}.previewPaths)")


def drag_preview(page, index: int) -> dict:
    """Move the preview slider to `index` as a drag does (input events, no release); return what
    the overlay draws: the path and the text under the slider."""
    return page.evaluate(f"""(j) => {{ const s = document.querySelector('.ov-preview-lr'); s.value = String(j);
        s.dispatchEvent(new Event('input'));
        return {{path: Array.from({VIEW}.previewPath), text: document.querySelector('.ov-preview-text').textContent,
                 ms: Number({VIEW}.root.dataset.previewMs)}}; }}""", index)


def test_dragging_the_lr_preview_draws_engine_runs_and_release_runs_the_exact_value(page, app_url):
    open_app(page, app_url)
    wait_until(lambda: preview_ready(page), bool, "the lr preview's data")
    page.locator(".ov-preview-which").select_option("4")  # Adam (lr=0.05)
    grid = preview_grid("adam", PREVIEW_VALUES)
    for j in (0, 20, PREVIEW_VALUES - 1):
        drawn = drag_preview(page, j)
        res = run(ROSENBROCK, [get_optimizer("adam", lr=float(grid[j]))], [DEFAULT_START], DEFAULT_STEPS, compiled=False)
        path = res.path[0, 0, : res.stop_index()[0, 0] + 1]
        xy = np.array(drawn["path"]).reshape(-1, 2)
        # drawn points are the run's own points (float32, decimated): each lies on the path
        dist = np.min(np.linalg.norm(path[None, :, :] - xy[:, None, :], axis=-1), axis=1)
        assert dist.max() < 1e-5, (j, dist.max())
        np.testing.assert_allclose(xy[[0, -1]], path[[0, -1]], rtol=1e-6, atol=1e-6)
        assert f"nearest of {PREVIEW_VALUES} computed values" in drawn["text"]
        assert drawn["ms"] < 33
    # release: the exact value goes into Adam's panel and the page runs it
    page.evaluate("() => document.querySelector('.ov-preview-lr').dispatchEvent(new Event('change'))")
    lr = float(grid[PREVIEW_VALUES - 1])
    adam = panel(page, "5. Adam")
    wait_until(lambda: adam.get_by_label("lr (exact)", exact=True).input_value(),
               lambda v: float(v) == pytest.approx(lr, rel=1e-9), "the released lr in the panel")
    expected = run(ROSENBROCK, [*DEFAULT_OPTIMIZERS[:4], get_optimizer("adam", lr=lr)], [DEFAULT_START], DEFAULT_STEPS,
                   compiled=False)
    drawn_end = wait_until(
        lambda: page.evaluate(f"() => {VIEW}.dataId === {VIEW}.root.dataset.ready && Array.from({VIEW}.runs[4].path)"),
        lambda p: p and np.allclose(np.array(p).reshape(-1, 2)[-1], expected.path[4, 0, -1], rtol=0, atol=0),
        "Adam's run at the released lr")
    assert len(drawn_end) == 2 * (DEFAULT_STEPS + 1)


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
