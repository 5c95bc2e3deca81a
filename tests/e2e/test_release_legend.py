"""In Chromium: the map's legend (the component's own list beside the map) names the run the map
draws while an lr slider is dragged and at once on its release, before the server's rerun, in the
words the server's legend has after that rerun; back at the slider's value it says what it said."""

from __future__ import annotations

from tests.e2e import test_surface_preview
from tests.e2e.browser import VIEW, open_app, point_at_slider, wait_idle, wait_until
from tests.e2e.test_map_component import preview_ready
from ui import widgets

B_GRID = test_surface_preview.GRID  # Rosenbrock's b slider's notches
surface_server = test_surface_preview.surface_server  # that test's server: surface previews on

GRID = widgets.log_grid(1e-5, 10.0)  # the lr sliders' notches, every one computed
SLIDER = "[...document.querySelectorAll('.ls-input')].find(e => e.id.includes({id!r}))"

# The legend's words for configuration k (read from the DOM; the trace an entry stands for by its index).
LEGEND = f"""(k) => {{ const v = {VIEW};
    return [...v.root.querySelectorAll('.ov-legend-item')].filter(i => (v.mapDiv.data[Number(i.dataset.trace)].meta || {{}}).config === k)
        .map(i => i.querySelector('.ov-legend-text').textContent); }}"""


def legend(page, k: int) -> list[str]:
    return page.evaluate(LEGEND, k)


def move(page, slider_id: str, index: int, k: int, release: bool) -> dict:
    """Move the slider to notch `index` (and release it); in the same task, before any rerun can
    land: configuration k's legend words and what the map draws in place of its run."""
    return page.evaluate(f"""([j, k, release]) => {{ const s = {SLIDER.format(id=slider_id)}; s.value = String(j);
        s.dispatchEvent(new Event('input')); if (release) s.dispatchEvent(new Event('change'));
        return {{legend: ({LEGEND})(k), shown: {VIEW}.root.dataset.shown, dataId: {VIEW}.dataId}}; }}""", [index, k, release])


def after_rerun(page, k: int, before: str, label: str) -> list[str]:
    """Configuration k's legend words once the server's run for `label` has been drawn."""
    wait_until(lambda: page.evaluate(f"() => {VIEW}.dataId !== {before!r} && {VIEW}.root.dataset.ready === {VIEW}.dataId"
                                     f" && {VIEW}.mapDiv.data.some(t => t.meta && t.meta.config === {k} && t.meta.label === {label!r})"),
               bool, f"the server's run for {label}")
    wait_idle(page)
    return legend(page, k)


def test_the_legend_names_the_dragged_and_released_adam_run_as_the_server_then_does(page, app_url):
    open_app(page, app_url)
    wait_until(lambda: preview_ready(page), bool, "the lr preview's data")
    assert legend(page, 4) == ["Adam (lr=0.05)"]
    dragged = move(page, "opt4_adam_lr", GRID.index(0.3), 4, release=False)
    assert dragged["legend"] == ["Adam (lr=0.3)"]
    back = move(page, "opt4_adam_lr", GRID.index(0.05), 4, release=True)  # released where it was
    assert back["legend"] == ["Adam (lr=0.05)"] and back["shown"] == ""
    wait_idle(page)
    released = move(page, "opt4_adam_lr", GRID.index(0.02), 4, release=True)
    assert released["shown"].startswith("4:Adam (lr=0.02):")  # the notch's run, drawn before the rerun
    assert released["legend"] == ["Adam (lr=0.02)"]
    assert after_rerun(page, 4, released["dataId"], "Adam (lr=0.02)") == released["legend"]


def test_a_released_sgd_run_that_diverges_says_so_at_once_as_the_server_then_does(page, app_url):
    """SGD at lr 0.003 diverges at step 4 on the opening view: the legend's fate comes with the
    notch's run (the preview's fates), before the server's run writes it."""
    open_app(page, app_url)
    wait_until(lambda: preview_ready(page), bool, "the lr preview's data")
    assert legend(page, 0) == ["SGD (lr=0.001)"]
    released = move(page, "opt0_sgd_lr", GRID.index(0.003), 0, release=True)
    assert released["shown"].startswith("0:SGD (lr=0.003):")
    assert released["legend"] == ["SGD (lr=0.003) — diverged at step 4"]
    assert after_rerun(page, 0, released["dataId"], "SGD (lr=0.003)") == released["legend"]


def test_a_released_surface_notch_gives_every_entry_its_runs_fate_as_the_server_then_does(new_page, surface_server):
    """Rosenbrock's b released at 1000: the three SGD runs diverge there (the page's, at b = 100,
    do not); every entry says so at once, and the same as the server's legend after its run."""
    page = new_page()
    open_app(page, surface_server.url)
    point_at_slider(page, "surface.rosenbrock.b")  # b's preview comes when asked for
    wait_until(lambda: page.evaluate(f"() => {VIEW} && {VIEW}.entryFor && !!{VIEW}.entryFor('surface.rosenbrock.b')"),
               bool, "b's preview")
    before = [legend(page, k) for k in range(5)]
    assert not any("diverged" in text for entry in before for text in entry)
    j = B_GRID.index(1000.0)
    released = page.evaluate(f"""(j) => {{ const s = {SLIDER.format(id="surface_rosenbrock_b")}; s.value = String(j);
        s.dispatchEvent(new Event('input')); s.dispatchEvent(new Event('change'));
        return {{legends: [0, 1, 2, 3, 4].map(({LEGEND})), shown: {VIEW}.root.dataset.shown, dataId: {VIEW}.dataId}}; }}""", j)
    assert released["shown"] == f"surface:{j}"
    assert released["legends"][0] == ["SGD (lr=0.001) — diverged at step 5"]
    assert all("diverged" in entry[0] for entry in released["legends"][1:3])
    wait_until(lambda: page.evaluate(f"() => {VIEW}.dataId !== {released['dataId']!r} && {VIEW}.root.dataset.ready === {VIEW}.dataId"
                                     f" && !{VIEW}.pendingAll"), bool, "the server's run at b = 1000")
    wait_idle(page)
    assert [legend(page, k) for k in range(5)] == released["legends"]
