"""What the registry says of each rule, checked against torch.optim, the trajectories and the README.

References: torch.optim's own state keys, the published formulas of each rule's search direction
(written out here from the recorded gradient and state), and the README as committed.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from optimizers import OPTIMIZERS, OptimizerInfo, get_optimizer, run
from optimizers import readme_table as rt
from surfaces import get_surface

README = Path(__file__).resolve().parents[1] / "README.md"

# torch.optim hyperparameters that make each class allocate all its optional state
ALL_STATE = {"SGD": {"momentum": 0.9}, "RMSprop": {"momentum": 0.5, "centered": True},
             "Adam": {"amsgrad": True}, "AdamW": {"amsgrad": True}}


def test_entries_are_built_with_keywords():
    adam = OPTIMIZERS["adam"]
    fields = [getattr(adam, f.name) for f in dataclasses.fields(OptimizerInfo)]
    with pytest.raises(TypeError):
        OptimizerInfo(*fields)


@pytest.mark.parametrize(("name", "change", "message"), [
    ("adam", {"first_moment": ("momentum_buffer",)}, "not among its state names"),
    ("adagrad", {"second_moment": ("sum", "exp_avg_sq")}, "not among its state names"),
    ("rmsprop", {"buffered_by": "nesterov"}, "not one of its hyperparameters"),
    ("gnsgd", {"torch_snippet": None}, "exactly one of torch_class and torch_snippet"),
    ("sgd", {"torch_snippet": OPTIMIZERS["gnsgd"].torch_snippet}, "exactly one of torch_class and torch_snippet"),
])
def test_inconsistent_entries_are_refused(name, change, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(OPTIMIZERS[name], **change)


@pytest.mark.parametrize("name", [n for n, o in OPTIMIZERS.items() if o.torch_class])
def test_state_names_are_torch_state_keys(name):
    info = OPTIMIZERS[name]
    # a class for matrices only (Muon) takes the point as the 1 x 2 matrix
    p = torch.zeros((1, 2) if info.vectors_to else 2, dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, info.torch_class)([p], lr=0.01, **ALL_STATE.get(info.torch_class, {}))

    def closure():
        opt.zero_grad()
        loss = (p - 1.0).square().sum()
        loss.backward()
        return loss

    if info.closure_calls is not None:  # LBFGS: step(closure); n_pairs is the length of its old_dirs list
        opt.step(closure)
        opt.step(closure)
        keys = set(opt.state[p]) | {"n_pairs"}
        assert len(opt.state[p]["old_dirs"]) >= 1
    else:
        closure()
        opt.step()
        keys = set(opt.state[p])
    assert set(info.state_names) <= keys
    assert set(info.first_moment) | set(info.second_moment) <= set(info.state_names)


# --- the direction eff_lr multiplies -------------------------------------------------------------

STEPS = 30


def _sgd_direction(res, k, s, hp):
    g = res.grad[k, 0, s]
    if not hp["momentum"]:
        return g
    buf = res.state["momentum_buffer"][k, 0, s]
    return g + hp["momentum"] * buf if hp["nesterov"] else buf


def _m_hat(res, k, s, hp):
    return res.state["exp_avg"][k, 0, s] / (1 - hp["betas"][0] ** (s + 1))


def _nesterov(res, k, s, hp):
    """Dozat's bracket: (1 - mu_t) / (1 - prod_{i<=t} mu_i) g_t + mu_{t+1} / (1 - prod_{i<=t+1} mu_i) m_t."""
    t, b1, psi = s + 1, hp["betas"][0], hp["momentum_decay"]
    mu = [b1 * (1 - 0.5 * 0.96 ** (i * psi)) for i in range(1, t + 2)]
    prod, prod_next = np.prod(mu[:t]), np.prod(mu)
    return (1 - mu[t - 1]) / (1 - prod) * res.grad[k, 0, s] + mu[t] / (1 - prod_next) * res.state["exp_avg"][k, 0, s]


def _sign(res, k, s, hp):
    """Lion's sign(c_t), c_t = b1 m_{t-1} + (1 - b1) g_t, from the recorded momentum of the step before."""
    b1 = hp["betas"][0]
    previous = res.state["exp_avg"][k, 0, s - 1] if s else 0.0
    return np.sign(previous * b1 + (1 - b1) * res.grad[k, 0, s])


