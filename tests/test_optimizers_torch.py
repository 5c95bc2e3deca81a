"""Every update rule against torch.optim in float64: paths, internal state, effective lr, ratio.

The reference is a plain torch loop (tests/conftest.py): the loss is the published formula in
torch ops, the gradient comes from autograd, the step from torch.optim. gnsgd, which torch
lacks, is checked against its closed form in a hand-written NumPy loop and against torch SGD
with the step size set from that closed form before each step.

Stepping on the same gradients, the engine agrees with torch.optim to the last bit or the
last-but-one (torch's CPU lerp rounds once, as a fused multiply-add). The tolerance covers that
and the rounding difference between autograd and the surface's closed-form gradient, which some
configurations amplify (an Adam-type denominator near eps turns a 1e-16 gradient error into a
1e-10 step error); the configurations below keep the amplification under 1e-12.
"""

import contextlib
import functools
import io
import math

import numpy as np
import pytest
import torch

from online import get_problem, run_online
from optimizers import OPTIMIZERS, get_optimizer, kernels, run
from surfaces import get_surface

STEPS = 120
RTOL = 1e-10

# engine name -> (torch.optim class, hyperparameter settings); torch's keyword names throughout.
CASES = {
    "sgd": ("SGD", [
        dict(lr=2e-4),
        dict(lr=2e-4, momentum=0.9, nesterov=True),
        dict(lr=1e-4, momentum=0.8, dampening=0.3, weight_decay=0.1),
        dict(lr=1e-4, momentum=0.5, nesterov=True, weight_decay=0.05),
    ]),
    "adagrad": ("Adagrad", [
        dict(lr=0.1),
        dict(lr=0.2, lr_decay=0.01, initial_accumulator_value=0.5),
        dict(lr=0.1, weight_decay=0.1, eps=1e-6),
    ]),
    "rmsprop": ("RMSprop", [
        dict(lr=0.01),
        dict(lr=1e-3, centered=True, momentum=0.9),
        dict(lr=0.002, alpha=0.95, weight_decay=0.1, momentum=0.5),
        dict(lr=0.01, centered=True, eps=1e-6),
    ]),
    "adadelta": ("Adadelta", [
        dict(),
        dict(rho=0.95, eps=1e-4),
        dict(lr=0.5, weight_decay=0.1),
    ]),
    "adam": ("Adam", [
        dict(lr=0.05),
        dict(lr=0.05, amsgrad=True, betas=(0.8, 0.99)),
        dict(lr=0.02, weight_decay=0.1),
        dict(lr=0.05, decoupled_weight_decay=True, weight_decay=0.1),
    ]),
    "adamw": ("AdamW", [
        dict(lr=0.05),
        dict(lr=0.05, weight_decay=0.1, amsgrad=True),
        dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0),
    ]),
    "adamax": ("Adamax", [
        dict(lr=0.05),
        dict(lr=0.05, betas=(0.8, 0.99)),
        dict(lr=0.02, weight_decay=0.1, eps=1e-6),
    ]),
    "nadam": ("NAdam", [
        dict(lr=0.05),
        dict(lr=0.05, momentum_decay=0.01, betas=(0.8, 0.99)),
        dict(lr=0.02, decoupled_weight_decay=True, weight_decay=0.1),
        dict(lr=0.02, weight_decay=0.1),
    ]),
    # The first steps of RAdam are plain momentum SGD (rho_t <= 5): small lr on Rosenbrock.
    "radam": ("RAdam", [
        dict(lr=1e-3),
        dict(lr=1e-3, betas=(0.9, 0.99)),
        dict(lr=1e-3, decoupled_weight_decay=True, weight_decay=0.1),
        dict(lr=5e-4, weight_decay=0.1, eps=1e-6),
    ]),
    # Rprop: every sign change zeroes the gradient for one step (no move, the next step compares with 0)
    "rprop": ("Rprop", [
        dict(lr=1e-3),
        dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-4, 0.5)),
        dict(lr=0.1, step_sizes=(0.0, 1.0)),
        dict(lr=0.05, etas=(0.9, 1.01), step_sizes=(1e-3, 50.0)),
    ]),
    # ASGD: t0 below the run's length starts the averaging of ax mid-run (mu_t < 1)
    "asgd": ("ASGD", [
        dict(lr=2e-4),
        dict(lr=2e-4, lambd=0.5, alpha=0.5, t0=10.0),
        dict(lr=1e-4, t0=0.0, weight_decay=0.1),
        dict(lr=2e-4, lambd=5.0, alpha=1.0, t0=50.0, weight_decay=0.05),
    ]),
}

