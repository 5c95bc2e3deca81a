"""The 2-D surfaces page, driven headlessly with streamlit.testing.v1.AppTest."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.compute
import ui.live_slider
import ui.map_component
import ui.widgets
from optimizers import OPTIMIZERS, get_optimizer, kernels, run
from surfaces import SURFACES
from ui import state, static_files
from ui.charts import typed_arrays
from ui.export import summary_frame, trajectories_frame
from ui.optimizer_panel import MAX_PANELS
from ui.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")  # navigation opens the surfaces page by default
TIMEOUT = 60


def page(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def clear_caches() -> None:
    """Forget every computed view: Streamlit's caches and the results all sessions share."""
    st.cache_data.clear()
    ui.compute.RESULTS.clear()
    ui.map_component.PAYLOADS.clear()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def array(value) -> np.ndarray:
    """A Plotly JSON array: a list, or {"dtype", "bdata"} (base64 typed array)."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.array(value, dtype=float)


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def component_data(at: AppTest) -> dict | None:
    """The data the map component (ui/map_component) received, None when the page drew none."""
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "optvis_map"]
    if not found:
        return None
    (element,) = found
    proto = element.proto
    return static_files.resolved(json.loads(proto.json if proto.WhichOneof("data") == "json" else proto.mixed.json))


def drawn_views(at: AppTest) -> list:
    """The page's drawn figures: Streamlit's Plotly charts and the components that draw with the
    map's Plotly.js (the map, the results charts); empty when the page drew none."""
    ours = ("optvis_map", "optvis_figures")
    return [*at.get("plotly_chart"), *(e for e in at.get("bidi_component") if e.proto.component_name in ours)]


def results_figures(at: AppTest) -> list[dict]:
    """The figures under the results table, drawn by ui/figures_component ([] when none)."""
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "optvis_figures"]
    return [f for e in found for f in static_files.resolved(json.loads(e.proto.json))["figures"]]


def contour(at: AppTest) -> dict:
    """The map: the component's map figure, or (3-D toggle off, component unavailable) the
    server-drawn figure with the click grid."""
    data = component_data(at)
    if data is not None:
        return data["map"]
    (fig,) = [f for f in figures(at) if any(t.get("meta", {}).get("role") == "click" for t in f["data"])]
    return fig


def traces(fig: dict, role: str) -> list[dict]:
    return [t for t in fig["data"] if t.get("meta", {}).get("role") == role]


def config(at: AppTest) -> state.RunConfig:
    return at.session_state["config"]


def engine(cfg: state.RunConfig):
    return run(cfg.get_surface(), cfg.optimizers, cfg.starts(), cfg.steps, **cfg.run_kwargs())


def query(at: AppTest) -> dict[str, list[str]]:
    """The page's query parameters, every value as a list."""
    return {k: v if isinstance(v, list) else [v] for k, v in at.query_params.items()}


def as_lists(params: dict) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in params.items()}


def switch_to(at: AppTest, title: str) -> AppTest:
    """Open the page titled `title` at the next run (AppTest.switch_page only knows file pages;
    both pages are function pages)."""
    at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("page_name") == title)
    return at


def widget(elements, key: str):
    (found,) = [e for e in elements if e.key == key]
    return found


def summary_table(at: AppTest):
    (table,) = [d.value for d in at.dataframe if "outcome" in d.value.columns]
    return table


# --- the default view ----------------------------------------------------------------------------------


def test_figure_arrays_go_out_as_plotly_typed_arrays():
    """ui/charts.py sends the builders' NumPy arrays as base64 typed arrays, exactly, at any depth."""
    grid = np.array([[1.5, np.nan], [-3.0, 1e-300]])
    fig = {"z": grid, "marker": {"size": np.arange(3)}, "empty": np.zeros(0), "text": np.array(["a", "b"]),
           "pieces": [np.float32([0.1, 2.0])], "name": "kept"}
    out = typed_arrays(fig)
    assert out["z"]["dtype"] == "f8" and out["z"]["shape"] == "2, 2"
    np.testing.assert_array_equal(array(out["z"]).reshape(2, 2), grid)
    assert out["marker"]["size"]["dtype"] == "i4"  # plotly.js has no int64
    np.testing.assert_array_equal(array(out["marker"]["size"]), [0, 1, 2])
    assert out["empty"] == [] and out["text"] == ["a", "b"] and out["name"] == "kept"
    np.testing.assert_array_equal(array(out["pieces"][0]), np.float32([0.1, 2.0]))
    assert isinstance(fig["z"], np.ndarray)  # the input (maybe a cached, shared trace) is left as it was


