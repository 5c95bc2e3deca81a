"""Quantities against the step: loss, distance to the nearest minimum, gradient norm, effective lr.

The x axis is the point index s = 0..T (the number of updates made): loss, distance and gradient
norm are measured at theta_s; eff_lr and the scheduled lr at x = s belong to the update from
theta_s to theta_{s+1}, so a vertical line at the playback step marks the same moment in every
view. Log axes cannot show values <= 0: loss, distance and gradient norm are drawn as
max(value, FLOOR); learning rates <= 0 (a schedule reaching 0) leave gaps.
"""

from __future__ import annotations

import numpy as np

from .contour import legend_label
from .palette import FONT, LEGEND_ABOVE, color, line, rgba, symbol
from .ticks import readable_log_axes

FLOOR = 1e-16
BAND = (10, 90)  # percentiles of the band drawn over many starts


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
                  height: int = 320) -> dict:
    """values [K, N, T+1] against the step, one colour per configuration.

    N == 1: one line per configuration (K traces) up to its stop point (res.stop_index()).
    N > 1: per configuration a 10–90 % band over the starts, then the median line (2K traces,
    band first; the frozen values after a stop count as they are held).
    log: log y axis, values drawn as max(value, FLOOR). When some configurations diverged and
    others did not, the y range fits the ones that did not.
    """
    k_count, n, t, _ = res.shape
    x = np.arange(t + 1)
    if log:
        values = np.maximum(values, FLOOR)
    stop = res.stop_index()
    data = []
    for k in range(k_count):
        name = legend_label(res, k)
        if n == 1:
            end = int(stop[k, 0]) + 1
            data.append(_line(x[:end], values[k, 0, :end], k, name, meta={"role": "line", "config": k}))
            continue
        lo, mid, hi = np.percentile(values[k], (BAND[0], 50, BAND[1]), axis=0)
        data.append({
            "type": "scatter", "x": np.concatenate((x, x[::-1])), "y": np.concatenate((hi, lo[::-1])),
            "fill": "toself", "fillcolor": rgba(color(k), 0.2), "line": {"width": 0}, "mode": "lines",
            "name": f"{name} {BAND[0]}–{BAND[1]} %", "legendgroup": f"config {k}", "showlegend": False,
            "hoverinfo": "skip", "meta": {"role": "band", "config": k},
        })
        data.append(_line(x, mid, k, f"{name} (median of {n})", meta={"role": "median", "config": k}))
    yaxis = {"title": {"text": title}, "type": "log" if log else "linear", "exponentformat": "power"}
    calm = (res.diverged_at < 0).all(axis=1)  # [K] configurations none of whose starts diverged
    if calm.any() and not calm.all():
        # A diverged run's last finite values (up to 1e12) would squash the others into a line:
        # fit the axis to the configurations that did not diverge and let the others leave it.
        yaxis["range"] = _padded_range(values[calm], log)
    layout = _layout(height, step, xaxis={"title": {"text": "step"}}, yaxis=yaxis)
    return readable_log_axes({"data": data, "layout": layout})


def _padded_range(values: np.ndarray, log: bool) -> list[float]:
    """[low, high] axis range around values with 5 % padding (in log10 units on a log axis)."""
    v = values[np.isfinite(values)]
    if log:
        v = np.log10(v)
    lo, hi = float(v.min()), float(v.max())
    pad = 0.05 * (hi - lo) or 0.5
    return [lo - pad, hi + pad]


def loss_figure(res, *, step: int | None = None, height: int = 320) -> dict:
    """Loss against the step, log y: f when the minimum value f* is 0, f − f* when f* is another
    known value, and f on a linear axis when the surface is unbounded below (saddles)."""
    f_star = res.surface.min_value
    if f_star is None:
        return series_figure(res, res.loss, "loss f(θ)", step=step, log=False, height=height)
    if f_star == 0:
        return series_figure(res, res.loss, "loss f(θ)", step=step, height=height)
    return series_figure(res, res.loss - f_star, f"f(θ) − f*   (f* = {f_star:.4g})", step=step, height=height)


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


def grad_norm_figure(res, *, step: int | None = None, height: int = 320) -> dict:
    """Norm of the full, noise-free gradient res.grad_norm against the step, log y."""
    return series_figure(res, res.grad_norm, "gradient norm ‖∇f(θ)‖", step=step, height=height)


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