# surface name (and formula in conftest) -> (its parameters, starts)
PROBLEMS = {
    "rosenbrock": ({}, [(-1.5, 2.0), (-1.0, 1.0), (1.5, -0.5)]),
    "quadratic": (dict(condition=20.0, angle=-35.0), [(-2.5, 2.0), (2.5, -0.5), (0.5, 2.5)]),
}


def torch_loss(formulas, problem):
    params, _ = PROBLEMS[problem]
    return functools.partial(getattr(formulas, problem), **params)

CONFIG_IDS = [(name, i) for name, (_, kws) in CASES.items() for i in range(len(kws))]


def assert_close(actual, expected, rtol=RTOL, what=""):
    """Elementwise relative tolerance, with an absolute floor scaled to the series' magnitude
    (coordinates and moments cross zero)."""
    scale = max(float(np.max(np.abs(expected))), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def _bias(beta, t):
    return 1 - beta**t


def expected_eff_lr(name, kw, ref):
    """Effective lr [T, 2] recomputed from torch's state after each step (formulas in DESIGN.md)."""
    hp = {s.name: s.default for s in OPTIMIZERS[name].specs} | kw
    if name == "rprop":
        return ref.state["step_size"]
    if name == "asgd":  # the step size computed after the previous step from its lr (step 1: the lr)
        previous = np.concatenate([ref.lr[:1], ref.lr[:-1]])
        steps = np.arange(len(ref.lr))
        eta = previous / (1 + hp["lambd"] * previous * steps) ** hp["alpha"]
        return np.broadcast_to(eta[:, None], ref.grad.shape)
    t = np.arange(1, len(ref.lr) + 1)[:, None]
    lr = ref.lr[:, None]
    st = ref.state
    if name == "sgd":
        return np.broadcast_to(lr, ref.grad.shape)
    if name == "adagrad":
        return lr / (1 + (t - 1) * hp["lr_decay"]) / (np.sqrt(st["sum"]) + hp["eps"])
    if name == "rmsprop":
        v = st["square_avg"] - st["grad_avg"] ** 2 if hp["centered"] else st["square_avg"]
        return lr / (np.sqrt(v) + hp["eps"])
    if name == "adadelta":
        previous = np.concatenate([np.zeros((1, 2)), st["acc_delta"][:-1]])
        return lr * np.sqrt(previous + hp["eps"]) / np.sqrt(st["square_avg"] + hp["eps"])
    b1, b2 = hp["betas"]
    if name in ("adam", "adamw"):
        v = st["max_exp_avg_sq"] if hp["amsgrad"] else st["exp_avg_sq"]
        return lr / (np.sqrt(v / _bias(b2, t)) + hp["eps"])
    if name == "adamax":
        return lr / st["exp_inf"]
    if name == "nadam":
        return lr / (np.sqrt(st["exp_avg_sq"] / _bias(b2, t)) + hp["eps"])
    if name == "radam":
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / _bias(b2, t)
        rect = np.sqrt(np.maximum((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho), 0))
        adaptive = lr * rect * np.sqrt(_bias(b2, t)) / (np.sqrt(st["exp_avg_sq"]) + hp["eps"])
        return np.where(rho > 5, adaptive, lr)
    raise AssertionError(name)


def check_against_reference(res, k, n, name, kw, ref):
    """Path, received gradient, lr, state, effective lr and ratio of res[k, n] against torch."""
    what = f"{name} {kw} start {n}"
    assert res.diverged_at[k, n] == -1 and res.converged_at[k, n] == -1, what
    assert_close(res.path[k, n], ref.path, what=what + " path")
    assert_close(res.grad[k, n, :-1], ref.grad, rtol=1e-9, what=what + " grad")
    assert_close(res.lr[k], ref.lr, rtol=1e-15, what=what + " lr")
    assert set(res.state_names[k]) == set(ref.state), what
    for state_name in res.state_names[k]:
        assert_close(res.state[state_name][k, n], ref.state[state_name], what=f"{what} state {state_name}")
    assert_close(res.eff_lr[k, n], expected_eff_lr(name, kw, ref), what=what + " eff_lr")
    # ratio = -(p_{t+1} - p_t) / g_t where |g_t| > 1e-12: the step it implies must match torch's
    # step to the path tolerance (a step is a difference of two points, so its own relative
    # error can be much larger)
    delta = np.diff(ref.path, axis=0)
    defined = np.abs(ref.grad) > 1e-12
    np.testing.assert_array_equal(res.ratio_defined[k, n], defined, err_msg=what)
    implied = np.where(defined, -res.ratio[k, n] * ref.grad, 0)
    np.testing.assert_allclose(implied, np.where(defined, delta, 0), rtol=0,
                               atol=2 * RTOL * np.abs(ref.path).max(), err_msg=what + " ratio")
    assert np.all(res.ratio[k, n][~defined] == 0), what


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name,index", CONFIG_IDS, ids=[f"{n}-{i}" for n, i in CONFIG_IDS])
def test_matches_torch_optim(reference, formulas, backends, name, index, problem):
    torch_class, kws = CASES[name]
    kw = kws[index]
    params, starts = PROBLEMS[problem]
    surface = get_surface(problem, **params)
    refs = [reference(torch_class, kw, torch_loss(formulas, problem), start, STEPS) for start in starts]
    for engine in backends:
        res = run(surface, get_optimizer(name, **kw), starts, STEPS, tol=0, **engine)
        for n, ref in enumerate(refs):
            check_against_reference(res, 0, n, name, kw, ref)


def test_every_optimizer_is_covered():
    assert set(CASES) | {"gnsgd", "lion", "adafactor", "newton", "prodigy", "sgd_schedule_free",
                                 "adamw_schedule_free", "muon", "lbfgs"} == set(OPTIMIZERS)  # muon, lbfgs: their own files
    for name, (torch_class, _) in CASES.items():
        assert OPTIMIZERS[name].torch_class == torch_class


# Several configurations and starts in one call: interleaved so that the grouping by rule
# (adam at three lrs, nadam at two, an amsgrad adam in a group of its own) must be undone.
MIXED = [
    ("adam", dict(lr=0.01)),
    ("sgd", dict(lr=2e-4, momentum=0.9)),
    ("adam", dict(lr=0.05)),
    ("rmsprop", dict(lr=0.01)),
    ("nadam", dict(lr=0.03)),
    ("adam", dict(lr=0.1)),
    ("adam", dict(lr=0.05, amsgrad=True)),
    ("nadam", dict(lr=0.01)),
    ("sgd", dict(lr=1e-4)),
]


def test_batched_configurations_do_not_mix(reference, formulas, engines):
    _, starts = PROBLEMS["rosenbrock"]
    configs = [get_optimizer(name, **kw) for name, kw in MIXED]
    refs = [[reference(CASES[name][0], kw, formulas.rosenbrock, start, STEPS) for start in starts]
            for name, kw in MIXED]
    for engine in engines:
        res = run(get_surface("rosenbrock"), configs, starts, STEPS, tol=0, **engine)
        assert res.path.shape == (len(MIXED), len(starts), STEPS + 1, 2)
        assert res.labels == tuple(c.label for c in configs)
        for k, (name, kw) in enumerate(MIXED):
            for n, ref in enumerate(refs[k]):
                check_against_reference(res, k, n, name, kw, ref)


# --- gnsgd: no torch class, so its closed form -------------------------------------------------


GNSGD = [dict(lr=0.01), dict(lr=0.02, alpha=0.1, weight_decay=0.1), dict(lr=0.05, alpha=10.0), dict(lr=0.3, alpha=1e-3)]


def gnsgd_closed_form(kw, grad, start, steps):
    """path [T+1, 2], step sizes [T]: lr_t = lr / sqrt(1 + alpha ||g_t||^2) on g_t (+ L2 term)."""
    lr, alpha, wd = kw["lr"], kw.get("alpha", 1.0), kw.get("weight_decay", 0.0)
    p = np.array(start, dtype=float)
    path, sizes = [p], []
    for _ in range(steps):
        g = grad(p) + wd * p
        size = lr / np.sqrt(1 + alpha * np.dot(g, g))
        p = p - size * g
        path.append(p)
        sizes.append(size)
    return np.array(path), np.array(sizes)


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("kw", GNSGD, ids=str)
def test_gnsgd_closed_form_and_torch_sgd(reference, formulas, backends, kw, problem):
    params, starts = PROBLEMS[problem]
    surface = get_surface(problem, **params)
    alpha, wd = kw.get("alpha", 1.0), kw.get("weight_decay", 0.0)
    if problem == "rosenbrock":
        grad = formulas.rosenbrock_grad
    else:
        grad = functools.partial(np.matmul, formulas.quadratic_matrix(**params))

    def gnsgd_lr(t, p, g):
        g = g + wd * p  # torch.optim.SGD adds the L2 term inside step()
        return kw["lr"] / math.sqrt(1 + alpha * float(g @ g))

    for engine in backends:
        res = run(surface, get_optimizer("gnsgd", **kw), starts, STEPS, tol=0, **engine)
        for n, start in enumerate(starts):
            path, sizes = gnsgd_closed_form(kw, grad, start, STEPS)
            assert_close(res.path[0, n], path, what=f"{engine} closed form path")
            assert_close(res.eff_lr[0, n], np.repeat(sizes[:, None], 2, axis=1), what="eff_lr")
            ref = reference("SGD", dict(lr=kw["lr"], weight_decay=wd), torch_loss(formulas, problem), start, STEPS,
                            set_lr=gnsgd_lr)
            assert_close(res.path[0, n], ref.path, what=f"{engine} torch SGD path")
            assert_close(res.eff_lr[0, n, :, 0], ref.lr, what="torch SGD lr")


# --- lion: no torch.optim class, so lion-pytorch (Chen et al.'s reference loop) ----------------------


LION = [dict(lr=1e-3), dict(lr=0.01, betas=(0.95, 0.98), weight_decay=0.1), dict(lr=3e-3, betas=(0.5, 0.9)),
        dict(lr=2e-3, betas=(0.0, 1.0), weight_decay=1.0)]


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("kw", LION, ids=str)
def test_lion_matches_lion_pytorch(reference, formulas, backends, kw, problem):
    lion_pytorch = pytest.importorskip("lion_pytorch")
    params, starts = PROBLEMS[problem]
    surface = get_surface(problem, **params)
    refs = [reference(lion_pytorch.Lion, kw, torch_loss(formulas, problem), start, 100) for start in starts]
    for engine in backends:
        res = run(surface, get_optimizer("lion", **kw), starts, 100, tol=0, **engine)
        for n, ref in enumerate(refs):
            what = f"lion {kw} {engine} start {n}"
            assert res.diverged_at[0, n] == -1, what
            assert_close(res.path[0, n], ref.path, what=what + " path")
            assert_close(res.state["exp_avg"][0, n], ref.state["exp_avg"], what=what + " exp_avg")
            np.testing.assert_array_equal(res.eff_lr[0, n], np.broadcast_to(ref.lr[:, None], (100, 2)))


def test_lion_takes_no_step_where_the_direction_is_zero(reference, formulas, engines):
    """sign(0) = 0, as torch.sign: on an axis-aligned bowl from a point with x = 0 the x gradient is
    exactly 0 at every step, so x stays 0 while y moves by lr a step; the compiled kernel agrees."""
    lion_pytorch = pytest.importorskip("lion_pytorch")
    params = dict(condition=20.0, angle=0.0)
    start = (0.0, 2.0)
    ref = reference(lion_pytorch.Lion, dict(lr=0.01), functools.partial(formulas.quadratic, **params), start, 50)
    assert np.all(ref.path[:, 0] == 0)
    for engine in engines:
        res = run(get_surface("quadratic", **params), get_optimizer("lion", lr=0.01), [start], 50, tol=0, **engine)
        np.testing.assert_array_equal(res.path[0, 0, :, 0], 0.0)
        assert_close(res.path[0, 0], ref.path, what=str(engine))


def test_rprop_sign_change_zeroes_the_gradient_for_one_step(reference, formulas, engines):
    """torch's Rprop after a sign change: the step size shrinks, the parameter stays, and the stored
    gradient is 0, so the next step neither grows nor shrinks the step size. A bowl with a large
    initial step overshoots at once: check the recorded steps and sizes against that rule."""
    params = dict(condition=20.0, angle=0.0)
    kw = dict(lr=0.5, etas=(0.5, 1.2))
    ref = reference("Rprop", kw, functools.partial(formulas.quadratic, **params), (1.0, 1.0), 30)
    flips = (ref.grad[1:] * ref.state["prev"][:-1]) < 0
    assert flips.any()
    for engine in engines:
        res = run(get_surface("quadratic", **params), get_optimizer("rprop", **kw), [(1.0, 1.0)], 30, tol=0, **engine)
        assert_close(res.path[0, 0], ref.path, what=str(engine))
        size, prev, path = res.state["step_size"][0, 0], res.state["prev"][0, 0], res.path[0, 0]
        np.testing.assert_array_equal(prev[1:][flips], 0.0)
        np.testing.assert_array_equal(path[2:][flips], path[1:-1][flips])  # no move on a flip
        np.testing.assert_array_equal(size[1:][flips], np.maximum(size[:-1][flips] * 0.5, 1e-6))
        after = np.zeros_like(flips)
        after[1:] = flips[:-1]  # the step after a flip compares with 0: factor 1
        np.testing.assert_array_equal(size[1:][after], size[:-1][after])


def test_rprop_step_sizes_start_at_the_lr_of_step_1(reference, formulas, backends):
    """Rprop fills its step sizes from the lr at its first step; a schedule changes nothing after."""
    from tests.test_schedules import torch_scheduler

    schedule = ("warmup", {"start_factor": 0.1, "total_iters": 10})
    config = get_optimizer("rprop", lr=0.01, schedule=schedule)
    ref = reference("Rprop", dict(lr=0.01), formulas.rosenbrock, (-1.5, 2.0), 60,
                    scheduler=torch_scheduler(*schedule, 0.01))
    for engine in backends:
        res = run(get_surface("rosenbrock"), config, [(-1.5, 2.0)], 60, tol=0, **engine)
        assert_close(res.path[0, 0], ref.path, what=str(engine))
        assert_close(res.state["step_size"][0, 0, 0], np.full(2, 0.001 * 1.0), what="first step size")


# --- adafactor: torch.optim.Adafactor, up to where the reference itself is chaotic ---------------------

ADAFACTOR = [dict(lr=1e-2), dict(lr=3e-3), dict(lr=0.05, beta2_decay=-0.5, d=2.0, weight_decay=0.1),
             dict(lr=0.1, eps=(1e-8, 1e-2)), dict(lr=1e-3, beta2_decay=0.0)]
SHIFT = 1e-15
# Rosenbrock's (-1, 1) has g_y = 0 exactly: u_y = 0 / eps1 there, and a start 1e-15 away steps ~450 RMS
# before clipping, so torch's path separates from itself at step 1; other starts instead
STARTS = {"rosenbrock": [(-1.5, 2.0), (-1.0, 1.5), (1.5, -0.5), (0.5, 2.5)], "quadratic": PROBLEMS["quadratic"][1]}


def _agree_until(actual, expected, rtol=RTOL) -> int:
    """The number of leading points of two paths [T+1, 2] within rtol of the expected scale."""
    off = np.abs(actual - expected).max(axis=-1) > rtol * np.abs(expected).max()
    return int(np.argmax(off)) if off.any() else len(expected)


def _horizon(reference, kw, loss, start, steps) -> int:
    """How many points torch's own path keeps (within RTOL) when the start moves by SHIFT along
    either diagonal, either way: where the RMS clipping switches, Adafactor amplifies a difference
    about tenfold every three steps, and no other implementation can be held to more. An
    implementation's own last-bit differences (the norm, rsqrt) grow the same way once they arise,
    so the engine is held to HORIZON_MARGIN steps less where the horizon falls inside the run."""
    ref = reference("Adafactor", kw, loss, start, steps).path
    moved = [reference("Adafactor", kw, loss, tuple(np.add(start, d)), steps).path
             for d in ((SHIFT, SHIFT), (-SHIFT, -SHIFT), (SHIFT, -SHIFT), (-SHIFT, SHIFT))]
    return min(_agree_until(m, ref) for m in moved)


HORIZON_MARGIN = 6


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("kw", ADAFACTOR, ids=str)
def test_adafactor_matches_torch_optim(reference, formulas, backends, kw, problem):
    """Paths, v_t and eff_lr over 100 steps, or up to where torch's path separates from itself
    started 1e-15 away (measured here; most cases keep all 100 steps)."""
    params, starts = PROBLEMS[problem][0], STARTS[problem]
    surface, loss = get_surface(problem, **params), torch_loss(formulas, problem)
    steps = 100
    hp = {s.name: s.default for s in OPTIMIZERS["adafactor"].specs} | kw
    refs = [reference("Adafactor", kw, loss, start, steps) for start in starts]
    horizons = [_horizon(reference, kw, loss, start, steps) for start in starts]
    assert max(horizons) == steps + 1 and min(horizons) >= 40, horizons
    horizons = [h if h == steps + 1 else h - HORIZON_MARGIN for h in horizons]
    for engine in backends:
        res = run(surface, get_optimizer("adafactor", **hp), starts, steps, tol=0, **engine)
        for n, (ref, upto) in enumerate(zip(refs, horizons)):
            what = f"adafactor {kw} {engine} start {n}"
            assert res.diverged_at[0, n] == -1, what
            assert_close(res.path[0, n, :upto], ref.path[:upto], what=what + " path")
            assert_close(res.state["variance"][0, n, :upto - 1], ref.state["variance"][:upto - 1], what=what + " v")
            # the step less the decoupled decay is eff_lr * g_t
            decayed = ref.path[:-1] * (1 - ref.lr[:, None] * hp["weight_decay"])
            implied = res.eff_lr[0, n] * ref.grad
            np.testing.assert_allclose(implied[:upto - 1], (decayed - ref.path[1:])[:upto - 1], rtol=0,
                                       atol=2 * RTOL * np.abs(ref.path).max(), err_msg=what + " eff_lr")


def test_adafactor_eps1_default_is_float64_eps(reference, formulas):
    """torch's eps=(None, 1e-3) means eps1 = finfo(float64).eps here: the same path as the default."""
    start, loss = (-1.0, 1.5), formulas.rosenbrock
    ref = reference("Adafactor", dict(lr=1e-2, eps=(None, 1e-3)), loss, start, 50)
    res = run(get_surface("rosenbrock"), get_optimizer("adafactor", lr=1e-2), [start], 50, tol=0, compiled=False)
    assert OPTIMIZERS["adafactor"].specs[2].default[0] == np.finfo(np.float64).eps
    assert_close(res.path[0, 0], ref.path, what="default eps")


# --- newton: a plain torch loop, autograd's gradient and Hessian, torch.linalg.solve ---------------------

NEWTON = [dict(), dict(lr=0.5), dict(damping=10.0), dict(lr=0.8, damping=1.0)]


def _torch_newton(loss, start, steps, lr=1.0, damping=0.0):
    """theta <- theta - lr (H + damping I)^-1 g in float64 torch: path [steps + 1, 2]."""
    p = torch.tensor(start, dtype=torch.float64)
    path = [p.clone()]
    for _ in range(steps):
        q = p.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(q), q)
        hessian = torch.autograd.functional.hessian(loss, p)
        p = p - lr * torch.linalg.solve(hessian + damping * torch.eye(2, dtype=torch.float64), g)
        path.append(p.clone())
    return torch.stack(path).numpy()


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("kw", NEWTON, ids=str)
def test_newton_matches_a_torch_loop(float64, formulas, backends, kw, problem):
    params, starts = PROBLEMS[problem]
    surface, loss = get_surface(problem, **params), torch_loss(formulas, problem)
    refs = [_torch_newton(loss, start, 100, **kw) for start in starts]
    for engine in backends:
        res = run(surface, get_optimizer("newton", **kw), starts, 100, tol=0, **engine)
        for n, ref in enumerate(refs):
            what = f"newton {kw} {engine} start {n}"
            assert res.diverged_at[0, n] == -1, what
            assert_close(res.path[0, n], ref, what=what + " path")
            np.testing.assert_array_equal(res.eff_lr[0, n], kw.get("lr", 1.0))


