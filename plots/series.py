"""Quantities against the step: loss, distance to the nearest minimum, gradient norm, effective lr.

The x axis is the point index s = 0..T (the number of updates made): loss, distance and gradient
norm are measured at theta_s; eff_lr and the scheduled lr at x = s belong to the update from
theta_s to theta_{s+1}, so a vertical line at the playback step marks the same moment in every
view. Log axes cannot show values <= 0: loss, distance and gradient norm are drawn as
max(value, FLOOR); learning rates <= 0 (a schedule reaching 0) leave gaps.

Smoothing (loss and gradient norm, `smooth` = an EMA span in steps): the debiased exponential
moving average `ema` (pandas' ewm, also the MNIST page's), drawn over the raw series kept faint,
with its span written on the chart. A diverged run is drawn up to its last finite value, the axis
extended to it, and marked there with an x and the value reached.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .contour import legend_label
from .palette import DIVERGED, FONT, LEGEND_ABOVE, OUTLINE, color, line, rgba, symbol
from .ticks import readable_log_axes

FLOOR = 1e-16
BAND = (10, 90)  # percentiles of the band drawn over many starts
SPANS = (5, 10, 20, 50)  # the EMA spans the 2-D page offers (ui/locales: a zh phrase for each label)
RAW_ALPHA = 0.3  # opacity of the raw series behind a smoothed line
# A band's fill and edge opacity. At 0.2 the fills of the first eight colours over white came as
# close as 5.1 CIEDE2000 units (magenta and violet); at 0.3 the closest pair is 7.7 apart and
# every fill 11 from white; the edge, in the configuration's line colour and dash, tells the bands
# apart where the fills mix (tests/test_plots.py).
BAND_ALPHA = 0.3
BAND_EDGE_ALPHA = 0.7


def ema(values: np.ndarray, span: float) -> np.ndarray:
    """Debiased exponential moving average along the last axis, alpha = 2 / (span + 1) (pandas'
    ewm(span, adjust=True): y_t = sum_i (1 - alpha)^(t - i) x_i / sum_i (1 - alpha)^(t - i), i <= t).
    values [..., T] -> [..., T].

    NaN (no value) stays NaN, and the later averages skip it as if it were not there (i counts the
    values present); from a +-inf on the average is infinite (pandas would skip it like a NaN, and a
    diverged run would look finite).
    """
    if not span >= 1:
        raise ValueError(f"ema: span={span!r} must be at least 1 (steps)")
    values = np.asarray(values, np.float64)
    flat = values.reshape(-1, values.shape[-1])
    smooth = pd.DataFrame(flat.T).ewm(span=span, adjust=True, ignore_na=True).mean().to_numpy().T
    with np.errstate(invalid="ignore"):  # inf + -inf: NaN, as the sum would be
        infinite = np.cumsum(np.where(np.isinf(flat), flat, 0.0), axis=1)  # +-inf, or NaN for both signs
    smooth = np.where(np.isinf(flat).cumsum(axis=1) > 0, infinite, smooth)
    return np.where(np.isnan(flat), np.nan, smooth).reshape(values.shape)


def smoothing_label(span: float) -> str:
    """The words on a smoothed chart: 'EMA, span 10 steps'."""
    return f"EMA, span {span:g} steps"


def _layout(height: int, step: int | None, **axes) -> dict:
    shapes = [] if step is None else [{
        "type": "line", "xref": "x", "yref": "paper", "x0": step, "x1": step, "y0": 0, "y1": 1,
        "line": {"color": "#333333", "width": 1.5, "dash": "dash"},
    }]
    grid = {"showgrid": True, "gridcolor": "#E5E5E5", "zeroline": False, "showline": True,
            "linecolor": "#444444", "ticks": "outside"}
    return {
        "height": height, "margin": {"l": 70, "r": 10, "t": 10, "b": 50}, "font": FONT,
        "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF", "hovermode": "x",
        "legend": LEGEND_ABOVE,
        "shapes": shapes,
        **{name: {**grid, **axis} for name, axis in axes.items()},
    }


def _line(x, y, k: int, name: str, **extra) -> dict:
    return {
        "type": "scatter", "x": x, "y": y, "name": name, "mode": "lines" if len(x) > 1 else "markers",
        "line": line(k), "marker": {"color": color(k), "size": 8, "symbol": symbol(k)},
        "legendgroup": f"config {k}", "hovertemplate": "%{y:.4g}", **extra,
    }


def series_figure(res, values: np.ndarray, title: str, *, step: int | None = None, log: bool = True,
                  height: int = 320, smooth: float | None = None) -> dict:
    """values [K, N, T+1] against the step, one colour per configuration.

    N == 1: one line per configuration (meta role "line") up to its stop point (res.stop_index()).
    N > 1: per configuration a 10–90 % band over the starts (role "band": a fill at BAND_ALPHA
    with a thin edge in the configuration's colour and dash), then, after all the bands so that
    no band covers a line, the median lines (role "median"; the frozen values after a stop count
    as they are held).
    smooth: an EMA span in steps (see ema), or None. Each start's series is smoothed (the band and
    median are then those of the smoothed series), the raw line or median drawn first, faint
    (role "raw"), the smoothed ones carry meta["span"], and the chart says the span (top right).
    log: log y axis, values drawn as max(value, FLOOR).
    A start 0 that diverged (N == 1): its last finite raw value is marked (trace role "diverged", an x)
    and written beside it. On a log axis the range reaches it; on a linear one the range fits the
    configurations that did not diverge (a value of 1e12 would flatten them into a line) and the
    value is written at the edge the run leaves by.
    """
    k_count, n, t, _ = res.shape
    x = np.arange(t + 1)
    if log:
        values = np.maximum(values, FLOOR)
    shown = values if smooth is None else ema(values, smooth)
    stop = res.stop_index()
    data, bands = [], []
    for k in range(k_count):
        name = legend_label(res, k)
        smoothed = {} if smooth is None else {"span": smooth}
        if n == 1:
            end = int(stop[k, 0]) + 1
            if smooth is not None:
                data.append(_raw(x[:end], values[k, 0, :end], k))
            data.append(_line(x[:end], shown[k, 0, :end], k, name, meta={"role": "line", "config": k, **smoothed}))
            continue
        if smooth is not None:
            data.append(_raw(x, np.median(values[k], axis=0), k))
        lo, mid, hi = np.percentile(shown[k], (BAND[0], 50, BAND[1]), axis=0)
        bands.append({
            "type": "scatter", "x": np.concatenate((x, x[::-1])), "y": np.concatenate((hi, lo[::-1])),
            "fill": "toself", "fillcolor": rgba(color(k), BAND_ALPHA), "mode": "lines",
            "line": {**line(k, 1), "color": rgba(color(k), BAND_EDGE_ALPHA)},
            "name": f"{name} {BAND[0]}–{BAND[1]} %", "legendgroup": f"config {k}", "showlegend": False,
            "hoverinfo": "skip", "meta": {"role": "band", "config": k, **smoothed},
        })
        data.append(_line(x, mid, k, f"{name} (median of {n})", meta={"role": "median", "config": k, **smoothed}))
    data = bands + data
    yaxis = {"title": {"text": title}, "type": "log" if log else "linear", "exponentformat": "power"}
    annotations = [] if smooth is None else [_note(smoothing_label(smooth))]
    calm = (res.diverged_at < 0).all(axis=1)  # [K] configurations none of whose starts diverged
    if not calm.all():
        yaxis["range"] = _padded_range(values if log or not calm.any() else values[calm], log)
    if n == 1:
        for k in np.flatnonzero(~calm).tolist():
            s = int(stop[k, 0])
            data.append(_diverged(s, values[k, 0, s], k))
            annotations.append(_reached(s, float(values[k, 0, s]), yaxis["range"], log))
    layout = _layout(height, step, xaxis={"title": {"text": "step"}}, yaxis=yaxis)
    if smooth is not None:
        layout["margin"]["t"] = NOTE_MARGIN
    if annotations:
        layout["annotations"] = annotations
    return readable_log_axes({"data": data, "layout": layout})


def _padded_range(values: np.ndarray, log: bool) -> list[float]:
    """[low, high] axis range around values with 5 % padding (in log10 units on a log axis)."""
    v = values[np.isfinite(values)]
    if log:
        v = np.log10(v)
    lo, hi = float(v.min()), float(v.max())
    pad = 0.05 * (hi - lo) or 0.5
    return [lo - pad, hi + pad]


def _raw(x, y, k: int) -> dict:
    """Configuration k's raw series behind its smoothed line: thin, faint, no hover, no legend."""
    return {"type": "scatter", "x": x, "y": y, "mode": "lines", "line": {"color": rgba(color(k), RAW_ALPHA), "width": 1},
            "name": "raw", "legendgroup": f"config {k}", "showlegend": False, "hoverinfo": "skip",
            "meta": {"role": "raw", "config": k}}


