"""Every invalid input raises ValueError naming the parameter and, for numbers, the allowed range.

A property test draws hyperparameters inside and outside the ranges the specs declare: each
draw either raises ValueError naming an offending parameter, or runs to a Result whose arrays
are all finite, with no warning.
"""

import math
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizers import (
    MAX_CONFIGS,
    MAX_STARTS,
    MAX_STEPS,
    MAX_TRAJECTORY_STEPS,
    OPTIMIZERS,
    SCHEDULES,
    get_optimizer,
    get_schedule,
    run,
)
from surfaces import get_surface

ROSENBROCK = get_surface("rosenbrock")
SGD = get_optimizer("sgd", lr=1e-4)


def raises(*names, allowed=None):
    """pytest.raises(ValueError) whose message contains every name and the allowed range text."""
    parts = [re.escape(n) for n in names] + ([re.escape(allowed)] if allowed else [])
    return pytest.raises(ValueError, match="".join(f"(?=[\\s\\S]*{p})" for p in parts))


# --- Optimizer hyperparameters ------------------------------------------------------------------

LR_OWNERS = sorted(OPTIMIZERS)


@pytest.mark.parametrize("name", LR_OWNERS)
@pytest.mark.parametrize("lr", [-0.1, -1e-12, 1e3 * (1 + 1e-9), math.inf, math.nan])
def test_lr_out_of_range(name, lr):
    allowed = "(0, 1000]" if name in ("lion", "prodigy") else "[0, 1000]"  # lion-pytorch asserts, prodigyopt checks lr > 0
    with raises(name, "lr=", allowed=allowed):
        get_optimizer(name, lr=lr)


@pytest.mark.parametrize("kw,param", [(dict(etas=(1.0, 1.2)), "etas=(1.0, 1.2)"), (dict(etas=(0.5, 1.0)), "etas="),
                                      (dict(etas=(0.0, 1.2)), "etas[0]="), (dict(step_sizes=(1.0, 0.5)), "step_sizes="),
                                      (dict(step_sizes=(-1.0, 0.5)), "step_sizes[0]=")])
def test_rprop_hyperparameters_follow_torch(kw, param):
    """torch.optim.Rprop refuses etas outside 0 < etas[0] < 1 < etas[1]; step sizes need min <= max."""
    with raises("rprop", param):
        get_optimizer("rprop", **kw)


@pytest.mark.parametrize("kw,param,allowed", [(dict(lr=0.0), "lr=", "(0, 1000]"),
                                              (dict(betas=(1.5, 0.99)), "betas[0]=", "[0, 1]"),
                                              (dict(betas=(0.9, -0.1)), "betas[1]=", "[0, 1]"),
                                              (dict(weight_decay=-1.0), "weight_decay=", "[0, 10]")])
def test_lion_hyperparameters_follow_lion_pytorch(kw, param, allowed):
    """lion-pytorch asserts lr > 0 and 0 <= beta <= 1 (both ends allowed)."""
    with raises("lion", param, allowed=allowed):
        get_optimizer("lion", **kw)
    get_optimizer("lion", betas=(0.0, 1.0))


@pytest.mark.parametrize("kw,param,allowed", [(dict(beta2_decay=0.1), "beta2_decay=", "[-10, 0]"),
                                              (dict(d=0.5), "d=", "[1, 1e+06]"),
                                              (dict(eps=(-1e-30, 1e-3)), "eps[0]=", "[0, 1]"),
                                              (dict(eps=(1e-30, -1e-3)), "eps[1]=", "[0, 1]")])
def test_adafactor_hyperparameters_follow_torch(kw, param, allowed):
    """torch.optim.Adafactor refuses beta2_decay > 0, d < 1 and negative epsilons."""
    with raises("adafactor", param, allowed=allowed):
        get_optimizer("adafactor", **kw)
    get_optimizer("adafactor", beta2_decay=0.0, d=1.0, eps=(0.0, 0.0))


@pytest.mark.parametrize("kw,param", [(dict(d0=0.0), "d0="), (dict(eps=0.0), "eps="), (dict(betas=(1.0, 0.9)), "betas[0]="),
                                      (dict(betas=(0.9, 1.0)), "betas[1]="), (dict(d_coef=0.0), "d_coef=")])
