"""L-BFGS on the MNIST MLP against a plain torch.nn loop with torch.optim.LBFGS in float64.

The reference: nn.Sequential(Linear, ReLU, Linear) from the trainer's initial weights, over the
trainer's mini-batches (`batch_indices`), one `optimizer.step(closure)` per mini-batch, the closure
recomputing that batch's cross-entropy (plus the L1 term where a case has one) and its gradient
by autograd. Compared: the loss of every step (the closure's first value), the closure calls of
every step, and the weights after 100 steps. torch sums its dot products by BLAS and the engine
by NumPy, so the two agree within rounding, not bit for bit (measured gaps in the asserts).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from mnist import data as mnist
from mnist.mlp import Layout, init_params
from mnist.train import TrainConfig, batch_indices, train
from optimizers import get_optimizer
from tests.test_mnist_train import flat_of, one_torch_thread, torch_net  # noqa: F401 (an autouse fixture)

HIDDEN, BATCH, STEPS, SEED = 16, 64, 100, 3
# settings torch itself reproduces over 100 steps from weights moved by 1e-14 (within 1e-10)
SETTINGS = {
    "fixed": {"lr": 0.2, "history_size": 3, "max_iter": 4, "max_eval": 6},
    "strong_wolfe": {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 3},
    "one_pair": {"lr": 0.05, "history_size": 1, "max_iter": 3, "tolerance_change": 1e-12},
}
# torch's defaults (max_iter 20, history 100): 20 inner iterations on every mini-batch, from which
# torch's own run parts within a few steps (test_torch_itself_separates_within_steps_at_its_defaults)
DEFAULTS = {"default": {}, "default_strong_wolfe": {"line_search_fn": "strong_wolfe"}}


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def torch_lbfgs_run(data, hp: dict, steps: int = STEPS, l1: float = 0.0, mode: str = "subgradient",
                    scale: float = 1.0):
    """torch.optim.LBFGS over the trainer's batches: (losses [T], closure calls [T], flat params).
    scale: the initial weights times it (1 + 1e-14: torch's run from weights moved by rounding)."""
    net = torch_net(Layout(HIDDEN), init_params(HIDDEN, SEED, "float64") * scale)
    opt = torch.optim.LBFGS(net.parameters(), **hp)
    x, y = torch.tensor(np.asarray(data.x_train, np.float64)), torch.tensor(data.y_train)
    losses, calls = [], []
    for t in range(steps):
        idx = torch.as_tensor(batch_indices(len(x), BATCH, SEED, t))
        xb, yb = x[idx], y[idx]
        seen: list[float] = []

        def closure(xb=xb, yb=yb, seen=seen):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xb), yb)
            seen.append(loss.item())
            if mode == "subgradient" and l1:
                loss = loss + l1 * sum(p.abs().sum() for p in net.parameters())
            loss.backward()
            return loss

        lr = opt.param_groups[0]["lr"]
        opt.step(closure)
        if mode == "proximal" and l1:
            with torch.no_grad():
                for p in net.parameters():
                    p.copy_(torch.sign(p) * torch.clamp(p.abs() - lr * l1, min=0.0))
        losses.append(seen[0])
        calls.append(len(seen))
    return np.array(losses), np.array(calls), flat_of(net.parameters())


def engine(data, configs, backend="numpy", steps=STEPS):
    config = TrainConfig(tuple(configs), hidden=HIDDEN, batch_size=BATCH, steps=steps, seed=SEED, backend=backend,
                         dtype="float64", snapshots=2)
    return train(config, data)


