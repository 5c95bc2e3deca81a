"""The edge-of-stability section of the MNIST page in Chromium at 1400 x 1000, as a student uses it.

Opens the section, shortens the run, presses Run, waits for the table of measured plateaus and
leaves a full-page screenshot in artifacts/screenshots/eos-section.png.
"""

from __future__ import annotations

import re

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or, in CI, fail) saying what is missing
    expect = None

from tests.e2e.browser import read_roles, screenshot, tables, type_number, wait_idle, wait_until
from tests.e2e.conftest import SCREENSHOTS

VIEWPORT = {"width": 1400, "height": 1000}


@pytest.fixture
def small_page(browser, app_server):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    before = len(app_server.log_text())
    yield context.new_page()
    context.close()
    logged = app_server.log_text()[before:]
    assert "Traceback" not in logged, f"the server logged an error during the test:\n{logged}"


def test_edge_of_stability_runs_and_shows_the_plateau(small_page, app_url):
    page = small_page
    page.goto(app_url)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="MNIST").click()
    section = page.get_by_test_id("stExpander").filter(has_text="Edge of stability")
    section.locator("summary").click()
    expect(section.get_by_text("Cohen, Kaur, Li, Kolter & Talwalkar", exact=False)).to_be_visible()
    type_number(section, "Steps", "200")
    expect(section.get_by_text("Steps capped at", exact=False)).to_be_visible()
    wait_idle(page)
    section.get_by_role("button", name="Run gradient descent").click()
    done = section.get_by_test_id("stProgress").get_by_text(re.compile(r"Step 200 / 200"))
    expect(done).to_be_visible(timeout=120_000)
    wait_idle(page)

    rows = wait_until(lambda: [t for t in tables(page) if "plateau median" in t["header"] and t["rows"]], bool,
                      "the plateau table")[0]
    column = lambda name: [float(r[rows["header"].index(name)]) for r in rows["rows"]]  # noqa: E731
    assert column("lr") == [0.08, 0.1, 0.15]
    assert column("2 / lr") == pytest.approx([25, 20, 13.333333])
    assert all(s > 10 for s in column("plateau median"))
    roles = read_roles(page)
    assert len(roles["sharpness"]) == 3 and len(roles["threshold"]) == 3
    assert all(x[-1] == 200 for x in roles["sharpness"]), roles["sharpness"]
    section.scroll_into_view_if_needed()
    screenshot(page, SCREENSHOTS, "eos-section")