def test_prodigy_hyperparameters_follow_prodigyopt(kw, param):
    """prodigyopt refuses d0 <= 0, lr <= 0, eps <= 0 and betas outside [0, 1); d_coef must be > 0 here."""
    with raises("prodigy", param):
        get_optimizer("prodigy", **kw)


@pytest.mark.parametrize("name,kw,param", [("sgd_schedule_free", dict(momentum=0.0), "momentum="),
                                           ("sgd_schedule_free", dict(momentum=1.0), "momentum="),
                                           ("adamw_schedule_free", dict(betas=(0.0, 0.999)), "betas[0]="),
                                           ("sgd_schedule_free", dict(warmup_steps=-1), "warmup_steps=")])
def test_schedule_free_hyperparameters(name, kw, param):
    """schedulefree refuses momentum outside (0, 1); x = lerp(y, z, 1 - 1/beta) needs beta1 > 0 too."""
    with raises(name, param):
        get_optimizer(name, **kw)


ADAM_FAMILY = ["adam", "adamw", "adamax", "nadam", "radam"]


@pytest.mark.parametrize("name", ADAM_FAMILY)
@pytest.mark.parametrize("betas,index", [((1.0, 0.999), 0), ((-0.1, 0.999), 0), ((0.9, 1.0), 1),
                                         ((0.9, -1e-9), 1), ((0.9, 1.5), 1), ((math.nan, 0.9), 0)])
def test_betas_out_of_range_name_the_index(name, betas, index):
    with raises(f"betas[{index}]", allowed="[0, 1)"):
        get_optimizer(name, betas=betas)


@pytest.mark.parametrize("betas", [(0.9,), (0.9, 0.99, 0.999), 0.9, None, "abc"])
def test_betas_must_be_a_pair(betas):
    with raises("betas", "pair", allowed="[0, 1)"):
        get_optimizer("adam", betas=betas)


def test_betas_must_be_numbers():
    with raises("betas[0]", "number", allowed="[0, 1)"):
        get_optimizer("adam", betas=("a", 0.9))


@pytest.mark.parametrize("name", ["adagrad", "rmsprop", "adadelta", *ADAM_FAMILY])
@pytest.mark.parametrize("eps", [0.0, -1e-8, 1.5])
def test_eps_out_of_range(name, eps):
    with raises("eps=", allowed="(0, 1]"):
        get_optimizer(name, eps=eps)


OUT_OF_RANGE = [
    ("sgd", "momentum", -0.1, "[0, 1]"), ("sgd", "momentum", 1.5, "[0, 1]"),
    ("sgd", "dampening", -0.5, "[0, 1]"), ("sgd", "dampening", 2.0, "[0, 1]"),
    ("rmsprop", "momentum", -1.0, "[0, 1]"), ("rmsprop", "alpha", 1.01, "[0, 1]"),
    ("rmsprop", "alpha", -0.1, "[0, 1]"), ("gnsgd", "alpha", -1.0, "[0, 1e+06]"),
    ("adadelta", "rho", 1.1, "[0, 1]"), ("adadelta", "rho", -0.1, "[0, 1]"),
    ("adagrad", "lr_decay", -0.01, "[0, 10]"), ("adagrad", "initial_accumulator_value", -1.0, "[0, 1000]"),
    ("nadam", "momentum_decay", -0.004, "[0, 1]"), ("adam", "weight_decay", -0.1, "[0, 10]"),
    ("adamw", "weight_decay", 11.0, "[0, 10]"), ("sgd", "weight_decay", math.nan, "[0, 10]"),
]


@pytest.mark.parametrize("name,param,value,allowed", OUT_OF_RANGE, ids=[f"{c[0]}-{c[1]}={c[2]}" for c in OUT_OF_RANGE])
def test_hyperparameter_out_of_range(name, param, value, allowed):
    with raises(name, f"{param}=", allowed=allowed):
        get_optimizer(name, **{param: value})


