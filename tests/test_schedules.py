"""Learning-rate schedules against torch.optim.lr_scheduler, closed forms, and end-to-end runs.

torch's sequence is `optimizer.param_groups[0]["lr"]` read before each `scheduler.step()`;
the engine's lr_t is the rate used by optimizer step t + 1, so the two line up index by index.
"""

import functools
import itertools
import math

import numpy as np
import pytest
import torch

from optimizers import SCHEDULES, get_optimizer, get_schedule, run
from optimizers.schedules import NOT_IN_SEQUENCE
from surfaces import get_surface

S = torch.optim.lr_scheduler
STEPS = 300
RTOL = 1e-12
BASE_LRS = (0.01, 0.5)


# factors of the step count for the schedules torch lacks (as "Copy as PyTorch" writes them)
LAMBDAS = {"inverse_sqrt": lambda p: lambda t: 1 / math.sqrt(1 + p["alpha"] * t),
           "sawtooth": lambda p: lambda t: 1 - (t % p["period"]) / p["period"]}


def torch_scheduler(name, params, lr):
    """opt -> the torch scheduler equivalent to engine schedule `name` (engine parameter names)."""
    p = dict(params)
    if name == "constant":
        return lambda opt: S.LambdaLR(opt, lambda t: 1.0)
    if name in LAMBDAS:
        return lambda opt: S.LambdaLR(opt, LAMBDAS[name](p))
    if name == "sequential":  # the children are constructed first, as training code writes it
        makers = [torch_scheduler(child.name, child.params, lr) for child in p["schedulers"]]
        return lambda opt: S.SequentialLR(opt, [make(opt) for make in makers], milestones=list(p["milestones"]))
    if name == "warmup_cosine":
        return lambda opt: S.SequentialLR(opt, [
            S.LinearLR(opt, start_factor=p["start_factor"], end_factor=1.0, total_iters=p["warmup_steps"]),
            S.CosineAnnealingLR(opt, T_max=p["T_max"], eta_min=p["eta_min"])], milestones=[p["warmup_steps"]])
    if name == "cyclic":
        return lambda opt: S.CyclicLR(
            opt, base_lr=lr, max_lr=p["max_lr"], step_size_up=p["step_size_up"],
            step_size_down=p.get("step_size_down") or None, mode="triangular", cycle_momentum=False)
    if name == "onecycle":
        return lambda opt: S.OneCycleLR(opt, max_lr=lr, cycle_momentum=False, **p)
    cls = {"step": S.StepLR, "exponential": S.ExponentialLR, "polynomial": S.PolynomialLR,
           "cosine": S.CosineAnnealingLR, "warmup": S.LinearLR, "multistep": S.MultiStepLR,
           "constant_factor": S.ConstantLR, "cosine_restarts": S.CosineAnnealingWarmRestarts}[name]
    return lambda opt: cls(opt, **{k: list(v) if k == "milestones" else v for k, v in p.items()})


def torch_lrs(make, lr, steps):
    """The lr torch's optimizer holds before each of `steps` steps."""
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for t in range(steps):
        out.append(opt.param_groups[0]["lr"])
        if t < steps - 1:  # OneCycleLR refuses to step past total_steps
            opt.step()
            sched.step()
    return np.array(out, dtype=np.float64)


def assert_lr_close(actual, expected, lr):
    # Schedules reach 0 (cosine, polynomial): the absolute floor is relative to the base lr.
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * lr)