def assert_matches(res, k, ref, what):
    losses, calls, params = ref
    assert res.diverged_at[k] == -1 and np.isfinite(losses).all(), what
    np.testing.assert_array_equal(res.n_evals[k], calls, err_msg=what)
    np.testing.assert_allclose(res.loss[k], losses, rtol=0, atol=1e-6, err_msg=what)
    np.testing.assert_allclose(res.final_params[k], params, rtol=0, atol=1e-6, err_msg=what)
    assert np.abs(params - init_params(HIDDEN, SEED, "float64")).max() > 1e-2, what  # it did train
    return np.abs(res.loss[k] - losses).max(), np.abs(res.final_params[k] - params).max()


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_one_configuration_matches_torch_over_100_steps(embedded, setting):
    hp = SETTINGS[setting]
    ref = torch_lbfgs_run(embedded, hp)
    started = time.perf_counter()
    res = engine(embedded, [get_optimizer("lbfgs", **hp)])
    gaps = assert_matches(res, 0, ref, setting)
    print(f"L-BFGS {setting}: loss gap {gaps[0]:.1e}, weight gap {gaps[1]:.1e}, {ref[1].sum()} evaluations, "
          f"{time.perf_counter() - started:.1f} s")
    # the per-layer effective lr is tau_K, the step length of the step's last inner iteration, the
    # same for every parameter: lr itself without the line search (after the very first iteration)
    eff = res.eff_lr[0]
    np.testing.assert_array_equal(eff[:, 0], eff[:, 2])
    if "line_search_fn" not in hp:
        np.testing.assert_allclose(eff[:, 1, 1:], hp["lr"], rtol=1e-15)


@pytest.mark.parametrize("setting", list(DEFAULTS))
def test_torchs_defaults_match_while_torch_reproduces_itself(embedded, setting):
    """At torch's defaults the comparison holds over the steps where torch's own run from weights
    moved by 1e-14 stays within 1e-8 of it (measured here: a handful); past them it would test chaos."""
    hp, steps = DEFAULTS[setting], 12
    ref = torch_lbfgs_run(embedded, hp, steps)
    moved = torch_lbfgs_run(embedded, hp, steps, scale=1 + 1e-14)
    apart = np.flatnonzero(~(np.abs(moved[0] - ref[0]) <= 1e-8))
    horizon = int(apart[0]) if len(apart) else steps
    print(f"torch at {setting or 'its defaults'} reproduces itself within 1e-8 for {horizon} steps")
    assert 2 <= horizon < steps  # it does part, and not at once
    res = engine(embedded, [get_optimizer("lbfgs", **hp)], steps=horizon)
    np.testing.assert_array_equal(res.n_evals[0], ref[1][:horizon])
    np.testing.assert_allclose(res.loss[0], ref[0][:horizon], rtol=0, atol=1e-6)
    assert (res.n_evals[0] == 20).any() or "line_search_fn" in hp  # 20 inner iterations do happen


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_several_configurations_each_match_their_own_torch_loop(embedded, backend):
    """K configurations in one run: two L-BFGS rows of one group (one rule call, lrs apart, so they
    stop their inner iterations at different points and their rings drift apart), one with the line
    search, and Adam beside them; each row as its own torch loop."""
    steps = STEPS if backend == "numpy" else 40
    lbfgs = [{**SETTINGS["fixed"]}, {**SETTINGS["fixed"], "lr": 0.1}, SETTINGS["strong_wolfe"]]
    configs = [get_optimizer("lbfgs", **hp) for hp in lbfgs] + [get_optimizer("adam", lr=1e-3)]
    res = engine(embedded, configs, backend=backend, steps=steps)
    for k, hp in enumerate(lbfgs):
        assert_matches(res, k, torch_lbfgs_run(embedded, hp, steps), f"{configs[k].label} on {backend}")
    from tests.test_mnist_train import torch_optim_run

    losses, params = torch_optim_run(embedded, HIDDEN, BATCH, steps, SEED, lambda ps: torch.optim.Adam(ps, lr=1e-3))
    np.testing.assert_allclose(res.final_params[3], params, rtol=0, atol=1e-10)
    assert (res.n_evals[3] == 1).all()


@pytest.mark.parametrize("mode", ["subgradient", "proximal"])
def test_l1_enters_the_closure_or_follows_the_step(embedded, mode):
    """Subgradient L1: the closure's loss gains l1 * sum|p| (what the line search compares) and its
    gradient l1 sign(p); proximal: the soft-threshold by lr * l1 after step(closure)."""
    hp, l1, steps = SETTINGS["strong_wolfe" if mode == "subgradient" else "fixed"], 1e-3, 50
    res = engine(embedded, [get_optimizer("lbfgs", l1=l1, l1_mode=mode, **hp)], steps=steps)
    assert_matches(res, 0, torch_lbfgs_run(embedded, hp, steps, l1=l1, mode=mode), mode)
    plain = torch_lbfgs_run(embedded, hp, steps)
    assert np.abs(res.final_params[0] - plain[2]).max() > 1e-4  # the term changed the run


