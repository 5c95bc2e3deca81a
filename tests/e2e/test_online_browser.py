"""The online page in Chromium at 1400x1000: it draws its three figures and its table without an
exception, and leaves two screenshots (artifacts/screenshots/online-page.png, the top, and
online-page-figures.png, scrolled to the figures) to look at."""

from __future__ import annotations

from tests.app_server import ARTIFACTS
from tests.e2e.browser import assert_no_exception, tables, wait_idle, wait_until

VIEWPORT = {"width": 1400, "height": 1000}
# The online page's lines, by role, as Plotly holds them (decoded) in the page.
READ_LINES = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => (gd._fullData || [])
    .filter(t => t.meta && ['iterate', 'average_regret', 'eff_lr'].includes(t.meta.role))
    .map(t => ({role: t.meta.role, name: t.name, y: Array.from(t.y || [])})))"""


def test_online_page_in_the_browser(browser, app_server):
    before = len(app_server.log_text())
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    try:
        page = context.new_page()
        page.goto(f"{app_server.url}/online")
        lines = wait_until(lambda: page.evaluate(READ_LINES), lambda found: len(found) == 9, "the three figures",
                           timeout=120)
        wait_idle(page)
        assert_no_exception(page)
        iterate = [t for t in lines if t["role"] == "iterate"]
        assert [t["name"].split(" ")[0] for t in iterate] == ["Adam", "AMSGrad", "SGD"]
        assert iterate[0]["y"][-1] > 0.9 and iterate[1]["y"][-1] < -0.9
        found = wait_until(lambda: [t for t in tables(page) if "final x" in t["header"] and t["rows"]], bool,
                           "the results table")
        assert len(found[0]["rows"]) == 3
        shots = ARTIFACTS / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "online-page.png"))
        page.locator(".js-plotly-plot").last.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "online-page-figures.png"))
    finally:
        context.close()
    logged = app_server.log_text()[before:]
    assert "Traceback" not in logged, logged
