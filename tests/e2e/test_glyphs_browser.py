"""The map's internals glyphs in Chromium: at a playback step the overlay draws a second-moment
box for Adam and RMSProp (half-sides 1/sqrt(v) of the engine's state at the run's one scale) and
none for SGD, the arrows after the cursor markers, and a key with a swatch per glyph."""

from __future__ import annotations

import numpy as np
import pytest

from optimizers import run
from plots.internals import BOX_FRACTION
from surfaces import get_surface
from tests.e2e.browser import VIEW, open_app, wait_until
from tests.e2e.test_browser import DEFAULT_OPTIMIZERS, DEFAULT_START, DEFAULT_STEPS

ROSENBROCK = get_surface("rosenbrock")
SGD, RMSPROP, ADAM = 0, 3, 4  # the default view's configurations


# The key's text (a range over its contents), its column (.ov-mapcol) and the rightmost left edge of
# the boxes above it that clip what overflows them.
KEY_BOX = """() => {
    const key = document.querySelector('.ov-key'), range = document.createRange();
    range.selectNodeContents(key);
    const text = [...range.getClientRects()], column = key.parentElement.getBoundingClientRect();
    let clip = -Infinity;
    for (let el = key.parentElement; el; el = el.parentElement) {
        if (getComputedStyle(el).overflowX !== 'visible') clip = Math.max(clip, el.getBoundingClientRect().left);
    }
    return {text_left: Math.min(...text.map((r) => r.left)), text_right: Math.max(...text.map((r) => r.right)),
            column_left: column.left, column_right: column.right, clip_left: clip};
}"""


def scrub_to(page, step: int) -> None:
    page.locator(".ov-scrub").focus()
    page.keyboard.press("Home")
    for _ in range(step):
        page.keyboard.press("ArrowRight")
    wait_until(lambda: page.evaluate(f"() => {VIEW}.frames[{VIEW}.frame]"), lambda s: s == step, f"step {step}")


def test_boxes_for_adaptive_methods_only_and_arrows_above_the_markers(page, app_url):
    open_app(page, app_url)
    scrub_to(page, 20)
    drawn = page.evaluate(f"() => {VIEW}.drawn")
    scale = page.evaluate(f"() => {VIEW}.data.boxes.scale")
    boxes = {d["config"]: d["half"] for d in drawn if d["what"] == "box"}
    assert set(boxes) == {RMSPROP, ADAM}  # SGD and its momentum variants hold no second moment
    # the engine's second moments at step 20 (the state after that step's update) and the run's scale
    res = run(ROSENBROCK, DEFAULT_OPTIMIZERS, [DEFAULT_START], DEFAULT_STEPS, compiled=False)
    v_adam, v_rms = res.state["exp_avg_sq"][ADAM, 0], res.state["square_avg"][RMSPROP, 0]
    largest = max((1 / np.sqrt(v_adam)).max(), (1 / np.sqrt(v_rms)).max())
    (x0, x1), (y0, y1) = ROSENBROCK.bounds
    assert scale * largest == pytest.approx(BOX_FRACTION * min(x1 - x0, y1 - y0), rel=1e-9)
    np.testing.assert_allclose(boxes[ADAM], scale / np.sqrt(v_adam[20]), rtol=1e-9)
    np.testing.assert_allclose(boxes[RMSPROP], scale / np.sqrt(v_rms[20]), rtol=1e-9)
    # every arrow after every marker: the markers no longer cover the arrows' tails
    order = [d["what"] for d in drawn]
    markers = [i for i, w in enumerate(order) if w == "marker"]
    arrows = [i for i, w in enumerate(order) if w == "arrow"]
    assert len(markers) == 5 and len(arrows) >= 10 and max(markers) < min(arrows)
    assert {d["kind"] for d in drawn if d["what"] == "arrow" and d["config"] == SGD} == {"gradient", "update"}
    # the key draws each glyph (the three arrow kinds and the box) and states the box's scale
    swatches = page.evaluate("() => [...document.querySelectorAll('.ov-key svg.ov-key-glyph')].map(s => s.dataset.kind)")
    assert swatches == ["update", "first_moment", "gradient", "box"]
    key = page.locator(".ov-key").inner_text()
    stated = float(key.split("box: 1/√v ×", 1)[1].split()[0])
    assert stated == pytest.approx(scale, rel=1e-3)  # to 4 significant digits
    # its text starts inside its container, clear of every box that clips it (#14: a first letter cut)
    box = page.evaluate(KEY_BOX)
    assert box["text_left"] >= box["column_left"] + 1 and box["text_left"] >= box["clip_left"] + 1, box
    assert box["text_right"] <= box["column_right"] + 1, box


def test_the_arrow_tail_is_drawn_over_the_cursor_dot(page, app_url):
    """The overlay's pixel just beside Adam's cursor centre along its update arrow is the white
    halo or Adam's colour, never the dot's dark outline showing through (arrows on top)."""
    open_app(page, app_url)
    scrub_to(page, 20)
    rgb = page.evaluate(f"""() => {{
        const v = {VIEW}, ov = v.overlay, f = v.frame, r = v.runs[{ADAM}];
        const seg = v.arrowData(f)[2][{ADAM}];
        const [u0, w0] = ov.px(seg[0][0], seg[1][0]), [u1, w1] = ov.px(seg[0][1], seg[1][1]);
        const len = Math.hypot(u1 - u0, w1 - w0), d = 8.5 * ov.weight;  // on the dot's rim
        const ratio = window.devicePixelRatio || 1;
        const u = (u0 + d * (u1 - u0) / len) * ratio, w = (w0 + d * (w1 - w0) / len) * ratio;
        return Array.from(ov.ctx.getImageData(Math.round(u), Math.round(w), 1, 1).data); }}""")
    color = page.evaluate(f"() => {VIEW}.color({ADAM})")
    adam = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    assert rgb[3] > 200
    assert max(abs(a - b) for a, b in zip(rgb[:3], adam)) < 40, (rgb, color)


@pytest.mark.parametrize("size", [(1024, 768), (1400, 1000), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_key_starts_inside_its_column_at_lecture_hall_sizes(browser, app_url, size):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    try:
        page = context.new_page()
        open_app(page, f"{app_url}/?preset=rosenbrock", 240)
        wait_until(lambda: page.locator(".ov-key").inner_text(), lambda text: text.startswith("arrows at step"), "the key")
        box = page.evaluate(KEY_BOX)
        assert box["text_left"] >= box["column_left"] + 1 and box["text_left"] >= box["clip_left"] + 1, box
        assert box["text_right"] <= box["column_right"] + 1, box
    finally:
        context.close()
