"""Icons that render without an emoji font, and the Presentation toggle out of the content's way,
in Debian's Chromium (which has no emoji font on a fresh machine: emoji there are empty boxes).

The alerts' icons are Streamlit's bundled Material Symbols (icon=":material/...:"), drawn from
the font Streamlit serves; no emoji code point may reach the rendered text. The toggle sits in
the page flow at the top right: it scrolls away with the page instead of covering what scrolls
under it.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from tests.app_server import ARTIFACTS
from tests.e2e.browser import open_app, wait_idle, wait_until
from ui import state
from ui.presets import PRESETS

SHOTS = ARTIFACTS / "screenshots"

# Emoji that Debian's fonts lack (pictographs, the hourglass and stop signs), the symbols the app
# once used as icons (warning, scissors, information) and the variation selector that asks for any
# character's emoji form. (The map's legend glyphs, such as the star, are DejaVu Sans's.)
EMOJI = re.compile("[\U0001F000-\U0001FAFF\u231A\u231B\u23E9-\u23FA\u26A0\u2702\u2139\uFE0F]")

RECT = """s => { const e = document.querySelector(s); if (!e) return null;
    const r = e.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }"""
MAIN_TEXT = "() => document.querySelector('[data-testid=\"stMain\"]').innerText"
# Each alert's icon: its text (a Material icon is a ligature: its name) and the font drawing it.
ALERT_ICONS = """() => [...document.querySelectorAll('[data-testid="stAlertContainer"]')].map(a => {
    const icon = a.querySelector('[data-testid="stAlertDynamicIcon"]');
    return icon ? [icon.textContent, getComputedStyle(icon).fontFamily] : null; })"""
FONT_LOADED = "font => document.fonts.ready.then(() => document.fonts.check('24px ' + font))"


def _emoji(text: str) -> list[str]:
    return sorted({f"U+{ord(c):04X}" for c in EMOJI.findall(text)})


def test_the_alerts_show_material_icons_and_no_emoji(page, app_url):
    """A preset's story (an info alert) and a link's notes (a warning): Material icons, no emoji."""
    link = urlencode({**state.encode(PRESETS["saddle"].config, "saddle"), "bogus": "1"}, doseq=True)
    open_app(page, f"{app_url}/?{link}")  # the preset's own setup (its story shows) and a note on "bogus"
    icons = wait_until(lambda: page.evaluate(ALERT_ICONS), lambda found: len(found) >= 2, "the story and the notes")
    assert {text for text, _ in icons} >= {"school", "link"}, icons
    for text, font in icons:
        assert re.fullmatch("[a-z_]+", text) and "Material Symbols" in font, (text, font)
    assert page.evaluate(FONT_LOADED, icons[0][1].split(",")[0])
    assert _emoji(page.evaluate(MAIN_TEXT)) == []
    assert _emoji(page.evaluate("() => document.body.innerText")) == []


def test_the_presentation_toggle_scrolls_away_with_the_page(page, app_url):
    open_app(page, f"{app_url}/")
    toggle = page.evaluate(RECT, ".st-key-present_toggle")
    header = page.evaluate(RECT, ".st-key-page_header")
    assert toggle["bottom"] <= header["top"] + 1, (toggle, header)  # above the title and the formula
    assert toggle["right"] <= page.viewport_size["width"]
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollBy(0, 600)")
    moved = wait_until(lambda: page.evaluate(RECT, ".st-key-present_toggle"), lambda r: r["top"] < toggle["top"] - 500,
                       "the toggle scrolled with the page")
    assert moved["bottom"] <= 0, moved  # off the top: nothing scrolled under it is covered
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "presentation-toggle-scrolled.png"))  # the viewport, as scrolled
    # and still one click once scrolled back
    page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTo(0, 0)")
    page.get_by_test_id("stMain").locator(".st-key-present_toggle").get_by_text("Presentation").click()
    wait_until(lambda: page.evaluate("location.search"), lambda url: "present=1" in url, "present=1 in the link")
    wait_idle(page)