@pytest.mark.parametrize("kw", [dict(lr="0.1"), dict(lr=None), dict(lr=True), dict(amsgrad="yes"), dict(amsgrad=2)])
def test_wrong_types(kw):
    (param,) = kw
    with raises(f"{param}="):
        get_optimizer("adam", **kw)


@pytest.mark.parametrize("kw", [dict(nesterov=True), dict(nesterov=True, momentum=0.9, dampening=0.1),
                                dict(nesterov=True, momentum=0.0, dampening=0.0)])
def test_nesterov_needs_momentum_and_no_dampening(kw):
    with raises("nesterov", "momentum", "dampening"):
        get_optimizer("sgd", **kw)


def test_unknown_optimizer_lists_the_valid_names():
    with raises("adamm", *OPTIMIZERS):
        get_optimizer("adamm")


@pytest.mark.parametrize("name,kw", [("adam", dict(momentum=0.9)), ("adamw", dict(decoupled_weight_decay=True)),
                                     ("sgd", dict(betas=(0.9, 0.99))), ("gnsgd", dict(eps=1e-8))])
def test_unknown_hyperparameter_lists_the_valid_names(name, kw):
    valid = [s.name for s in OPTIMIZERS[name].specs]
    with raises(*kw, *valid):
        get_optimizer(name, **kw)


# --- Schedules ------------------------------------------------------------------------------


def test_unknown_schedule_lists_the_valid_names():
    with raises("linear", *SCHEDULES):
        get_schedule("linear")
    with raises("linear", *SCHEDULES):
        get_optimizer("sgd", schedule="linear")


BAD_SCHEDULES = [
    ("step", dict(step_size=0), "step_size=", "[1, 1e+07]"),
    ("step", dict(gamma=0.0), "gamma=", "(0, 1]"),
    ("step", dict(gamma=1.5), "gamma=", "(0, 1]"),
    ("exponential", dict(gamma=-0.5), "gamma=", "(0, 1]"),
    ("polynomial", dict(total_iters=0), "total_iters=", "[1, 1e+07]"),
    ("polynomial", dict(power=-1.0), "power=", "[0, 10]"),
    ("cosine", dict(T_max=1.5), "T_max=", "[1, 1e+07]"),
    ("cosine", dict(eta_min=-0.1), "eta_min=", "[0, 10]"),
    ("warmup", dict(start_factor=0.0), "start_factor=", "(0, 1]"),
    ("warmup", dict(end_factor=1.5), "end_factor=", "[0, 1]"),
    ("warmup", dict(total_iters=0), "total_iters=", "[1, 1e+07]"),
    ("cyclic", dict(max_lr=0.0), "max_lr=", "(0, 10]"),
    ("cyclic", dict(step_size_up=0), "step_size_up=", "[1, 1e+07]"),
    ("cyclic", dict(step_size_down=-1), "step_size_down=", "[0, 1e+07]"),
    ("onecycle", dict(pct_start=1.0), "pct_start=", "(0, 1)"),
    ("onecycle", dict(anneal_strategy="quad"), "anneal_strategy=", "'cos', 'linear'"),
    ("onecycle", dict(div_factor=0.5), "div_factor=", "[1, 1e+06]"),
    ("onecycle", dict(three_phase="no"), "three_phase=", "{True, False}"),
    ("inverse_sqrt", dict(alpha=-0.1), "alpha=", "[0, 1000]"),
    ("sawtooth", dict(period=0), "period=", "[1, 1e+07]"),
    ("step", dict(gamma=0.5, decay=0.1), "decay", "step_size"),
    ("multistep", dict(milestones=(80, 30)), "milestones=", "strictly increasing whole numbers, each in [1, 1e+07]"),
    ("multistep", dict(milestones=(0, 30)), "milestones[0]=", "[1, 1e+07]"),
    ("multistep", dict(milestones=()), "milestones=", "1 to 32"),
    ("multistep", dict(milestones="30,80"), "milestones=", "1 to 32"),
    ("multistep", dict(milestones=(10.5,)), "milestones=", "whole numbers"),
    ("multistep", dict(gamma=0.0), "gamma=", "(0, 1]"),
    ("constant_factor", dict(factor=0.0), "factor=", "(0, 1]"),  # torch divides by it at total_iters
    ("constant_factor", dict(factor=1.5), "factor=", "(0, 1]"),
    ("constant_factor", dict(total_iters=0), "total_iters=", "[1, 1e+07]"),
    ("cosine_restarts", dict(T_0=0), "T_0=", "[1, 1e+07]"),
    ("cosine_restarts", dict(T_mult=0), "T_mult=", "[1, 10]"),
    ("cosine_restarts", dict(T_mult=1.5), "T_mult=", "[1, 10]"),
    ("cosine_restarts", dict(eta_min=-1.0), "eta_min=", "[0, 10]"),
    ("warmup_cosine", dict(warmup_steps=0), "warmup_steps=", "[1, 1e+07]"),
    ("warmup_cosine", dict(start_factor=0.0), "start_factor=", "(0, 1]"),
    ("warmup_cosine", dict(T_max=0), "T_max=", "[1, 1e+07]"),
    ("warmup_cosine", dict(eta_min=11.0), "eta_min=", "[0, 10]"),
    ("sequential", dict(milestones=(5,)), "schedulers", "list of schedules"),
    ("sequential", dict(schedulers="cosine", milestones=(5,)), "schedulers=", "2 to 8"),
    ("sequential", dict(schedulers=["cosine"], milestones=()), "schedulers=", "2 to 8"),
    ("sequential", dict(schedulers=["warmup", ("cosine", dict(T_max=0))], milestones=(5,)),
     "schedulers[1]", "T_max=0 is outside the allowed range [1, 1e+07]"),
    ("sequential", dict(schedulers=["warmup", "nope"], milestones=(5,)), "schedulers[1]", "unknown schedule"),
    ("sequential", dict(schedulers=["warmup", "onecycle"], milestones=(5,)), "schedulers[1]='onecycle'", "cosine"),
    ("sequential", dict(schedulers=["warmup", "warmup_cosine"], milestones=(5,)), "schedulers[1]", "part of a sequence"),
    ("sequential", dict(schedulers=["warmup", "cosine"], milestones=(5, 10)), "milestones=(5, 10)", "one step fewer"),
    ("sequential", dict(schedulers=["warmup", "cosine"], milestones=(5,), extra=1), "extra", "milestones"),
]


