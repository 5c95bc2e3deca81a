"""The drag preview (ui/preview): which sliders it covers, within its budget, and that each drawn
path is optimizers.run's for the slider's value at that notch (the map shows a notch's run as the
page's exact run on release, so it must be that run)."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import struct

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from sweeps import with_value
from ui import preview, widgets
from ui.state import RunConfig, capped_steps

ROSENBROCK = (("a", 1.0), ("b", 100.0))
START = (-1.5, 2.0)


def typed(value: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(value["bdata"]), dtype={"f4": np.float32, "f8": np.float64}[value["dtype"]])


def page(*optimizers, steps: int = 120, **settings) -> RunConfig:
    return RunConfig(surface="rosenbrock", surface_params=ROSENBROCK, start=START, steps=steps,
                     optimizers=tuple(optimizers), **settings)


def keys(config: RunConfig) -> list:
    return [lambda spec, k=k, name=o.name: f"opt{k}.{name}.{spec}" for k, o in enumerate(config.optimizers)]


def engine_path(config: RunConfig, optimizer) -> np.ndarray:
    res = run(config.get_surface(), [optimizer], config.starts()[:1], capped_steps(config), compiled=False,
              **config.run_kwargs())
    return res.path[0, 0, : res.stop_index()[0, 0] + 1]


def test_the_sliders_and_their_notches_are_those_the_sidebar_draws():
    config = page(get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True))
    sliders = {s.id: s for s in preview.page_sliders(config, keys(config))}
    adam_lr, beta2, momentum = sliders["opt0.adam.lr"], sliders["opt0.adam.betas#1"], sliders["opt1.sgd.momentum"]
    assert adam_lr.notches == widgets.log_grid(1e-5, 10.0) and adam_lr.notches[adam_lr.index] == 0.05
    assert beta2.notches[beta2.index] == 0.999 and len(beta2.notches) == 10_000  # 0 .. 0.9999 by 1e-4
    assert momentum.notches == widgets.linear_grid(0.0, 0.01, 101) and momentum.notches[momentum.index] == 0.9
    # an off-notch value (a link's momentum=0.955) has Streamlit's slider, not a live one
    off = page(get_optimizer("sgd", lr=1e-3, momentum=0.955))
    assert "opt0.sgd.momentum" not in {s.id for s in preview.page_sliders(off, keys(off))}


def test_the_plan_keeps_every_lr_notch_first_and_stays_within_the_budget():
    config = page(*(get_optimizer("adam", lr=v) for v in (0.1, 0.01, 0.001)), steps=500)
    plan = preview.plan(config, preview.page_sliders(config, keys(config)))
    runs = sum(len(idx) for _, idx in plan)
    assert runs * capped_steps(config) <= preview.PREVIEW_BUDGET
    lrs = [(s, idx) for s, idx in plan if s.axis == "lr"]
    assert len(lrs) == 3 and all(idx == tuple(range(61)) for _, idx in lrs)
    others = [idx for s, idx in plan if s.axis != "lr"]
    assert others and all(len(idx) == preview.AXIS_VALUES for idx in others)
    # too long a run for a dozen learning rates each: no preview at all
    long = page(get_optimizer("adam"), steps=30_000)
    assert capped_steps(long) == 30_000 and preview.plan(long, preview.page_sliders(long, keys(long))) == []


@pytest.mark.parametrize("axis, optimizer", [("lr", get_optimizer("adam", lr=0.05)),
                                             ("momentum", get_optimizer("sgd", lr=1e-3, momentum=0.5)),
                                             ("beta1", get_optimizer("adam", lr=0.02)),
                                             ("alpha", get_optimizer("rmsprop", lr=0.01))])
def test_each_previewed_path_is_the_engines_run_at_that_notch(axis, optimizer):
    config = page(optimizer, noise=0.05, seed=3)
    sliders = [s for s in preview.page_sliders(config, keys(config)) if s.axis == axis]
    (entry,) = preview.payload(config, sliders, generation=-1)
    assert entry["exact"] and entry["basis"] == preview.basis_id(config, sliders[0])
    (slider,) = sliders
    for j in (0, len(entry["indices"]) // 2, len(entry["indices"]) - 1):
        value = slider.notches[entry["indices"][j]]
        expected = engine_path(config, with_value(optimizer, axis, value))
        drawn = typed(entry["paths"][j]).reshape(-1, 2).astype(np.float64)
        assert entry["labels"][j] == with_value(optimizer, axis, value).label
        # the drawn points are the run's own (float32, decimated, corners kept), ending where it ends
        dist = np.min(np.linalg.norm(expected[None, :, :] - drawn[:, None, :], axis=-1), axis=1)
        assert dist.max() < 1e-5 * max(1.0, np.abs(expected).max())
        assert np.array_equal(drawn[-1], expected[-1].astype(np.float32).astype(np.float64))


@pytest.mark.parametrize("optimizer", [get_optimizer("sgd", lr=0.01, l1=0.5, l1_mode="proximal"),
                                       get_optimizer("adam", lr=0.01, l1=0.3)])
def test_a_previewed_path_keeps_the_l1_penalty(optimizer):
    config = page(optimizer)
    (slider,) = [s for s in preview.page_sliders(config, keys(config)) if s.axis == "lr"]
    (entry,) = preview.payload(config, [slider], generation=-5)
    j = entry["indices"].index(slider.notches.index(0.1))
    hp = {**dict(optimizer.hparams), "lr": 0.1}
    expected = engine_path(config, get_optimizer(optimizer.name, l1=optimizer.l1, l1_mode=optimizer.l1_mode, **hp))
    assert not np.allclose(expected[-1], engine_path(config, get_optimizer(optimizer.name, **hp))[-1])  # L1 matters here
    drawn = typed(entry["paths"][j]).reshape(-1, 2)
    assert np.array_equal(drawn[-1], expected[-1].astype(np.float32))


def test_an_entry_does_not_depend_on_where_its_own_slider_is():
    a = page(get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1e-3, momentum=0.9))
    b = page(get_optimizer("adam", lr=0.002), get_optimizer("sgd", lr=1e-3, momentum=0.9))
    sa = {s.id: s for s in preview.page_sliders(a, keys(a))}
    sb = {s.id: s for s in preview.page_sliders(b, keys(b))}
    assert preview.basis(a, sa["opt0.adam.lr"]) == preview.basis(b, sb["opt0.adam.lr"])
    assert preview.basis(a, sa["opt1.sgd.momentum"]) == preview.basis(b, sb["opt1.sgd.momentum"])  # another optimizer
    assert preview.basis(a, sa["opt0.adam.betas#0"]) != preview.basis(b, sb["opt0.adam.betas#0"])  # runs at Adam's lr
    swarm = dataclasses.replace(a, swarm=20)
    assert preview.basis(swarm, sa["opt0.adam.lr"]) != preview.basis(a, sa["opt0.adam.lr"])


def test_invalid_notches_are_left_out():
    """Nesterov needs momentum > 0: the momentum slider's notch 0 cannot run and is not previewed."""
    config = page(get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True))
    sliders = [s for s in preview.page_sliders(config, keys(config)) if s.axis == "momentum"]
    (entry,) = preview.payload(config, sliders, generation=-2)
    assert 0 not in entry["indices"] and len(entry["indices"]) == preview.AXIS_VALUES - 1


