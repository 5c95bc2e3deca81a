"""The L1 penalty against closed forms and against torch loops that add it themselves.

References: the soft-threshold and one SGD step written out by hand; plain torch loops in float64
that add l1 * |p|.sum() to the loss (subgradient: autograd's gradient of |p| is sign(p), 0 at 0)
or soft-threshold the parameters after optimizer.step() with the lr the step used (proximal); on
MNIST a torch.nn.Sequential with torch.optim over the trainer's batches. The surfaces' losses
come from the conftest formulas, not from surfaces/.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from mnist import data as mnist
from mnist.mlp import Layout, init_params
from mnist.train import SMALL_WEIGHT, TrainConfig, batch_indices, train
from optimizers import get_optimizer, run, run_final
from optimizers import transforms as tf
from surfaces import get_surface

STEPS = 100
PROBLEMS = {
    "rosenbrock": ({}, [(-1.5, 2.0), (0.5, -0.5)]),
    "quadratic": (dict(condition=20.0, angle=-35.0), [(-2.5, 2.0), (0.3, 1.5)]),
}
# (torch class, our name, hyperparameters, l1)
CASES = [
    ("SGD", "sgd", dict(lr=1e-3), 0.5),
    ("SGD", "sgd", dict(lr=1e-3, momentum=0.9), 0.3),
    ("SGD", "sgd", dict(lr=1e-3, momentum=0.9, nesterov=True, weight_decay=0.1), 0.2),
    ("Adam", "adam", dict(lr=1e-2), 1.0),
    ("Adam", "adam", dict(lr=1e-2, betas=(0.8, 0.99), amsgrad=True), 0.1),
    ("RMSprop", "rmsprop", dict(lr=1e-3, momentum=0.5), 0.5),
    ("Adagrad", "adagrad", dict(lr=0.1), 0.5),
]


def test_soft_threshold_closed_form():
    p = np.array([-2.0, -0.5, -0.2, 0.0, 0.3, 0.5, 1.5])
    np.testing.assert_array_equal(tf.soft_threshold(p, 0.5, np), [-1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert np.isnan(tf.soft_threshold(np.array([np.nan]), 0.5, np)).all()
    xpt = pytest.importorskip("array_api_compat.torch")  # the torch backend's namespace
    np.testing.assert_array_equal(tf.soft_threshold(torch.tensor(p), 0.5, xpt).numpy(), [-1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])


@pytest.mark.parametrize("mode", ["subgradient", "proximal"])
def test_one_sgd_step_closed_form(formulas, mode):
    """One step of SGD from (-1.5, 2) on Rosenbrock, and from (0, 1) where sign(0) = 0."""
    lr, l1 = 1e-3, 0.7
    for start in ([-1.5, 2.0], [0.0, 1.0]):
        p0 = np.array(start)
        g = formulas.rosenbrock_grad(p0)
        if mode == "subgradient":
            expected = p0 - lr * (g + l1 * np.sign(p0))
        else:
            q = p0 - lr * g
            expected = np.sign(q) * np.maximum(np.abs(q) - lr * l1, 0.0)
        res = run(get_surface("rosenbrock"), get_optimizer("sgd", lr=lr, l1=l1, l1_mode=mode), [start], 1,
                  compiled=False)
        np.testing.assert_allclose(res.path[0, 0, 1], expected, rtol=1e-15, atol=0)


def test_validation_names_the_parameter_and_its_range():
    with pytest.raises(ValueError, match=r"adam: l1=-0.1 is outside the allowed range \[0, 100\]"):
        get_optimizer("adam", l1=-0.1)
    with pytest.raises(ValueError, match=r"sgd: l1_mode='lasso' is not allowed; allowed \{'subgradient', 'proximal'\}"):
        get_optimizer("sgd", l1=0.1, l1_mode="lasso")
    with pytest.raises(ValueError, match="l1"):
        get_optimizer("sgd", l1="a lot")
    assert get_optimizer("adam").l1 == 0.0
    assert "l1=0.01 prox" in get_optimizer("adam", l1=0.01, l1_mode="proximal").label


def torch_l1_run(cls, kw, loss, start, steps, l1, mode, scheduler=None):
    """torch.optim.<cls> from `start` with the L1 term: path [T+1, 2] (float64)."""
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, cls)([p], **kw)
    sched = scheduler(opt) if scheduler else None
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        total = loss(p) + (l1 * p.abs().sum() if mode == "subgradient" else 0.0)
        total.backward()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        if mode == "proximal":
            with torch.no_grad():
                p.copy_(torch.sign(p) * torch.clamp(p.abs() - lr * l1, min=0.0))
        if sched is not None:
            sched.step()
        path.append(p.detach().clone())
    return torch.stack(path).numpy()


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("mode", ["subgradient", "proximal"])
def test_matches_a_torch_loop_with_the_l1_term(float64, formulas, backends, problem, mode):
    """Every case in one run (groups, rows with and without the term), 100 steps, 1e-10 relative."""
    params, starts = PROBLEMS[problem]
    loss = functools.partial(getattr(formulas, problem), **params)
    configs = [get_optimizer(name, l1=l1, l1_mode=mode, **kw) for _, name, kw, l1 in CASES]
    configs.append(get_optimizer("sgd", lr=1e-3))  # no L1 beside them: its rows get strength 0
    refs = [[torch_l1_run(cls, kw, loss, start, STEPS, l1, mode) for start in starts] for cls, _, kw, l1 in CASES]
    refs.append([torch_l1_run("SGD", dict(lr=1e-3), loss, start, STEPS, 0.0, mode) for start in starts])
    for engine in backends:
        res = run(get_surface(problem, **params), configs, starts, STEPS, tol=0, **engine)
        assert (res.diverged_at < 0).all()
        for k, per_start in enumerate(refs):
            for n, ref in enumerate(per_start):
                np.testing.assert_allclose(res.path[k, n], ref, rtol=1e-10, atol=1e-14,
                                           err_msg=f"{configs[k].label} from {starts[n]} on {engine}")


def test_proximal_uses_the_scheduled_lr(float64, formulas, backends):
    sched = ("step", {"step_size": 20, "gamma": 0.5})
    config = get_optimizer("adam", lr=0.05, l1=0.5, l1_mode="proximal", schedule=sched)
    ref = torch_l1_run("Adam", dict(lr=0.05), formulas.rosenbrock, (-1.5, 2.0), STEPS, 0.5, "proximal",
                       scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=20, gamma=0.5))
    for engine in backends:
        res = run(get_surface("rosenbrock"), config, [(-1.5, 2.0)], STEPS, tol=0, **engine)
        np.testing.assert_allclose(res.path[0, 0], ref, rtol=1e-10, atol=1e-14)


def test_proximal_lands_exactly_on_zero():
    """A quadratic centred off the origin in x only: a strong enough proximal L1 pins x at 0."""
    res = run(get_surface("booth"), get_optimizer("sgd", lr=0.01, l1=50.0, l1_mode="proximal"), [(0.1, 0.1)], 200,
              compiled=False, tol=0)
    assert (res.path[0, 0, -50:] == 0).any()


def test_run_final_equals_run(monkeypatch):
    surface = get_surface("rosenbrock")
    configs = [get_optimizer("adam", lr=1e-2, l1=0.5), get_optimizer("sgd", lr=1e-3, momentum=0.9, l1=0.3,
                                                                      l1_mode="proximal"),
               get_optimizer("sgd", lr=1e-3)]
    starts = [(-1.5, 2.0), (0.5, -0.5), (1.2, 1.2)]
    full = run(surface, configs, starts, STEPS, compiled=False, clip_norm=5.0)
    fin = run_final(surface, configs, starts, STEPS, compiled=False, clip_norm=5.0)
    np.testing.assert_array_equal(fin.point, full.path[:, :, -1])


def test_compiled_path_equals_the_array_path(monkeypatch):
    """The L1 term traced into the trajectory and final-state kernels, bit for bit."""
    monkeypatch.setenv("OPTVIS_COMPILE", "1")
    surface = get_surface("rosenbrock")
    configs = [get_optimizer(name, l1=l1, l1_mode=mode, **kw) for _, name, kw, l1 in CASES[:4]
               for mode in ("subgradient", "proximal")] + [get_optimizer("sgd", lr=1e-3)]
    starts = [(-1.5, 2.0), (0.5, -0.5), (1.2, 1.2), (0.0, 0.5)]
    for extra in ({}, {"noise": 0.5, "clip_value": 3.0}):
        fast = run(surface, configs, starts, STEPS, compiled=True, **extra)
        slow = run(surface, configs, starts, STEPS, compiled=False, **extra)
        assert fast.slow_reason is None
        for field in ("path", "loss", "grad", "grad_norm", "eff_lr", "diverged_at", "converged_at"):
            np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field), err_msg=field)
        fin = run_final(surface, configs, starts, STEPS, compiled=True, **extra)
        assert fin.slow_reason is None
        np.testing.assert_array_equal(fin.point, slow.path[:, :, -1])


# --- MNIST -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def torch_net(layout: Layout, flat: np.ndarray) -> torch.nn.Sequential:
    net = torch.nn.Sequential(torch.nn.Linear(784, layout.hidden), torch.nn.ReLU(),
                              torch.nn.Linear(layout.hidden, 10)).double()
    net.load_state_dict({k: torch.tensor(np.ascontiguousarray(v), dtype=torch.float64)
                         for k, v in layout.torch_state(flat).items()})
    return net


def flat_of(net) -> np.ndarray:
    w1, b1, w2, b2 = (t.detach().numpy() for t in net.parameters())
    return np.concatenate([w1.T.ravel(), b1, w2.T.ravel(), b2])


def torch_mnist_l1(data, hidden, batch_size, steps, seed, make_optimizer, l1, mode):
    """torch.nn + torch.optim with l1 * sum |p| over every parameter tensor: (losses [T], flat params)."""
    net = torch_net(Layout(hidden), init_params(hidden, seed, "float64"))
    opt = make_optimizer(net.parameters())
    x, y = torch.tensor(np.asarray(data.x_train, np.float64)), torch.tensor(data.y_train)
    losses = []
    for t in range(steps):
        idx = torch.as_tensor(batch_indices(len(x), batch_size, seed, t))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        total = loss + l1 * sum(p.abs().sum() for p in net.parameters()) if mode == "subgradient" else loss
        total.backward()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        if mode == "proximal":
            with torch.no_grad():
                for p in net.parameters():
                    p.copy_(torch.sign(p) * torch.clamp(p.abs() - lr * l1, min=0.0))
        losses.append(loss.item())
    return np.array(losses), flat_of(net)


MNIST_CASES = {
    "sgd-momentum": (dict(name="sgd", lr=0.05, momentum=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    "adam": (dict(name="adam", lr=1e-3), lambda ps: torch.optim.Adam(ps, lr=1e-3)),
}


# Every pair of (optimizer, mode), (mode, backend) and (optimizer, backend) once: six of the twelve
# combinations, each a torch.nn loop of its own (about 15 s each on a 2-core machine).
MNIST_PAIRS = [("sgd-momentum", "subgradient", "numpy"), ("sgd-momentum", "proximal", "numpy-compiled"),
               ("sgd-momentum", "proximal", "torch"), ("adam", "proximal", "numpy"),
               ("adam", "subgradient", "numpy-compiled"), ("adam", "subgradient", "torch")]


@pytest.mark.parametrize(("case", "mode", "backend"), MNIST_PAIRS)
def test_mnist_matches_a_torch_nn_loop_with_the_l1_term(embedded, float64, case, mode, backend):
    kw, make_optimizer = MNIST_CASES[case]
    l1 = 1e-3 if mode == "subgradient" else 2e-3
    hidden, batch_size, seed = 32, 64, 1
    ref_loss, ref_params = torch_mnist_l1(embedded, hidden, batch_size, STEPS, seed, make_optimizer, l1, mode)
    config = TrainConfig((get_optimizer(**kw, l1=l1, l1_mode=mode),), hidden=hidden, batch_size=batch_size,
                         steps=STEPS, seed=seed, backend=backend.split("-")[0], dtype="float64", snapshots=2)
    res = train(config, embedded, use_kernels=backend.endswith("compiled"))
    np.testing.assert_allclose(res.loss[0], ref_loss, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.final_params[0], ref_params, rtol=0, atol=1e-6)
    if mode == "proximal":  # exact zeros where torch's loop has them (none within 1e-6 of the threshold)
        assert ((res.final_params[0] == 0) == (ref_params == 0)).mean() > 0.999


def test_mnist_sparsity_record(embedded):
    """Proximal L1 zeroes many weights exactly, the subgradient only brings them near 0, L2 shrinks
    them all without zeroing; the record's last column is the final weights' fraction."""
    configs = (get_optimizer("sgd", lr=0.1, l1=2e-3, l1_mode="proximal"), get_optimizer("sgd", lr=0.1, l1=2e-3),
               get_optimizer("sgd", lr=0.1, weight_decay=2e-3 * 50))
    config = TrainConfig(configs, hidden=32, batch_size=64, steps=300, seed=0, snapshots=2)
    res = train(config, embedded)
    layout = Layout(32)
    assert res.sparsity.shape == (3, 2, len(res.record_steps))
    assert res.record_steps[-1] == 300
    for k in range(3):
        for layer, name in enumerate(("W1", "W2")):
            w = res.final_params[k, slice(*layout.offsets[name])]
            expected = (w == 0).mean() if k == 0 else (np.abs(w) < SMALL_WEIGHT).mean()
            assert res.sparsity[k, layer, -1] == pytest.approx(expected, abs=1e-12)
    w1 = slice(*layout.offsets["W1"])
    assert (res.final_params[0, w1] == 0).mean() > 0.5
    assert res.sparsity[0, 0, -1] > res.sparsity[2, 0, -1] + 0.3
    assert res.sparsity[0, 0, 0] < res.sparsity[0, 0, -1]


# --- "Copy as PyTorch" -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["subgradient", "proximal"])
@pytest.mark.parametrize("name, kw", [("sgd", dict(lr=1e-3, momentum=0.9)), ("adam", dict(lr=1e-2)),
                                      ("gnsgd", dict(lr=1e-3, alpha=0.5)), ("lion", dict(lr=1e-3))])
def test_torch_snippet_runs_with_the_l1_term(float64, formulas, name, kw, mode):
    """The snippet, executed on the Rosenbrock formula, follows the engine's path."""
    from optimizers.torch_code import torch_code

    config = get_optimizer(name, l1=0.5, l1_mode=mode, schedule=("step", {"step_size": 30, "gamma": 0.5}), **kw)
    code = torch_code(config, start=(-1.5, 2.0), steps=STEPS)
    assert ("l1 * params.abs().sum()" in code) == (mode == "subgradient")
    assert ("torch.clamp(params.abs() - lr * l1" in code) == (mode == "proximal")
    namespace: dict = {}
    exec(compile(code, "<snippet>", "exec"), namespace)
    points = []

    def loss_fn(p):
        points.append(p.detach().clone())
        return formulas.rosenbrock(p)

    points.append(namespace["train"](loss_fn, STEPS).detach().clone())
    res = run(get_surface("rosenbrock"), config, [(-1.5, 2.0)], STEPS, tol=0, compiled=False)
    np.testing.assert_allclose(torch.stack(points).numpy(), res.path[0, 0], rtol=1e-10, atol=1e-14)


