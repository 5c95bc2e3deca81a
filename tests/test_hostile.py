"""Hostile and broken input: whatever a user (or a link) asks for, an answer and never a traceback.

- The engine end to end (tests/test_validation.py covers each hyperparameter and schedule alone):
  random optimizers, schedules, surfaces with their parameters, starts including inf, NaN and
  huge values, run options, both backends, several configurations in one run. Either a
  ValueError that names a culprit, or a Result whose arrays are all finite, where a trajectory
  that is not flagged diverged stayed in bounds, a flagged one is frozen at its last good point,
  and each configuration moved exactly as it does alone.
- The 2-D page under random and malformed query parameters (AppTest): no exception; bad values
  fall back with the link's note; nothing a link asks for goes past the per-request caps.
- The MNIST page with its files missing, truncated or corrupted: a clear message, embedded data.
"""

from __future__ import annotations

import gzip
import math
import shutil
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
import streamlit
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from mnist import data as mnist_data
from optimizers import MAX_CONFIGS, MAX_STEPS, OPTIMIZERS, SCHEDULES, get_optimizer, run
from optimizers.schedules import NOT_IN_SEQUENCE
from surfaces import SURFACES, get_surface
from tests.test_app import drawn_views

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
MNIST_PAGE = str(ROOT / "ui" / "mnist_page.py")
TIMEOUT = 180  # s: a guard against a hung run, not a speed check (the capped links took >60 s on a loaded CI machine)
PARAM_BOUND, LOSS_BOUND = 1e6, 1e12  # run(): beyond these a trajectory counts as diverged

HOSTILE_NUMBERS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 1e-320, -0.0, 0.0, -1.0, 2**63, 1e6 + 1]
HOSTILE_OBJECTS = [None, "1e-3", "nan", "", [0.1, 0.2], (0.9,), {"lr": 1}, True, object()]


# --- the engine --------------------------------------------------------------------------------------


def numbers(low: float = -math.inf, high: float = math.inf):
    """Floats inside [low, high] most of the time, hostile numbers and objects otherwise."""
    inside = st.floats(max(low, -1e9), min(high, 1e9), allow_nan=False)
    return st.one_of(inside, inside, st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(HOSTILE_OBJECTS),
                     st.integers(-(2**70), 2**70))


def valid(spec):
    """A value inside a spec's allowed values (wide: learning rates up to 1000 diverge)."""
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "choice":
        return st.sampled_from(spec.choices)
    if spec.kind == "text":  # the custom surface's formula
        return st.sampled_from([spec.default, "x**2 + y**2", "abs(x) + exp(-y**2)", "log(1 + x**2)*tanh(y)"])
    if spec.kind == "int":
        return st.integers(int(max(spec.low, -1e6)), int(min(spec.high, 1e4)))
    if spec.kind == "ints":
        entries = st.integers(int(spec.low), int(min(spec.high, 1e4)))
        return st.lists(entries, min_size=1, max_size=4, unique=True).map(sorted)
    number = st.floats(spec.low, spec.high, exclude_min=spec.low_open, exclude_max=spec.high_open, allow_nan=False)
    if spec.log:  # learning rates and eps over their decades, so that large ones (which diverge) come up
        decades = st.floats(-8, math.log10(spec.high)).map(lambda e: 10.0**e).filter(lambda v: spec.low < v <= spec.high)
        number = st.one_of(number, decades)
    return st.tuples(*[number] * len(spec.default)) if spec.kind == "pair" else number


def anything(spec):
    """Any value at all for a spec: of its kind but out of range, of another kind, or not a value."""
    if spec.kind in ("pair", "ints"):
        return st.one_of(st.tuples(numbers(), numbers()), numbers(), st.lists(numbers(), max_size=3))
    return st.one_of(numbers(), st.sampled_from(HOSTILE_OBJECTS), st.text(max_size=5))


@st.composite
def params(draw, specs, hostile: bool):
    """Some of `specs` given; when hostile, some of them anything (or a parameter that does not exist)."""
    given = {}
    for spec in specs:
        if draw(st.booleans()):
            given[spec.name] = draw(anything(spec) if hostile and draw(st.integers(0, 2)) == 0 else valid(spec))
    if hostile and draw(st.integers(0, 9)) == 0:
        given["not_a_parameter"] = 1.0
    return given