@pytest.mark.parametrize("name,params,param,allowed", BAD_SCHEDULES, ids=[f"{c[0]}-{c[1]}" for c in BAD_SCHEDULES])
def test_bad_schedule_parameters(name, params, param, allowed):
    with raises(param, allowed=allowed):
        get_schedule(name, **params)
    with raises(param, allowed=allowed):
        get_optimizer("sgd", schedule=(name, params))


@pytest.mark.parametrize("schedule", [42, ("step",), ("step", 5, 6)])
def test_schedule_must_be_a_name_or_pair(schedule):
    with raises("schedule"):
        get_optimizer("sgd", schedule=schedule)


@pytest.mark.parametrize("total_steps,pct_start,three_phase", [(10, 0.1, False), (2, 0.5, False), (20, 0.05, True),
                                                               (10, 0.55, True)])
def test_onecycle_rejects_a_phase_of_zero_length(total_steps, pct_start, three_phase):
    """pct_start * total_steps == 1 makes the warm-up phase empty (torch raises ZeroDivisionError);
    with three_phase, 2 pct_start total_steps - 2 == total_steps - 1 empties the last phase.
    Either must be refused up front rather than produce a NaN learning rate."""
    with raises("pct_start", "total_steps"):
        get_schedule("onecycle", total_steps=total_steps, pct_start=pct_start, three_phase=three_phase)


# --- run() arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, -5, MAX_STEPS + 1, 1.5, True, "10"])
def test_steps_out_of_range(steps):
    with raises("steps=", allowed=f"[1, {MAX_STEPS}]"):
        run(ROSENBROCK, SGD, steps=steps)


def test_too_many_starts():
    with raises("starts", str(MAX_STARTS)):
        run(ROSENBROCK, SGD, np.zeros((MAX_STARTS + 1, 2)), steps=1)
    with raises("starts", str(MAX_STARTS)):
        run(ROSENBROCK, SGD, np.zeros((0, 2)), steps=1)