def _sign_grad(res, k, s, hp):
    """Rprop's sign(g~_t): the stored gradient, zeroed where its sign flipped."""
    return np.sign(res.state["prev"][k, 0, s])


def _newton(res, k, s, hp):
    """(H + damping I)^-1 g_t, H the surface's Hessian at the point the step starts from."""
    hxx, hxy, hyy = res.surface.hess(res.path[k, 0, s])
    matrix = np.array([[hxx, hxy], [hxy, hyy]]) + hp["damping"] * np.eye(2)
    return np.linalg.solve(matrix, res.grad[k, 0, s])


def _muon(res, k, s, hp):
    """O_t on the 1 x 2 point: U_t / ||U_t|| times sqrt(s_k), s <- s (a + b s + c s^2)^2 from s = 1."""
    g, buf = res.grad[k, 0, s], res.state["momentum_buffer"][k, 0, s]
    u = g + hp["momentum"] * (buf - g) if hp["nesterov"] else buf
    a, b, c = hp["ns_coefficients"]
    x = 1.0
    for _ in range(hp["ns_steps"]):
        x = x * (a + b * x + c * x * x) ** 2
    return np.sqrt(x) * u / np.linalg.norm(u)



def _lbfgs(res, k, s, hp):
    """-d = H g_t by Nocedal's two-loop recursion with max_iter = 1 (one inner iteration per step, so
    the curvature pairs are the steps: s_i = theta_{i+1} - theta_i, y_i = g_{i+1} - g_i, kept when
    y.s > 1e-10, the last history_size of them; H0 = y.s / y.y of the newest)."""
    path, grad = res.path[k, 0], res.grad[k, 0]
    pairs = [(path[i + 1] - path[i], grad[i + 1] - grad[i]) for i in range(s)]
    pairs = [(a, b) for a, b in pairs if b @ a > 1e-10][-hp["history_size"]:]
    q = grad[s].copy()
    alphas = []
    for a, b in reversed(pairs):
        alphas.append((a @ q) / (b @ a))
        q = q - alphas[-1] * b
    r = q * ((pairs[-1][1] @ pairs[-1][0]) / (pairs[-1][1] @ pairs[-1][1]) if pairs else 1.0)
    for (a, b), alpha in zip(pairs, reversed(alphas)):
        r = r + a * (alpha - (b @ r) / (b @ a))
    return r



DIRECTIONS = {"muon": _muon, "grad": lambda res, k, s, hp: res.grad[k, 0, s], "d": _sgd_direction, "m_hat": _m_hat,
              "nesterov": _nesterov, "sign": _sign, "sign_grad": _sign_grad, "newton": _newton,
              "m": lambda res, k, s, hp: res.state["exp_avg"][k, 0, s], "lbfgs": _lbfgs}
