"""The sizes plots/contour.py judges paths at are the sizes the page draws the map (issue #14).

'same path as' is decided on a map whose frame's longer side is DRAWN_PX long, the largest the
page draws in windows up to 1920x1200; a path hiding another on one DRAWN_PX_MIN long, the
smallest in windows from 1024x768. The map component sizes the map to the window
(ui/map_component.js FitLayout): read back the drawn axes' lengths in Chromium at the windows
that draw the largest (presentation mode at 1920x1200) and the smallest (just over 1100 px wide,
the narrowest two-column page), for a square frame and the widest one (six-hump camel, 6 x 4).
"""

from __future__ import annotations

import pytest

from plots.contour import DRAWN_PX, DRAWN_PX_MIN
from tests.e2e.browser import FIND_MAP, open_app

AXES = f"""() => {{
    const full = ({FIND_MAP})()._fullLayout;
    return Math.max(full.xaxis._length, full.yaxis._length);
}}"""


def _longer_side(browser, app_url, query: str, width: int, height: int) -> float:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        open_app(page, f"{app_url}/?{query}", 240)
        page.wait_for_function("() => document.querySelector('.ov-root')?.dataset.mapHeight", timeout=60_000)
        page.wait_for_timeout(800)  # FitLayout fits once more after 400 ms
        return page.evaluate(AXES)
    finally:
        context.close()


@pytest.mark.parametrize("surface", ["rosenbrock", "six_hump_camel"])
def test_the_largest_map_is_no_larger_than_drawn_px(browser, app_url, surface):
    for query, size in ((f"surface={surface}&steps=20&present=1", (1920, 1200)),
                        (f"surface={surface}&steps=20", (1920, 1200))):
        assert _longer_side(browser, app_url, query, *size) <= DRAWN_PX, (query, size)


@pytest.mark.parametrize("surface", ["rosenbrock", "six_hump_camel"])
def test_the_smallest_map_is_no_smaller_than_drawn_px_min(browser, app_url, surface):
    for size in ((1101, 768), (1024, 768)):
        assert _longer_side(browser, app_url, f"surface={surface}&steps=20", *size) >= DRAWN_PX_MIN, size