def test_newton_reaches_a_quadratics_minimum_in_one_step():
    """At lr = 1 the step solves A theta = 0 exactly (to rounding), from any start; damping or a
    shorter step does not."""
    surface = get_surface("quadratic", condition=1e3, angle=25.0)
    starts = [(-2.5, 2.0), (2.5, -0.5), (0.5, 2.5)]
    res = run(surface, [get_optimizer("newton"), get_optimizer("newton", damping=0.1), get_optimizer("newton", lr=0.5)],
              starts, 1, tol=0, compiled=False)
    assert np.abs(res.path[0, :, 1]).max() < 1e-12
    assert np.abs(res.path[1:, :, 1]).max(axis=-1).min() > 1e-3


def test_newton_is_array_code_only_and_needs_a_hessian():
    """The kernels do not trace it (run falls back to the array code, compiled=True refuses); a
    surface without a Hessian and the 1-D online runner refuse it by name."""
    newton = get_optimizer("newton")
    with pytest.raises(kernels.TraceError, match="Hessian"):
        kernels.trajectory_kernel(get_surface("rosenbrock"), newton, 2, ())
    with pytest.raises(ValueError, match="cannot be traced"):
        run(get_surface("rosenbrock"), newton, [(-1.5, 2.0)], 5, compiled=True)
    with pytest.raises(ValueError, match="newton needs the surface's Hessian"):
        run(get_surface("custom", f="abs(x) + y**2"), newton, [(1.0, 1.0)], 5)
    with pytest.raises(ValueError, match="run_online: newton needs"):
        run_online(get_problem(C=3.0), [newton], 10)