# --- the app ---------------------------------------------------------------------------------------


def _app(path: str, query: dict | None = None, state: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(path, default_timeout=60)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    for name, value in (state or {}).items():
        at.session_state[name] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _widget(elements, key: str):
    (found,) = [e for e in elements if e.key == key]
    return found


def test_surfaces_page_panel_sets_l1_and_puts_it_in_the_link():
    from pathlib import Path

    from ui import state

    at = _app(str(Path(__file__).resolve().parents[1] / "app.py"))
    assert _widget(at.select_slider, "opt0.l1#log").value == 0.0  # "off"
    assert _widget(at.selectbox, "opt0.l1_mode").options == ["subgradient", "proximal"]
    from optimizers import SCHEDULES

    schedules = _widget(at.selectbox, "opt0.schedule").options
    assert SCHEDULES["cosine"].title in schedules and SCHEDULES["plateau"].title not in schedules
    _widget(at.number_input, "opt0.l1").set_value(0.5).run()
    _widget(at.selectbox, "opt0.l1_mode").set_value("proximal").run()
    assert not at.exception
    config = at.session_state["config"]
    assert config.optimizers[0] == get_optimizer("sgd", lr=1e-3, l1=0.5, l1_mode="proximal")
    assert any(r"\lambda_1 = 0.5" in e.value and "sign" in e.value for e in at.latex)
    opts = at.query_params["opt"]
    assert opts[0] == "sgd~lr:0.001~l1:0.5~l1_mode:proximal"
    # the link brings it back into the widgets of a fresh page
    again = _app(str(Path(__file__).resolve().parents[1] / "app.py"), query=state.encode(config))
    assert again.session_state["config"] == config
    assert _widget(again.number_input, "opt0.l1").value == 0.5
    assert _widget(again.selectbox, "opt0.l1_mode").value == "proximal"


def test_mnist_page_panel_has_the_l1_controls():
    from pathlib import Path

    at = _app(str(Path(__file__).resolve().parents[1] / "ui" / "mnist_page.py"))
    assert _widget(at.number_input, "mnist.w.opt.0.l1").value == 0.0
    _widget(at.number_input, "mnist.w.opt.0.l1").set_value(1e-4).run()
    _widget(at.selectbox, "mnist.w.opt.0.l1_mode").set_value("proximal").run()
    assert not at.exception
    assert any(r"\lambda_1 = 0.0001" in e.value and r"\eta_t" in e.value for e in at.latex)
    assert any("l1=0.0001 prox" in c.value for c in at.markdown) or any(
        "l1=0.0001 prox" in str(e.proto) for e in at.get("plotly_chart"))


# --- the L1 term in the formulas the pages show ------------------------------------------------------

SUBGRADIENT_TERM = r"\lambda_1 \operatorname{sign}(\theta)"  # added to the gradient (weight decay's symbol is \lambda)
PROXIMAL_TERM = r"S_{\eta_t \lambda_1}(\theta_t)"  # the soft-threshold after the step


def test_update_rules_section_shows_the_l1_term_of_each_mode():
    """The 2-D page's "Update rules": SGD with subgradient L1 gains the term on its gradient, Adam
    with proximal L1 the soft-threshold after its step, AdamW (weight decay, no L1) neither."""
    from optimizers import OPTIMIZERS
    from tests.test_app import ok, page
    from ui import state

    cfg = state.make_config("rosenbrock", steps=20, optimizers=(
        get_optimizer("sgd", lr=1e-3, l1=0.5), get_optimizer("adam", lr=0.05, l1=0.2, l1_mode="proximal"),
        get_optimizer("adamw", lr=0.05, weight_decay=0.1)))
    at = ok(page(state.encode(cfg)))
    rules = {name: [e.value for e in at.latex if OPTIMIZERS[name].latex in e.value] for name in ("sgd", "adam", "adamw")}
    assert all(len(found) == 1 for found in rules.values()), rules
    (sgd,), (adam,), (adamw,) = rules.values()
    assert SUBGRADIENT_TERM in sgd and PROXIMAL_TERM not in sgd
    assert sgd.index(SUBGRADIENT_TERM) < sgd.index(OPTIMIZERS["sgd"].latex)  # before the rule: it enters g_t
    assert PROXIMAL_TERM in adam and SUBGRADIENT_TERM not in adam
    assert adam.index(PROXIMAL_TERM) > adam.index(OPTIMIZERS["adam"].latex)  # after the step
    assert r"\lambda_1" not in adamw and r"\lambda" in adamw  # weight decay keeps its own symbol


@pytest.mark.parametrize("mode,term", [("subgradient", SUBGRADIENT_TERM), ("proximal", PROXIMAL_TERM)])
def test_live_equation_shows_the_l1_term_with_its_strength(mode, term):
    from plots.internals import update_equation

    res = run(get_surface("rosenbrock"), [get_optimizer("sgd", lr=1e-3, l1=0.25, l1_mode=mode),
                                          get_optimizer("sgd", lr=1e-3)], [(-1.5, 2.0)], 5, compiled=False)
    with_l1, without = update_equation(res, 0, 2), update_equation(res, 1, 2)
    assert term in with_l1 and r"\lambda_1 = 0.25" in with_l1
    assert r"\lambda_1" not in without and term not in without
    # the soft-threshold moves the point off theta - eff_lr * d: the step is shown as it happened
    assert (r"\Delta\theta_t" in with_l1) == (mode == "proximal")