def test_the_default_pages_preview_covers_its_sliders():
    """The opening view: every lr notch of its five optimizers and the other sliders at AXIS_VALUES
    notches, computed in runs of at most MAX_CONFIGS configurations."""
    from ui.state import make_config

    config = make_config()
    sliders = preview.page_sliders(config, keys(config))
    entries = preview.payload(config, sliders, generation=-3)
    planned = preview.plan(config, sliders)
    assert len(entries) == len(planned) > 5 and sum(len(e["indices"]) for e in entries) > 64
    assert {s.axis for s, _ in planned} >= {"lr", "momentum", "beta1", "beta2", "alpha"}


def surface_keys(config: RunConfig):
    return lambda name: widgets.surface_key(config.surface, name)


def test_a_surfaces_sliders_are_those_the_sidebar_draws():
    config = page(get_optimizer("adam", lr=0.05))
    sliders = {s.axis: s for s in preview.surface_sliders(config, surface_keys(config))}
    assert set(sliders) == {"a", "b"} and all(s.config == preview.SURFACE for s in sliders.values())
    b = sliders["b"]
    assert b.id == "surface.rosenbrock.b" and b.notches == widgets.log_grid(1.0, 1000.0) and b.notches[b.index] == 100.0
    assert sliders["a"].notches == widgets.linear_grid(-10.0, 0.1, 201)
    # L-BFGS's runs are not previewed, so neither is a surface it is on
    lbfgs = page(get_optimizer("adam"), get_optimizer("lbfgs"))
    assert preview.surface_sliders(lbfgs, surface_keys(lbfgs)) == []


