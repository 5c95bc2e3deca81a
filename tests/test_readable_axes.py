"""Axes readable from the back of a lecture hall: log axes label decades (or 1, 2, 5 within a
short range, every label at full size), never every digit, and no more labels than the axis's
height holds; the MNIST accuracy axis zooms to 90-100 % once all are there."""

from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest

from optimizers import get_optimizer, run
from plots import mnist, online, series
from plots.ticks import log_ticks, readable_log_axes, tick_text
from surfaces import get_surface


def log_axes(fig) -> dict:
    layout = fig["layout"] if isinstance(fig, dict) else fig.to_plotly_json()["layout"]
    return {name: axis for name, axis in layout.items() if name[1:5] == "axis" and axis.get("type") == "log"}


def one_two_five(axis) -> bool:
    return "tickvals" in axis and {round(v / 10 ** np.floor(np.log10(v) + 1e-9)) for v in axis["tickvals"]} <= {1, 2, 5}


@pytest.mark.parametrize(("span", "ticks"), [(0.3, {}), (3.0, {"dtick": 1, "tick0": 0}), (8.0, {"dtick": 1, "tick0": 0}),
                                             (16.0, {"dtick": 2, "tick0": 0}), (30.0, {"dtick": 4, "tick0": 0})])
def test_ticks_by_span(span, ticks):
    assert log_ticks(-span, 0.0) == ticks


def test_short_spans_label_one_two_five_at_full_size():
    ticks = log_ticks(-3.2, -1.1)  # 6.3e-4 .. 0.079
    assert ticks["tickvals"] == pytest.approx([1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2])
    assert ticks["ticktext"] == ["0.001", "0.002", "0.005", "0.01", "0.02", "0.05"]
    assert [tick_text(v) for v in (2e-5, 1e5, 50.0)] == ["2×10<sup>−5</sup>", "10<sup>5</sup>", "50"]
    # a short axis holds fewer labels: whole decades instead
    assert log_ticks(-3.2, -1.1, max_labels=3) == {"dtick": 1, "tick0": 0}


def test_a_constant_gets_one_decade_around_it():
    fig = {"data": [{"type": "scatter", "y": np.full(5, 0.3)}], "layout": {"yaxis": {"type": "log"}}}
    axis = readable_log_axes(fig)["layout"]["yaxis"]
    assert axis["range"] == pytest.approx([np.log10(0.3) - 0.5, np.log10(0.3) + 0.5])
    assert axis["ticktext"] == ["0.1", "0.2", "0.5"]


def test_labels_fit_the_axis_height():
    fig = {"data": [{"type": "scatter", "y": np.geomspace(1e-6, 1, 5)}],
           "layout": {"height": 200, "margin": {"t": 10, "b": 50}, "yaxis": {"type": "log"}}}
    axis = readable_log_axes(fig)["layout"]["yaxis"]  # 140 px: three labels of 16 px, 2.5 heights apart
    assert axis["dtick"] == 2


@pytest.fixture(scope="module")
def res():
    return run(get_surface("rosenbrock"), [get_optimizer("sgd", lr=1e-3), get_optimizer("adam", lr=0.1)],
               np.array([[-1.5, 2.0]]), 1000, compiled=False)


def test_every_log_axis_of_the_2d_page_sets_its_ticks(res):
    figures = [series.loss_figure(res), series.distance_figure(res), series.grad_norm_figure(res),
               series.eff_lr_figure(res)]
    for fig in figures:
        axes = log_axes(fig)
        assert axes and all(axis.get("dtick") in (1, 2, 3) or one_two_five(axis) for axis in axes.values())
    # the loss: from 2.8 (SGD) down to 6.6e-7 (Adam): about 7 decades on 260 px, every second one labelled
    assert log_axes(figures[0])["yaxis"]["dtick"] == 2
    # effective lr of Adam and SGD: within two decades, on subplots too short for 1, 2 and 5 of each
    assert {axis.get("dtick") for axis in log_axes(figures[3]).values()} == {1}