TORCH_CASES = [
    ("constant", {}),
    ("step", dict(step_size=30, gamma=0.5)),
    ("step", dict(step_size=7, gamma=0.9)),
    ("step", dict(step_size=1, gamma=0.99)),
    ("step", dict(step_size=500, gamma=0.1)),
    ("exponential", dict(gamma=0.99)),
    ("exponential", dict(gamma=0.9)),
    ("exponential", dict(gamma=0.999)),
    ("polynomial", dict(total_iters=100, power=1.0)),
    ("polynomial", dict(total_iters=250, power=2.0)),
    ("polynomial", dict(total_iters=50, power=0.5)),
    ("polynomial", dict(total_iters=400, power=3.0)),
    ("cosine", dict(T_max=100, eta_min=0.0)),
    ("cosine", dict(T_max=50, eta_min=1e-3)),
    ("cosine", dict(T_max=300, eta_min=0.005)),
    ("cosine", dict(T_max=7, eta_min=0.0)),
    ("warmup", dict(start_factor=1 / 3, end_factor=1.0, total_iters=5)),
    ("warmup", dict(start_factor=0.1, end_factor=1.0, total_iters=100)),
    ("warmup", dict(start_factor=0.5, end_factor=0.2, total_iters=50)),
    ("warmup", dict(start_factor=0.01, end_factor=0.5, total_iters=299)),
    ("cyclic", dict(max_lr=0.1, step_size_up=20, step_size_down=0)),
    ("cyclic", dict(max_lr=0.05, step_size_up=10, step_size_down=30)),
    ("cyclic", dict(max_lr=1.0, step_size_up=1, step_size_down=1)),
    ("cyclic", dict(max_lr=0.001, step_size_up=15, step_size_down=5)),
    ("onecycle", dict(total_steps=300)),
    ("onecycle", dict(total_steps=200, pct_start=0.25, anneal_strategy="linear")),
    ("onecycle", dict(total_steps=250, pct_start=0.4, div_factor=10.0, final_div_factor=100.0, three_phase=True)),
    ("onecycle", dict(total_steps=299, anneal_strategy="linear", three_phase=True)),
    ("onecycle", dict(total_steps=120, pct_start=0.5)),
    ("multistep", dict(milestones=(30, 80), gamma=0.1)),
    ("multistep", dict(milestones=(1, 2, 3, 150), gamma=0.5)),
    ("multistep", dict(milestones=(299,), gamma=0.9)),
    ("multistep", dict(milestones=(10, 400), gamma=1.0)),
    ("constant_factor", dict(factor=1 / 3, total_iters=5)),
    ("constant_factor", dict(factor=0.5, total_iters=100)),
    ("constant_factor", dict(factor=0.01, total_iters=1)),
    ("constant_factor", dict(factor=1.0, total_iters=50)),
    ("constant_factor", dict(factor=0.25, total_iters=1000)),
    ("cosine_restarts", dict(T_0=50, T_mult=1, eta_min=0.0)),
    ("cosine_restarts", dict(T_0=10, T_mult=2, eta_min=1e-3)),
    ("cosine_restarts", dict(T_0=7, T_mult=3, eta_min=0.0)),
    ("cosine_restarts", dict(T_0=1, T_mult=2, eta_min=0.005)),
    ("cosine_restarts", dict(T_0=1, T_mult=1, eta_min=0.0)),
    ("cosine_restarts", dict(T_0=299, T_mult=1, eta_min=0.0)),
    ("warmup_cosine", dict(warmup_steps=50, start_factor=0.1, T_max=250, eta_min=0.0)),
    ("warmup_cosine", dict(warmup_steps=10, start_factor=0.01, T_max=100, eta_min=1e-3)),  # cosine wraps past T_max
    ("warmup_cosine", dict(warmup_steps=1, start_factor=0.5, T_max=299, eta_min=0.0)),
    ("warmup_cosine", dict(warmup_steps=299, start_factor=1.0, T_max=5, eta_min=0.0)),
    ("sequential", dict(schedulers=[("warmup", dict(start_factor=0.1, total_iters=50)), ("cosine", dict(T_max=250))],
                        milestones=(50,))),
    ("sequential", dict(schedulers=[("constant_factor", dict(factor=0.1, total_iters=20)),
                                    ("exponential", dict(gamma=0.9))], milestones=(20,))),  # torch's docstring
    ("sequential", dict(schedulers=[("warmup", dict(start_factor=0.2, total_iters=40)), ("constant", {}),
                                    ("multistep", dict(milestones=(20, 60), gamma=0.5))], milestones=(20, 150))),
    ("sequential", dict(schedulers=[("cyclic", dict(max_lr=1.0, step_size_up=10)), ("inverse_sqrt", dict(alpha=0.1)),
                                    ("cosine_restarts", dict(T_0=10, T_mult=2)), ("sawtooth", dict(period=9))],
                        milestones=(35, 100, 200))),
]


@pytest.mark.parametrize("lr", BASE_LRS)
@pytest.mark.parametrize("name,params", TORCH_CASES, ids=[f"{n}-{p}" for n, p in TORCH_CASES])
def test_schedule_matches_torch(name, params, lr):
    values = get_schedule(name, **params).values(lr, STEPS)
    assert values.shape == (STEPS,) and values.dtype == np.float64
    # OneCycleLR schedules total_steps optimizer steps; past them, see the test below
    compared = min(STEPS, params.get("total_steps", STEPS))
    config = get_schedule(name, **params)
    assert_lr_close(values[:compared], torch_lrs(torch_scheduler(name, config.params, lr), lr, compared), lr)


# every schedule that may stand in a sequence, with settings whose features fall inside 120 steps
IN_SEQUENCE = [("constant", {}), ("step", dict(step_size=7, gamma=0.5)), ("exponential", dict(gamma=0.97)),
               ("polynomial", dict(total_iters=40, power=2.0)), ("cosine", dict(T_max=30, eta_min=1e-3)),
               ("warmup", dict(start_factor=0.2, total_iters=25)), ("cyclic", dict(max_lr=0.9, step_size_up=10)),
               ("inverse_sqrt", dict(alpha=0.1)), ("sawtooth", dict(period=13)),
               ("multistep", dict(milestones=(5, 30), gamma=0.5)), ("constant_factor", dict(factor=0.5, total_iters=20)),
               ("cosine_restarts", dict(T_0=10, T_mult=2, eta_min=0.01))]