# --- prodigy: prodigyopt 1.1.2, the package's own step() -------------------------------------------------

PRODIGY = [dict(), dict(lr=0.5, betas=(0.8, 0.99), weight_decay=0.1),
           dict(d0=1e-4, d_coef=0.5, use_bias_correction=True),
           dict(weight_decay=0.1, decouple=False, safeguard_warmup=True), dict(betas=(0.0, 0.99))]


def _prodigy_reference(kw, loss, start, steps):
    """prodigyopt.Prodigy(**kw) from start: (path [T+1, 2], d [T], {exp_avg, exp_avg_sq: [T, 2]})."""
    prodigyopt = pytest.importorskip("prodigyopt")
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a note for decoupled weight decay
        opt = prodigyopt.Prodigy([p], **kw)
    path, ds, moments = [p.detach().clone()], [], {"exp_avg": [], "exp_avg_sq": []}
    for _ in range(steps):
        opt.zero_grad()
        loss(p).backward()
        opt.step()
        path.append(p.detach().clone())
        ds.append(opt.param_groups[0]["d"])
        for name in moments:
            moments[name].append(opt.state[p].get(name, torch.zeros(2)).detach().clone().numpy())
    return torch.stack(path).numpy(), np.array(ds), {k: np.array(v) for k, v in moments.items()}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("kw", PRODIGY, ids=str)