@st.composite
def optimizer_request(draw, hostile: bool):
    """(name, hyperparameters, schedule) as a user could ask for them."""
    names = [*OPTIMIZERS, "sgdd"] if hostile else list(OPTIMIZERS)
    name = draw(st.sampled_from(names))
    hp = draw(params(OPTIMIZERS[name].specs, hostile)) if name in OPTIMIZERS else {}
    sched_name = draw(st.sampled_from([*SCHEDULES, "nope"] if hostile else list(SCHEDULES)))
    if sched_name not in SCHEDULES:
        return name, hp, sched_name
    sched_params = draw(params(SCHEDULES[sched_name].specs, hostile))
    if SCHEDULES[sched_name].children:  # a sequence: its schedules (hostile: anything), one milestone fewer
        parts = draw(st.lists(st.sampled_from([n for n in SCHEDULES if n not in NOT_IN_SEQUENCE]), min_size=2,
                              max_size=3))
        sched_params["schedulers"] = draw(st.one_of(st.just(parts), *[anything(SCHEDULES["multistep"].specs[0])]
                                                    * hostile))
        if not hostile or draw(st.booleans()):
            sched_params["milestones"] = list(range(10, 10 * len(parts), 10))
    return name, hp, (sched_name, sched_params)


def starts(hostile: bool):
    good = st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=3)
    if not hostile:
        return good
    point = st.tuples(numbers(-3, 3), numbers(-3, 3))
    return st.one_of(good, st.lists(point, min_size=1, max_size=3), st.just([]), st.just([[1.0, 2.0, 3.0]]),
                     st.sampled_from(HOSTILE_OBJECTS))


def run_options(hostile: bool):
    if not hostile:
        return st.fixed_dictionaries({}, optional={
            "noise": st.floats(0, 10), "seed": st.integers(0, 2**32), "clip_norm": st.floats(1e-3, 100),
            "clip_value": st.floats(1e-3, 100), "tol": st.floats(0, 1e-3), "backend": st.sampled_from(["numpy", "torch"]),
        })
    return st.fixed_dictionaries({}, optional={
        "noise": numbers(0, 10), "seed": st.one_of(st.integers(-5, 2**64), numbers()),
        "clip_norm": st.one_of(st.none(), numbers(0, 100)), "clip_value": st.one_of(st.none(), numbers(0, 100)),
        "tol": numbers(0, 1), "backend": st.sampled_from(["numpy", "torch", "jax"]),
    })


@st.composite
def engine_request(draw):
    """Everything one run() call takes, all valid or (half the time) with hostile values mixed in."""
    hostile = draw(st.booleans())
    surface = draw(st.sampled_from(list(SURFACES)))
    steps = draw(st.one_of(st.integers(1, 50), st.sampled_from([0, -1, MAX_STEPS + 1, 2.5, None, "10"]))
                 if hostile else st.integers(1, 50))
    return {
        "requests": draw(st.lists(optimizer_request(hostile), min_size=1, max_size=3)),
        "surface": surface, "surface_params": draw(params(SURFACES[surface].specs, hostile)),
        "start": draw(starts(hostile)), "steps": steps, "options": draw(run_options(hostile)),
    }


def culprits(message: str, names) -> bool:
    """Whether a ValueError's message names one of the given parameters (or what it is about)."""
    text = message.lower()
    return any(str(n).lower() in text for n in names)


def all_finite(res) -> bool:
    arrays = [res.path, res.loss, res.grad, res.grad_norm, res.lr, res.eff_lr, res.ratio, *res.state.values()]
    return all(np.all(np.isfinite(a)) for a in arrays)


def check_divergence_flags(res) -> None:
    """Unflagged trajectories stayed inside the bounds; flagged ones hold their last good point."""
    stop = res.stop_index()
    k_count, n_count, t, _ = res.shape
    for k in range(k_count):
        for n in range(n_count):
            if res.diverged_at[k, n] < 0:
                assert np.all(np.abs(res.path[k, n]) <= PARAM_BOUND), "out of bounds but not flagged"
                assert np.all(res.loss[k, n] <= LOSS_BOUND), "loss beyond its bound but not flagged"
            else:
                assert 1 <= res.diverged_at[k, n] <= t
                held = res.path[k, n, stop[k, n]:]
                assert np.all(held == held[0]), "a diverged trajectory moved after its last good point"
                assert np.all(np.abs(res.path[k, n, : stop[k, n] + 1]) <= PARAM_BOUND)


