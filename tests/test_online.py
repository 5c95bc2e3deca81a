"""The online problem and runner (online/) against a plain torch.optim loop, the regret's definition
and the paper's result.

The reference writes the problem out itself (g_t = C at t = 1 mod 3, -1 otherwise), steps
torch.optim with torch's LambdaLR for lr_t = alpha / sqrt(t), and projects with
`p.data.clamp_(-1, 1)` after each step, as the issue's check did. It never touches online/.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from online import MAX_C, MAX_STEPS, MIN_C, get_problem, paper_optimizers, run_online
from optimizers import OPTIMIZERS, get_optimizer, get_schedule

LambdaLR = torch.optim.lr_scheduler.LambdaLR
PAPER = ("inverse_sqrt", {"alpha": 1.0})


def inverse_sqrt_t(s):
    """LambdaLR factor after s scheduler steps: lr_t = lr / sqrt(t) for the 1-based step t = s + 1."""
    return 1 / math.sqrt(s + 1)


def torch_online(optimizer, kw, C, steps, *, start=0.0, decay=True):
    """x_1..x_{T+1} [T+1], the lr of each step [T] and {state name: [T]} of torch.optim.<optimizer>
    on f_t(x) = C x (t = 1 mod 3) or -x, projected onto [-1, 1] after every step."""
    x = torch.tensor([start], dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, optimizer)([x], **kw)
    sched = LambdaLR(opt, inverse_sqrt_t) if decay else None
    path, lrs, states = [start], [], []
    for t in range(1, steps + 1):
        x.grad = torch.full_like(x, C if t % 3 == 1 else -1.0)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
        x.data.clamp_(-1, 1)
        path.append(x.item())
        states.append({k: v.item() for k, v in opt.state[x].items() if torch.is_tensor(v) and v.shape == x.shape})
    return np.array(path), np.array(lrs), {k: np.array([s[k] for s in states]) for k in states[-1]}


def test_paper_schedule_is_torchs_lambdalr():
    """lr_t = alpha / sqrt(t): the engine's inverse-sqrt schedule with decay rate 1 is LambdaLR(1/sqrt(s+1))."""
    for lr in (0.1, 0.5, 3.0):
        x = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([x], lr=lr)
        sched = LambdaLR(opt, inverse_sqrt_t)
        expected = []
        for _ in range(2000):
            expected.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        np.testing.assert_allclose(get_schedule("inverse_sqrt", alpha=1.0).values(lr, 2000), expected, rtol=1e-12,
                                   atol=0)
        np.testing.assert_allclose(expected, lr / np.sqrt(np.arange(1, 2001)), rtol=1e-12, atol=0)


C3 = 3.0
BETA2 = 1 / (1 + C3**2)
# (engine name, torch class, hyperparameters, lr decays as alpha / sqrt(t))
CASES = [
    ("adam", "Adam", dict(lr=0.1, betas=(0.0, BETA2)), True),
    ("adam", "Adam", dict(lr=0.1, betas=(0.0, BETA2), amsgrad=True), True),
    ("sgd", "SGD", dict(lr=0.1), True),
    ("sgd", "SGD", dict(lr=0.01, momentum=0.9, nesterov=True), False),
    ("adam", "Adam", dict(lr=0.05, weight_decay=0.5), True),  # the gradient now depends on the projected x
    ("adamw", "AdamW", dict(lr=0.05, weight_decay=0.1, amsgrad=True), False),
    ("rmsprop", "RMSprop", dict(lr=0.01, momentum=0.5), True),
    ("adagrad", "Adagrad", dict(lr=0.1), False),
    ("adadelta", "Adadelta", dict(lr=1.0), False),
    ("adamax", "Adamax", dict(lr=0.05), True),
    ("nadam", "NAdam", dict(lr=0.05), False),
    ("radam", "RAdam", dict(lr=0.05), True),
]


def configs_of(cases):
    return [get_optimizer(name, **kw, schedule=PAPER if decay else None) for name, _, kw, decay in cases]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("start", [0.0, 0.7])
