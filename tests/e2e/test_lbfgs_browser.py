"""L-BFGS's loss evaluations on the map component, in Chromium: the points the page holds for a
step are the engine's (Result.evals), and the overlay draws them without an error."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import VIEW, open_app, wait_until
from ui import state


def test_the_evaluations_of_a_step_are_drawn(page, app_url):
    config = state.make_config(optimizers=(get_optimizer("lbfgs", line_search_fn="strong_wolfe"),), steps=30)
    open_app(page, app_url + "?" + urlencode(state.encode(config), doseq=True))
    res = run(get_surface(config.surface), config.optimizers, config.starts(), config.steps, **config.run_kwargs())
    page.locator(".ov-scrub").focus()
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    wait_until(lambda: page.evaluate(f"() => {VIEW}.frames[{VIEW}.frame]"), lambda s: s == 1, "step 1")
    drawn = page.evaluate(f"() => {{ const r = {VIEW}.runs[0]; return {{slots: r.eval_slots,"
                          f" points: r._evalPoints ? Array.from(r._evalPoints) : null}}; }}")
    assert drawn["points"] is not None, "drawEvalPoints did not run"
    points = np.array(drawn["points"], dtype=np.float32).reshape(-1, drawn["slots"], 2)
    count = int(res.n_evals[0, 0, 1])
    assert count >= 1
    np.testing.assert_allclose(points[1, :count], res.evals[0, 0, 1, :count].astype(np.float32))
    assert np.isnan(points[1, count:]).all()
    page.screenshot(path="artifacts/screenshots/lbfgs_evaluations.png")