@pytest.mark.parametrize("surface", list(SURFACES))
def test_every_optimizer_runs_on_every_surface(surface):
    """Each optimizer at its defaults from the surface's first start (those that need a Hessian where
    the surface has one): finite records, divergence flagged where it happens."""
    s = get_surface(surface)
    names = [name for name, info in OPTIMIZERS.items() if not info.curvature or s.hess_xy is not None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = run(s, [get_optimizer(name) for name in names], np.array(s.default_starts[:1], dtype=float), 40,
                  compiled=False)
    assert res.shape[0] == len(names) >= len(OPTIMIZERS) - 1
    assert all_finite(res)
    check_divergence_flags(res)


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=engine_request())
def test_engine_answers_any_request_with_a_named_error_or_finite_flagged_results(request):
    requests, surface, sp = request["requests"], request["surface"], request["surface_params"]
    start, steps, options = request["start"], request["steps"], request["options"]
    try:
        configs = [get_optimizer(name, schedule=schedule, **hp) for name, hp, schedule in requests]
        s = get_surface(surface, **sp)
    except ValueError as err:  # it must name a parameter it was given (or the unknown optimizer/schedule)
        names = [n for _, hp, sched in requests for n in (*hp, *(sched[1] if isinstance(sched, tuple) else ()))]
        assert culprits(str(err), [*names, *sp, "nesterov", "unknown optimizer", "unknown schedule"]), str(err)
        event("refused by get_optimizer / get_surface")
        return
    except TypeError as err:  # a hostile value must give a ValueError, not this
        pytest.fail(f"TypeError instead of a ValueError naming the parameter: {err}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning (overflow, invalid value) may escape either
            res = run(s, configs, start, steps, compiled=False, **options)
    except ValueError as err:
        # ... or the one schedule only the MNIST trainer runs (it follows a validation loss)
        assert culprits(str(err), ["starts", "steps", "schedule plateau", *options]), str(err)
        event("refused by run")
        return
    event("ran, some trajectory diverged" if (res.diverged_at >= 0).any() else "ran, no divergence")
    assert all_finite(res)
    check_divergence_flags(res)
    if len(configs) > 1:  # each configuration moves as it does alone: nothing leaks between them
        for k, config in enumerate(configs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                alone = run(s, [config], start, steps, compiled=False, **options)
            np.testing.assert_allclose(res.path[k], alone.path[0], rtol=1e-12, atol=1e-300)
            assert np.array_equal(res.diverged_at[k], alone.diverged_at[0])


# --- the 2-D page under hostile links ------------------------------------------------------------------


def page(query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value_ in query.items():
        at.query_params[name] = value_
    return at.run()


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def link_note(at: AppTest) -> str:
    """The text of the warning that lists the link's settings that fell back ("" when none)."""
    return "\n".join(w.value for w in at.warning if "could not be used" in w.value)


KEYS = ["surface", "opt", "start", "steps", "swarm", "swarm_seed", "noise", "seed", "clip_norm", "clip_value", "tol",
        "backend", "preset", "rosenbrock.a", "rosenbrock.b", "quadratic.condition", "regression.n_samples"]
WEIRD_TEXT = ["", " ", "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "1" * 400, "0x10", "1,2,3", ",", "~", ":",
              "adam~lr", "adam~lr:", "adam~lr:nan", "adam~~lr:1", "sgd~nesterov:true", "adam~betas:0.9",
              "adam~schedule:cosine~T_max:-1", "adam~schedule:nope", "%00", "\x00", "é", "🙂", "<script>", "None",
              "1e-400", "-0", "99999999999999999999999", "true", "[1, 2]"]


def query_value():
    return st.one_of(st.sampled_from(WEIRD_TEXT), st.text(max_size=40), st.floats().map(repr),
                     st.integers(-(2**80), 2**80).map(str))


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=12)),
                             st.one_of(query_value(), st.lists(query_value(), min_size=1, max_size=4)),
                             max_size=6))
def test_random_links_never_raise(query):
    at = page(query)
    no_exception(at)
    config = at.session_state["config"]  # whatever the link said, the page runs a valid configuration
    assert config.steps <= MAX_STEPS and (config.swarm or 1) <= 1000 and config.surface in SURFACES


@pytest.mark.parametrize(("key", "bad"), [
    ("surface", "nowhere"), ("opt", "bogus~lr:1"), ("opt", "adam~lr:-1"), ("opt", "adam~lr:nan"),
    ("opt", "adam~betas:1.5,0.9"), ("opt", "sgd~lr:0.1~nesterov:true"), ("opt", "adam~lr:0.1~zzz:3"),
    ("start", "nan,1"), ("start", "1e309,0"), ("start", "1,2,3"), ("steps", str(10**9)), ("steps", "-5"),
    ("steps", "2.5"), ("swarm", str(10**6)), ("swarm_seed", "-1"), ("noise", "inf"), ("seed", "x"),
    ("clip_norm", "-1"), ("tol", "nan"), ("backend", "jax"), ("preset", "nope"), ("rosenbrock.b", "1e99"),
    ("quadratic.condition", "5"), ("zzz", "1"),
])
def test_each_bad_link_value_falls_back_with_a_note(key, bad):
    at = page({key: bad})
    no_exception(at)
    note = link_note(at)
    assert note, f"no note for {key}={bad!r}"
    assert key.split(".")[0] in note or bad.split("~")[0] in note, note
    assert drawn_views(at), "the page should still draw its views"


