"""In Chromium: where the files of a run's map data and charts cannot be fetched (answered 404, as
for a pruned file or a restarted server's), the page asks the server for them inline and draws
them: the map shows the engine's run, the charts are drawn, and no error is shown."""

from __future__ import annotations

import numpy as np

from optimizers import get_optimizer, run
from surfaces import get_surface
from tests.e2e.browser import VIEW, open_app, panel, wait_idle, wait_until
from tests.e2e.test_browser import DEFAULT_OPTIMIZERS, DEFAULT_START, DEFAULT_STEPS
from tests.e2e.test_charts_browser import charts

MISSING = ("-map-", "-figures-")


def refuse_data_files(page) -> list[str]:
    """Answer every request for a map or figures file with 404; the names refused, in order."""
    refused: list[str] = []

    def answer(route):
        name = route.request.url.rsplit("/", 1)[1]
        if any(kind in name for kind in MISSING):
            refused.append(name)
            return route.fulfill(status=404, body="gone")
        return route.continue_()

    page.route("**/app/static/data/*.json", answer)
    return refused


def drawn_paths(page) -> list[list[float]] | None:
    return page.evaluate(f"() => {VIEW} && {VIEW}.root.dataset.ready === {VIEW}.dataId"
                         f" && {VIEW}.runs.map(r => Array.from(r.path))")


def engine_paths(optimizers) -> np.ndarray:
    res = run(get_surface("rosenbrock"), list(optimizers), [DEFAULT_START], DEFAULT_STEPS, compiled=False)
    return res.path[:, 0]


def test_a_map_and_charts_whose_files_are_gone_come_inline_and_are_drawn(page, app_url):
    refused = refuse_data_files(page)
    open_app(page, app_url)
    paths = wait_until(lambda: drawn_paths(page), bool, "the map drawn from the inline data")
    expected = engine_paths(DEFAULT_OPTIMIZERS)
    assert len(paths) == len(expected)
    for drawn, path in zip(paths, expected, strict=True):
        np.testing.assert_array_equal(np.array(drawn).reshape(-1, 2), path)  # float64, as the engine's
    assert len(charts(page)) == 3
    state = page.evaluate(f"""() => ({{asked: {VIEW}.root.dataset.askedInline, id: {VIEW}.dataId,
        error: {VIEW}.root.dataset.error || null, shownError: !!document.querySelector('.ov-error'),
        chartsFrom: document.querySelector('.fg-row').dataset.drawnFrom || null,
        chartsError: document.querySelector('.fg-row').dataset.error || null}})""")
    # each came by the fallback; the charts may come inline without asking: the map's "missing"
    # sends both inline in the next run (ui/static_files.INLINE_ALL)
    assert state["asked"] == state["id"] and state["chartsFrom"] == "inline"
    assert state["error"] is None and not state["shownError"] and state["chartsError"] is None
    assert any("-map-" in n for n in refused)  # the charts' file may never be asked for (sent inline with the map)
    # a rerun for the same run sends its URL again: nothing is fetched, nothing redrawn
    fetched = len(refused)
    drawn_before = page.evaluate(f"() => {VIEW}.root.dataset.drawMs")
    page.evaluate(f"() => {VIEW}.trigger('click', null)")  # a rerun that changes nothing
    wait_idle(page)
    assert len(refused) == fetched
    assert page.evaluate(f"() => {VIEW}.root.dataset.drawMs") == drawn_before


