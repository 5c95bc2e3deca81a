"""The MNIST page's live training figures: plain dicts that go.Figure accepts, holding the
TrainResult's own records, laid out as make_subplots would."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from mnist import data as mnist
from mnist.train import TrainConfig, train
from optimizers import get_optimizer
from plots.mnist import accuracy_figure, eff_lr_figure, grad_norm_figure, loss_figure, schedule_figure


@pytest.fixture(scope="module")
def result():
    opts = (get_optimizer("sgd", lr=0.05), get_optimizer("adam", lr=1e-3))
    return train(TrainConfig(opts, hidden=16, batch_size=32, steps=30), mnist.load_embedded(), use_kernels=False)


def traces(fig: dict, role: str) -> list[dict]:
    return [t for t in fig["data"] if t["meta"]["role"] == role]


@pytest.mark.parametrize("builder", [loss_figure, accuracy_figure, eff_lr_figure, grad_norm_figure])
def test_figures_are_valid_plotly(result, builder):
    fig = builder(result)
    assert isinstance(fig, dict)
    go.Figure(fig)  # raises on anything plotly.js would not take


def test_curves_hold_the_records(result):
    fig = loss_figure(result)
    np.testing.assert_array_equal(traces(fig, "raw")[1]["y"], result.loss[1])
    assert fig["layout"]["yaxis"]["type"] == "log"
    acc = accuracy_figure(result)
    np.testing.assert_array_equal(traces(acc, "accuracy")[0]["y"], 100 * result.val_acc[0])
    eff = eff_lr_figure(result)
    medians = traces(eff, "median")
    assert len(medians) == 2 * len(result.layer_names) and len(traces(eff, "band")) == len(medians)
    layer1 = [t for t in medians if t["meta"] == {"role": "median", "config": 1, "layer": 1}][0]
    assert layer1["xaxis"] == "x2" and layer1["yaxis"] == "y2"
    np.testing.assert_array_equal(layer1["y"], result.eff_lr[1, 1, 1])


def test_per_layer_layout_is_make_subplots(result):
    fig = grad_norm_figure(result)
    reference = make_subplots(rows=1, cols=2, subplot_titles=["First", "Second"], horizontal_spacing=0.1).layout
    for axis in ("xaxis", "xaxis2"):
        np.testing.assert_allclose(fig["layout"][axis]["domain"], reference[axis].domain)
    assert [a["text"] for a in fig["layout"]["annotations"]] == [n.capitalize() for n in result.layer_names]
    np.testing.assert_allclose([a["x"] for a in fig["layout"]["annotations"]],
                               [a.x for a in reference.annotations])


def test_schedule_figure():
    lrs = np.geomspace(1e-3, 1e-1, 50)[None].repeat(2, axis=0)
    fig = schedule_figure(lrs, ["a", "b"])
    go.Figure(fig)
    assert [t["name"] for t in fig["data"]] == ["1. a", "2. b"]
