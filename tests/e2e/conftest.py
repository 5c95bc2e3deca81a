"""Fixtures of the browser tests: the app served on loopback, Debian's Chromium, a fresh page per test.

Without /usr/bin/chromium (or the playwright package) these tests skip, except in CI (CI=true),
where they fail: there they are part of the suite, not optional. Every test leaves a full-page
screenshot in artifacts/screenshots/<test>.png, and fails if the server logged a traceback
while it ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app_server import ARTIFACTS, streamlit_server
from tests.e2e.browser import CHROMIUM, VIEWPORT, launch

SCREENSHOTS = ARTIFACTS / "screenshots"


def _require_browser() -> None:
    missing = None
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} not found (Debian: apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "the playwright package is not installed (pip install -r requirements-dev.txt)"
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run in CI: {missing}", pytrace=False)
    pytest.skip(f"browser tests skipped: {missing}")


@pytest.fixture(scope="session")
def app_server():
    """The app on a free loopback port; the engine's array path only (no background compiling),
    so the two cores go to the browser and the server."""
    _require_browser()
    with streamlit_server({"OPTVIS_COMPILE": "0"}, name="e2e-server") as server:
        yield server


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_page(browser, request):
    """Factory of pages, each in its own browser context (a separate Streamlit session).

    At teardown each page is screenshotted (artifacts/screenshots/<test>[-n].png) and closed.
    """
    opened = []

    def make():
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(60_000)
        page = context.new_page()
        opened.append((context, page))
        return page

    yield make
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for i, (context, page) in enumerate(opened):
        suffix = f"-{i + 1}" if len(opened) > 1 else ""
        try:
            page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}{suffix}.png"), full_page=True)
        finally:
            context.close()


@pytest.fixture
def page(new_page, app_server):
    """One fresh page; the test fails if the server logs a traceback meanwhile."""
    before = len(app_server.log_text())
    yield new_page()
    logged = app_server.log_text()[before:]
    assert "Traceback" not in logged, f"the server logged an error during the test:\n{logged}"
