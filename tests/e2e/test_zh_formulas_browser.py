"""The Update rules section in Chinese, as Chromium draws it at 1024x768 (#14).

Every optimizer once, with the options that lengthen its formula, and the schedules with formulas
of their own, opened from a link with lang=zh (the groups and options of test_formulas_browser).
KaTeX draws CJK only inside \\text{}: elsewhere it warns on the console ("LaTeX-incompatible
input") and falls back to a font without metrics. So: no KaTeX warning or error on the console
and no .katex-error in the section; every formula shows Chinese; each CJK character of the
section's formulas is drawn with a real glyph (the canvas check of test_i18n_browser, limited to
the section's KaTeX); and no formula is cut at this narrowest size.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.e2e.browser import wait_idle, wait_until
from tests.e2e.test_formulas_browser import GROUPS, SHOTS, SLACK, _optimizers, _scheduled
from tests.e2e.test_i18n_browser import GLYPHS
from ui import state

SIZE = {"width": 1024, "height": 768}
HEADING = "更新规则"  # surfaces.update_rules in zh.toml

# The section's KaTeX displays, from its heading to the end of the page: their text, the CJK
# characters in them, their overflow and column; the KaTeX errors drawn there.
READ = """(heading) => {
  const head = [...document.querySelectorAll('h3')].find((h) => h.textContent.includes(heading));
  if (!head) return null;
  const after = (el) => head.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
  const blocks = [...document.querySelectorAll('.katex-display')].filter(after).map((d) => {
    const col = d.closest('[data-testid="stColumn"]') || d.closest('[data-testid="stMainBlockContainer"]');
    const inner = d.querySelector('.katex-html'), c = col.getBoundingClientRect(), box = inner.getBoundingClientRect();
    const container = d.closest('[data-testid="stElementContainer"]') || col;
    let overflow = 0;
    for (let el = d; el && el !== container.parentElement; el = el.parentElement) {
      overflow = Math.max(overflow, el.scrollWidth - el.clientWidth);
    }
    return {tex: d.querySelector('annotation').textContent, drawn: inner.textContent, overflow,
            left: box.left, right: box.right, col_left: c.left, col_right: c.right};
  });
  const errors = [...document.querySelectorAll('.katex-error')].filter(after).map((e) => e.textContent);
  return {blocks, errors};
}"""

# Marks the section's KaTeX (after its heading) for _section_glyphs.
MARK = """(heading) => {
  const head = [...document.querySelectorAll('h3')].find((h) => h.textContent.includes(heading));
  const shown = [...document.querySelectorAll('.katex-html')]
    .filter((el) => head.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
  shown.forEach((el) => el.setAttribute('data-zh-section', ''));
  return shown.length;
}"""


def _section_glyphs(page) -> dict:
    """GLYPHS' result over the section's KaTeX only (the page's other text is test_i18n_browser's)."""
    script = GLYPHS.replace("() => {", "(root) => {", 1).replace("document.createTreeWalker(document.body,",
                                                                  "document.createTreeWalker(root,")
    assert "createTreeWalker(root," in script
    page.evaluate(MARK, HEADING)
    found = {"glyphs": [], "control": None}
    for display in page.query_selector_all("[data-zh-section]"):
        one = display.evaluate(script)
        found["glyphs"] += one["glyphs"]
        found["control"] = found["control"] or one["control"]
    return found


@pytest.fixture(scope="module", params=range(len(GROUPS)), ids=lambda g: f"group{g}")
def section(browser, app_url, request):
    names = GROUPS[request.param]
    config = state.make_config("rosenbrock", {}, steps=20, optimizers=_optimizers(names))
    context = browser.new_context(viewport=SIZE)
    page = context.new_page()
    console = []
    page.on("console", lambda m: console.append((m.type, m.text)))
    try:
        page.goto(f"{app_url}/?{urlencode({**state.encode(config), 'lang': 'zh'}, doseq=True)}")
        wait_until(lambda: page.evaluate(READ, HEADING), lambda r: r and r["blocks"], "the 更新规则 section", 240)
        wait_idle(page, 240)
        page.evaluate(f"() => [...document.querySelectorAll('h3')].find((h) => h.textContent.includes('{HEADING}'))"
                      ".scrollIntoView()")
        page.wait_for_timeout(500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"formulas-zh-1024x768-{request.param}.png"), full_page=False)
        yield names, page.evaluate(READ, HEADING), _section_glyphs(page), console
    finally:
        context.close()


def test_every_formula_is_drawn_with_its_chinese_words(section):
    names, shown, _, _ = section
    blocks = shown["blocks"]
    assert len(blocks) == 2 * len(names) + len(_scheduled(names))
    assert not shown["errors"], shown["errors"]
    assert sum("有效学习率" in b["drawn"] for b in blocks) == len(names)
    assert not [b["tex"] for b in blocks if "effective lr" in b["tex"] or "\\text{ on }" in b["tex"]]


def test_katex_does_not_warn(section):
    *_, console = section
    katex = [text for kind, text in console if kind in ("warning", "error")
             and ("KaTeX" in text or "LaTeX" in text or "character metrics" in text)]
    assert not katex, katex[:5]


def test_every_chinese_character_of_the_formulas_has_a_glyph(section):
    _, _, found, _ = section
    assert found["control"] == {"missing_alike": True, "space_inked": False}, found["control"]
    chars = {g["char"] for g in found["glyphs"]}
    assert len(chars) > 20, f"only {len(chars)} CJK characters in the formulas"
    boxes = sorted({g["char"] for g in found["glyphs"] if g["tofu"] or not g["ink"]})
    assert not boxes, f"drawn as empty boxes: {''.join(boxes)}"


def test_no_chinese_formula_is_cut(section):
    _, shown, _, _ = section
    cut = [b for b in shown["blocks"]
           if b["overflow"] > SLACK or b["left"] < b["col_left"] - SLACK or b["right"] > b["col_right"] + SLACK]
    assert not cut, "\n".join(f"{b['tex'][:80]!r}: {b}" for b in cut)