NOTE_MARGIN = 26  # px above a chart with a note: the note's line

def _note(text: str) -> dict:
    """Words right-aligned just above the plot area (in the top margin NOTE_MARGIN), off the lines."""
    return {"text": text, "xref": "paper", "yref": "paper", "x": 1, "y": 1, "xanchor": "right", "yanchor": "bottom",
            "showarrow": False, "font": {"size": 13, "color": "#333333"}, "name": "smoothing"}


def _diverged(s: int, value: float, k: int) -> dict:
    """The x at configuration k's last finite point (step s), as the map marks it."""
    return {"type": "scatter", "x": [s], "y": [value], "mode": "markers", "legendgroup": f"config {k}",
            "showlegend": False, "name": "diverged", "hovertemplate": "%{y:.4g}<extra></extra>",
            "marker": {"symbol": "x", "size": 12, "color": DIVERGED, "line": {"color": OUTLINE, "width": 1.5}},
            "meta": {"role": "diverged", "config": k}}


EDGE_GAP = 4  # px between an off-scale value's note and the plot area's edge (the axis line)


def _reached(s: int, value: float, axis_range: list[float], log: bool) -> dict:
    """The value a diverged run reached, written left of its x, or at the edge it leaves by when
    the axis range stops short of it (annotations outside the range are not drawn)."""
    note = {"text": value_text(value), "x": s, "xref": "x", "xanchor": "right", "showarrow": False, "xshift": -8,
            "font": {"size": 13, "color": DIVERGED}, "bgcolor": "rgba(255,255,255,0.85)",
            "name": "diverged"}
    y = float(np.log10(value)) if log else value
    if axis_range[0] <= y <= axis_range[1]:
        return {**note, "y": y, "yref": "y", "yanchor": "middle"}
    top = y > axis_range[1]
    return {**note, "text": ("↑ " if top else "↓ ") + note["text"], "y": 1 if top else 0, "yref": "y domain",
            "yanchor": "top" if top else "bottom", "yshift": -EDGE_GAP if top else EDGE_GAP}


