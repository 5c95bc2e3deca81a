"""What a rerun of the 2-D page sends: the map's run data and the results charts as files the
browser fetches once per id (ui/static_files), the live sliders' log grids as first notch and count."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from optimizers import get_optimizer
from plots.playback_data import playback_payload
from tests.test_app import config, engine, live_slider, ok, page, widget
from ui import live_slider as slider_module
from ui import static_files
from ui.widgets import _fmt, log_grid

SMALL = 2_000  # bytes of a component's data that names its file: id, URL, the preview's sliders


def sent(at: AppTest, name: str) -> tuple[dict, int]:
    """(data, bytes of the element) of the page's one `name` component in its last run."""
    (element,) = [e for e in at.get("bidi_component") if e.proto.component_name == name]
    proto = element.proto
    return json.loads(proto.json if proto.WhichOneof("data") == "json" else proto.mixed.json), len(proto.json)


def as_json(value):
    return json.loads(json.dumps(value))


def file_of(data: dict):
    return static_files.FOLDER / data["url"].rsplit("/", 1)[1]


def test_the_map_sends_its_id_and_url_and_the_file_holds_the_runs_payload():
    at = ok(page())
    data, size = sent(at, "optvis_map")
    assert size < SMALL and set(data) == {"id", "url", "sliders", "rest_pending"}
    assert data["url"] == f"app/static/data/{static_files.TOKEN}-map-{data['id']}.json"
    stored = json.loads(file_of(data).read_text())
    expected = as_json(playback_payload(engine(config(at)), smooth=None))  # the opening view: no noise, no smoothing
    assert {k: v for k, v in stored.items() if k not in ("colors", "text", "id")} == {k: v for k, v in expected.items() if k != "id"}
    assert stored["id"] == expected["id"] + "-s0"  # the run's id and its loss chart's smoothing (none)
    assert stored["id"] == data["id"] and len(stored["colors"]) == len(config(at).optimizers)
    assert stored["text"]["play"] == "play"  # ui/locales/en.toml [map]


def test_a_rerun_of_the_same_run_writes_no_file_and_a_new_run_writes_its_own():
    at = ok(page())
    data, _ = sent(at, "optvis_map")
    before = os.stat(file_of(data))
    ok(at.run())
    ok(at.run())
    again, _ = sent(at, "optvis_map")
    assert again == data
    after = os.stat(file_of(data))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # publish writes anew by replacing
    assert len(list(static_files.FOLDER.glob(f"{static_files.TOKEN}-map-{data['id']}.json"))) == 1
    widget(at.number_input, "opt4.adam.lr").set_value(0.02).run()
    ok(at)
    changed, size = sent(at, "optvis_map")
    assert changed["id"] != data["id"] and size < SMALL
    cfg = config(at)
    assert cfg.optimizers[4] == get_optimizer("adam", lr=0.02)
    assert json.loads(file_of(changed).read_text())["id"] == changed["id"]


def assert_sent_inline(at, by_file: dict, figures_by_file: dict) -> None:
    """The map's data and the charts this run sent are those of their files (by_file, figures_by_file), inline."""
    inline, size = sent(at, "optvis_map")
    assert size > 100_000 and "url" not in inline
    assert inline == {**json.loads(file_of(by_file).read_text()), "sliders": by_file["sliders"], "rest_pending": False}
    figures_inline, _ = sent(at, "optvis_figures")
    assert "url" not in figures_inline and figures_inline["id"] == figures_by_file["id"]
    assert figures_inline["figures"] == json.loads(file_of(figures_by_file).read_text())["figures"]


def test_where_no_file_can_be_written_the_data_goes_inline(monkeypatch):
    at = ok(page())
    by_file, _ = sent(at, "optvis_map")
    figures_by_file, _ = sent(at, "optvis_figures")
    monkeypatch.setattr(static_files, "publish", lambda name, make, folder=None: None)
    ok(at.run())
    assert_sent_inline(at, by_file, figures_by_file)


def test_data_the_browser_could_not_fetch_goes_inline_once():
    """What the components' "missing" triggers ask for (ui/map_component.js askInline): the next run
    sends that run's data and those figures inline, the run after it their file's URL again."""
    at = ok(page())
    by_file, _ = sent(at, "optvis_map")
    figures_by_file, _ = sent(at, "optvis_figures")
    at.session_state["map.inline"] = by_file["id"]
    at.session_state["results.figures.inline"] = figures_by_file["id"]
    ok(at.run())
    assert_sent_inline(at, by_file, figures_by_file)
    ok(at.run())
    assert sent(at, "optvis_map")[0] == by_file and sent(at, "optvis_figures")[0] == figures_by_file


def test_an_inline_request_for_another_run_is_dropped():
    at = ok(page())
    by_file, _ = sent(at, "optvis_map")
    at.session_state["map.inline"] = "an-earlier-run"
    ok(at.run())
    assert sent(at, "optvis_map")[0] == by_file and "map.inline" not in at.session_state


def test_the_results_charts_send_their_id_and_url():
    at = ok(page())
    data, size = sent(at, "optvis_figures")
    assert size < 200 and set(data) == {"id", "url"}
    figures = json.loads(file_of(data).read_text())["figures"]
    assert len(figures) >= 2 and all("data" in f and "layout" in f for f in figures)


def test_the_words_of_another_language_go_in_their_own_file():
    at = ok(page({"lang": "zh"}))
    data, _ = sent(at, "optvis_map")
    assert data["id"].endswith("-zh")
    stored = json.loads(file_of(data).read_text())
    assert stored["text"]["play"] == "播放" and stored["id"] == data["id"]


def test_a_log_grid_slider_sends_its_first_notch_and_count():
    at = ok(page())
    data = json.loads(next(e.proto.json for e in at.get("bidi_component") if e.proto.component_name == "optvis_live_slider"
                           and json.loads(e.proto.json)["id"] == "opt4.adam.lr"))
    assert "grid" not in data and "labels" not in data and len(json.dumps(data["log"])) < 100
    expanded = live_slider(at, "opt4.adam.lr")  # tests.test_app's reader: the notches the browser shows
    assert expanded["grid"] == list(log_grid(1e-5, 10.0)) and expanded["labels"][expanded["index"]] == "0.05"


@pytest.mark.parametrize("low, high, zero", [(1e-5, 10.0, False), (1e-6, 1.0, True), (0.0123, 0.5, False),
                                             (3e-7, 2e6, True), (1.0, 1000.0, False), (1e-300, 1e300, False)])
def test_log_form_rebuilds_log_grids_exactly(low, high, zero):
    grid = log_grid(low, high, zero)
    labels = [_fmt(v, off="关") for v in grid]
    form = slider_module.log_form(grid, labels)
    assert form is not None
    assert slider_module.notches({**form, "count": len(grid)}) == (list(grid), labels)


@pytest.mark.parametrize("grid, labels", [((0.1, 0.3), ["0.1", "0.3"]),  # not consecutive notches
                                          ((1.0, 1.2), ["one", "1.2"]),  # labels of its own
                                          ((-1.0, 1.0), ["-1", "1"])])
def test_any_other_grid_travels_whole(grid, labels):
    assert slider_module.log_form(grid, labels) is None

