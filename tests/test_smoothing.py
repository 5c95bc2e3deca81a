"""Smoothing of the results charts and a diverged run's honest end (#14).

The moving average is checked against its closed form, written out here as a weighted sum, and
against pandas' own ewm; the figures against the Result's arrays and that closed form; the page
(AppTest) for its default: smoothed when the gradients are noisy, raw when they are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from optimizers import get_optimizer, run
from plots.palette import DIVERGED
from plots.series import SPANS, ema, grad_norm_figure, loss_figure, smoothing_label, value_text
from surfaces import get_surface
from tests.test_app import array, component_data, ok, page, results_figures
from ui import i18n, state
from ui.charts import AUTO_SPAN, SMOOTHING_KEY
from ui.claims import result_of
from ui.presets import PRESETS


def closed_form(x: np.ndarray, span: float) -> np.ndarray:
    """y_t = sum_{i<=t} w^(t-i) x_i / sum_{i<=t} w^(t-i), w = 1 - 2/(span + 1), over the values
    present (NaN ones left out, and NaN where the input is NaN)."""
    w = 1 - 2 / (span + 1)
    out = np.full(len(x), np.nan)
    present = np.flatnonzero(~np.isnan(x))
    values = x[present]
    for j, t in enumerate(present):
        weights = w ** np.arange(j, -1, -1)
        out[t] = weights @ values[: j + 1] / weights.sum()
    return out


def roles(fig: dict, role: str, k: int | None = None) -> list[dict]:
    return [t for t in fig["data"] if t.get("meta", {}).get("role") == role
            and (k is None or t["meta"]["config"] == k)]


def annotation(fig: dict, name: str) -> dict:
    (note,) = [a for a in fig["layout"].get("annotations", []) if a.get("name") == name]
    return note


# --- the moving average ------------------------------------------------------------------------------


@pytest.mark.parametrize("span", [1, 2.5, 10, 50])
def test_ema_is_the_debiased_weighted_average(span):
    x = np.random.default_rng(0).lognormal(size=(3, 2, 80))
    smooth = ema(x, span)
    assert smooth.shape == x.shape
    for row, out in zip(x.reshape(-1, 80), smooth.reshape(-1, 80)):
        np.testing.assert_allclose(out, closed_form(row, span), rtol=1e-12)
        np.testing.assert_allclose(out, pd.Series(row).ewm(alpha=2 / (span + 1)).mean(), rtol=1e-12)
    assert np.array_equal(ema(x, 1), x)  # span 1: alpha 1, no smoothing
    assert smooth[..., 0].tolist() == x[..., 0].tolist()  # debiased: the first value is itself


def test_ema_keeps_missing_values_missing():
    x = np.array([1.0, 4.0, np.nan, np.nan, 2.0, 8.0, np.nan])
    smooth = ema(x, 3)
    assert np.isnan(smooth[[2, 3, 6]]).all()
    np.testing.assert_allclose(smooth, closed_form(x, 3), rtol=1e-12)


def test_a_blow_up_stays_infinite():
    """pandas drops an inf like a NaN and averages on as if nothing happened: a run that blew
    up would be smoothed back to finite values. From the inf on, the average is infinite."""
    x = np.array([1.0, 2.0, np.inf, 3.0, 4.0])
    assert np.isfinite(pd.Series(x).ewm(span=3).mean().to_numpy()[3:]).all()  # what pandas alone does
    smooth = ema(x, 3)
    np.testing.assert_allclose(smooth[:2], closed_form(x[:2], 3))
    assert smooth[2:].tolist() == [np.inf] * 3
    assert np.isnan(ema(np.array([1.0, np.inf, -np.inf, 1.0]), 3)[2:]).all()  # no sign to give


@pytest.mark.parametrize("span", [0, 0.5, -3, np.nan])
def test_ema_span_is_checked(span):
    with pytest.raises(ValueError, match="span"):
        ema(np.ones(5), span)


# --- the figures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisy():
    """Two SGD runs with gradient noise from one start."""
    configs = [get_optimizer("sgd", lr=0.5), get_optimizer("sgd", lr=0.1)]
    return run(get_surface("quadratic", condition=2.0), configs, starts=[[2.0, 1.0]], steps=120, noise=0.3)


def test_smoothed_lines_over_faint_raw_ones(noisy):
    fig = loss_figure(noisy, smooth=10)
    go.Figure(fig)  # a valid Plotly figure
    assert [t["meta"]["role"] for t in fig["data"]] == ["raw", "line"] * 2
    for k in range(2):
        (raw,), (line,) = roles(fig, "raw", k), roles(fig, "line", k)
        np.testing.assert_array_equal(raw["y"], noisy.loss[k, 0])
        np.testing.assert_allclose(line["y"], closed_form(noisy.loss[k, 0], 10), rtol=1e-12)
        assert line["meta"]["span"] == 10 and raw["showlegend"] is False and raw["hoverinfo"] == "skip"
        assert raw["line"]["width"] < line["line"]["width"] and raw["line"]["color"].startswith("rgba(")
    assert annotation(fig, "smoothing")["text"] == "EMA, span 10 steps"
    gn = grad_norm_figure(noisy, smooth=5)
    np.testing.assert_allclose(roles(gn, "line", 1)[0]["y"], closed_form(noisy.grad_norm[1, 0], 5), rtol=1e-12)
    assert annotation(gn, "smoothing")["text"] == smoothing_label(5) == "EMA, span 5 steps"
    plain = loss_figure(noisy)
    assert not roles(plain, "raw") and "annotations" not in plain["layout"]
    np.testing.assert_array_equal(roles(plain, "line", 0)[0]["y"], noisy.loss[0, 0])


def test_a_swarm_smooths_each_start_then_takes_the_median():
    res = result_of(PRESETS["schedule"].config)
    fig = loss_figure(res, smooth=10)
    per_start = np.array([closed_form(row, 10) for row in res.loss[1]])  # [N, T+1]
    (median,), (band,), (raw,) = roles(fig, "median", 1), roles(fig, "band", 1), roles(fig, "raw", 1)
    np.testing.assert_allclose(median["y"], np.median(per_start, axis=0), rtol=1e-10)
    t1 = res.shape[2] + 1
    np.testing.assert_allclose(band["y"][:t1], np.percentile(per_start, 90, axis=0), rtol=1e-10)
    np.testing.assert_allclose(raw["y"], np.median(res.loss[1], axis=0))
    # smoothing tames the step-to-step noise of the median line more than threefold
    rough = lambda y: np.std(np.diff(np.log10(np.asarray(y)[50:])))  # noqa: E731
    assert rough(median["y"]) < rough(raw["y"]) / 3


@pytest.mark.parametrize("smooth", [None, 10])
def test_the_divergence_preset_shows_the_blow_up(smooth):
    """lr 2.2 reaches 5.4e11 before it leaves the bounds: the loss axis goes up to it, an x marks
    it and the value is written beside it, smoothed or not."""
    res = result_of(PRESETS["divergence"].config)
    k = 3
    s = int(res.stop_index()[k, 0])
    last = res.loss[k, 0, s]
    assert res.diverged_at[k, 0] == 71 and f"{last:.2g}" == "5.4e+11"
    fig = loss_figure(res, smooth=smooth)
    go.Figure(fig)
    (marker,) = roles(fig, "diverged", k)
    assert (marker["x"], marker["y"]) == ([s], [last]) and marker["marker"]["color"] == DIVERGED
    low, high = fig["layout"]["yaxis"]["range"]
    assert low < np.log10(res.loss[1, 0].min()) and np.log10(last) < high
    note = annotation(fig, "diverged")
    assert note["text"] == "5.4×10<sup>11</sup>" and note["x"] == s and note["y"] == pytest.approx(np.log10(last))
    (line,) = roles(fig, "line", k)
    assert len(line["y"]) == s + 1 and max(roles(fig, "raw", k)[0]["y"] if smooth else line["y"]) == last
    if smooth:
        assert np.isfinite(line["y"]).all() and line["y"][-1] > 1e11  # the average rises with it


def test_a_linear_axis_names_the_value_at_its_edge():
    """On a saddle (no minimum: linear axis) the range fits the run that did not diverge, and the
    diverged one's last value is written at the bottom edge it leaves by."""
    res = run(get_surface("saddle"), [get_optimizer("sgd", lr=0.05), get_optimizer("sgd", lr=0.2)],
              starts=[[-2.0, 1e-3]], steps=100)
    s = int(res.stop_index()[1, 0])
    last = res.loss[1, 0, s]
    assert res.diverged_at[1, 0] == 62 and f"{last:.2g}" == "-6.7e+11"
    fig = loss_figure(res)
    low, high = fig["layout"]["yaxis"]["range"]
    assert low > last and low <= res.loss[0, 0].min()
    note = annotation(fig, "diverged")
    assert note["yref"] == "y domain" and note["y"] == 0 and note["text"] == "↓ −6.7×10<sup>11</sup>"
    assert note["yanchor"] == "bottom" and note["yshift"] > 0  # inside the plot area, clear of the x-axis line
    assert note["x"] == s and not roles(fig, "raw")


