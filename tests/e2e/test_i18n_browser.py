"""The page in Chinese in Debian's Chromium: every CJK character is drawn with a real glyph (CI
installs fonts-noto-cjk), and the sidebar's switch changes the language in one click, in the link.

A missing glyph is drawn as the fallback font's "tofu" box, the same box for every missing
character: each CJK character the page shows is drawn on a canvas in its element's font and
compared, pixel for pixel, with a code point no font has (U+10FFFD). The check is first shown to
tell two missing code points apart from nothing (both boxes are identical) and ink from none.
"""

from __future__ import annotations

from urllib.parse import urlencode

from tests.app_server import ARTIFACTS
from tests.e2e.browser import open_app, screenshot, sidebar, tables, wait_idle, wait_until
from ui import state
from ui.presets import PRESETS

SIZE = {"width": 1400, "height": 1000}
SCREENSHOTS = ARTIFACTS / "screenshots"

# [{font, char, ink, tofu}] for every CJK character in the page's text, per font it is drawn in.
GLYPHS = """() => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 48;
    const ctx = canvas.getContext('2d', {willReadFrequently: true});
    const draw = (font, text) => {
        ctx.clearRect(0, 0, 48, 48);
        ctx.font = font;
        ctx.fillStyle = '#000';
        ctx.fillText(text, 4, 36);
        return ctx.getImageData(0, 0, 48, 48).data;
    };
    const same = (a, b) => a.every((v, i) => v === b[i]);
    const inked = a => a.some((v, i) => i % 4 === 3 && v > 0);
    const seen = new Map();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const element = node.parentElement;
        if (!element || !element.getClientRects().length) continue;  // not rendered
        const style = getComputedStyle(element);
        const font = `${style.fontStyle} ${style.fontWeight} 32px ${style.fontFamily}`;
        for (const char of node.textContent.match(/[\\u4e00-\\u9fff\\u3000-\\u303f\\uff00-\\uffef]/g) || []) {
            seen.set(font + '\\u0000' + char, [font, char]);
        }
    }
    const out = [];
    const tofu = {};
    for (const [font, char] of seen.values()) {
        tofu[font] = tofu[font] || draw(font, '\\u{10FFFD}');
        const pixels = draw(font, char);
        out.push({font, char, ink: inked(pixels), tofu: same(pixels, tofu[font])});
    }
    const fonts = Object.keys(tofu);
    const control = fonts.length ? {
        missing_alike: same(draw(fonts[0], '\\u{10FFFC}'), tofu[fonts[0]]),
        space_inked: inked(draw(fonts[0], ' ')),
    } : null;
    return {glyphs: out, control};
}"""


def zh_link(base: str) -> str:
    config = PRESETS["saddle"].config
    query = {**state.encode(config, "saddle"), "lang": "zh"}
    return base + "/?" + urlencode(query, doseq=True)


def test_chinese_page_has_a_glyph_for_every_character(page, app_url):
    page.set_viewport_size(SIZE)
    open_app(page, zh_link(app_url))
    wait_until(lambda: sidebar(page).inner_text(), lambda text: "教学预设" in text, "the sidebar in Chinese")
    found = page.evaluate(GLYPHS)
    shot = screenshot(page, SCREENSHOTS, "i18n-zh-1400x1000")
    assert found["control"] == {"missing_alike": True, "space_inked": False}, found["control"]
    glyphs = found["glyphs"]
    assert len({g["char"] for g in glyphs}) > 100, f"only {len(glyphs)} CJK characters on the page"
    boxes = sorted({g["char"] for g in glyphs if g["tofu"] or not g["ink"]})
    assert not boxes, f"drawn as empty boxes (no CJK font? apt-get install -y fonts-noto-cjk): {''.join(boxes)}"
    assert shot.exists()


def test_chinese_mnist_page_has_a_glyph_for_every_character(page, app_url):
    page.set_viewport_size(SIZE)
    page.goto(app_url + "/mnist_page?lang=zh")
    wait_until(lambda: sidebar(page).inner_text(), lambda text: "模型与训练" in text, "the MNIST sidebar in Chinese")
    wait_idle(page)
    page.get_by_text("训练", exact=True).wait_for()  # the Train button, drawn once its widget has loaded
    page.get_by_text("批大小", exact=True).wait_for()
    found = page.evaluate(GLYPHS)
    screenshot(page, SCREENSHOTS, "i18n-zh-mnist-1400x1000")
    boxes = sorted({g["char"] for g in found["glyphs"] if g["tofu"] or not g["ink"]})
    assert len(found["glyphs"]) > 50 and not boxes, ''.join(boxes)


def test_the_switch_changes_the_language_in_one_click_and_in_the_link(page, app_url):
    page.set_viewport_size(SIZE)
    open_app(page, app_url)
    bar = sidebar(page)
    wait_until(lambda: bar.inner_text(), lambda text: "Teacher presets" in text, "the sidebar")  # drawn after the map
    assert "lang=" not in page.url
    bar.get_by_text("中文", exact=True).click()
    wait_until(lambda: (bar.inner_text(), page.url), lambda v: "教学预设" in v[0] and "lang=zh" in v[1],
               "the page in Chinese, lang=zh in the link")
    wait_idle(page)
    page.reload()  # the link alone opens it in Chinese
    wait_until(lambda: sidebar(page).inner_text(), lambda text: "教学预设" in text, "Chinese after a reload")
    wait_idle(page)
    sidebar(page).get_by_text("English", exact=True).click()
    wait_until(lambda: (sidebar(page).inner_text(), page.url),
               lambda v: "Teacher presets" in v[0] and "lang=" not in v[1], "English again, no lang in the link")


def test_the_words_once_left_in_english_are_chinese(page, app_url):
    """#14: the Presentation toggle, the map's colour-bar title, the results table's outcomes and
    the MNIST data's description were English on the Chinese pages."""
    page.set_viewport_size(SIZE)
    open_app(page, zh_link(app_url))
    toggle = page.get_by_test_id("stMain").locator(".st-key-present_toggle")
    assert "演示模式" in toggle.inner_text() and "Presentation" not in toggle.inner_text()
    bar = page.evaluate("""() => document.querySelector('.ov-map.js-plotly-plot')._fullData
        .find((t) => t.meta && t.meta.role === 'surface').marker.colorbar.title.text""")
    assert bar == "f(x, y)" or "对数坐标" in bar, bar
    outcomes = [row["结果"] for row in wait_until(
        lambda: [dict(zip(t["header"], r)) for t in tables(page) if "结果" in t["header"] for r in t["rows"]],
        bool, "the results table in Chinese")]
    assert outcomes and all(any(w in o for w in ("收敛", "发散")) and "step" not in o for o in outcomes), outcomes
    page.goto(app_url + "/mnist_page?lang=zh")
    page.get_by_text("内置 MNIST 子集", exact=False).first.wait_for()
    assert "embedded MNIST subset" not in sidebar(page).inner_text()
