"""Bounds on what one link can do, in a real browser (tests/test_session_bounds.py has the rest).

A link of more than 1,000 fields reaches the browser but not the script: Streamlit drops the
whole query string, and only the page's check in the browser can say why the default view opened.
"""

from __future__ import annotations

from tests.e2e.browser import open_app, sidebar, type_number, wait_until

TOO_MANY = "&".join(f"p{i}=1" for i in range(1001))  # 1,001 fields, 9 KB: under the server's header limit


def unread_note(page) -> str:
    return page.evaluate("() => document.getElementById('optvis-unread-link')?.textContent ?? null") or ""


def test_a_link_streamlit_drops_says_it_was_too_long(page, app_url):
    open_app(page, f"{app_url}/?{TOO_MANY}")
    text = wait_until(lambda: unread_note(page), bool, "the too-long-link note")
    assert "too long to read" in text and "1,001 parameters" in text and "1,000 parameters" in text, text
    assert page.get_by_role("alert").filter(has_text="too long to read").is_visible()
    type_number(sidebar(page), "steps", 300)  # the view is no longer the default one: the note goes
    wait_until(lambda: page.locator("#optvis-unread-link").count(), lambda n: n == 0, "the note to go")


def test_a_plain_visit_shows_no_note_and_no_gap(page, app_url):
    open_app(page, app_url)
    assert unread_note(page) == ""
    hidden = page.evaluate("() => getComputedStyle(document.getElementById('optvis-unread-link')"
                           ".closest('.stElementContainer')).display")
    assert hidden == "none"
