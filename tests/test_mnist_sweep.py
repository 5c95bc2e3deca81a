"""The MNIST learning-rate sweep (issue #16): the lr grid, the batched sweep against one training
per lr, its figure, and the page's sweep section driven with AppTest."""

from __future__ import annotations

import json
import time

import numpy as np
import plotly.graph_objects as go
import pytest
import streamlit as st

from mnist import data as mnist
from mnist import lr_sweep
from mnist.train import TrainConfig, train, train_stream
from optimizers import get_optimizer
from plots.mnist_sweep import sweep_figure
from tests.test_mnist_page import TIMEOUT, W, ok, page
from ui import mnist_jobs as jobs

S = W + "sweep."


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    st.cache_resource.clear()
    jobs.forget_runs()
    yield
    st.cache_resource.clear()
    jobs.forget_runs()


@pytest.fixture(scope="module")
def embedded():
    return mnist.load_embedded()


def test_lr_grid_is_log_spaced_and_checked():
    assert lr_sweep.lr_grid(1e-4, 1.0, 5) == (1e-4, 1e-3, 1e-2, 0.1, 1.0)
    grid = lr_sweep.lr_grid(3e-4, 0.3, 12)
    assert len(grid) == 12 and grid[0] == 3e-4 and grid[-1] == 0.3
    np.testing.assert_allclose(np.diff(np.log(grid)), np.log(1000) / 11, rtol=1e-2)
    for bad, match in (((1e-3, 1e-3, 4), "lowest < highest"), ((0.0, 1.0, 4), "lowest < highest"),
                       ((1e-3, 1.0, 1), "allowed 2 to 12"), ((1e-3, 1.0, 13), "allowed 2 to 12"),
                       ((1e-3, 1.0005e-3, 12), "too narrow")):
        with pytest.raises(ValueError, match=match):
            lr_sweep.lr_grid(*bad)


def test_sweep_keeps_the_other_hyperparameters():
    base = get_optimizer("sgd", lr=0.1, momentum=0.9, nesterov=True, schedule=("cosine", {}))
    opts = lr_sweep.sweep_optimizers(base, 1e-3, 1.0, 4)
    assert [o.lr for o in opts] == [1e-3, 1e-2, 0.1, 1.0]
    for o in opts:
        assert {k: v for k, v in o.hparams if k != "lr"} == {k: v for k, v in base.hparams if k != "lr"}
        assert o.schedule == base.schedule and o.name == "sgd"
    with pytest.raises(ValueError, match="lr"):
        lr_sweep.sweep_optimizers(base, 1e-3, 1e6, 4)  # beyond sgd's allowed lr


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_sweep_equals_one_training_per_lr(embedded, backend):
    """The batched sweep against K = 1 trainings at the same lr and seed: the same numbers."""
    opts = lr_sweep.sweep_optimizers(get_optimizer("adam", lr=1e-3, betas=(0.8, 0.99)), 1e-4, 0.3, 5)
    common = dict(hidden=16, batch_size=32, steps=40, seed=3, eval_every=8, backend=backend)
    sweep = train(TrainConfig(opts, **common), embedded, use_kernels=False)
    p = lr_sweep.points(sweep)
    assert p.final and p.step == 40
    for k, opt in enumerate(opts):
        alone = train(TrainConfig((opt,), **common), embedded, use_kernels=False)
        # the same parameters bit for bit; losses up to the order of the evaluation's sums
        np.testing.assert_array_equal(sweep.final_params[k], alone.final_params[0], err_msg=f"lr {opt.lr}")
        for name in ("loss", "val_loss", "val_acc"):
            np.testing.assert_allclose(getattr(sweep, name)[k], getattr(alone, name)[0], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name} at lr {opt.lr}")
        np.testing.assert_allclose(p.val_loss[k], alone.final_val_loss[0], rtol=1e-12)
        np.testing.assert_array_equal(p.val_acc[k], alone.final_val_acc[0])
    assert lr_sweep.best(p) == int(np.nanargmin(sweep.final_val_loss))


def test_points_of_a_streamed_result_are_the_latest_evaluation(embedded):
    opts = lr_sweep.sweep_optimizers(get_optimizer("sgd", lr=0.1), 1e-3, 1e3, 7)  # the top ones diverge
    config = TrainConfig(opts, hidden=16, batch_size=32, steps=30, eval_every=10)
    streamed = list(train_stream(config, embedded, every=10))
    partial = lr_sweep.points(streamed[1])  # after 10 steps
    assert not partial.final and partial.step == 10
    np.testing.assert_array_equal(partial.val_loss, streamed[1].val_loss[:, -1])
    final = lr_sweep.points(streamed[-1])
    assert not final.diverged[0] and final.diverged[-1]
    np.testing.assert_array_equal(np.isnan(final.val_loss), final.diverged)
    assert not final.diverged[lr_sweep.best(final)]