def test_each_surface_notch_holds_every_configurations_run_on_that_surface_and_its_image():
    optimizers = (get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1e-3, momentum=0.9))
    config = page(*optimizers, noise=0.05, seed=3)
    (b,) = [s for s in preview.surface_sliders(config, surface_keys(config)) if s.axis == "b"]
    (entry,) = preview.payload(config, [b], generation=-4)
    assert entry["exact"] and entry["configs"] == 2 and entry["indices"] == list(range(len(b.notches)))
    for j in (0, 7, len(entry["indices"]) - 1):
        value = b.notches[entry["indices"][j]]
        surface = get_surface("rosenbrock", a=1.0, b=value)
        assert entry["labels"][j] == f"b = {value:g}"
        assert entry["bounds"][j] == [v for pair in surface.bounds for v in pair]
        png = base64.b64decode(entry["images"][j].removeprefix("data:image/png;base64,"))
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (preview.PREVIEW_RASTER,) * 2
        expected = run(surface, list(optimizers), config.starts()[:1], capped_steps(config), compiled=False,
                       **config.run_kwargs())
        for k in range(2):
            path = expected.path[k, 0, : expected.stop_index()[k, 0] + 1]
            drawn = typed(entry["paths"][j * 2 + k]).reshape(-1, 2).astype(np.float64)
            dist = np.min(np.linalg.norm(path[None, :, :] - drawn[:, None, :], axis=-1), axis=1)
            assert dist.max() < 1e-5 * max(1.0, np.abs(path).max())
            assert np.array_equal(drawn[-1], path[-1].astype(np.float32).astype(np.float64))


def test_surface_previews_have_a_budget_of_their_own_and_depend_on_the_other_parameters():
    config = page(*(get_optimizer("adam", lr=v) for v in (0.1, 0.01, 0.001)), steps=500)
    sliders = preview.page_sliders(config, keys(config)) + preview.surface_sliders(config, surface_keys(config))
    plan = preview.plan(config, sliders)
    surface = [(s, idx) for s, idx in plan if s.config == preview.SURFACE]
    assert [s.axis for s, _ in surface] == ["a", "b"] and len(surface[1][1]) == 31
    assert sum(len(idx) for _, idx in surface) * 3 * 500 <= preview.SURFACE_BUDGET
    others = [(s, idx) for s, idx in plan if s.config != preview.SURFACE]
    assert others == preview.plan(config, preview.page_sliders(config, keys(config)))  # the optimizers' unchanged
    # b's entry is the same wherever b is, and another for another a
    moved = dataclasses.replace(config, surface_params=(("a", 1.0), ("b", 20.0)))
    other_a = dataclasses.replace(config, surface_params=(("a", 0.5), ("b", 100.0)))
    b_of = lambda c: next(s for s in preview.surface_sliders(c, surface_keys(c)) if s.axis == "b")  # noqa: E731
    assert preview.basis(config, b_of(config)) == preview.basis(moved, b_of(moved))
    assert preview.basis(config, b_of(config)) != preview.basis(other_a, b_of(other_a))
    # a long run: a surface slider with fewer than MIN_SURFACE_VALUES notches in the budget is left out
    long = page(*(get_optimizer("adam", lr=v) for v in (0.1, 0.01, 0.001)), steps=30_000)
    assert [s for s, _ in preview.plan(long, preview.surface_sliders(long, surface_keys(long)))] == []


