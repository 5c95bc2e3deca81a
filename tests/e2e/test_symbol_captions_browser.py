"""In Chromium at 1024x768: the update rules' symbol lists ("θ_t: the parameters after step t; ...")
never break a line between a symbol and its colon, in English and in Chinese."""

from __future__ import annotations

import pytest

from tests.e2e.browser import open_app, wait_whole

# For every math symbol directly followed by a colon in a caption: [the symbol's line, the colon's]
# (the top of each one's first box), and the symbol's text.
COLON_LINES = """() => {
  const out = [];
  for (const caption of document.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    for (const k of caption.querySelectorAll('.katex')) {
      let next = k.nextSibling;
      if (!next && k.parentElement.classList.contains('katex-inline')) next = k.parentElement.nextSibling;
      while (next && next.nodeType === Node.ELEMENT_NODE && !next.textContent) next = next.nextSibling;
      let node = next, parent = k.parentElement;
      while (!node && parent && parent !== caption) { node = parent.nextSibling; parent = parent.parentElement; }
      if (!node || node.nodeType !== Node.TEXT_NODE || !/^[:：]/.test(node.data)) continue;
      const range = document.createRange();
      range.setStart(node, 0); range.setEnd(node, 1);
      const colon = range.getClientRects()[0], mark = k.getClientRects();
      out.push({symbol: k.querySelector('annotation')?.textContent, symbolTop: mark[mark.length - 1].top,
                symbolBottom: mark[mark.length - 1].bottom, colonTop: colon.top});
    }
  }
  return out;
}"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_symbol_and_its_colon_stay_on_one_line(new_page, app_url, lang):
    page = new_page()
    page.set_viewport_size({"width": 1024, "height": 768})
    open_app(page, app_url + "/?surface=rosenbrock&opt=rprop&opt=adam" + ("&lang=zh" if lang == "zh" else ""))
    wait_whole(page)
    pairs = page.evaluate(COLON_LINES)
    assert len(pairs) >= 4, pairs  # Rprop's and Adam's state symbols
    apart = [p for p in pairs if not p["symbolTop"] <= p["colonTop"] < p["symbolBottom"]]
    assert not apart, apart