def test_default_view():
    at = ok(page())
    cfg = config(at)
    assert cfg == state.make_config()
    assert [c.name for c in cfg.optimizers] == ["sgd", "sgd", "sgd", "rmsprop", "adam"]
    assert cfg.steps <= 1000
    fig = contour(at)
    assert len(traces(fig, "path")) == 5
    assert not at.error
    assert query(at)["surface"] == ["rosenbrock"] and len(query(at)["opt"]) == 5
    # the views: map, loss, distance, gradient norm, effective lr (the map component holds the
    # map, the effective lr and a loss chart); the results table; the rules
    assert len(figures(at)) + (3 if component_data(at) else 0) + len(results_figures(at)) >= 5
    assert len(results_figures(at)) == 3 and all(f["data"] for f in results_figures(at))  # loss, distance, gradient norm
    assert len(summary_table(at)) == 5
    assert any("torch.optim.Adam(" in c.value for c in at.code)
    assert len(at.latex) >= 5


def test_page_script_runs_on_its_own():
    at = ok(AppTest.from_file(str(ROOT / "ui" / "surfaces_page.py"), default_timeout=TIMEOUT).run())
    assert config(at) == state.make_config()
    assert len(traces(contour(at), "path")) == 5


# --- every surface with every optimizer ------------------------------------------------------------------


# every optimizer, in pages of at most MAX_PANELS (a link may name no more); each surface shows one
# page and the pages take turns, so every surface and every optimizer is drawn by the page (every
# optimizer on every surface is the engine's test: tests/test_hostile.py)
OPTIMIZER_PAGES = [list(OPTIMIZERS)[i:i + MAX_PANELS] for i in range(0, len(OPTIMIZERS), MAX_PANELS)]
SURFACE_PAGES = [(surface, OPTIMIZER_PAGES[i % len(OPTIMIZER_PAGES)]) for i, surface in enumerate(SURFACES)]


@pytest.mark.parametrize(("surface", "names"), SURFACE_PAGES,
                         ids=[f"{surface}-{names[0]}-{names[-1]}" for surface, names in SURFACE_PAGES])
def test_every_surface_with_every_optimizer(surface, names):
    optimizers = [get_optimizer(name, lr=OPTIMIZERS[name].specs[0].default) for name in names]
    cfg = state.make_config(surface, optimizers=tuple(optimizers), steps=20)
    at = ok(page(state.encode(cfg)))
    assert not at.error and not at.warning
    assert config(at) == cfg
    assert len(traces(contour(at), "path")) == len(names)
    assert len(summary_table(at)) == len(names)


def test_newton_is_left_out_where_the_surface_has_no_hessian():
    cfg = state.make_config("custom", {"f": "abs(x) + y**2"},
                            optimizers=(get_optimizer("newton"), get_optimizer("sgd", lr=0.1)), steps=20)
    at = ok(page(state.encode(cfg)))
    notes = " ".join(e.value for e in [*at.error, *at.warning])
    assert "Newton (damped) needs the surface's Hessian" in notes and "left out" in notes
    assert len(traces(contour(at), "path")) == 1


def test_surface_picker_switches_surface_and_start():
    at = ok(page())
    at.selectbox(key="surface").set_value("himmelblau").run()
    ok(at)
    cfg = config(at)
    assert cfg.surface == "himmelblau"
    assert cfg.start == SURFACES["himmelblau"].create({}).default_starts[0]


# --- sliders move the plotted paths to exactly the engine's result ---------------------------------------


def _path_of(fig: dict, k: int) -> np.ndarray:
    (trace,) = [t for t in traces(fig, "path") if t["meta"]["config"] == k]
    return np.stack((array(trace["x"]), array(trace["y"])), axis=-1)


