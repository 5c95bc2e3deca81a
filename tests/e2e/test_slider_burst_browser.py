"""In Chromium: a burst of arrow presses on a live slider, faster than the server's reruns. Each
press is a pick that reruns the page; a rerun for an earlier press arrives while the user has
pressed on, and must not move the thumb back under the user's keys. The thumb goes one notch a
press, the server ends at the last pressed value, and the map draws the engine's run for it."""

from __future__ import annotations

import numpy as np

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import VIEW, open_app, panel, wait_idle, wait_until
from tests.e2e.test_browser import DEFAULT_OPTIMIZERS, DEFAULT_START, DEFAULT_STEPS
from ui import widgets

PRESSES, GAP_MS = 10, 100

RECORD = """(input) => { window.__thumb = [input.value];
    new MutationObserver(() => window.__thumb.push(input.value))
        .observe(input, {attributes: true, attributeFilter: ['aria-valuetext']}); }"""


def test_a_burst_of_presses_moves_one_notch_each_and_ends_at_the_last_value(page, app_url):
    open_app(page, app_url)
    adam = panel(page, "5. Adam")
    slider = adam.locator('input[type="range"][aria-label="lr"]')
    slider.focus()
    wait_idle(page)
    start = int(slider.input_value())
    slider.evaluate(RECORD)
    for _ in range(PRESSES):
        page.keyboard.press("ArrowLeft")
        page.wait_for_timeout(GAP_MS)
    grid = widgets.log_grid(1e-5, 10.0)  # the lr slider's notches
    assert grid[start] == 0.05
    last = grid[start - PRESSES]
    wait_until(lambda: adam.get_by_label("lr (exact)", exact=True).input_value(),
               lambda v: float(v) == last, f"the server's lr at the last pressed value {last}")
    wait_idle(page)
    thumb = [int(i) for i in page.evaluate("() => window.__thumb")]
    # one notch down a press, never back up (a rerun for an earlier press arriving meanwhile)
    assert all(b <= a for a, b in zip(thumb, thumb[1:])), thumb
    assert thumb[-1] == start - PRESSES and int(slider.input_value()) == start - PRESSES
    expected = run(get_surface("rosenbrock"), [*DEFAULT_OPTIMIZERS[:4], get_optimizer("adam", lr=last)],
                   [DEFAULT_START], DEFAULT_STEPS, compiled=False).path[4, 0]
    path = wait_until(lambda: page.evaluate(f"() => {VIEW}.root.dataset.ready === {VIEW}.dataId && {VIEW}.pendingRun === -1"
                                            f" && Array.from({VIEW}.runs[4].path)"), bool, "the last value's run drawn")
    np.testing.assert_array_equal(np.array(path).reshape(-1, 2), expected)
