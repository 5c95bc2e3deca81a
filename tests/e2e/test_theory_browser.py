"""The theory panel in a real browser at 1400 x 1000: the presets' links, the closed forms in the
panel's table, the optimal-values button, and a screenshot of the panel (artifacts/screenshots)."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlparse

import pytest

from tests.e2e.browser import open_app, tables, wait_idle, wait_until
from tests.e2e.conftest import SCREENSHOTS
from ui import state
from ui.presets import PRESETS

VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture
def small_page(browser, app_server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    page = context.new_page()
    before = len(app_server.log_text())
    yield page
    context.close()
    logged = app_server.log_text()[before:]
    assert "Traceback" not in logged, f"the server logged an error during the test:\n{logged}"


def link(app_url: str, name: str) -> str:
    params = state.encode(PRESETS[name].config, name)
    query = "&".join(f"{k}={v}" for k, values in params.items() for v in (values if isinstance(values, list) else [values]))
    return f"{app_url}/?{query}"


def theory_table(page, column: str) -> dict:
    return wait_until(lambda: [t for t in tables(page) if column in t["header"] and t["rows"]], bool,
                      f"the table with {column!r}")[0]


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel = page.locator(".st-key-theory")
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.screenshot(path=str(SCREENSHOTS / f"{name}-page.png"), full_page=True)


def test_optimal_momentum_panel_and_button(small_page, app_url):
    page = small_page
    open_app(page, link(app_url, "optimal_momentum"))
    table = theory_table(page, "closed-form rate")
    column = table["header"].index("closed-form rate")
    assert [row[column] for row in table["rows"]][-2:] == [f"{99 / 101:.5g}", f"{9 / 11:.5g}"]
    # the momentum slider keeps the exact optimum (the link still holds it after the browser's run)
    opts = parse_qs(urlparse(page.url).query)["opt"]
    beta = ((1 - math.sqrt(0.01)) / (1 + math.sqrt(0.01))) ** 2
    assert any(f"momentum:{beta!r}" in o for o in opts), opts
    shoot(page, "theory-optimal-momentum")
    page.get_by_role("button", name="Set the optimal values for this condition number").click()
    wait_idle(page)
    text = page.locator(".st-key-theory").inner_text()
    assert "Goh" in text and "Why Momentum Really Works" in text


def test_saddle_escape_panel(small_page, app_url):
    page = small_page
    open_app(page, link(app_url, "saddle_escape"))
    table = theory_table(page, "escape (theory)")
    column = table["header"].index("escape (theory)")
    assert [row[column] for row in table["rows"]][-3:] == ["⌈72.4766⌉ = 73", "⌈37.8878⌉ = 38", "⌈20.5299⌉ = 21"]
    shoot(page, "theory-saddle-escape")
    open_app(page, link(app_url, "saddle_noise"))
    theory_table(page, "escape (theory)")
    shoot(page, "theory-saddle-noise")