def value_text(value: float) -> str:
    """A value to 2 significant digits, as a power of ten past 10^±4: '5.4×10<sup>11</sup>'."""
    if value == 0 or 1e-4 <= abs(value) < 1e5:
        return f"{value:.2g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.replace('-', '−')}×10<sup>{int(exponent)}</sup>".replace("<sup>-", "<sup>−")


def loss_figure(res, *, step: int | None = None, height: int = 320, smooth: float | None = None) -> dict:
    """Loss against the step, log y: f when the minimum value f* is 0, f − f* when f* is another
    known value, and f on a linear axis when the surface is unbounded below (saddles).
    smooth: an EMA span in steps, or None (series_figure)."""
    f_star = res.surface.min_value
    if f_star is None:
        return series_figure(res, res.loss, "loss f(θ)", step=step, log=False, height=height, smooth=smooth)
    if f_star == 0:
        return series_figure(res, res.loss, "loss f(θ)", step=step, height=height, smooth=smooth)
    return series_figure(res, res.loss - f_star, f"f(θ) − f*   (f* = {f_star:.4g})", step=step, height=height,
                         smooth=smooth)


def distance_to_target(res) -> tuple[np.ndarray, str]:
    """([K, N, T+1] distance of each point to the nearest known minimum, axis title).

    Without minima: to the nearest saddle point, else to the origin; the title says which."""
    surface = res.surface
    if surface.minima:
        targets, title = surface.minima, "distance to nearest minimum"
    elif surface.saddles:
        targets, title = surface.saddles, "distance to the saddle"
    else:
        targets, title = ((0.0, 0.0),), "distance to the origin"
    dist = None
    for tx, ty in targets:
        d = np.hypot(res.path[..., 0] - tx, res.path[..., 1] - ty)
        dist = d if dist is None else np.minimum(dist, d)
    return dist, title


