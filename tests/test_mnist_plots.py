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
    order = [t["meta"]["role"] for t in eff["data"]]
    assert order == ["band"] * len(medians) + ["median"] * len(medians)  # no band drawn over a line
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


# --- the landscape: coinciding paths told apart -----------------------------------------------------


@pytest.fixture(scope="module")
def twins():
    """SGD twice with the same settings (the same seed: the same weights and batches), Adam between."""
    from mnist.landscape import loss_landscape

    data = mnist.load_embedded()
    opts = (get_optimizer("sgd", lr=0.05), get_optimizer("adam", lr=1e-3), get_optimizer("sgd", lr=0.05))
    res = train(TrainConfig(opts, hidden=16, batch_size=32, steps=40), data, use_kernels=False)
    return res, loss_landscape(res, data.x_val, data.y_val, resolution=9, n_images=100)


def _pixels(land, k: int) -> np.ndarray:
    """Configuration k's snapshots in pixels of a LANDSCAPE_DRAWN_PX square plot area."""
    from plots.mnist import LANDSCAPE_DRAWN_PX

    lo, hi = np.array([land.a[0], land.b[0]]), np.array([land.a[-1], land.b[-1]])
    return (land.paths[k] - lo) / (hi - lo) * LANDSCAPE_DRAWN_PX


def test_identical_configurations_get_their_own_dash_and_the_note(twins):
    from plots.mnist import landscape_figure
    from ui.i18n import catalogue

    res, land = twins
    np.testing.assert_array_equal(land.paths[0], land.paths[2])  # the reference: one path, twice
    zh = catalogue("zh")["map"]["same_path"]
    fig = landscape_figure(land, res, note=lambda first: zh.format(label=first))
    go.Figure(fig)
    paths = {t["meta"]["config"]: t for t in traces(fig, "path")}
    np.testing.assert_array_equal(paths[2]["x"], land.paths[2][:, 0])
    dashes = [paths[k]["line"].get("dash", "solid") for k in (0, 2)]
    assert dashes[0] == "solid" and dashes[1] not in ("solid", None), dashes
    # its dashed line alone, so that the first path's markers show along it; an open end marker
    assert paths[0]["mode"] == "lines+markers" and paths[2]["mode"] == "lines"
    assert paths[2]["meta"]["same_as"] == 0 and "same_as" not in paths[0]["meta"]
    assert paths[2]["name"] == f"3. {res.labels[2]} — 与 1. {res.labels[0]} 路径相同"
    assert paths[0]["name"] == f"1. {res.labels[0]}" and paths[1]["name"] == f"2. {res.labels[1]}"
    ends = {t["meta"]["config"]: t for t in traces(fig, "end")}
    assert ends[2]["marker"]["symbol"].endswith("-open") and ends[2]["marker"]["size"] > ends[0]["marker"]["size"]


def test_different_configurations_get_no_note(twins):
    from plots.mnist import landscape_figure

    res, land = twins
    gap = np.hypot(*(_pixels(land, 0) - _pixels(land, 1)).T).max()
    assert gap > 10, gap  # SGD's and Adam's paths lie visibly apart on the plot
    fig = landscape_figure(land, res)
    paths = traces(fig, "path")
    assert [t["name"] for t in paths[:2]] == [f"1. {res.labels[0]}", f"2. {res.labels[1]}"]
    assert not any("same path" in t["name"] for t in paths[:2])
    assert all("same_as" not in t["meta"] and "dash" not in t["line"] for t in paths[:2])
    assert paths[2]["name"].endswith(f"same path as 1. {res.labels[0]}")  # the English note by default