def test_a_new_run_whose_file_is_gone_is_drawn_from_the_inline_data(page, app_url):
    """A slider's release whose run's files are refused: the map and the charts ask for them inline,
    each once the page's run is over. (The charts come before the sidebar in the page: their
    trigger, sent during the run, reran the page with the sidebar's lr from before, 0.05.)"""
    open_app(page, app_url)
    refused = refuse_data_files(page)  # from now on: the next run's files are "pruned"
    first = page.evaluate(f"() => {VIEW}.dataId")
    slider = panel(page, "5. Adam").locator('input[type="range"][aria-label="lr"]')
    slider.focus()
    page.keyboard.press("ArrowLeft")  # one notch down, lr 0.04: a new run
    wait_until(lambda: page.evaluate(f"() => {VIEW}.dataId"), lambda d: d != first, "the new run's id")
    paths = wait_until(lambda: drawn_paths(page), bool, "the new run drawn from the inline data")
    expected = engine_paths([*DEFAULT_OPTIMIZERS[:4], get_optimizer("adam", lr=0.04)])
    np.testing.assert_array_equal(np.array(paths[4]).reshape(-1, 2), expected[4])
    assert any("-map-" in n for n in refused)
    assert page.evaluate(f"() => !document.querySelector('.ov-error') && {VIEW}.root.dataset.askedInline === {VIEW}.dataId")



def hold_one_refuse_other(page, held_kind: str) -> list:
    """Hold every request for a `held_kind` file unanswered and refuse the other kind's (404)."""
    held = []

    def answer(route):
        name = route.request.url.rsplit("/", 1)[1]
        if held_kind in name:
            return held.append(route)
        if any(kind in name for kind in MISSING):
            return route.fulfill(status=404, body="gone")
        return route.continue_()

    page.route("**/app/static/data/*.json", answer)
    return held


def release_one_notch(page) -> None:
    """Adam's lr slider one notch down (0.05 -> 0.04) from the keyboard: a new run."""
    slider = panel(page, "5. Adam").locator('input[type="range"][aria-label="lr"]')
    slider.focus()
    page.keyboard.press("ArrowLeft")


def test_charts_sent_inline_while_their_file_is_still_on_its_way_are_drawn(page, app_url):
    """The map's file is refused at once and the charts' is held unanswered: the map's "missing"
    makes the next run send both inline, and the charts draw that data then, without waiting for
    their own fetch to fail (a rerun that sends the same inline data again does not redraw them)."""
    open_app(page, app_url)
    held = hold_one_refuse_other(page, "-figures-")
    before = page.evaluate("() => document.querySelector('.fg-row').dataset.ready")
    release_one_notch(page)
    rows = wait_until(lambda: page.evaluate("() => { const r = document.querySelector('.fg-row');"
                                            " return r && r.dataset.ready ? {...r.dataset} : null; }"),
                      lambda r: r["ready"] != before, "the new run's charts drawn while their file was held")
    assert held and rows["drawnFrom"] == "inline" and rows["ready"] == rows["id"]
    assert len(charts(page)) == 3
    for route in held:  # the file's answer comes late: nothing more is asked for, nothing shown wrong
        route.fulfill(status=404, body="gone")
    wait_idle(page)
    after = page.evaluate("() => ({...document.querySelector('.fg-row').dataset})")
    assert after.get("error") is None and after.get("askedInline") is None and after["ready"] == rows["id"]


def test_a_map_sent_inline_while_its_file_is_still_on_its_way_is_drawn(page, app_url):
    """The same with the roles swapped, after a slider's release (a new session's first view shows
    the charts only once its map is drawn): the charts' "missing" brings the new run's map inline
    too, and the map draws it while its own file is held."""
    open_app(page, app_url)
    held = hold_one_refuse_other(page, "-map-")
    first = page.evaluate(f"() => {VIEW}.dataId")
    release_one_notch(page)
    wait_until(lambda: page.evaluate(f"() => {VIEW}.root.dataset.ready"), lambda d: d != first,
               "the new run drawn while its file was held")
    paths = drawn_paths(page)
    expected = engine_paths([*DEFAULT_OPTIMIZERS[:4], get_optimizer("adam", lr=0.04)])
    np.testing.assert_array_equal(np.array(paths[4]).reshape(-1, 2), expected[4])
    assert held
    for route in held:
        route.fulfill(status=404, body="gone")
    wait_idle(page)
    state = page.evaluate(f"() => ({{asked: {VIEW}.root.dataset.askedInline || null, ready: {VIEW}.root.dataset.ready,"
                          f" id: {VIEW}.dataId, shownError: !!document.querySelector('.ov-error')}})")
    assert state == {"asked": None, "ready": state["id"], "id": state["id"], "shownError": False}