def test_prodigy_matches_prodigyopt(float64, formulas, backends, kw, problem):
    """Paths, d and the moments over 100 steps. The engine keeps the package's operation order, so
    it holds all 100 steps even from Rosenbrock's (-1, 1), where the package's own path separates
    from a start moved by 1e-15 within 1 to 25 steps (g_y = 0 there)."""
    params, starts = PROBLEMS[problem]
    surface, loss = get_surface(problem, **params), torch_loss(formulas, problem)
    refs = [_prodigy_reference(kw, loss, start, 100) for start in starts]
    for engine in backends:
        res = run(surface, get_optimizer("prodigy", **kw), starts, 100, tol=0, **engine)
        for n, (path, ds, moments) in enumerate(refs):
            what = f"prodigy {kw} {engine} start {n}"
            assert res.diverged_at[0, n] == -1, what
            assert_close(res.path[0, n], path, what=what + " path")
            assert_close(res.state["d"][0, n], np.broadcast_to(ds[:, None], (100, 2)), what=what + " d")
            for name in res.state_names[0]:
                if name != "d":
                    assert_close(res.state[name][0, n], moments[name], what=f"{what} {name}")


def test_prodigy_takes_no_step_on_a_zero_gradient(float64, formulas, engines):
    """At Rosenbrock's minimum ||s_t||_1 = 0 at every step: the package returns early, so the point
    and d stay, and eff_lr is 0."""
    path, ds, _ = _prodigy_reference({}, formulas.rosenbrock, (1.0, 1.0), 10)
    assert np.all(path == 1.0) and np.all(ds == 1e-6)
    for engine in engines:
        res = run(get_surface("rosenbrock"), get_optimizer("prodigy"), [(1.0, 1.0)], 10, tol=0, **engine)
        np.testing.assert_array_equal(res.path[0, 0], path)
        np.testing.assert_array_equal(res.state["d"][0, 0], 1e-6)
        np.testing.assert_array_equal(res.eff_lr[0, 0], 0.0)


