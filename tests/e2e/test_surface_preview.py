"""The drag preview of a surface parameter in Chromium: moving Rosenbrock's b draws the engine's
runs of every optimizer on the surface at that b, over that surface's image; a release on a
computed notch puts those runs on the map's figure at once (compared with optimizers.run)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.app_server import streamlit_server
from tests.e2e.browser import VIEW, open_app, point_at_slider, sidebar, wait_until
from tests.e2e.test_browser import DEFAULT_OPTIMIZERS, DEFAULT_START, DEFAULT_STEPS
from tests.e2e.test_map_component import on_path
from ui import widgets

B_SLIDER = "[...document.querySelectorAll('.ls-input')].find(e => e.id.includes('surface_rosenbrock_b'))"
GRID = widgets.log_grid(1.0, 1000.0)  # the b slider's notches, every one computed


def engine_paths(b: float) -> list[np.ndarray]:
    res = run(get_surface("rosenbrock", b=b), list(DEFAULT_OPTIMIZERS), [DEFAULT_START], DEFAULT_STEPS, compiled=False)
    return [res.path[k, 0, : res.stop_index()[k, 0] + 1] for k in range(len(DEFAULT_OPTIMIZERS))]


def move(page, index: int, release: bool = False) -> dict:
    """Move the b slider to notch `index` as a drag does (and release it); what the map shows."""
    return page.evaluate(f"""([j, release]) => {{ const s = {B_SLIDER}; s.value = String(j);
        s.dispatchEvent(new Event('input')); if (release) s.dispatchEvent(new Event('change'));
        const v = {VIEW}, sp = v.surfacePreview;
        return {{text: document.querySelector('.ov-preview').textContent, ms: Number(v.root.dataset.previewMs),
                 paths: sp ? sp.entry.decoded.slice(sp.j * sp.entry.configs, (sp.j + 1) * sp.entry.configs).map(p => Array.from(p)) : null,
                 image: sp ? sp.entry.images[sp.j] : null, exact: !!(sp && sp.exact), shown: v.root.dataset.shown,
                 minima: sp ? sp.entry.minima[sp.j] : null, classes: v.root.className,
                 colorbar: getComputedStyle(v.mapDiv.querySelector('.colorbar')).opacity,
                 charts: getComputedStyle(v.effDiv).opacity,
                 hover: v.mapDiv._fullData.map(t => t.hoverinfo)}}; }}""", [index, release])


@pytest.fixture(scope="module")
def surface_server():
    """The app on the array path with the surface previews on (the page previews a surface where
    its runs are compiled; compiling here would cost the test a minute)."""
    with streamlit_server({"OPTVIS_COMPILE": "0", "OPTVIS_FULL_PREVIEW": "1"}, name="surface-preview") as server:
        yield server


def test_dragging_b_draws_every_optimizers_run_on_that_surface_and_release_shows_them_at_once(new_page, surface_server):
    page = new_page()
    open_app(page, surface_server.url)
    point_at_slider(page, "surface.rosenbrock.b")  # b's preview comes when asked for
    wait_until(lambda: page.evaluate(f"() => {VIEW} && {VIEW}.entryFor && !!{VIEW}.entryFor('surface.rosenbrock.b')"),
               bool, "b's preview, fetched from its file")
    assert page.evaluate(f"() => Number({B_SLIDER}.max)") == len(GRID) - 1
    images = set()
    for j in (0, 12, len(GRID) - 1):
        shown = move(page, j)
        assert f"preview of b: the engine's runs at this value (one of {len(GRID)} computed)" in shown["text"]
        assert shown["ms"] < 33
        for drawn, path in zip(shown["paths"], engine_paths(GRID[j]), strict=True):
            xy = np.array(drawn).reshape(-1, 2)
            assert on_path(xy, path) < 1e-5 * max(1.0, np.abs(path).max())
            np.testing.assert_allclose(xy[-1], path[-1], rtol=1e-6, atol=1e-6)
        images.add(shown["image"])
        # the notch's minimum is marked; the colour bar and the charts (the page's run's) are dimmed
        assert shown["minima"] == [list(m) for m in get_surface("rosenbrock", b=GRID[j]).minima]
        assert "ov-surface-previewing" in shown["classes"] and float(shown["colorbar"]) < 0.5
    assert len(images) == 3 and all(i.startswith("data:image/png;base64,") for i in images)
    # release at b = 10: the map shows the engine's runs on that surface, over its image, before the
    # page's run; the figure's marks (the old surface's) answer no hover meanwhile
    j = GRID.index(10.0)
    shown = move(page, j, release=True)
    assert "b = 10: the engine's runs on this surface" in shown["text"]
    assert shown["exact"] and shown["shown"] == f"surface:{j}"
    for drawn, path in zip(shown["paths"], engine_paths(10.0), strict=True):
        assert on_path(np.array(drawn).reshape(-1, 2), path) < 1e-5 * max(1.0, np.abs(path).max())
    assert shown["image"] != page.evaluate(f"() => {VIEW}.data.map.layout.images[0].source")  # the notch's image
    assert set(shown["hover"]) == {"skip"}
    # the page's run follows: the number box says 10 and the run's data is the engine's at b = 10
    wait_until(lambda: sidebar(page).get_by_label("b (exact)", exact=True).input_value(),
               lambda v: float(v) == pytest.approx(10.0), "the released b in the sidebar")
    expected = engine_paths(10.0)
    wait_until(lambda: page.evaluate(f"() => {VIEW}.dataId === {VIEW}.root.dataset.ready && !{VIEW}.pendingAll"
                                     f" && Array.from({VIEW}.runs[4].path)"),
               lambda p: p and np.allclose(np.array(p).reshape(-1, 2)[-1], expected[4][-1], rtol=0, atol=0),
               "Adam's run on the released surface")
    assert page.evaluate(f"() => {VIEW}.surfacePreview === null && {VIEW}.root.dataset.shown === ''")
    wait_until(lambda: page.evaluate(f"() => !{VIEW}.root.classList.contains('ov-previewing')"
                                     f" && getComputedStyle({VIEW}.effDiv).opacity"), lambda o: o == "1", "the charts undimmed")
    assert "Traceback" not in surface_server.log_text()


def test_no_surface_preview_on_the_array_code(page, app_url):
    """The shared test server runs the array code: b's slider is live but not previewed there."""
    open_app(page, app_url)
    wait_until(lambda: page.evaluate(f"() => !!({VIEW} && {VIEW}.data && {VIEW}.data.sliders)"), bool, "the map's sliders")
    sliders = page.evaluate(f"() => Object.keys({VIEW}.data.sliders)")
    assert "surface.rosenbrock.b" not in sliders and any(s.endswith(".adam.lr") for s in sliders)