def test_the_trainer_refuses_nothing_and_kernels_leave_it_alone(embedded):
    """L-BFGS is no longer 2-D only; with use_kernels=None a run still steps it on the array code."""
    from optimizers import OPTIMIZERS

    assert not OPTIMIZERS["lbfgs"].two_d_only and OPTIMIZERS["lbfgs"].array_only
    res = train(TrainConfig((get_optimizer("lbfgs", **SETTINGS["fixed"]),), hidden=HIDDEN, batch_size=BATCH,
                            steps=5, seed=SEED, dtype="float64", snapshots=2), embedded)
    ref = torch_lbfgs_run(embedded, SETTINGS["fixed"], 5)
    np.testing.assert_allclose(res.loss[0], ref[0], rtol=0, atol=1e-6)


# --- the MNIST page (streamlit AppTest) ----------------------------------------------------------


def test_the_page_offers_lbfgs_trains_it_and_counts_its_evaluations():
    from streamlit.testing.v1 import AppTest

    from tests.test_mnist_page import PAGE, TIMEOUT, W, finished, ok, results_table

    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state[W + "length"] = "steps"
    at.session_state[W + "steps"] = 4
    at.session_state[W + "hidden"] = 16
    ok(at.run())
    boxes = [b for b in at.selectbox if b.label == "optimizer"]
    assert "L-BFGS" in boxes[0].options
    assert not any("L-BFGS (" in c.value for c in at.caption)  # no longer in the 2-D-only note
    boxes[0].set_value("lbfgs")
    ok(at.run())
    at.number_input(key=W + "opt.0.lbfgs.max_iter").set_value(3)
    ok(at.run())
    at.button(key="mnist.train").click().run()
    at = finished(at)
    job = at.session_state["mnist.job"]
    assert job.config.optimizers[0] == get_optimizer("lbfgs", max_iter=3)
    res = job.finished.result
    table = results_table(at)
    assert table["loss evaluations"].tolist() == [int(res.n_evals[k].sum()) for k in range(len(res.labels))]
    assert table["loss evaluations"][0] > 4 and (table["loss evaluations"][1:] == 4).all()  # others: one a step
    assert not at.error


def test_the_page_caps_lbfgs_and_says_why():
    """The default L-BFGS counts as 2,095 optimizers at batch 64 (mnist.closure_rule.work_weight: 20
    evaluations and 20 x 100 two-loop passes a step): beside four others, 625 steps at H = 64 exceed
    the 732,421 optimizer-steps a job may take, so 348 run (about 0.9 s a step at H = 64 here)."""
    from streamlit.testing.v1 import AppTest

    from mnist.closure_rule import work_weight
    from tests.test_mnist_page import PAGE, TIMEOUT, W, ok
    from ui import mnist_limits as limits

    assert work_weight(get_optimizer("lbfgs"), 64) == 11 * 20 + 60 * 20 * 100 // 64 == 2095
    assert work_weight(get_optimizer("adam"), 64) == 1
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.session_state[W + "length"] = "steps"
    at.session_state[W + "steps"] = 625
    ok(at.run())
    assert not any("L-BFGS" in w.value for w in at.warning)
    [b for b in at.selectbox if b.label == "optimizer"][0].set_value("lbfgs")
    ok(at.run())
    expected = limits.max_optimizer_steps(64, 64) // (2095 + 4)
    notes = [w.value for w in at.warning if "L-BFGS" in w.value]
    assert expected == 348 and len(notes) == 1 and "training 348 steps" in notes[0] and "max_iter" in notes[0], notes


def test_the_lr_sweep_counts_lbfgs_by_its_weight():
    """A sweep of 8 L-BFGS lrs at H = 64 weighs 8 x 2,095: 1,000 steps become 43 (732,421 // 16,760)."""
    from tests.test_mnist_page import ok, page

    at = page(hidden=64, **{"mnist.w.sweep.k": 8, "mnist.w.sweep.steps": 1000})
    [b for b in at.selectbox if b.label == "optimizer"][0].set_value("lbfgs")
    ok(at.run())
    notes = [w.value for w in at.warning if "learning rates" in w.value and "1,000 steps" in w.value]
    assert len(notes) == 1 and "training 43 steps" in notes[0], [w.value for w in at.warning]