def test_sequential_of_every_pair_matches_torch():
    """At a milestone torch's SequentialLR sets the next scheduler to its closed form at step 0
    (`_update_lr(0)`, the old `step(0)`) and steps it on from there, so every scheduler restarts its
    step count at the milestone, whatever the previous one left in the optimizer; the engine's
    sequential is the restarted closed forms. Checked for every ordered pair, milestone inside the
    first scheduler's features (25 < 40: LinearLR has not finished)."""
    assert {name for name, _ in IN_SEQUENCE} == set(SCHEDULES) - set(NOT_IN_SEQUENCE)
    for first, second in itertools.product(IN_SEQUENCE, IN_SEQUENCE):
        config = get_schedule("sequential", schedulers=[first, second], milestones=[25])
        expected = torch_lrs(torch_scheduler("sequential", config.params, 0.3), 0.3, 120)
        assert_lr_close(config.values(0.3, 120), expected, 0.3)


def test_warmup_cosine_is_sequential_linear_then_cosine():
    params = dict(warmup_steps=30, start_factor=0.05, T_max=200, eta_min=1e-4)
    chain = get_schedule("sequential", schedulers=[
        ("warmup", dict(start_factor=0.05, end_factor=1.0, total_iters=30)), ("cosine", dict(T_max=200, eta_min=1e-4))],
        milestones=[30])
    np.testing.assert_array_equal(get_schedule("warmup_cosine", **params).values(0.1, STEPS), chain.values(0.1, STEPS))


ONECYCLE_SHORT = [params for name, params in TORCH_CASES if name == "onecycle" and params["total_steps"] < STEPS]


@pytest.mark.parametrize("lr", BASE_LRS)
@pytest.mark.parametrize("params", ONECYCLE_SHORT, ids=str)
def test_onecycle_holds_its_final_value_after_total_steps(params, lr):
    """The cycle ends at step total_steps - 1 on lr / (div_factor * final_div_factor) (torch's
    value there too); later steps keep that rate. torch's scheduler value at total_steps itself
    extrapolates the last phase (linear: below zero) and is never used by an optimizer step."""
    total = params["total_steps"]
    final = lr / params.get("div_factor", 25.0) / params.get("final_div_factor", 1e4)
    values = get_schedule("onecycle", **params).values(lr, STEPS)
    assert_lr_close(values[total - 1:], np.full(STEPS - total + 1, final), lr)


CLOSED_FORMS = [
    ("inverse_sqrt", dict(alpha=0.01), lambda t, lr: lr / np.sqrt(1 + 0.01 * t)),
    ("inverse_sqrt", dict(alpha=0.5), lambda t, lr: lr / np.sqrt(1 + 0.5 * t)),
    ("inverse_sqrt", dict(alpha=0.0), lambda t, lr: np.full(t.shape, lr)),
    ("sawtooth", dict(period=100), lambda t, lr: lr * (1 - (t % 100) / 100)),
    ("sawtooth", dict(period=7), lambda t, lr: lr * (1 - (t % 7) / 7)),
    ("sawtooth", dict(period=1), lambda t, lr: np.full(t.shape, lr)),
    ("sawtooth", dict(period=1000), lambda t, lr: lr * (1 - t / 1000)),
]


@pytest.mark.parametrize("lr", BASE_LRS)
@pytest.mark.parametrize("name,params,formula", CLOSED_FORMS, ids=[f"{n}-{p}" for n, p, _ in CLOSED_FORMS])
def test_schedule_matches_closed_form(name, params, formula, lr):
    t = np.arange(STEPS)
    assert_lr_close(get_schedule(name, **params).values(lr, STEPS), formula(t, lr), lr)


def test_every_schedule_is_covered():
    covered = {name for name, _ in TORCH_CASES} | {name for name, _, _ in CLOSED_FORMS}
    # one driven by a metric (ReduceLROnPlateau) has no closed form of t: tests/test_plateau.py
    assert covered == {name for name, info in SCHEDULES.items() if not info.metric}


def test_schedule_given_by_name_takes_the_defaults():
    config = get_optimizer("sgd", lr=0.1, schedule="cosine")
    defaults = {s.name: s.default for s in SCHEDULES["cosine"].specs}
    assert_lr_close(config.schedule.values(0.1, STEPS),
                    torch_lrs(torch_scheduler("cosine", defaults, 0.1), 0.1, STEPS), 0.1)


# --- End to end: run() with a schedule equals torch.optim + lr_scheduler -------------------------