def live_slider(at: AppTest, slider_id: str) -> dict:
    """The data of the live slider (ui/live_slider) with id `slider_id` (its session-state key)."""
    found = [e for e in at.get("bidi_component") if e.proto.component_name == "optvis_live_slider"]
    (data,) = [d for d in (json.loads(e.proto.json) for e in found) if d["id"] == slider_id]
    if "log" in data:  # a log grid's notches travel as its first one and count: the values the browser shows
        data["grid"], data["labels"] = ui.live_slider.notches(data)
    return data


def test_lr_slider_changes_path_to_engine_result():
    at = ok(page())
    slider = live_slider(at, "opt4.adam.lr")
    assert slider["grid"][slider["index"]] == 0.05 and slider["labels"][slider["index"]] == "0.05"
    assert slider["grid"] == list(ui.widgets.log_grid(1e-5, 10.0))  # the notches the lr preview computes
    widget(at.number_input, "opt4.adam.lr").set_value(0.02).run()  # what the slider's release sets
    ok(at)
    slider = live_slider(at, "opt4.adam.lr")
    assert slider["grid"][slider["index"]] == 0.02
    expected_configs = state.default_optimizers()[:4] + (get_optimizer("adam", lr=0.02),)
    cfg = replace(state.make_config(), optimizers=expected_configs)
    assert config(at) == cfg
    res = engine(cfg)
    stop = res.stop_index()
    for k in range(5):
        np.testing.assert_array_equal(_path_of(contour(at), k), res.path[k, 0, : stop[k, 0] + 1])


def test_exact_number_input_and_momentum_slider():
    at = ok(page())
    widget(at.number_input, "opt0.sgd.lr").set_value(0.00123).run()
    at.session_state["opt0.sgd.momentum"] = 0.5  # what the momentum slider's release writes (ui/live_slider)
    at.run()
    momentum = live_slider(at, "opt0.sgd.momentum")
    assert momentum["linear"] == [0.0, 0.01] and momentum["count"] == 101 and momentum["index"] == 50
    ok(at)
    slider = live_slider(at, "opt0.sgd.lr")
    assert slider["grid"][slider["index"]] == 0.0012  # nearest grid value
    expected = get_optimizer("sgd", lr=0.00123, momentum=0.5)
    assert config(at).optimizers[0] == expected
    res = engine(config(at))
    np.testing.assert_array_equal(_path_of(contour(at), 0), res.path[0, 0, : res.stop_index()[0, 0] + 1])


def test_surface_parameter_slider_changes_the_surface():
    at = ok(page())
    slider = live_slider(at, "surface.rosenbrock.b")  # a live slider: the drag preview moves the surface too
    assert slider["grid"] == list(ui.widgets.log_grid(1.0, 1000.0)) and slider["grid"][slider["index"]] == 100.0
    widget(at.number_input, "surface.rosenbrock.b").set_value(10.0).run()  # what the slider's release sets
    ok(at)
    assert dict(config(at).surface_params)["b"] == 10.0
    res = engine(config(at))
    np.testing.assert_array_equal(_path_of(contour(at), 4), res.path[4, 0, : res.stop_index()[4, 0] + 1])


def test_a_schedules_parameter_is_a_live_slider_whose_release_reruns_with_it():
    cfg = state.make_config(steps=120, optimizers=(
        get_optimizer("sgd", lr=2e-3, momentum=0.9, schedule=("step", {"step_size": 30, "gamma": 0.5})),))
    at = ok(page(state.encode(cfg)))
    key = state.PANELS.sched_key(at.session_state["map.panels"][0], "step", "gamma")
    slider = live_slider(at, key)
    assert slider["linear"] == [0.01, 0.01] and slider["count"] == 100 and slider["index"] == 49  # 0.01 .. 1 by 0.01
    at.session_state[key] = 0.3  # what the slider's release sets
    ok(at.run())
    assert config(at).optimizers[0].schedule.params == (("step_size", 30), ("gamma", 0.3))
    res = engine(config(at))
    np.testing.assert_array_equal(_path_of(contour(at), 0), res.path[0, 0, : res.stop_index()[0, 0] + 1])