def test_trajectories_match_torch_optim(float64, backend, start):
    """All twelve configurations in one vectorised run, each within 1e-10 of its own torch loop
    over the first 1,000 steps: the path, the lr and the state torch keeps."""
    steps = 1000
    res = run_online(get_problem(C=C3), configs_of(CASES), steps, start=start, backend=backend)
    assert res.path.shape == (len(CASES), steps + 1) and (res.diverged_at == -1).all()
    for k, (name, cls, kw, decay) in enumerate(CASES):
        path, lrs, state = torch_online(cls, kw, C3, steps, start=start, decay=decay)
        np.testing.assert_allclose(res.path[k], path, rtol=0, atol=1e-10, err_msg=f"{name} {kw}")
        np.testing.assert_allclose(res.lr[k], lrs, rtol=1e-12, atol=0)
        for s, values in state.items():
            if s in res.state_names[k]:
                np.testing.assert_allclose(res.state[s][k], values, rtol=1e-10, atol=1e-12, err_msg=f"{name} {s}")
        assert set(res.state_names[k]) == set(state) & set(OPTIMIZERS[name].state_names)
        np.testing.assert_array_equal(res.grad[k], np.where(np.arange(1, steps + 1) % 3 == 1, C3, -1.0))


def test_effective_lr_from_torch_state(float64):
    """eff_lr of SGD is its scheduled lr; of Adam/AMSGrad lr_t / (sqrt(v_hat) + eps), v_hat from
    torch's exp_avg_sq (or max_exp_avg_sq) / (1 - beta2^t)."""
    steps = 300
    res = run_online(get_problem(C=C3), configs_of(CASES[:3]), steps)
    t = np.arange(1, steps + 1)
    for k, key in ((0, "exp_avg_sq"), (1, "max_exp_avg_sq")):
        _, lrs, state = torch_online("Adam", CASES[k][2], C3, steps)
        expected = lrs / (np.sqrt(state[key] / (1 - BETA2**t)) + 1e-8)
        np.testing.assert_allclose(res.eff_lr[k], expected, rtol=1e-12)
    np.testing.assert_allclose(res.eff_lr[2], 0.1 / np.sqrt(t), rtol=1e-12)


@pytest.mark.slow
def test_adam_drifts_to_plus_one_amsgrad_to_minus_one(float64):
    """Reddi, Kale & Kumar 2018 with C = 3, alpha = 0.1, 20,000 steps; torch agrees to 1e-10."""
    steps = 20_000
    problem = get_problem(C=C3)
    res = run_online(problem, paper_optimizers(problem, 0.1), steps)
    adam, ams = res.path[:, -1]
    assert adam > 0.9 and ams < -0.9
    for k, kw in enumerate((dict(lr=0.1, betas=(0.0, BETA2)), dict(lr=0.1, betas=(0.0, BETA2), amsgrad=True))):
        path, _, _ = torch_online("Adam", kw, C3, steps)
        np.testing.assert_allclose(res.path[k], path, rtol=0, atol=1e-10)
    # Adam's average regret stays near the worst fixed point's 2(C - 2)/3; AMSGrad's goes to 0
    avg = res.average_regret[:, -1]
    assert avg[0] > 0.6 and avg[1] < 0.05
    assert res.average_regret[1, 1999] > avg[1]


def regret_by_definition(path, C, horizons):
    """R_T = sum_{t<=T} f_t(x_t) - min over a grid of [-1, 1] (endpoints included) of sum_{t<=T} f_t(x)."""
    def f(t, x):
        return C * x if t % 3 == 1 else -x

    grid = np.linspace(-1, 1, 2001)
    out = []
    for T in horizons:
        suffered = sum(f(t, path[t - 1]) for t in range(1, T + 1))
        best = np.min(np.sum([f(t, grid) for t in range(1, T + 1)], axis=0))
        out.append(suffered - best)
    return np.array(out)