def test_too_many_or_no_configs():
    with raises("optimizers", str(MAX_CONFIGS)):
        run(ROSENBROCK, [SGD] * (MAX_CONFIGS + 1), steps=1)
    with raises("optimizers", str(MAX_CONFIGS)):
        run(ROSENBROCK, [], steps=1)
    with raises("optimizers", "get_optimizer"):
        run(ROSENBROCK, ["sgd"], steps=1)


def test_trajectory_step_cap():
    steps = MAX_TRAJECTORY_STEPS // MAX_STARTS + 1
    assert steps <= MAX_STEPS
    with raises("steps", f"{MAX_TRAJECTORY_STEPS:,}"):
        run(ROSENBROCK, SGD, np.zeros((MAX_STARTS, 2)), steps=steps)
    with raises("steps", f"{MAX_TRAJECTORY_STEPS:,}"):
        run(ROSENBROCK, [SGD] * 2, np.zeros((MAX_STARTS // 2 + 1, 2)), steps=steps - 1)


@pytest.mark.parametrize("starts", [[(math.nan, 0.0)], [(0.0, math.inf)], [(1.0, 1.0), (-math.inf, 0.0)], [(2e6, 0.0)],
                                    [(None, 1.0)]])
def test_non_finite_starts(starts):
    with raises("starts", "finite"):
        run(ROSENBROCK, SGD, starts, steps=1)


@pytest.mark.parametrize("starts", [[(1.0, 2.0, 3.0)], [[[1.0, 2.0]]], [1.0], [[1.0, 2.0], [3.0]], "ab", [[]]])
def test_wrong_start_shape(starts):
    with raises("starts", "[N, 2]"):
        run(ROSENBROCK, SGD, starts, steps=1)


@pytest.mark.parametrize("kw,param,allowed", [
    (dict(noise=-0.1), "noise=", "[0, 1e+06]"),
    (dict(noise=math.nan), "noise=", "[0, 1e+06]"),
    (dict(noise=math.inf), "noise=", "[0, 1e+06]"),
    (dict(clip_norm=0.0), "clip_norm=", "(0, 1e+12]"),
    (dict(clip_norm=-1.0), "clip_norm=", "(0, 1e+12]"),
    (dict(clip_value=0.0), "clip_value=", "(0, 1e+12]"),
    (dict(clip_value=math.nan), "clip_value=", "(0, 1e+12]"),
    (dict(tol=-1e-8), "tol=", "[0, 1e+06]"),
    (dict(seed=-1), "seed=", "[0, "),
    (dict(seed=1.5), "seed=", "[0, "),
], ids=str)
def test_run_options_out_of_range(kw, param, allowed):
    with raises(param, allowed=allowed):
        run(ROSENBROCK, SGD, steps=1, **kw)


def test_bad_backend_lists_the_valid_ones():
    with raises("backend=", "numpy", "torch"):
        run(ROSENBROCK, SGD, steps=1, backend="jax")


@pytest.mark.parametrize("backend,device", [("numpy", "cuda"), ("torch", "tpu")])
def test_bad_device(backend, device):
    with raises("device="):
        run(ROSENBROCK, SGD, steps=1, backend=backend, device=device)


@pytest.mark.parametrize("surface,backend", [(ROSENBROCK, "torch"),
                                              (get_surface("regression", batch_size=10), "numpy")])
def test_compiled_needs_numpy_and_a_deterministic_surface(surface, backend):
    with raises("compiled=True"):
        run(surface, SGD, steps=1, backend=backend, compiled=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_device_without_cuda():
    with raises("device=", "CUDA"):
        run(ROSENBROCK, SGD, steps=1, backend="torch", device="cuda")


# --- Property: valid draws run to finite Results, invalid draws name a culprit --------------------


def _number(spec, valid):
    """A float inside a numeric spec's range, or outside it (just past a bound, far out, or NaN)."""
    if valid:
        return st.floats(min_value=spec.low, max_value=spec.high, exclude_min=spec.low_open,
                         exclude_max=spec.high_open)
    below = st.floats(max_value=spec.low, exclude_max=not spec.low_open, allow_nan=False)
    above = st.floats(min_value=spec.high, exclude_min=not spec.high_open, allow_nan=False)
    return st.one_of(*([below] if spec.low > -math.inf else []), *([above] if spec.high < math.inf else []),
                     st.just(math.nan))


def _value(spec, valid):
    """A value for one hyperparameter spec, inside (valid) or outside its allowed values."""
    if spec.kind == "bool":
        return st.booleans() if valid else st.sampled_from([2, "yes", None, 0.5])
    if spec.kind == "choice":
        return st.sampled_from(spec.choices) if valid else st.just("nope")
    if spec.kind == "int":
        return st.integers(int(spec.low), min(int(spec.high), 10_000)) if valid \
            else st.integers(max_value=int(spec.low) - 1)
    if spec.kind == "ints":
        entries = st.integers(int(spec.low), min(int(spec.high), 10_000))
        if valid:
            return st.lists(entries, min_size=1, max_size=4, unique=True).map(lambda v: tuple(sorted(v)))
        return st.one_of(st.just(()), st.tuples(entries, entries).map(lambda v: (max(v), min(v))),
                         st.tuples(st.integers(max_value=int(spec.low) - 1)))
    if spec.kind == "pair":
        n = len(spec.default)
        if valid:
            return st.tuples(*[_number(spec, True)] * n)
        return st.one_of(*[st.tuples(*[_number(spec, i != bad) for i in range(n)]) for bad in range(n)])
    return _number(spec, valid)


@st.composite
def hyperparameters(draw, specs):
    """Some of `specs` given values inside their ranges, at most one outside; (given, invalid names)."""
    bad = draw(st.one_of(st.none(), st.sampled_from([spec.name for spec in specs]))) if specs else None
    given = {}
    for spec in specs:
        if spec.name == bad:
            given[spec.name] = draw(_value(spec, False))
        elif draw(st.booleans()):
            given[spec.name] = draw(_value(spec, True))
    return given, [bad] if bad else []


def _rprop_culprits(hp):
    """The parameters of rprop's cross-parameter rules that `hp` breaks: 0 < etas[0] < 1 < etas[1],
    step_sizes[0] <= step_sizes[1]."""
    (minus, plus), (low, high) = hp.get("etas", (0.5, 1.2)), hp.get("step_sizes", (1e-6, 50.0))
    return [name for name, broken in (("etas", not 0 < minus < 1 < plus), ("step_sizes", low > high)) if broken]


def _all_finite(res):
    arrays = [res.path, res.loss, res.grad, res.grad_norm, res.lr, res.eff_lr, res.ratio, *res.state.values()]
    return all(np.all(np.isfinite(a)) for a in arrays)


SURFACES = [ROSENBROCK, get_surface("quadratic", condition=100.0, angle=-20.0)]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_random_hyperparameters_validate_or_run_finite(name):
    @settings(max_examples=30, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(drawn=hyperparameters(OPTIMIZERS[name].specs), steps=st.integers(1, 50), surface=st.sampled_from(SURFACES))
    def check(drawn, steps, surface):
        given_hp, invalid = drawn
        nesterov_rule = (name == "sgd" and not invalid and given_hp.get("nesterov")
                         and (given_hp.get("momentum", 0.0) <= 0 or given_hp.get("dampening", 0.0) != 0))
        rprop_rule = [] if name != "rprop" or invalid else _rprop_culprits(given_hp)
        if invalid or nesterov_rule or rprop_rule:
            with pytest.raises(ValueError) as err:
                get_optimizer(name, **given_hp)
            culprits = invalid or rprop_rule or ["nesterov"]
            assert any(f"{c}=" in str(err.value) or f"{c}[" in str(err.value) for c in culprits), str(err.value)
            return
        config = get_optimizer(name, **given_hp)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = run(surface, config, surface.default_starts, steps, tol=0, compiled=False)
        assert _all_finite(res), given_hp

    check()


# sequential's schedulers have no spec (each is a schedule of its own): its cases are in BAD_SCHEDULES
@pytest.mark.parametrize("name", sorted(n for n in SCHEDULES if not SCHEDULES[n].children))
def test_random_schedule_parameters_validate_or_give_finite_rates(name):
    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(drawn=hyperparameters(SCHEDULES[name].specs), lr=st.floats(0, 1e3))
    def check(drawn, lr):
        given_params, invalid = drawn
        if invalid:
            with pytest.raises(ValueError) as err:
                get_schedule(name, **given_params)
            assert any(f"{c}=" in str(err.value) or f"{c}[" in str(err.value) for c in invalid), str(err.value)
            return
        try:
            schedule = get_schedule(name, **given_params)
        except ValueError as err:  # a cross-parameter rule may refuse: it must name a given parameter
            assert any(f"{c}" in str(err) for c in given_params), str(err)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = schedule.values(lr, 300)
        assert np.all(np.isfinite(values)) and np.all(values >= 0), given_params

    check()


HUGE = 10**400  # a Python int beyond float64


@pytest.mark.parametrize("call", [
    lambda: get_optimizer("adam", lr=HUGE),
    lambda: get_optimizer("adam", betas=(HUGE, 0.9)),
    lambda: get_optimizer("adam", schedule=("cosine", {"T_max": HUGE})),
    lambda: get_surface("rosenbrock", b=HUGE),
    lambda: run(get_surface("rosenbrock"), get_optimizer("adam"), noise=HUGE),
    lambda: run(get_surface("rosenbrock"), get_optimizer("adam"), starts=[[HUGE, 0]]),
    lambda: get_optimizer("adam", schedule=("step", None)),
    lambda: get_optimizer("adam", schedule=("step", [1, 2])),
    lambda: get_optimizer("adam", schedule=(["step"], {})),
    lambda: get_optimizer(["adam"]),
    lambda: get_surface(["rosenbrock"]),
    lambda: get_optimizer("adam", lr=np.bool_(True)),
    lambda: get_optimizer("adam", lr=np.timedelta64(5)),
    lambda: get_optimizer("adam", betas={0.5: "x", 0.6: "y"}),
    lambda: run(get_surface("rosenbrock"), get_optimizer("adam"), steps=3, compiled="yes"),
], ids=["lr-huge", "betas-huge", "T_max-huge", "surface-param-huge", "noise-huge", "start-huge",
        "schedule-params-None", "schedule-params-list", "schedule-name-list", "optimizer-name-list",
        "surface-name-list", "lr-numpy-bool", "lr-timedelta", "betas-dict", "compiled-string"])
def test_bad_arguments_raise_value_error(call):
    """Never OverflowError, AttributeError or an unhashable-type TypeError from deep inside."""
    with pytest.raises(ValueError):
        call()


@pytest.mark.parametrize("surface, optimizers", [
    (None, "adam"), ("rosenbrock", "adam"), ("rosenbrock-surface", None), ("rosenbrock-surface", "adam-name"),
])
def test_wrong_kinds_of_arguments_to_run_raise_type_error_naming_them(surface, optimizers):
    s = get_surface("rosenbrock") if surface == "rosenbrock-surface" else surface
    opts = {"adam": get_optimizer("adam"), "adam-name": "adam", None: None}[optimizers]
    with pytest.raises(TypeError, match="surface=|optimizers="):
        run(s, opts, steps=3)


def test_numpy_scalars_count_as_the_python_values_they_stand_for():
    assert get_optimizer("adam", lr=np.int64(1)).lr == get_optimizer("adam", lr=1).lr == 1.0
    assert get_optimizer("adam", lr=np.float32(0.5)).lr == 0.5
    assert get_optimizer("adam", amsgrad=np.bool_(True)).hp["amsgrad"] is True
    s, adam = get_surface("rosenbrock"), get_optimizer("adam")
    np.testing.assert_array_equal(run(s, adam, steps=5, noise=np.int64(1)).path, run(s, adam, steps=5, noise=1.0).path)
    np.testing.assert_array_equal(run(s, adam, steps=5, compiled=np.bool_(False)).path,
                                  run(s, adam, steps=5, compiled=False).path)
    with pytest.raises(ValueError):
        get_optimizer("adam", lr=True)  # as np.bool_ above: a bool is no learning rate