# --- presets, URL state -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_loads(name):
    at = ok(page())
    at.selectbox(key="preset").set_value(name).run()
    ok(at)
    assert config(at) == PRESETS[name].config
    assert any(PRESETS[name].title in i.value for i in at.info)
    # each configuration's paths (a swarm's in bands of age, plots.contour.aged_path_traces)
    assert {t["meta"]["config"] for t in traces(contour(at), "path")} == set(range(len(PRESETS[name].config.optimizers)))
    assert query(at)["preset"] == [name]


def test_a_link_of_just_a_preset_opens_its_setup_and_the_story_hides_once_the_setup_differs():
    at = ok(page({"preset": "divergence"}))
    assert config(at) == PRESETS["divergence"].config
    assert any(PRESETS["divergence"].title in i.value for i in at.info)
    first = at.session_state["map.panels"][0]
    name = PRESETS["divergence"].config.optimizers[0].name
    widget(at.number_input, state.PANELS.hp_key(first, name, "lr")).set_value(1e-3).run()
    ok(at)
    assert config(at) != PRESETS["divergence"].config
    assert not any(PRESETS["divergence"].title in i.value for i in at.info)  # its claims are not about this run
    assert any("differs from the preset" in c.value for c in at.caption)
    at.button(key="restore_preset").click().run()
    ok(at)
    assert config(at) == PRESETS["divergence"].config
    assert any(PRESETS["divergence"].title in i.value for i in at.info)


ROUND_TRIP = state.make_config(
    "quadratic", {"condition": 50.0, "angle": -20.0}, start=(1.25, -0.5), steps=77, noise=0.3, seed=5,
    clip_norm=2.5, clip_value=4.0, tol=1e-6, backend="torch",
    optimizers=(
        get_optimizer("adam", lr=0.0123, betas=(0.8, 0.95), eps=1e-7, amsgrad=True,
                      schedule=("cosine", {"T_max": 40, "eta_min": 1e-4})),
        get_optimizer("sgd", lr=0.1, momentum=0.9, nesterov=True, schedule=("onecycle", {"anneal_strategy": "linear"})),
        get_optimizer("rmsprop", lr=0.01, centered=True, schedule=("inverse_sqrt", {"alpha": 0.5})),
        get_optimizer("adam", lr=0.02, schedule=("multistep", {"milestones": (10, 30, 60), "gamma": 0.5})),
        get_optimizer("sgd", lr=0.05, schedule=("warmup_cosine", {"warmup_steps": 7, "start_factor": 0.2, "T_max": 70})),
        get_optimizer("rprop", lr=0.02, etas=(0.4, 1.3), step_sizes=(1e-5, 2.5)),
        get_optimizer("lion", lr=3e-3, betas=(0.8, 0.95), weight_decay=0.1),
        get_optimizer("asgd", lr=0.02, lambd=1e-3, alpha=0.5, t0=30.0),
        get_optimizer("adafactor", lr=0.05, beta2_decay=-0.6, eps=(1e-12, 1e-2), d=2.0),
        get_optimizer("newton", lr=0.5, damping=3.0),
    ),
)
# more optimizers than one link may name (MAX_PANELS): the rest in a second link
ROUND_TRIP_MORE = state.make_config(
    "rosenbrock", {}, steps=40, optimizers=(
        get_optimizer("prodigy", betas=(0.8, 0.99), use_bias_correction=True, d0=1e-5, d_coef=0.5),
        get_optimizer("sgd_schedule_free", lr=0.01, momentum=0.8, warmup_steps=5),
        get_optimizer("adamw_schedule_free", lr=0.02, betas=(0.85, 0.99), r=0.5, weight_lr_power=1.5),
    ),
)


@pytest.mark.parametrize("cfg", [ROUND_TRIP, ROUND_TRIP_MORE, *[p.config for p in PRESETS.values()],
                                 state.make_config("regression", {"batch_size": 10, "noise": 1.5}, swarm=30,
                                                   swarm_seed=4)])
def test_encode_decode_round_trip(cfg):
    decoded, preset, notes = state.decode(as_lists(state.encode(cfg, "saddle")), PRESETS)
    assert (decoded, preset, notes) == (cfg, "saddle", [])


