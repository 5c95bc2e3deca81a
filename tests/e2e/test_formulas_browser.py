"""No formula of the Update rules section is cut off, in Chromium at 1024x768, 1400x1000 and
1920x1080 (issue #14).

Every optimizer once, with the options that lengthen its formula (SGD's nesterov, weight decay
on where the page then adds its line, an L1 penalty) and every schedule that has a formula of its
own, opened from a link; each KaTeX block of the section must fit its box (scrollWidth no larger
than clientWidth) and lie inside its column, and each formula has its symbols' caption beside it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from optimizers.registry import OPTIMIZERS, get_optimizer
from tests.e2e.browser import wait_idle, wait_until
from ui import state

SHOTS = Path(__file__).parent / "screenshots"  # gitignored
SIZES = ({"width": 1024, "height": 768}, {"width": 1400, "height": 1000}, {"width": 1920, "height": 1080})
LONGEST = {"sgd": {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
           "adam": {"weight_decay": 0.1, "decoupled_weight_decay": True},
           "rmsprop": {"weight_decay": 0.1, "centered": True, "momentum": 0.5},
           "prodigy": {"weight_decay": 0.1}}
SLACK = 3  # px
SCHEDULED = {"sgd": ("warmup_cosine", {}), "rmsprop": ("cosine_restarts", {})}


GROUPS = (list(OPTIMIZERS)[:10], list(OPTIMIZERS)[10:])  # a page holds at most 12 (ui/optimizer_panel.MAX_PANELS)


def _optimizers(names):
    out = []
    for name in names:
        schedule = SCHEDULED.get(name)
        out.append(get_optimizer(name, schedule=schedule, l1=0.01 if name == "adagrad" else 0.0,
                                 **LONGEST.get(name, {})))
    return tuple(out)


# The section's blocks, from its heading to the end of the page: each KaTeX display's box, its
# overflow and its column's box; and the captions' text.
READ = """() => {
  const head = [...document.querySelectorAll('h3')].find((h) => h.textContent.includes('Update rules'));
  if (!head) return null;
  const after = (el) => head.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING;
  const blocks = [...document.querySelectorAll('.katex-display')].filter(after).map((d) => {
    const col = d.closest('[data-testid="stColumn"]') || d.closest('[data-testid="stMainBlockContainer"]');
    const inner = d.querySelector('.katex-html').getBoundingClientRect(), c = col.getBoundingClientRect();
    const box = d.closest('[data-testid="stElementContainer"]') || col;
    let overflow = 0;  // the most any box from the formula up to its element's box scrolls or hides
    for (let el = d; el && el !== box.parentElement; el = el.parentElement) {
      overflow = Math.max(overflow, el.scrollWidth - el.clientWidth);
    }
    return {text: d.querySelector('annotation').textContent.slice(0, 80), overflow,
            left: inner.left, right: inner.right, col_left: c.left, col_right: c.right};
  });
  const captions = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].filter(after)
    .map((c) => c.textContent);
  return {blocks, captions};
}"""



@pytest.fixture(scope="module", params=[(g, s) for s in range(len(SIZES)) for g in range(len(GROUPS))],
                ids=lambda p: f"group{p[0]}-{SIZES[p[1]]['width']}x{SIZES[p[1]]['height']}")
def section(browser, app_url, request):
    group, size = request.param
    names = GROUPS[group]
    config = state.make_config("rosenbrock", {}, steps=20, optimizers=_optimizers(names))
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    try:
        page.goto(f"{app_url}/?{urlencode(state.encode(config), doseq=True)}")
        wait_until(lambda: page.evaluate(READ), lambda r: r and r["blocks"], "the Update rules section", 240)
        wait_idle(page, 240)
        page.evaluate("""() => [...document.querySelectorAll('h3')]
            .find((h) => h.textContent.includes('Update rules')).scrollIntoView()""")
        page.wait_for_timeout(500)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"formulas-{SIZES[size]['width']}x{SIZES[size]['height']}-{group}.png"),
                        full_page=False)
        yield names, page.evaluate(READ)
    finally:
        context.close()


def _scheduled(names):
    return [n for n in names if n in SCHEDULED]


def test_every_formula_is_shown(section):
    names, shown = section
    # per optimizer its rule and its eff_lr; one per schedule with a formula of its own
    assert len(shown["blocks"]) == 2 * len(names) + len(_scheduled(names))


def test_no_formula_is_cut(section):
    _, shown = section
    # KaTeX's struts make a display 2 px wider than its box: a cut formula is tens of px more
    cut = [b for b in shown["blocks"]
           if b["overflow"] > SLACK or b["left"] < b["col_left"] - SLACK or b["right"] > b["col_right"] + SLACK]
    assert not cut, "\n".join(f"{b['text']!r}: {b}" for b in cut)


def test_each_formula_has_its_symbols_caption(section):
    names, shown = section
    captions = [c for c in shown["captions"] if "step t" in c]  # g_t's or eta_t's words: a symbols caption
    assert len(captions) == len(names) + len(_scheduled(names))
    joined = " ".join(captions)
    for name, hyperparameter in [("sgd", "momentum"), ("sgd", "dampening"), ("adagrad", "lr_decay"),
                                 ("adagrad", "l1"), ("nadam", "momentum_decay"), ("newton", "damping"),
                                 ("lion", "weight_decay")]:
        if name in names:
            assert f"= {hyperparameter}" in joined, hyperparameter
    if "sgd" in names:
        assert "coupled: added to the gradient" in joined and "decoupled: the weights shrink" in joined