# configurations whose step is eff_lr ⊙ direction: coupled (here zero) weight decay, no buffer
DIRECT = [("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.8, "nesterov": True}),
          ("gnsgd", {"alpha": 0.5}), ("adagrad", {"lr_decay": 0.01}), ("rmsprop", {"centered": True}),
          ("adadelta", {}), ("adam", {"amsgrad": True}), ("adamw", {"weight_decay": 0.0}), ("adamax", {}),
          ("nadam", {}), ("radam", {}), ("lion", {}), ("rprop", {}),
          ("asgd", {"lambd": 0.0}), ("adafactor", {}), ("newton", {"damping": 5.0}),
          ("prodigy", {}), ("sgd_schedule_free", {}), ("adamw_schedule_free", {}), ("muon", {"weight_decay": 0.0}),
          ("lbfgs", {"max_iter": 1, "history_size": 3})]


def _realised_direction(res, k):
    """-(theta_{s+1} - theta_s) / eff_lr_s for s < STEPS: [STEPS, 2]; of the state that takes the
    steps instead where the registry names one (schedule-free: z, which starts at theta_0)."""
    stepped = res.configs[k].info.stepped
    moved = res.path[k, 0] if stepped is None else np.concatenate([res.path[k, 0, :1], res.state[stepped][k, 0]])
    return -(moved[1:] - moved[:-1]) / res.eff_lr[k, 0]


def test_direction_is_what_eff_lr_multiplies():
    assert {name for name, _ in DIRECT} == set(OPTIMIZERS)
    configs = [get_optimizer(name, lr=1e-2, **hp) for name, hp in DIRECT]
    res = run(get_surface("quadratic"), configs, starts=[[-1.0, 1.5]], steps=STEPS, backend="numpy", compiled=False)
    assert np.all(res.diverged_at == -1)
    for k, config in enumerate(configs):
        expected = DIRECTIONS[config.info.direction.key]
        reference = np.array([expected(res, k, s, config.hp) for s in range(STEPS)])
        np.testing.assert_allclose(_realised_direction(res, k), reference, rtol=1e-7, atol=1e-12, err_msg=config.label)


def test_buffered_by_breaks_the_direction_form():
    """With RMSProp's momentum the step follows the buffer: -Δθ / eff_lr is no longer g_t."""
    (name, param), = [(n, o.buffered_by) for n, o in OPTIMIZERS.items() if o.buffered_by]
    assert (name, param) == ("rmsprop", "momentum")
    res = run(get_surface("rosenbrock"), [get_optimizer(name, lr=1e-3, momentum=0.9)], starts=[[-1.0, 1.5]],
              steps=STEPS, backend="numpy", compiled=False)
    realised, grad = _realised_direction(res, 0), res.grad[0, 0, :STEPS]
    np.testing.assert_allclose(realised[0], grad[0], rtol=1e-9)  # the buffer starts empty
    assert not np.allclose(realised[1:], grad[1:], rtol=1e-2, atol=0)


# --- README -----------------------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row, `\\|` read as a literal bar."""
    return [c.strip().replace(r"\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def test_readme_rows_are_the_registry():
    readme = README.read_text(encoding="utf-8")
    lines = rt.table_in(readme).splitlines()
    assert _cells(lines[0]) == ["name", "torch", "update (as implemented)", "`eff_lr` multiplies", "`eff_lr`"]
    rows = {cells[0].strip("`"): cells[1:] for cells in map(_cells, lines[2:])}
    assert list(rows) == list(OPTIMIZERS), "README rows are not the registry's optimizers, in order"
    for name, info in OPTIMIZERS.items():
        expected = [info.torch_class or "(none)", info.text, info.direction.text, info.eff_lr_text]
        assert rows[name] == expected, f"README row {name!r}; run `python -m optimizers.readme_table --write`"
    assert rt.with_table(readme) == readme, "run `python -m optimizers.readme_table --write`"


def test_with_table_replaces_only_the_marked_block():
    stale = f"intro\n\n{rt.BEGIN}\n| old | table |\n{rt.END}\n\noutro\n"
    fresh = rt.with_table(stale)
    assert fresh.startswith(f"intro\n\n{rt.BEGIN}\n") and fresh.endswith(f"{rt.END}\n\noutro\n")
    assert "| old |" not in fresh and rt.table_in(fresh) == rt.optimizer_table()
    assert rt.with_table(fresh) == fresh
    with pytest.raises(ValueError, match="no"):
        rt.with_table("no markers here")


# --- citations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [1e6, 1e-8])
def test_gnsgd_is_normalized_gd_for_large_alpha_and_sgd_for_small(alpha):
    """What its reference says of it: where alpha ||g||^2 >> 1 the step is normalized gradient
    descent, lr/sqrt(alpha) g/||g|| (Hazan, Levy & Shalev-Shwartz 2015); where << 1, SGD's lr g."""
    info, lr = OPTIMIZERS["gnsgd"], 0.1
    p, g = np.array([[0.3, -0.2]]), np.array([[3.0, 4.0]])
    hp = get_optimizer("gnsgd", lr=lr, alpha=alpha).hp
    new, _, _ = info.rule(p, g, info.init(p, hp, np), 1, lr, hp, np)
    expected = lr / np.sqrt(alpha) * g / np.linalg.norm(g) if alpha > 1 else lr * g
    np.testing.assert_allclose(p - new, expected, rtol=1e-6)
    assert "course material" not in info.reference and "Hazan" in info.reference


def test_nesterov_momentum_cites_nesterov_1983():
    assert "Nesterov 1983" in OPTIMIZERS["sgd"].reference and "Sutskever et al. 2013" in OPTIMIZERS["sgd"].reference