def test_a_link_to_a_sequence_falls_back_to_a_constant_lr():
    """The panel has no widgets for a sequence's schedules (warmup_cosine is its one-choice chain)."""
    notes = []
    config = state.decode_optimizer("adam~lr:0.01~schedule:sequential~milestones:10", notes)
    assert config == get_optimizer("adam", lr=0.01)
    assert "unknown schedule 'sequential'" in notes[0]


def test_the_second_link_round_trips_through_the_page():
    at = ok(page(state.encode(ROUND_TRIP_MORE)))
    assert not at.warning and config(at) == ROUND_TRIP_MORE
    assert query(at) == as_lists(state.encode(ROUND_TRIP_MORE))


def test_betas_have_an_exact_box_beside_their_sliders():
    cfg = state.make_config(steps=60, optimizers=(get_optimizer("adam", lr=0.01, betas=(0.95551, 0.999)),))
    at = ok(page(state.encode(cfg)))
    key = state.PANELS.hp_key(at.session_state["map.panels"][0], "adam", "betas")
    assert widget(at.number_input, key + "#0").value == 0.95551  # the exact value, off the slider's notches
    beta1 = live_slider(at, key + "#0")
    assert beta1["index"] == 9555  # its slider at the nearest notch (0.9555)
    widget(at.number_input, key + "#1").set_value(0.98765).run()
    ok(at)
    assert dict(config(at).optimizers[0].hparams)["betas"] == (0.95551, 0.98765)


def test_query_params_round_trip_through_the_page():
    at = ok(page(state.encode(ROUND_TRIP)))
    assert not at.warning
    assert config(at) == ROUND_TRIP
    # the widgets show the link's values
    assert at.selectbox(key="surface").value == "quadratic"
    assert widget(at.number_input, "opt0.adam.lr").value == 0.0123
    beta2 = live_slider(at, "opt0.adam.betas#1")
    assert beta2["linear"] == [0.0, 1e-4] and beta2["index"] == 9500 and beta2["fmt"] == "%.4f"
    assert widget(at.checkbox, "opt1.sgd.nesterov").value is True
    assert at.selectbox(key="opt1.schedule").value == "onecycle"
    assert at.text_input(key="opt3.sched.multistep.milestones").value == "10, 30, 60"
    assert widget(at.number_input, "opt5.rprop.step_sizes#0").value == 1e-5  # a log-scale pair: exact inputs
    assert widget(at.number_input, "start.x").value == 1.25
    assert at.selectbox(key="backend").value == "torch"
    # and the page writes the same link back
    assert query(at) == as_lists(state.encode(ROUND_TRIP))


def test_bad_query_params_fall_back_with_a_note():
    at = ok(page({
        "surface": "rosenbrock", "rosenbrock.b": "lots", "quadratic.angle": "3", "steps": "abc", "tol": "-1",
        "start": "1,2,3", "backend": "cuda-please", "foo": "bar",
        "opt": ["adam~lr:-1", "bogus~lr:1", "sgd~lr:0.01~momentum:0~nesterov:true", "rmsprop~lr:0.02~wat:3",
                "adam~lr:0.01~schedule:nope"],
    }))
    (warning,) = at.warning
    for fragment in ("b='lots'", "quadratic.angle", "steps='abc'", "tol", "start='1,2,3'", "backend", "'foo'",
                     "adam: lr", "'bogus'", "nesterov", "'wat'", "'nope'"):
        assert fragment in warning.value, fragment
    cfg = config(at)
    default = state.make_config()
    assert (cfg.surface_params, cfg.steps, cfg.tol, cfg.start, cfg.backend) == (
        default.surface_params, default.steps, default.tol, default.start, default.backend)
    # adam with its default lr, rmsprop without the unknown field, adam without the unknown schedule
    assert cfg.optimizers == (get_optimizer("adam"), get_optimizer("rmsprop", lr=0.02), get_optimizer("adam", lr=0.01))
    assert not at.error


def test_unknown_surface_falls_back():
    at = ok(page({"surface": "moon", "opt": "adam~lr:0.1"}))
    assert "'moon'" in at.warning[0].value
    assert config(at).surface == "rosenbrock"


