"""Figures of the online page: an online.OnlineResult in, a figure dict out (see plots/__init__).

All three share a log step axis t = 1..T (what happens in the first hundred steps and over the
last ten thousand both stay visible): the iterate x_t, the average regret R_t / t and the
effective learning rate. Long runs are thinned to whole cycles of the problem's period (three
steps), spaced evenly on the log axis, so a line that oscillates within a cycle keeps its
oscillation instead of aliasing it. Nothing here computes optimizer math or imports Streamlit.
"""

from __future__ import annotations

import numpy as np

from .palette import FONT, MINIMUM, OUTLINE, color, line
from .ticks import readable_log_axes

MAX_POINTS = 1500  # per line
_AXIS = {"showgrid": True, "gridcolor": "#E5E5E5", "zeroline": False, "showline": True, "linecolor": "#444444",
         "ticks": "outside"}
_STEP_AXIS = {**_AXIS, "type": "log", "title": {"text": "step t (log scale)"}}


def thinned(n: int, period: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most about max_points of range(n): every index of the cycles (i // period)
    picked, the cycles spread evenly in log(cycle) and the last cycle included."""
    if n <= max_points:
        return np.arange(n)
    cycles = -(-n // period)
    picked = np.unique(np.rint(np.geomspace(1, cycles, max(2, max_points // period))).astype(np.int64)) - 1
    idx = (picked[:, None] * period + np.arange(period)).ravel()
    return idx[idx < n]


def legend_name(res, k: int) -> str:
    """'Adam (…) · final x = +0.9998', with where it diverged when it did."""
    text = f"{res.labels[k]} · final x = {res.path[k, -1]:+.4f}"
    if res.diverged_at[k] >= 0:
        text += f" · diverged at step {int(res.diverged_at[k])}"
    return text


def _stop(res, k: int, n: int) -> int:
    """How many of n values (points n = T + 1, steps n = T) configuration k has before it froze."""
    d = int(res.diverged_at[k])
    return n if d < 0 else min(n, d)


def _lines(res, values: np.ndarray, role: str) -> list[dict]:
    """One line per configuration of values [K, n] against t = 1..n, thinned, up to its stop."""
    k_count, n = values.shape
    t = np.arange(1, n + 1)
    data = []
    for k in range(k_count):
        idx = thinned(_stop(res, k, n), res.problem.period)
        data.append({"type": "scatter", "mode": "lines", "x": t[idx], "y": values[k, idx], "name": legend_name(res, k),
                     "line": line(k), "legendgroup": f"config {k}",
                     "hovertemplate": "t = %{x}: %{y:.4g}", "meta": {"config": k, "role": role}})
    return data


def _figure(data: list[dict], height: int, yaxis: dict, shapes=(), annotations=()) -> dict:
    layout = {"height": height, "margin": {"l": 70, "r": 20, "t": 10, "b": 50}, "font": FONT,
              "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF", "hovermode": "closest",
              "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.01, "xanchor": "left", "x": 0,
                         "font": {"size": 13}},
              "xaxis": _STEP_AXIS, "yaxis": {**_AXIS, **yaxis},
              "shapes": list(shapes), "annotations": list(annotations)}
    return readable_log_axes({"data": data, "layout": layout})


def _hline(y: float, dash: str, text: str, where: str, side: str = "right") -> tuple[dict, dict]:
    """A horizontal line across the plot at y and its label at one end (side), above or below it (where)."""
    line = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y, "y1": y,
            "line": {"color": OUTLINE, "width": 1.5, "dash": dash}}
    label = {"xref": "paper", "x": {"left": 0.01, "center": 0.5, "right": 1}[side], "y": y, "text": text, "showarrow": False,
             "xanchor": side, "yanchor": where, "font": {"size": 13}}
    return line, label


def iterate_figure(res, *, height: int = 380) -> dict:
    """x_t against t (t = 1..T+1: x_{T+1} is the final point), y from -1 to 1, with the minimiser
    of the average loss as a dashed line (none when every point is one)."""
    data = _lines(res, res.path, "iterate")
    best = res.problem.minimiser()
    shapes, notes = [], []
    if best is not None:
        line, label = _hline(best, "dash", f"x* = {best:+g}, the minimiser of the average loss",
                             "bottom" if best < 0 else "top", "left")  # where the paths are still near 0
        line["line"]["color"] = MINIMUM
        line["line"]["width"] = 3
        shapes, notes = [line], [label]
    return _figure(data, height, {"title": {"text": "x_t"}, "range": [-1.08, 1.08], "zeroline": True,
                                  "zerolinecolor": "#BBBBBB"}, shapes, notes)


def average_regret_figure(res, *, height: int = 380) -> dict:
    """R_t / t against t (linear y), with 0 and the worst fixed point's limit 2|C - 2| / 3."""
    data = _lines(res, res.average_regret, "average_regret")
    worst = res.problem.worst_average_regret()
    zero = _hline(0.0, "solid", "0: no regret", "top")
    top = _hline(worst, "dot", f"2|C − 2|/3 = {worst:.4g}: the worst fixed point's limit", "bottom", "center")
    return _figure(data, height, {"title": {"text": "average regret R_t / t"}}, [zero[0], top[0]], [zero[1], top[1]])


def eff_lr_figure(res, *, height: int = 380) -> dict:
    """The effective learning rate of every step (solid) and the scheduled lr (dotted), log-log."""
    data = _lines(res, res.eff_lr, "eff_lr")
    t = np.arange(1, res.steps + 1)
    idx = thinned(res.steps, res.problem.period)
    for k in range(len(res.labels)):
        data.append({"type": "scatter", "mode": "lines", "x": t[idx], "y": res.lr[k, idx], "showlegend": False,
                     "name": f"{res.labels[k]}: scheduled lr", "line": {"color": color(k), "width": 1.5, "dash": "dot"},
                     "legendgroup": f"config {k}", "hovertemplate": "t = %{x}: %{y:.4g}",
                     "meta": {"config": k, "role": "lr"}})
    return _figure(data, height, {"title": {"text": "effective lr"}, "type": "log", "exponentformat": "power"})