def test_sweep_figure_marks_the_best_and_the_diverged():
    p = lr_sweep.Points(lrs=np.array([1e-3, 1e-2, 0.1, 1.0]), val_loss=np.array([0.9, 0.4, 0.6, np.nan]),
                        val_acc=np.array([0.7, 0.9, 0.85, np.nan]), diverged=np.array([False, False, False, True]),
                        step=300, final=True)
    best = lr_sweep.best(p)
    assert best == 1
    fig = sweep_figure(p, best, "Final")
    go.Figure(fig)  # valid Plotly
    by_role = {}
    for t in fig["data"]:
        by_role.setdefault(t["meta"]["role"], []).append(t)
    assert len(by_role["sweep"]) == 2 and len(by_role["best"]) == 2 and len(by_role["diverged"]) == 2
    assert [t["x"] for t in by_role["best"]] == [[0.01], [0.01]]
    assert by_role["best"][1]["y"] == [90.0]
    assert fig["layout"]["xaxis"]["type"] == "log" and fig["layout"]["xaxis2"]["type"] == "log"
    assert by_role["diverged"][0]["y"][0] > 0.9  # above every finite loss
    assert sweep_figure(p, None)["layout"]["shapes"] == []


def figures(at):
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def sweep_roles(at) -> set[str]:
    return {t["meta"]["role"] for f in figures(at) for t in f["data"]
            if t.get("meta", {}).get("role") in ("sweep", "best", "diverged")}


def wait(job, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while job.running:
        assert time.monotonic() < deadline, job.phase
        time.sleep(0.05)


def test_page_sweep_runs_draws_and_loads_the_best_lr():
    at = page(hidden=16, **{S + "k": 4, S + "steps": 60, S + "lr_low": 1e-3, S + "lr_high": 1.0})
    assert not at.button(key="mnist.sweep.run").disabled
    assert any("Learning rates 0.001, 0.01, 0.1, 1" in c.value for c in at.caption)
    ok(at.button(key="mnist.sweep.run").click().run())
    job = at.session_state["mnist.sweep.job"]
    assert [o.lr for o in job.config.optimizers] == [1e-3, 1e-2, 0.1, 1.0] and job.config.steps == 60
    assert job.config.optimizers[0].name == "sgd"  # the first panel: SGD (lr=0.1)
    wait(job)
    ok(at.run())
    assert {"sweep", "best"} <= sweep_roles(at)
    (table,) = [d.value for d in at.dataframe if "val. loss" in d.value.columns and "lr" in d.value.columns]
    res = job.finished.result
    np.testing.assert_allclose(table["val. loss"], res.final_val_loss)
    best = job.config.optimizers[int(np.nanargmin(res.final_val_loss))].lr
    assert any(f"Best lr {best:g}" in m.value for m in at.markdown)
    load = at.button(key="mnist.sweep.load")
    assert load.label == f"Use lr = {best:g} in optimizer 1"
    ok(load.click().run())
    assert at.session_state[W + "opt.0.sgd.lr"] == best
    assert at.number_input(key=W + "opt.0.sgd.lr").value == best


def test_page_sweep_live_view_and_one_job_per_session():
    at = page(hidden=64, **{S + "k": 12, S + "steps": 1000})
    ok(at.button(key="mnist.sweep.run").click().run())
    job = at.session_state["mnist.sweep.job"]
    try:
        assert job.running
        assert "sweep" in sweep_roles(at) and any("Live: validation subset" in f["layout"]["title"]["text"]
                                                  for f in figures(at) if f["layout"].get("title"))
        # the sweep is this session's running job: Train and another sweep wait for it
        assert at.button(key="mnist.train").disabled and at.button(key="mnist.sweep.run").disabled
        assert not at.button(key="mnist.sweep.stop").disabled
        ok(at.button(key="mnist.sweep.stop").click().run())
        wait(job)
    finally:
        job.stop.set()
        wait(job)
    ok(at.run())
    assert job.finished.result.stopped and not at.button(key="mnist.train").disabled
    assert any("Stopped after" in p.proto.text for p in at.get("progress"))
