"""The page asks no host but its own server for anything (an offline classroom has no other),
and logs no error or warning in the browser's console, on each of its pages."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.e2e.browser import open_app


@pytest.mark.parametrize("path", ["", "mnist_page", "online"])
def test_every_request_goes_to_the_apps_own_server(page, app_url, path):
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    # a resource that fails is named by its response; Streamlit itself probes <page>/_stcore/health
    # and host-config on a deep link before finding its root (404s that are not the app's)
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}")  # KaTeX's warnings too
            if m.type in ("error", "warning") and not m.text.startswith("Failed to load resource") else None)
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.on("response", lambda r: errors.append(f"{r.status}: {r.url}")
            if r.status >= 400 and not r.url.endswith(("/_stcore/health", "/_stcore/host-config")) else None)
    if path:
        page.goto(app_url.rstrip("/") + "/" + path)
        page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=90_000)
        page.wait_for_timeout(3_000)  # what the page fetches once drawn (icons, fonts)
    else:
        open_app(page, app_url)
        page.wait_for_selector(".ov-root[data-ready]", timeout=90_000)
        page.wait_for_timeout(2_000)
    own = urlsplit(app_url).netloc
    others = sorted({urlsplit(u).netloc for u in requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")} - {own})
    assert others == [], f"requests to other hosts: {others}"
    assert any("favicon" in u or "/media/" in u for u in requests)  # the page's icon, from this server
    assert errors == []