def distance_figure(res, *, step: int | None = None, height: int = 320) -> dict:
    """Distance to the nearest minimum (or saddle/origin, see distance_to_target), log y."""
    dist, title = distance_to_target(res)
    return series_figure(res, dist, title, step=step, height=height)


def grad_norm_figure(res, *, step: int | None = None, height: int = 320, smooth: float | None = None) -> dict:
    """Norm of the full, noise-free gradient res.grad_norm against the step, log y; smooth: an EMA
    span in steps, or None (series_figure)."""
    return series_figure(res, res.grad_norm, "gradient norm ‖∇f(θ)‖", step=step, height=height, smooth=smooth)


def _positive(a: np.ndarray) -> np.ndarray:
    return np.where(a > 0, a, np.nan)


def eff_lr_figure(res, *, start: int = 0, step: int | None = None, height: int = 560) -> dict:
    """Effective learning rate per parameter against the step, next to the scheduled base lr.

    Two stacked subplots with a shared step axis, log y: parameter x on top (xaxis/yaxis),
    parameter y below (xaxis2/yaxis2). Per subplot and configuration k, in order: the solid
    line res.eff_lr[k, start, :stop, dim] (stop = res.stop_index()[k, start]; x = s is the update
    from theta_s) and the dotted line res.lr[k] over all T steps, legend "<label> scheduled lr".
    So 4K traces: [eff x, sched x] * K, then [eff y, sched y] * K; the legend comes from the top
    subplot. Values <= 0 are gaps (log axis).
    """
    k_count, _, t, _ = res.shape
    stop = res.stop_index()[:, start]
    steps = np.arange(t)
    data = []
    for dim, (xa, ya) in enumerate((("x", "y"), ("x2", "y2"))):
        for k in range(k_count):
            end = int(stop[k])
            label = legend_label(res, k)
            top = dim == 0
            data.append(_line(steps[:end], _positive(res.eff_lr[k, start, :end, dim]), k, label,
                              xaxis=xa, yaxis=ya, showlegend=top,
                              meta={"role": "eff_lr", "config": k, "dim": dim}))
            data.append({
                "type": "scatter", "x": steps, "y": _positive(res.lr[k]), "mode": "lines",
                "line": {"color": color(k), "width": 2, "dash": "dot"}, "name": f"{res.labels[k]} scheduled lr",
                "legendgroup": f"config {k}", "showlegend": top, "xaxis": xa, "yaxis": ya,
                "hovertemplate": "%{y:.4g}", "meta": {"role": "lr", "config": k, "dim": dim},
            })
    log = {"type": "log", "exponentformat": "power"}
    layout = _layout(
        height, step,
        xaxis={"domain": [0, 1], "anchor": "y", "matches": "x2", "showticklabels": False},
        # the line styles are named beside the chart (a long axis title is cut in a narrow column)
        xaxis2={"domain": [0, 1], "anchor": "y2", "title": {"text": "step"}},
        yaxis={**log, "domain": [0.54, 1], "title": {"text": "effective lr, x"}},
        yaxis2={**log, "domain": [0, 0.46], "title": {"text": "effective lr, y"}},
    )
    return readable_log_axes({"data": data, "layout": layout})


def schedule_figure(lr_values, *, height: int = 140) -> dict:
    """A small preview of a schedule: lr against step (linear axes), for the sidebar."""
    y = np.asarray(lr_values, dtype=float)
    data = [{"type": "scatter", "x": np.arange(len(y)), "y": y, "mode": "lines",
             "line": {"color": color(0), "width": 2}, "fill": "tozeroy", "fillcolor": rgba(color(0), 0.15),
             "hovertemplate": "step %{x}: lr = %{y:.4g}<extra></extra>", "name": "lr"}]
    axis = {"showgrid": False, "zeroline": False, "ticks": "outside", "showline": True, "linecolor": "#888888",
            "tickfont": {"size": 10}}
    layout = {
        "height": height, "margin": {"l": 45, "r": 5, "t": 5, "b": 25}, "showlegend": False,
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "xaxis": {**axis, "nticks": 4}, "yaxis": {**axis, "nticks": 3, "rangemode": "tozero", "tickformat": ".2g"},
    }
    return {"data": data, "layout": layout}