E2E_STEPS = 120
# surface name (and formula in conftest) -> (its parameters, starts)
PROBLEMS = {
    "rosenbrock": ({}, [(-1.5, 2.0), (1.5, -0.5)]),
    "quadratic": (dict(condition=20.0, angle=-35.0), [(-2.5, 2.0), (0.5, 2.5)]),
}
# (engine name, torch class, hyperparameters, schedule name, schedule parameters, problem)
E2E = [
    ("sgd", "SGD", dict(lr=2e-4, momentum=0.9), "cosine", dict(T_max=60, eta_min=1e-5), "rosenbrock"),
    ("adam", "Adam", dict(lr=0.05), "step", dict(step_size=25, gamma=0.5), "rosenbrock"),
    ("rmsprop", "RMSprop", dict(lr=0.01), "onecycle", dict(total_steps=E2E_STEPS, pct_start=0.3), "quadratic"),
    ("adagrad", "Adagrad", dict(lr=0.3), "warmup", dict(start_factor=0.1, total_iters=30), "quadratic"),
    ("nadam", "NAdam", dict(lr=0.01), "cyclic", dict(max_lr=0.05, step_size_up=15), "rosenbrock"),
    ("adamw", "AdamW", dict(lr=0.05, weight_decay=0.1), "exponential", dict(gamma=0.98), "quadratic"),
    ("sgd", "SGD", dict(lr=0.5, nesterov=True, momentum=0.5), "polynomial", dict(total_iters=80, power=2.0),
     "quadratic"),
    ("adam", "Adam", dict(lr=0.05), "warmup_cosine", dict(warmup_steps=20, start_factor=0.1, T_max=100), "rosenbrock"),
    ("sgd", "SGD", dict(lr=1e-3, momentum=0.9), "cosine_restarts", dict(T_0=20, T_mult=2, eta_min=1e-4), "rosenbrock"),
    ("rmsprop", "RMSprop", dict(lr=0.02), "multistep", dict(milestones=(30, 70), gamma=0.3), "quadratic"),
    ("adamw", "AdamW", dict(lr=0.05), "constant_factor", dict(factor=0.2, total_iters=40), "quadratic"),
    ("nadam", "NAdam", dict(lr=0.02), "sequential",
     dict(schedulers=[("constant_factor", dict(factor=0.5, total_iters=10)), ("exponential", dict(gamma=0.98))],
          milestones=(15,)), "rosenbrock"),
]


def assert_path_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("name,torch_class,kw,schedule,params,problem", E2E, ids=[f"{c[0]}-{c[3]}" for c in E2E])
def test_run_with_schedule_matches_torch(reference, formulas, backends, name, torch_class, kw, schedule, params,
                                         problem):
    surface_params, starts = PROBLEMS[problem]
    surface = get_surface(problem, **surface_params)
    loss = functools.partial(getattr(formulas, problem), **surface_params)
    config = get_optimizer(name, **kw, schedule=(schedule, params))
    refs = [reference(torch_class, kw, loss, start, E2E_STEPS,
                      scheduler=torch_scheduler(schedule, config.schedule.params, kw["lr"])) for start in starts]
    for engine in backends:
        res = run(surface, config, starts, E2E_STEPS, tol=0, **engine)
        assert_lr_close(res.lr[0], refs[0].lr, kw["lr"])
        for n, ref in enumerate(refs):
            assert res.diverged_at[0, n] == -1
            assert_path_close(res.path[0, n], ref.path)
        if name == "sgd":  # the effective lr of SGD is the scheduled lr itself
            assert_lr_close(res.eff_lr[0, 0], np.repeat(refs[0].lr[:, None], 2, axis=1), kw["lr"])


def test_schedules_of_one_rule_in_one_run(reference, formulas, backends):
    """Configurations differing only in their schedule share a group; each keeps its own lrs."""
    _, starts = PROBLEMS["rosenbrock"]
    surface, loss = get_surface("rosenbrock"), formulas.rosenbrock
    cases = [("step", dict(step_size=10, gamma=0.7)), ("constant", {}), ("cosine", dict(T_max=40, eta_min=0.0)),
             ("warmup", dict(start_factor=0.2, total_iters=50))]
    configs = [get_optimizer("adam", lr=0.05, schedule=case) for case in cases]
    refs = [[reference("Adam", dict(lr=0.05), loss, start, E2E_STEPS, scheduler=torch_scheduler(*case, 0.05))
             for start in starts] for case in cases]
    for engine in backends:
        res = run(surface, configs, starts, E2E_STEPS, tol=0, **engine)
        for k in range(len(cases)):
            assert_lr_close(res.lr[k], refs[k][0].lr, 0.05)
            for n, ref in enumerate(refs[k]):
                assert_path_close(res.path[k, n], ref.path)