def test_an_explicit_range_decides_the_span(res):
    fig = {"data": [{"type": "scatter", "y": np.geomspace(1e-10, 1, 5)}],
           "layout": {"yaxis": {"type": "log", "range": [-1, 0.5]}}}
    assert one_two_five(readable_log_axes(fig)["layout"]["yaxis"])
    fixed = {"data": fig["data"], "layout": {"yaxis": {"type": "log", "tickvals": [1e-3, 1]}}}
    assert "dtick" not in readable_log_axes(fixed)["layout"]["yaxis"]


def test_subplots_and_figures_with_a_log_x_axis():
    fig = go.Figure()
    fig.add_scatter(x=np.arange(1, 20_001), y=np.ones(20_000))
    fig.add_scatter(x=[1, 2], y=[1e-3, 1e3], yaxis="y2")
    fig.update_layout(xaxis={"type": "log"}, yaxis2={"type": "log", "overlaying": "y"})
    axes = log_axes(readable_log_axes(fig))
    assert axes["xaxis"]["dtick"] == 1 and axes["yaxis2"]["dtick"] == 1


def test_online_page_step_axis():
    from online import get_problem, paper_optimizers, run_online
    problem = get_problem(C=3.0)
    res = run_online(problem, paper_optimizers(problem, 0.1), steps=2000)
    axes = log_axes(online.eff_lr_figure(res))
    assert axes["xaxis"]["dtick"] == 1  # steps 1..2000: 3.3 decades


def train_result(acc, diverged=None):
    acc = np.asarray(acc, dtype=float)
    k, e = acc.shape
    return SimpleNamespace(labels=tuple(f"opt {i}" for i in range(k)), eval_steps=np.arange(e) * 10,
                           val_acc=acc / 100, diverged_at=np.full(k, -1) if diverged is None else np.array(diverged),
                           steps_done=10 * e, loss=np.ones((k, 10 * e)))


def accuracy_range(result, **kw):
    return tuple(mnist.accuracy_figure(result, **kw)["layout"]["yaxis"]["range"])


def test_accuracy_zooms_once_every_optimizer_is_above_90():
    climbing = [[10, 80, 91, 96], [12, 85, 93, 97.5]]
    assert accuracy_range(train_result(climbing)) == (90, 100.5)
    assert accuracy_range(train_result(climbing), full_range=True) == (0, 100.5)
    behind = [[10, 80, 91, 96], [12, 40, 60, 89.9]]
    assert accuracy_range(train_result(behind)) == (0, 100.5)


def test_accuracy_zoom_reads_the_latest_evaluated_point():
    """Columns not evaluated yet are NaN: the latest finite value counts; an optimizer with none keeps the full axis."""
    assert accuracy_range(train_result([[10, 95, np.nan], [10, 92, np.nan]])) == (90, 100.5)
    assert accuracy_range(train_result([[10, 95, 96], [np.nan, np.nan, np.nan]])) == (0, 100.5)


def test_accuracy_axis_title_and_ticks():
    zoomed = mnist.accuracy_figure(train_result([[95, 96]]))["layout"]["yaxis"]
    assert "90–100 % shown" in zoomed["title"]["text"] and zoomed["dtick"] == 2
    full = mnist.accuracy_figure(train_result([[95, 96]]), full_range=True)["layout"]["yaxis"]
    assert full["title"]["text"] == "validation accuracy (%)" and full["dtick"] == 10
    assert zoomed["uirevision"] != full["uirevision"]


def test_mnist_log_axes():
    result = train_result([[50, 90]])
    result.loss = np.geomspace(2.3, 0.05, 20)[None]
    axes = log_axes(mnist.loss_figure(result))
    assert one_two_five(axes["yaxis"])  # 2.3 to 0.05: 1.7 decades
    lrs = np.geomspace(1e-1, 1e-5, 50)[None]
    assert log_axes(mnist.schedule_figure(lrs, ["sgd"]))["yaxis"]["dtick"] == 1