# --- behaviour: divergence, invalid combinations, clicks, playback ----------------------------------------


def test_divergence_is_labelled_and_tabled():
    cfg = PRESETS["divergence"].config
    at = ok(page(state.encode(cfg)))
    res = engine(cfg)
    step = int(res.diverged_at[3, 0])
    assert step > 0 and (res.diverged_at[:3] == -1).all()
    fig = contour(at)
    names = [t["name"] for t in traces(fig, "path")]
    assert names[3].endswith(f"diverged at step {step}") and "diverged" not in "".join(names[:3])
    marker = [t for t in traces(fig, "diverged") if t["meta"]["config"] == 3][0]
    assert len(array(marker["x"])) == 1
    table = summary_table(at)
    assert table["outcome"][3] == f"diverged at step {step}"


def test_invalid_combination_shows_error_and_the_rest_runs():
    at = ok(page())
    widget(at.checkbox, "opt0.sgd.nesterov").check().run()
    ok(at)
    errors = [e.value for e in at.error]
    assert any("nesterov" in e and "momentum" in e for e in errors)
    assert len(config(at).optimizers) == 4
    assert len(traces(contour(at), "path")) == 4


def test_click_on_the_map_moves_the_start():
    at = ok(page())
    at.session_state["contour"] = {"selection": {"points": [{"x": 0.5, "y": -0.25, "curve_number": 1}],
                                                 "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    ok(at)
    assert config(at).start == (0.5, -0.25)
    assert widget(at.number_input, "start.x").value == 0.5
    (start,) = traces(contour(at), "start")
    assert (array(start["x"])[0], array(start["y"])[0]) == (0.5, -0.25)
    # a later edit of the number inputs is not undone by the still-selected point
    widget(at.number_input, "start.y").set_value(1.0).run()
    assert config(at).start == (0.5, 1.0)


@pytest.fixture
def engine_calls(monkeypatch) -> list:
    """A list that grows by one on every engine run the page asks for (caches cleared first)."""
    calls = []
    real = ui.compute.run

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    clear_caches()
    monkeypatch.setattr(ui.compute, "run", counting)
    return calls


@pytest.fixture
def server_drawn_map(monkeypatch):
    """The page as it draws without the map component (Plotly.js cannot be served): playback by
    server reruns."""
    monkeypatch.setattr(ui.map_component, "available", lambda: False)


def test_scrubber_moves_markers_without_recomputing(engine_calls, server_drawn_map):
    calls = engine_calls
    at = ok(page())
    assert len(calls) == 1
    for step in (0, 123, 250):
        widget(at.slider, "play.step").set_value(step).run()
        ok(at)
        res = engine(config(at))
        markers = traces(contour(at), "playback")
        assert [(array(m["x"])[0], array(m["y"])[0]) for m in markers] == [tuple(p) for p in res.path[:, 0, step]]
        assert any(f"step {step}" in m.value for m in at.markdown)
    at.button(key="play.back").click().run()
    assert at.slider(key="play.step").value == 249
    assert len(calls) == 1


@pytest.mark.parametrize("reason", ["kernels are compiling in the background", None])
def test_a_view_on_the_slow_path_says_why_in_one_caption(monkeypatch, reason):
    real = ui.compute.run

    def engine_saying(*args, **kwargs):
        res = real(*args, **kwargs)
        object.__setattr__(res, "slow_reason", reason)  # Result is frozen; set as the engine would
        return res

    clear_caches()
    monkeypatch.setattr(ui.compute, "run", engine_saying)
    try:
        at = ok(page())
        notes = [c.value for c in at.caption if "array code" in c.value]
        assert notes == ([f"Running on the array code: {reason}."] if reason else [])
        assert contour(at)  # the map is drawn either way
    finally:
        clear_caches()  # the faked Result must not answer later tests


def test_a_result_from_the_array_code_is_recomputed_once_kernels_are_built(engine_calls, monkeypatch):
    """The page's cache is keyed by the compile generation: after a background compile finishes,
    the same view runs again (on the kernels) instead of serving the slow result and its note."""
    calls = engine_calls
    at = ok(page())
    at.run()
    assert len(calls) == 1
    monkeypatch.setattr("optimizers.kernels.cache._BUILT", [kernels.generation() + 1])  # a compile finished
    ok(at.run())
    assert len(calls) == 2
    ok(at.run())
    assert len(calls) == 2


def test_swarm_of_starts():
    cfg = state.make_config("himmelblau", swarm=40, swarm_seed=2, steps=60)
    at = ok(page(state.encode(cfg)))
    assert config(at) == cfg
    assert config(at).starts().shape == (40, 2)
    assert "/40 converged" in summary_table(at)["outcome"][0]


def test_panels_duplicate_and_remove():
    at = ok(page())
    widget(at.number_input, "opt4.adam.lr").set_value(0.03).run()
    at.button(key="opt4.dup").click().run()
    ok(at)
    assert [c.lr for c in config(at).optimizers][-2:] == [0.03, 0.03]
    at.button(key="opt0.remove").click().run()
    ok(at)
    assert [c.name for c in config(at).optimizers] == ["sgd", "sgd", "rmsprop", "adam", "adam"]


def test_schedule_panel_and_preview():
    at = ok(page())
    at.selectbox(key="opt4.schedule").set_value("step").run()
    ok(at)
    assert config(at).optimizers[4].schedule.name == "step"
    assert any(len(f["data"]) == 1 and f["data"][0]["name"] == "lr" for f in figures(at))


def test_milestones_are_typed_and_checked_by_name():
    at = ok(page())
    at.selectbox(key="opt4.schedule").set_value("multistep").run()
    ok(at)
    assert config(at).optimizers[4].schedule.params == (("milestones", (100, 200)), ("gamma", 0.1))
    at.text_input(key="opt4.sched.multistep.milestones").input("50, 20").run()
    assert any("milestones=" in e.value and "strictly increasing" in e.value for e in at.error)
    assert len(config(at).optimizers) == 4  # left out, the others still run
    at.text_input(key="opt4.sched.multistep.milestones").input("20 50,90").run()
    ok(at)
    assert dict(config(at).optimizers[4].schedule.params)["milestones"] == (20, 50, 90)


# --- exports ---------------------------------------------------------------------------------------------


def test_csv_rows_match_the_result():
    cfg = replace(PRESETS["divergence"].config, steps=100)
    res = engine(cfg)
    frame = trajectories_frame(res)
    stop = res.stop_index()
    assert len(frame) == int((stop + 1).sum())
    rows = frame[(frame.config == 3)]
    assert rows.status.iloc[0] == f"diverged at step {res.diverged_at[3, 0]}"
    np.testing.assert_array_equal(rows[["x", "y"]].to_numpy(), res.path[3, 0, : stop[3, 0] + 1])
    first = frame[(frame.config == 0) & (frame.step == 5)].iloc[0]
    assert (first.lr, first.eff_lr_x, first.loss) == (res.lr[0, 5], res.eff_lr[0, 0, 5, 0], res.loss[0, 0, 5])
    table = summary_frame(res)
    assert table.outcome[3] == f"diverged at step {res.diverged_at[3, 0]}"
    assert table["final loss"][3] == res.loss[3, 0, stop[3, 0]]


def test_play_button_starts_and_pauses_playback(server_drawn_map):
    at = ok(page())
    total = config(at).steps
    assert at.session_state["play.step"] == total - 1  # opens on the last update
    at.button(key="play.toggle").click().run()
    ok(at)
    assert at.session_state["play.on"] is True
    assert 0 < at.session_state["play.step"] < total  # restarted from the beginning, advancing
    at.button(key="play.toggle").click().run()
    assert at.session_state["play.on"] is False


def test_leaving_and_returning_to_the_page_keeps_the_setup():
    at = ok(page())
    widget(at.number_input, "opt4.adam.lr").set_value(0.07).run()
    at.selectbox(key="opt1.schedule").set_value("cosine").run()
    before = config(at)
    ok(switch_to(at, "MNIST").run())
    assert at.session_state["mnist.panels"]  # the MNIST page ran
    ok(switch_to(at, "2-D surfaces").run())
    assert config(at) == before