def test_a_schedules_parameter_is_previewed_as_its_run_with_that_value():
    optimizer = get_optimizer("sgd", lr=2e-3, momentum=0.9, schedule=("step", {"step_size": 30, "gamma": 0.5}))
    config = page(optimizer)
    schedule_keys = [lambda schedule, param: f"opt0.sched.{schedule}.{param}"]
    sliders = {s.axis: s for s in preview.page_sliders(config, keys(config), schedule_keys)}
    gamma = sliders["schedule.gamma"]  # step_size is a whole number: a number box, not a slider
    assert "schedule.step_size" not in sliders and gamma.id == "opt0.sched.step.gamma"
    assert gamma.notches == widgets.linear_grid(0.01, 0.01, 100) and gamma.notches[gamma.index] == 0.5
    (entry,) = preview.payload(config, [gamma], generation=-6)
    assert len(entry["indices"]) == preview.AXIS_VALUES
    for j in (0, 10, preview.AXIS_VALUES - 1):
        value = gamma.notches[entry["indices"][j]]
        expected = engine_path(config, get_optimizer("sgd", lr=2e-3, momentum=0.9,
                                                     schedule=("step", {"step_size": 30, "gamma": value})))
        drawn = typed(entry["paths"][j]).reshape(-1, 2)
        assert np.array_equal(drawn[-1], expected[-1].astype(np.float32))
    # its entry does not depend on where gamma is, and does on the step size
    moved = page(get_optimizer("sgd", lr=2e-3, momentum=0.9, schedule=("step", {"step_size": 30, "gamma": 0.2})))
    other = page(get_optimizer("sgd", lr=2e-3, momentum=0.9, schedule=("step", {"step_size": 40, "gamma": 0.5})))
    gamma_of = lambda c: next(s for s in preview.page_sliders(c, keys(c), schedule_keys) if s.axis == "schedule.gamma")  # noqa: E731
    assert preview.basis(config, gamma) == preview.basis(moved, gamma_of(moved)) != preview.basis(other, gamma_of(other))


def opening_preview(full: bool, monkeypatch, wanted: list[str] | None = None) -> tuple[list[list[str]], list[str]]:
    """(the labels of each preview entry the opening page sends, the ids of its `lazy` sliders) on
    the array code (OPTVIS_COMPILE=0), with or without OPTVIS_FULL_PREVIEW=1; `wanted`: the slider
    ids this session asked a preview of (what the "want" trigger's callback keeps)."""
    from streamlit.testing.v1 import AppTest

    from ui import map_component, static_files

    monkeypatch.setenv("OPTVIS_FULL_PREVIEW", "1" if full else "0")
    at = AppTest.from_file("../app.py", default_timeout=300)
    if wanted:
        at.session_state[map_component.WANTED] = wanted
    at.run()
    assert not at.exception
    (element,) = [e for e in at.get("bidi_component") if e.proto.component_name == "optvis_map_preview"]
    data = json.loads(element.proto.json)
    entries = [e if "url" not in e else static_files.read(e["url"]) for e in data["entries"]]
    return [e["labels"] for e in entries], data["lazy"]


def test_the_array_code_previews_the_learning_rates_only(monkeypatch):
    """Before the kernels are built, a notch of momentum or beta1 costs a Python step of its own per
    step (its own group of configurations), an lr's notches one for all: only the lr sliders are
    previewed there, every notch of them."""
    labels, lazy = opening_preview(False, monkeypatch)
    assert len(labels) == 5 and lazy == []  # the opening view's five optimizers, one lr slider each
    for entry in labels:
        without_lr = {re.sub(r"lr=[^,)]+", "lr=?", label) for label in entry}
        assert len(without_lr) == 1 and len(set(entry)) == len(entry) == len(widgets.log_grid(1e-5, 10.0)), entry


def test_the_other_sliders_are_previewed_when_the_browser_asks(monkeypatch):
    """With everything previewed (the compiled path, or OPTVIS_FULL_PREVIEW=1), a page sends the
    learning rates' entries and lists every other slider as lazy; a slider the session asked for
    (the browser's "want" trigger, when the pointer comes to it) is sent from then on, its notches
    the engine's runs at that slider's values."""
    labels, lazy = opening_preview(True, monkeypatch)
    assert len(labels) == 5 and len(lazy) > 10
    momentum = next(i for i in lazy if i.endswith(".momentum"))
    asked, still_lazy = opening_preview(True, monkeypatch, wanted=[momentum])
    assert [e for e in asked if e in labels] == labels and len(asked) == 6  # the lr entries and momentum's
    (extra,) = [e for e in asked if e not in labels]
    assert len(set(extra)) == len(extra) == preview.AXIS_VALUES and all("momentum=" in label for label in extra[1:])
    assert momentum not in still_lazy and len(still_lazy) == len(lazy) - 1