# --- schedule-free SGD and AdamW: schedulefree 1.4.1 ---------------------------------------------------

SCHEDULE_FREE = {
    "sgd_schedule_free": ("SGDScheduleFree", [dict(lr=2e-4), dict(lr=1e-4, momentum=0.5, weight_decay=0.1),
                                              dict(lr=2e-4, warmup_steps=20, r=1.0, weight_lr_power=1.0)]),
    "adamw_schedule_free": ("AdamWScheduleFree", [dict(lr=0.01), dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1),
                                                  dict(lr=0.01, warmup_steps=30, r=0.5, weight_lr_power=3.0, eps=1e-6)]),
}
SF_CASES = [(name, i) for name, (_, kws) in SCHEDULE_FREE.items() for i in range(len(kws))]


def _schedule_free_reference(cls, kw, loss, start, steps):
    """The package's optimizer in train mode from start: y path [T+1, 2], and after each step z and
    x (the point eval() sets) [T, 2]."""
    schedulefree = pytest.importorskip("schedulefree")
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = getattr(schedulefree, cls)([p], **kw)
    opt.train()
    path, zs, xs = [p.detach().clone()], [], []
    for _ in range(steps):
        opt.zero_grad()
        loss(p).backward()
        opt.step()
        path.append(p.detach().clone())
        zs.append(opt.state[p]["z"].clone())
        opt.eval()
        xs.append(p.detach().clone())
        opt.train()  # back to y, as the package's train loop does (y = lerp(x, z, 1 - beta))
        p.data.copy_(path[-1])  # ... which may differ from the y it left in the last bit; keep the y it stepped
    return torch.stack(path).numpy(), torch.stack(zs).numpy(), torch.stack(xs).numpy()


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name,index", SF_CASES, ids=[f"{n}-{i}" for n, i in SF_CASES])
def test_schedule_free_matches_schedulefree(float64, formulas, backends, name, index, problem):
    """The path y (where gradients are taken), z and the averaged point x over 100 steps."""
    cls, kws = SCHEDULE_FREE[name]
    kw = kws[index]
    params, starts = PROBLEMS[problem]
    surface, loss = get_surface(problem, **params), torch_loss(formulas, problem)
    refs = [_schedule_free_reference(cls, kw, loss, start, 100) for start in starts]
    for engine in backends:
        res = run(surface, get_optimizer(name, **kw), starts, 100, tol=0, **engine)
        for n, (path, z, x) in enumerate(refs):
            what = f"{name} {kw} {engine} start {n}"
            assert res.diverged_at[0, n] == -1, what
            assert_close(res.path[0, n], path, what=what + " y")
            assert_close(res.state["z"][0, n], z, what=what + " z")
            assert_close(res.state["x"][0, n], x, what=what + " x")
    assert np.abs(res.state["x"][0, 0, -1] - res.path[0, 0, -1]).max() > 1e-4  # the lesson: x is not y