def test_a_link_cannot_ask_for_more_than_the_caps():
    """steps 10^9, a swarm of 10^6: defaults with a note. 64 optimizers x 1000 starts x 20000 steps:
    the page runs fewer steps, says so, and stays within its trajectory budget. 100 optimizers:
    at most MAX_CONFIGS, with a note."""
    at = page({"steps": str(10**9), "swarm": str(10**6)})
    no_exception(at)
    config = at.session_state["config"]
    assert config.steps <= MAX_STEPS and config.swarm <= 1000
    assert "steps" in link_note(at) and "swarm" in link_note(at)

    at = page({"opt": ["adam~lr:0.01"] * 3, "swarm": "1000", "steps": str(MAX_STEPS)})
    no_exception(at)
    assert any("running" in w.value and "steps" in w.value for w in at.warning), [w.value for w in at.warning]
    res_steps = at.session_state["config"]
    assert res_steps.swarm == 1000 and res_steps.steps == MAX_STEPS  # asked for; the run itself is capped

    # More optimizers than a run may have: the link keeps the first ones, with a note, and the page
    # stays usable (each optimizer is a sidebar panel of widgets: thousands would hold the server).
    at = page({"opt": ["adam~lr:0.01"] * 100})
    no_exception(at)
    assert len(at.session_state["config"].optimizers) <= MAX_CONFIGS
    assert "opt" in link_note(at)
    assert not at.error and drawn_views(at)


def test_the_heaviest_request_fits_in_the_configured_message_size():
    """The most a link can ask for (MAX_CONFIGS optimizers, 1000 starts, MAX_STEPS steps), on the
    map and in the 3-D view, sends figures well within server.maxMessageSize."""
    limit_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxMessageSize"]
    at = page({"opt": ["adam~lr:0.01", "sgd~lr:0.001~momentum:0.9"] * (MAX_CONFIGS // 2), "swarm": "1000",
               "steps": str(MAX_STEPS)})
    no_exception(at)
    largest = max(len(e.proto.SerializeToString()) for e in drawn_views(at))
    at.toggle(key="view.3d").set_value(True).run()
    no_exception(at)
    largest = max(largest, *(len(e.proto.SerializeToString()) for e in drawn_views(at)))
    assert largest < limit_mb * 1e6 / 4, f"{largest / 1e6:.1f} MB is too close to the {limit_mb} MB limit"


# --- the MNIST page with broken files -------------------------------------------------------------------


def break_file(path: Path, how: str) -> None:
    raw = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif how == "corrupted":
        body = bytearray(gzip.decompress(raw))
        body[len(body) // 2] ^= 0xFF  # one flipped byte: the MD5 no longer matches
        path.write_bytes(gzip.compress(bytes(body)))
    else:  # not gzip, not IDX
        path.write_bytes(b"<html>not mnist</html>")


SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"


@pytest.mark.skipif(not (SHARED_MNIST / mnist_data.TRAIN_LABELS).exists(), reason=f"no full MNIST in {SHARED_MNIST}")
@pytest.mark.parametrize("how", ["intact", "missing", "truncated", "corrupted", "garbage"])
def test_mnist_page_with_broken_full_files_says_so_and_uses_the_embedded_set(tmp_path, monkeypatch, how):
    full = tmp_path / "mnist"
    full.mkdir()
    for name in mnist_data.FULL_FILES:
        shutil.copy(SHARED_MNIST / name, full / name)
    if how != "intact":
        break_file(full / mnist_data.TRAIN_LABELS, how)
    monkeypatch.setenv("MNIST_DIR", str(full))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    streamlit.cache_resource.clear()
    try:
        at = AppTest.from_file(MNIST_PAGE, default_timeout=TIMEOUT)
        at.session_state["mnist.w.source"] = "full"
        at.run()
        no_exception(at)
        described = " ".join(c.value.lower() for c in at.caption)
        warning = "\n".join(w.value for w in at.warning)
        if how == "intact":
            assert not warning and "60,000" in described, (warning, described)
        else:
            assert mnist_data.TRAIN_LABELS in warning or "train" in warning.lower(), warning  # names what is wrong
            assert "embedded" in described, described  # and trains on the embedded set instead
        assert not at.button(key="mnist.train").disabled
    finally:
        streamlit.cache_resource.clear()
