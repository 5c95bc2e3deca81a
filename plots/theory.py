"""Figures of the theory panel: what each optimizer measured, with the closed form drawn beside it.

Builders take a Result and the rows of theory.report (the theory's numbers are computed there,
never here). Every figure is about the first start of the Result. Log axes draw values as
max(value, FLOOR), as the other step charts do.
"""

from __future__ import annotations

import numpy as np

from .contour import legend_label
from .palette import color
from .series import FLOOR, _layout, _line, _padded_range
from .ticks import readable_log_axes

GUIDE = "#555555"  # reference lines that belong to no optimizer (rate 1, |y| = 1)


def _measured(res, values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps 0..stop, values [T+1] up to configuration k's stop index, floored) for start 0."""
    end = int(res.stop_index()[k, 0]) + 1
    return np.arange(end), np.maximum(values[:end], FLOOR)


def _theory_line(x, y, k: int, name: str, role: str) -> dict:
    return {"type": "scatter", "x": x, "y": y, "mode": "lines", "name": name,
            "line": {"color": color(k), "width": 2, "dash": "dash"}, "legendgroup": f"config {k}",
            "hovertemplate": "%{y:.4g}", "meta": {"role": role, "config": k}}


def _vline(x: float, k: int | None, dash: str = "dot") -> dict:
    return {"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
            "line": {"color": GUIDE if k is None else color(k), "width": 1.5, "dash": dash}}


def _hline(y: float) -> dict:
    return {"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": y, "y1": y,
            "line": {"color": GUIDE, "width": 1.5, "dash": "dot"}}


def rate_distance_figure(res, distance: np.ndarray, rows, *, height: int = 380) -> dict:
    """Distance to the minimum against the step (log y): per configuration k its measured line
    (meta role "measured") and, for rows with a closed-form rate and a fit, the dashed line
    d_last * rate^(s - last) over steps 0..last, through the last fitted point (role "theory").

    distance: [K, T+1] (theory.report.distance); rows: theory.report.RateRow per configuration.
    The y range fits the measured lines; a theory line leaving it is cut by the axis.
    """
    data, shown = [], []
    for row in rows:
        x, y = _measured(res, distance[row.k], row.k)
        shown.append(y)
        data.append(_line(x, y, row.k, legend_label(res, row.k), meta={"role": "measured", "config": row.k}))
    for row in rows:
        if row.rate is None or row.fit is None:
            continue
        s = np.arange(row.fit.last + 1)
        with np.errstate(over="ignore", divide="ignore"):
            y = distance[row.k, row.fit.last] * row.rate ** (s - row.fit.last).astype(np.float64)
        data.append(_theory_line(s, np.clip(y, FLOOR, 1e300), row.k, f"theory: rate {row.rate:.4g} per step",
                                 "theory"))
    yaxis = {"title": {"text": "distance to the minimum ‖θ − θ*‖"}, "type": "log", "exponentformat": "power"}
    if shown:
        yaxis["range"] = _padded_range(np.concatenate(shown), True)
    return readable_log_axes({"data": data, "layout": _layout(height, None, xaxis={"title": {"text": "step"}}, yaxis=yaxis)})


def rate_lr_figure(rows, curves, *, height: int = 380) -> dict:
    """Rate per step against the learning rate (log x): per momentum value the closed-form curve
    (role "curve") and its stability threshold as a vertical dotted line; each covered row's
    measured rate as a marker at its lr (role "measured"); the line rate = 1 (above it, the
    error grows). Curves take the colour of the first row with their momentum."""
    covered = [r for r in rows if r.rate is not None]
    data, shapes = [], [_hline(1.0)]
    for curve in curves:
        k = next(r.k for r in covered if r.momentum == curve.momentum)
        name = "gradient descent" if curve.momentum == 0 else f"momentum {curve.momentum:.4g}"
        data.append({"type": "scatter", "x": curve.lr, "y": curve.rate, "mode": "lines",
                     "name": f"theory, {name}", "line": {"color": color(k), "width": 2},
                     "hovertemplate": "lr %{x:.4g}: rate %{y:.4g}<extra></extra>",
                     "meta": {"role": "curve", "momentum": curve.momentum}})
        shapes.append(_vline(curve.threshold, k))
    top = 1.2
    for row in covered:
        if row.fit is None:
            continue
        top = max(top, min(row.fit.rate * 1.05, 2.0))
        data.append({"type": "scatter", "x": [row.lr], "y": [row.fit.rate], "mode": "markers",
                     "name": f"measured: {row.label}", "legendgroup": f"config {row.k}",
                     "marker": {"color": color(row.k), "size": 12, "line": {"color": "#1A1A1A", "width": 1}},
                     "hovertemplate": "lr %{x:.4g}: measured %{y:.4g}<extra></extra>",
                     "meta": {"role": "measured", "config": row.k}})
    layout = _layout(height, None, xaxis={"title": {"text": "learning rate (dotted: stability threshold)"},
                                          "type": "log", "exponentformat": "power"},
                     yaxis={"title": {"text": "rate per step"}, "range": [0, top]})
    layout["shapes"] = shapes
    layout["hovermode"] = "closest"
    return readable_log_axes({"data": data, "layout": layout})


def escape_figure(res, rows, expected: dict, *, height: int = 380) -> dict:
    """|y| against the step (log y) on the saddle: per configuration its measured |y_k| (role
    "measured"), the theory's |y_k| where `expected` has one ({k: (values [T+1], name)}, dashed,
    role "theory", up to the same stop), the level |y| = 1, and a vertical dashed line at each
    row's predicted (or, with noise, median) escape step."""
    data, shapes = [], [_hline(1.0)]
    for row in rows:
        x, y = _measured(res, np.abs(res.path[row.k, 0, :, 1]), row.k)
        data.append(_line(x, y, row.k, legend_label(res, row.k), meta={"role": "measured", "config": row.k}))
    for k, (values, name) in expected.items():
        x, y = _measured(res, values, k)
        data.append(_theory_line(x, np.minimum(y, 1e300), k, name, "theory"))
    for row in rows:
        step = row.predicted if row.predicted is not None else row.median
        if step is not None and step <= res.shape[2]:
            shapes.append(_vline(step, row.k, "dash"))
    layout = _layout(height, None, xaxis={"title": {"text": "step (dashed vertical: the theory's escape step)"}},
                     yaxis={"title": {"text": "|y|, distance from the ridge line y = 0"}, "type": "log",
                            "exponentformat": "power"})
    layout["shapes"] = shapes
    return readable_log_axes({"data": data, "layout": layout})
