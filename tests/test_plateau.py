"""ReduceLROnPlateau against torch.optim.lr_scheduler.ReduceLROnPlateau.

On a fixed metric sequence (plateau_step, one call per metric) and in an MNIST run against a
torch.nn loop that steps torch's scheduler with its own validation loss at the trainer's
evaluation steps.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mnist import data as mnist
from mnist.mlp import Layout, init_params
from mnist.train import TrainConfig, batch_indices, cadence, eval_subset, train
from optimizers import get_optimizer, get_schedule, run, run_final
from optimizers.schedules import SCHEDULES, plateau_start, plateau_step
from surfaces import get_surface

METRICS = [1.0, 0.9, 0.95, 0.95, 0.9, 0.91, 0.899, 0.8999, 0.9, 1.2, math.nan, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4999,
           0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]
SETTINGS = [
    {},
    {"patience": 0},
    {"patience": 1, "factor": 0.5, "cooldown": 2},
    {"patience": 2, "factor": 0.3, "threshold": 0.05, "threshold_mode": "abs"},
    {"mode": "max", "patience": 1, "factor": 0.5},
    {"mode": "max", "patience": 0, "threshold": 0.01, "threshold_mode": "abs", "cooldown": 1},
    {"patience": 0, "factor": 0.1, "min_lr": 0.004},
    {"patience": 0, "factor": 0.9, "eps": 0.02},  # drops of less than eps are skipped
]


@pytest.mark.parametrize("params", SETTINGS, ids=str)
def test_plateau_step_matches_torch_on_a_metric_sequence(params):
    lr = 0.1
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **params)
    full = dict(get_schedule("plateau", **params).params)
    state = plateau_start(lr, full)
    for i, metric in enumerate(METRICS * 2):
        ref.step(metric)
        state = plateau_step(state, metric, full)
        assert state.lr == opt.param_groups[0]["lr"], f"after metric {i}"
        assert state.num_bad == ref.num_bad_epochs and state.cooldown_counter == ref.cooldown_counter


def test_defaults_and_validation_follow_torch():
    defaults = dict(get_schedule("plateau").params)
    assert defaults == {"mode": "min", "factor": 0.1, "patience": 10, "threshold": 1e-4, "threshold_mode": "rel",
                        "cooldown": 0, "min_lr": 0.0, "eps": 1e-8}
    with pytest.raises(ValueError, match=r"factor=1.0 is outside the allowed range \[0, 1\)"):
        get_schedule("plateau", factor=1.0)
    with pytest.raises(ValueError, match="mode='up' is not allowed"):
        get_schedule("plateau", mode="up")
    with pytest.raises(ValueError, match="threshold_mode"):
        get_schedule("plateau", threshold_mode="relative")
    with pytest.raises(ValueError, match="patience"):
        get_schedule("plateau", patience=-1)
    assert SCHEDULES["plateau"].torch_class == "ReduceLROnPlateau"


def test_the_2d_runners_refuse_it_by_name():
    config = get_optimizer("sgd", lr=1e-3, schedule="plateau")
    for runner in (run, run_final):
        with pytest.raises(ValueError, match="plateau follows the validation loss"):
            runner(get_surface("rosenbrock"), config, steps=10)


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def torch_plateau_run(data, hidden, batch_size, steps, seed, lr, params, eval_at, subset):
    """torch.nn + SGD + ReduceLROnPlateau stepped with the validation loss after each of eval_at's
    steps (not 0): (lr of every step [T], flat params)."""
    layout = Layout(hidden)
    net = torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)).double()
    net.load_state_dict({k: torch.tensor(np.ascontiguousarray(v), dtype=torch.float64)
                         for k, v in layout.torch_state(init_params(hidden, seed, "float64")).items()})
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **params)
    x, y = torch.tensor(np.asarray(data.x_train, np.float64)), torch.tensor(data.y_train)
    xv = torch.tensor(np.asarray(data.x_val, np.float64)[subset])
    yv = torch.tensor(np.asarray(data.y_val)[subset])
    lrs = []
    for t in range(steps):
        idx = torch.as_tensor(batch_indices(len(x), batch_size, seed, t))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if t + 1 in eval_at:
            with torch.no_grad():
                sched.step(torch.nn.functional.cross_entropy(net(xv), yv).item())
    w1, b1, w2, b2 = (p.detach().numpy() for p in net.parameters())
    return np.array(lrs), np.concatenate([w1.T.ravel(), b1, w2.T.ravel(), b2])


@pytest.mark.parametrize("backend", ["numpy", "numpy-compiled", "torch"])
def test_mnist_run_matches_torch_scheduler(embedded, float64, backend):
    """A high lr, so the validation loss stalls and the lr drops several times within 150 steps."""
    hidden, batch_size, steps, seed, lr = 32, 64, 150, 2, 0.5
    params = {"patience": 1, "factor": 0.5, "threshold": 0.02, "cooldown": 1}
    eval_every, eval_size = 10, 500
    config = TrainConfig((get_optimizer("sgd", lr=lr, momentum=0.9, schedule=("plateau", params)),
                          get_optimizer("sgd", lr=lr, momentum=0.9)),
                         hidden=hidden, batch_size=batch_size, steps=steps, seed=seed, backend=backend.split("-")[0],
                         dtype="float64", eval_every=eval_every, eval_size=eval_size, snapshots=2)
    res = train(config, embedded, use_kernels=backend.endswith("compiled"))
    eval_at = set(cadence(steps, eval_every).tolist()) - {0}
    subset = eval_subset(len(embedded.x_val), eval_size, seed)
    ref_lr, ref_params = torch_plateau_run(embedded, hidden, batch_size, steps, seed, lr, params, eval_at, subset)
    assert len(set(ref_lr)) >= 3  # it did drop, more than once
    np.testing.assert_array_equal(res.lr[0], ref_lr)
    np.testing.assert_array_equal(res.lr[1], np.full(steps, lr))
    np.testing.assert_allclose(res.final_params[0], ref_params, rtol=0, atol=1e-6)


def test_mnist_page_offers_it_and_draws_the_lr_used_and_the_sparsity(monkeypatch, tmp_path):
    """The MNIST panel's schedule choices hold it (the 2-D page's do not: test_l1's app test); a run
    with it and with L1 draws the lr each step used and the sparsity of the weights."""
    import json
    import time
    from pathlib import Path

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from ui import mnist_jobs

    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    st.cache_resource.clear()
    mnist_jobs.forget_runs()
    w = "mnist.w."
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "ui" / "mnist_page.py"), default_timeout=60)
    at.session_state[w + "length"] = "steps"
    at.session_state[w + "steps"] = 60
    at.session_state[w + "hidden"] = 16
    at.run()
    assert not at.exception
    (box,) = [b for b in at.selectbox if b.key == w + "opt.0.schedule"]
    assert SCHEDULES["plateau"].title in box.options
    box.set_value("plateau").run()
    assert {f"{w}opt.0.sched.plateau.{name}" for name in ("patience", "factor", "threshold_mode", "min_lr")} <= {
        e.key for e in [*at.number_input, *at.selectbox, *at.slider, *at.select_slider]}
    (patience,) = [e for e in at.number_input if e.key == f"{w}opt.0.sched.plateau.patience"]
    patience.set_value(0).run()
    (l1,) = [e for e in at.number_input if e.key == f"{w}opt.1.l1"]
    l1.set_value(1e-3).run()
    at.button(key="mnist.train").click().run()
    assert not at.exception
    job = at.session_state["mnist.job"]
    first, second = job.config.optimizers[:2]
    assert first.schedule.name == "plateau" and dict(first.schedule.params)["patience"] == 0
    assert second.l1 == 1e-3
    deadline = time.monotonic() + 120
    while job.running:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    at.run()
    assert not at.exception
    figs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    roles = {t.get("meta", {}).get("role") for f in figs for t in f["data"]}
    assert "schedule" in roles  # the lr used
    sparsity = [f for f in figs if "weights at zero (%)" in json.dumps(f["layout"])]
    assert len(sparsity) == 1 and len(sparsity[0]["data"]) == 2 * len(job.config.optimizers)
    st.cache_resource.clear()
    mnist_jobs.forget_runs()