MOMENTUM_SLIDER = "opt1.sgd.momentum"  # the second default optimizer's, SGD with momentum 0.9


def reruns_sent(frames: list) -> list[str]:
    """The fragment id of each rerun the page asked the server for (the websocket's BackMsgs
    sent); "" for a rerun of the whole page."""
    from streamlit.proto.BackMsg_pb2 import BackMsg

    out = []
    for payload in frames:
        msg = BackMsg.FromString(payload) if isinstance(payload, bytes) else None
        if msg is not None and msg.WhichOneof("type") == "rerun_script":
            out.append(msg.rerun_script.fragment_id)
    return out


def test_a_slider_pointed_at_has_its_preview_computed_then_by_a_rerun_of_the_preview_alone(new_page, surface_server):
    """The page comes with the learning rates' previews; momentum's is computed when the pointer
    comes to its slider, by one rerun of the preview's fragment (not of the page), and then a drag
    of momentum draws the engine's run at each computed notch's momentum."""
    page, frames = new_page(), []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(payload)))
    open_app(page, surface_server.url)
    has = f"() => !!({VIEW} && {VIEW}.entryFor && {VIEW}.entryFor({MOMENTUM_SLIDER!r}))"
    wait_until(lambda: page.evaluate(f"() => !!({VIEW} && {VIEW}.entryFor && {VIEW}.entryFor('opt0.sgd.lr'))"), bool,
               "the lr preview")
    assert not page.evaluate(has)
    sent = len(reruns_sent(frames))
    point_at_slider(page, MOMENTUM_SLIDER)
    wait_until(lambda: page.evaluate(has), bool, "momentum's preview, asked for")
    asked = reruns_sent(frames)[sent:]
    assert len(asked) == 1 and asked[0], asked  # one rerun, of a fragment
    spec = next(s for s in get_optimizer("sgd").info.specs if s.name == "momentum")
    grid = widgets.linear_grid(*widgets.float_notches(spec, 0.9))
    indices = page.evaluate(f"() => Array.from({VIEW}.entryFor({MOMENTUM_SLIDER!r})[1].indices)")
    slider = f"document.querySelector('input#ls-{MOMENTUM_SLIDER.replace('.', '_')}')"
    for j in (indices[0], indices[len(indices) // 2], indices[-1]):
        drawn = page.evaluate(f"""(j) => {{ const s = {slider}; s.value = String(j); s.dispatchEvent(new Event('input'));
            return {{path: Array.from({VIEW}.previewPath), text: document.querySelector('.ov-preview').textContent}}; }}""", j)
        optimizer = get_optimizer("sgd", lr=1e-3, momentum=grid[j]) if grid[j] else get_optimizer("sgd", lr=1e-3)
        res = run(get_surface("rosenbrock"), [optimizer], [DEFAULT_START], DEFAULT_STEPS, compiled=False)
        path = res.path[0, 0, : res.stop_index()[0, 0] + 1]
        assert on_path(np.array(drawn["path"]).reshape(-1, 2), path) < 1e-5, (j, grid[j])
        assert "momentum" in drawn["text"], drawn["text"]