@pytest.mark.parametrize(("value", "text"), [
    (5.412e11, "5.4×10<sup>11</sup>"), (-1.04e12, "−1.0×10<sup>12</sup>"), (1.0e-7, "1.0×10<sup>−7</sup>"),
    (0.0069, "0.0069"), (12345.0, "1.2e+04"), (0.0, "0"),
])
def test_value_text(value, text):
    assert value_text(value) == text


# --- the page ----------------------------------------------------------------------------------------


def test_every_offered_span_is_labelled_in_chinese():
    phrases = i18n.catalogue("zh")["phrases"]
    for span in SPANS:
        assert phrases[smoothing_label(span)] == f"EMA，跨度 {span} 步"
    assert AUTO_SPAN in SPANS


def _smoothing_notes(at) -> list[str]:
    (loss, _, grad_norm) = results_figures(at)
    return [a["text"] for fig in (loss, grad_norm) for a in fig["layout"].get("annotations", [])
            if a.get("name") == "smoothing"]


def test_the_page_smooths_noisy_runs_by_default_and_the_control_turns_it_off():
    query = {"surface": "quadratic", "opt": ["sgd~lr:0.5"], "start": "2,1", "steps": "80"}
    at = ok(page(query))
    assert _smoothing_notes(at) == []  # noise-free: every wiggle is real, drawn as it is
    at = ok(page({**query, "noise": "0.3"}))
    assert _smoothing_notes(at) == ["EMA, span 10 steps"] * 2
    loss = results_figures(at)[0]
    (line,) = [t for t in loss["data"] if t["meta"]["role"] == "line"]
    res = run(get_surface("quadratic"), get_optimizer("sgd", lr=0.5), starts=[[2.0, 1.0]], steps=80, noise=0.3)
    np.testing.assert_allclose(array(line["y"]), closed_form(res.loss[0, 0], 10), rtol=1e-12)
    assert _map_loss_spans(at) == {10}  # the loss chart beside the map follows the same control
    at.selectbox(key=SMOOTHING_KEY).select(50)
    assert _smoothing_notes(ok(at.run())) == ["EMA, span 50 steps"] * 2
    assert _map_loss_spans(at) == {50}
    at.selectbox(key=SMOOTHING_KEY).select(0)
    assert _smoothing_notes(ok(at.run())) == []
    assert _map_loss_spans(at) == set()


def _map_loss_spans(at) -> set:
    """The EMA spans of the map component's loss chart's smoothed traces."""
    return {t["meta"]["span"] for t in component_data(at)["loss"]["data"] if "span" in (t.get("meta") or {})}


def test_the_schedule_preset_opens_smoothed_in_chinese():
    at = ok(page({"lang": "zh", "preset": "schedule", **state.encode(PRESETS["schedule"].config)}))
    assert _smoothing_notes(at) == ["EMA，跨度 10 步"] * 2
    assert at.selectbox(key=SMOOTHING_KEY).label == "损失与梯度范数图的平滑"