@pytest.mark.parametrize("C", [3.0, 1.5, 2.0, 10.0])
def test_regret_matches_its_definition(C):
    problem = get_problem(C=C)
    res = run_online(problem, [*paper_optimizers(problem, 0.1), get_optimizer("sgd", lr=0.1, schedule=PAPER)], 300,
                     start=0.3)
    horizons = [1, 2, 3, 4, 10, 99, 100, 101, 300]
    for k in range(3):
        np.testing.assert_allclose(res.regret[k, np.array(horizons) - 1],
                                   regret_by_definition(res.path[k], C, horizons), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(res.average_regret[k], res.regret[k] / np.arange(1, 301), rtol=1e-15)


@pytest.mark.parametrize("C,point", [(3.0, 1.0), (3.0, -1.0), (10.0, 1.0), (1.5, -1.0)])
def test_regret_of_a_fixed_point_in_closed_form(C, point):
    """lr = 0 stays at x_1: R_T = (x_1 + sign(S_T)) S_T with S_T = C ceil(T/3) - (T - ceil(T/3))."""
    steps = 3000
    res = run_online(get_problem(C=C), get_optimizer("sgd", lr=0.0), steps, start=point)
    assert (res.path == point).all()
    T = np.arange(1, steps + 1)
    rare = -(-T // 3)
    S = C * rare - (T - rare)
    np.testing.assert_allclose(res.regret[0], point * S + np.abs(S), rtol=1e-12, atol=1e-9)
    worst = point == (1.0 if C > 2 else -1.0)
    if worst:  # the worst fixed point's average regret tends to 2|C - 2|/3
        assert res.average_regret[0, -1] == pytest.approx(2 * abs(C - 2) / 3, rel=1e-3)
        assert get_problem(C=C).worst_average_regret() == pytest.approx(2 * abs(C - 2) / 3)


def test_minimiser_of_the_average_loss():
    assert get_problem(C=3.0).minimiser() == -1.0 and get_problem(C=3.0).lesson_holds
    assert get_problem(C=1.5).minimiser() == 1.0 and not get_problem(C=1.5).lesson_holds
    assert get_problem(C=2.0).minimiser() is None
    assert get_problem(C=3.0).paper_beta2() == pytest.approx(0.1)


@pytest.mark.parametrize("name", sorted(n for n, info in OPTIMIZERS.items()
                                         if not info.curvature and info.closure_calls is None))
def test_every_optimizer_runs_inside_the_box(name):
    """Any optimizer of the registry, at its defaults with lr_t = 0.5 / sqrt(t): finite, in [-1, 1]."""
    config = get_optimizer(name, lr=0.5, schedule=PAPER)
    res = run_online(get_problem(C=3.0), [config, config], 600, start=-0.2)
    assert (res.diverged_at == -1).all() and np.isfinite(res.path).all()
    assert (np.abs(res.path) <= 1).all()
    np.testing.assert_array_equal(res.path[0], res.path[1])
    for a in (res.eff_lr, res.grad, *res.state.values()):
        assert a.shape == (2, 600) and np.isfinite(a).all()


def test_backends_agree():
    configs = configs_of(CASES)
    a = run_online(get_problem(C=5.0), configs, 400, backend="numpy")
    b = run_online(get_problem(C=5.0), configs, 400, backend="torch")
    np.testing.assert_allclose(a.path, b.path, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.eff_lr, b.eff_lr, rtol=1e-12)


BAD = [
    (dict(C=0.0), "C", "[0.001, 1000]"),
    (dict(C=-1.0), "C", "[0.001, 1000]"),
    (dict(C=1001.0), "C", "[0.001, 1000]"),
    (dict(C="three"), "C", "[0.001, 1000]"),
    (dict(C=float("nan")), "C", "[0.001, 1000]"),
]


@pytest.mark.parametrize("params,name,allowed", BAD, ids=str)
def test_bad_problem_is_refused_naming_the_parameter(params, name, allowed):
    with pytest.raises(ValueError) as err:
        get_problem(**params)
    assert f"{name}=" in str(err.value) and allowed in str(err.value)


def test_bad_run_settings_are_refused():
    problem, adam = get_problem(), get_optimizer("adam", lr=0.1)
    for kw, words in [(dict(steps=0), ("steps=0", f"[1, {MAX_STEPS}]")),
                      (dict(steps=MAX_STEPS + 1), ("steps", f"[1, {MAX_STEPS}]")),
                      (dict(steps=2.5), ("steps=2.5",)),
                      (dict(steps=10, start=1.5), ("start=1.5", "[-1, 1]")),
                      (dict(steps=10, start=float("inf")), ("start=inf", "[-1, 1]"))]:
        with pytest.raises(ValueError) as err:
            run_online(problem, adam, **kw)
        assert all(w in str(err.value) for w in words), str(err.value)
    for optimizers in ([], ["adam"], [adam] * 17):
        with pytest.raises(ValueError, match="optimizers"):
            run_online(problem, optimizers, 10)


@pytest.mark.parametrize("C,alpha", [(MIN_C, 0.1), (MAX_C, 0.1), (MAX_C, 1000.0), (2.0, 1e-6)])
def test_the_paper_settings_run_at_the_ends_of_the_ranges(C, alpha):
    problem = get_problem(C=C)
    adam, ams = paper_optimizers(problem, alpha)
    assert dict(adam.hparams)["betas"] == (0.0, 1 / (1 + C**2)) and dict(ams.hparams)["amsgrad"]
    res = run_online(problem, [adam, ams], 900)
    assert (res.diverged_at == -1).all() and (np.abs(res.path) <= 1).all() and np.isfinite(res.regret).all()
