"""Figures of the sweeps: metrics against the learning rate, and (lr x hyperparameter) heatmaps.

Builders take a sweeps.LrSweep / sweeps.ParamSweep (their arrays; `final` is not read) and draw
what they hold. Every drawn point that stands for a setting carries it in customdata, so that a
click (a selection event) says which setting to load: [k, lr] on the lr curves, [value, lr] on
the heatmap's click points (role "grid-click").
"""

from __future__ import annotations

import html
import math

import numpy as np

from .basins import LOSS_FLOOR, NOWHERE_COLOR, VIRIDIS
from .palette import DIVERGED, FONT, LEGEND_BELOW, OUTLINE, color

FLOOR = 1e-16  # log axes draw values as max(value, FLOOR)
LR_METRICS = (("loss", "final loss f − f*", True), ("distance", "distance to the nearest minimum", True),
              ("steps", "steps to converge", False))
GRID_METRICS = {"loss": "final loss", "steps": "steps to converge"}
BOUND_DASHES = ("dash", "dot", "dashdot")


def _axis(**extra) -> dict:
    return {"showgrid": True, "gridcolor": "#E5E5E5", "zeroline": False, "showline": True, "linecolor": "#444444",
            "ticks": "outside", "mirror": True, **extra}


def lr_values(sweep, name: str, min_value: float | None) -> np.ndarray:
    """[K, L] what the curve of metric `name` shows: loss as f - f* when f* is known."""
    values = getattr(sweep, name)
    if name == "loss" and min_value is not None:
        values = values - min_value
    return values


def lr_sweep_figure(sweep, labels, *, min_value: float | None, height: int = 380) -> dict:
    """Final loss, distance and steps to converge against lr (log x), one column each.

    Per optimizer k and column: its curve (role "lr-curve", customdata [k, lr], points selectable),
    a star at its best lr (role "best"), and a dotted vertical line at its divergence threshold
    (layout shapes, meta-less). labels: the K optimizers' names (legend, with best / threshold).
    NaN (every start diverged, or none converged) leaves a gap.
    """
    k_count, n = len(labels), len(LR_METRICS)
    data, shapes, annotations, layout = [], [], [], {}
    for c, (name, title, log) in enumerate(LR_METRICS):
        suffix = "" if c == 0 else str(c + 1)
        gap = 0.09  # between columns, room for the next one's log tick labels (10^-10) at 1024 px wide
        layout["xaxis" + suffix] = _axis(type="log", domain=[c / n + gap / 2, (c + 1) / n - gap / 2],
                                         anchor="y" + suffix, title={"text": "learning rate"}, automargin=True)
        layout["yaxis" + suffix] = _axis(type="log" if log else "linear", anchor="x" + suffix,
                                         exponentformat="power" if log else "none")
        # centred over its column: the longest (distance) fits between its neighbours' at 1024 px wide;
        # bold by the font, not <b>, so that ui/i18n.figure finds the words in its phrases; the top
        # margin (56 px) keeps them below the mode bar
        annotations.append({"text": title, "xref": "x" + suffix + " domain", "yref": "y" + suffix + " domain",
                            "x": 0.5, "y": 1.0, "xanchor": "center", "yanchor": "bottom", "yshift": 4,
                            "showarrow": False, "font": {"weight": "bold"}})
        values = lr_values(sweep, name, min_value if name == "loss" else None)
        for k in range(k_count):
            y = np.maximum(values[k], FLOOR) if log else values[k]
            best, threshold = int(sweep.best[k]), float(sweep.threshold[k])
            legend = labels[k] + (f" — best lr {sweep.lrs[best]:.3g}" if best >= 0 else " — diverged at every lr")
            if math.isfinite(threshold):
                legend += f", diverges from lr {threshold:.3g}"
            custom = [[float(k), lr] for lr in sweep.lrs.tolist()]  # lists: what a selection event returns
            name_html = html.escape(labels[k])
            data.append({
                "type": "scatter", "x": sweep.lrs, "y": y, "xaxis": "x" + suffix, "yaxis": "y" + suffix,
                "mode": "lines+markers", "name": legend, "legendgroup": f"config {k}", "showlegend": c == 0,
                "line": {"color": color(k), "width": 2}, "marker": {"color": color(k), "size": 5},
                "customdata": custom, "unselected": {"marker": {"opacity": 1.0}},
                "hovertemplate": f"<b>{name_html}</b><br>lr %{{x:.4g}}: {title} %{{y:.4g}}"
                                 "<br><i>click: load this lr</i><extra></extra>",
                "meta": {"role": "lr-curve", "config": k, "metric": name}})
            if best >= 0 and np.isfinite(y[best]):
                data.append({
                    "type": "scatter", "x": [sweep.lrs[best]], "y": [y[best]], "xaxis": "x" + suffix,
                    "yaxis": "y" + suffix, "mode": "markers", "showlegend": False, "legendgroup": f"config {k}",
                    "name": f"{labels[k]} best lr", "customdata": [[float(k), float(sweep.lrs[best])]],
                    "marker": {"symbol": "star", "size": 16, "color": color(k), "line": {"width": 1.5, "color": OUTLINE}},
                    "unselected": {"marker": {"opacity": 1.0}},
                    "hovertemplate": f"<b>{name_html}</b><br>best lr %{{x:.4g}}<br><i>click: load it</i><extra></extra>",
                    "meta": {"role": "best", "config": k, "metric": name}})
            if math.isfinite(threshold):
                shapes.append({"type": "line", "xref": "x" + suffix, "yref": "y" + suffix + " domain", "x0": threshold,
                               "x1": threshold, "y0": 0, "y1": 1, "line": {"color": color(k), "width": 1.5, "dash": "dot"}})
    layout.update({
        "height": height, "margin": {"l": 60, "r": 10, "t": 56, "b": 50}, "font": FONT, "paper_bgcolor": "#FFFFFF",
        "plot_bgcolor": "#FFFFFF", "hovermode": "closest", "clickmode": "event+select", "dragmode": "zoom",
        "shapes": shapes, "annotations": annotations,
        "legend": LEGEND_BELOW,
    })
    return {"data": data, "layout": layout}


def grid_values(sweep, metric: str, min_value: float | None) -> tuple[np.ndarray, str, bool]:
    """([M, L] what the heatmap colours, colourbar title, log ticks) for `metric`."""
    if metric == "steps":
        return sweep.steps, "steps to converge", False
    if min_value is None:
        return sweep.loss, "final f", False
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log10(np.maximum(sweep.loss - min_value, LOSS_FLOOR)), "final f − f* (log scale)", True


def _log_ticks(lo: float, hi: float) -> dict:
    decades = list(range(math.ceil(lo - 1e-9), math.floor(hi + 1e-9) + 1))
    every = max(1, math.ceil(len(decades) / 8))
    decades = decades[::every]
    return {"tickvals": decades, "ticktext": [f"{10.0**e:g}" if -3 <= e <= 3 else f"1e{e}" for e in decades]}


def param_grid_figure(sweep, label: str, metric: str = "loss", *, min_value: float | None, log_axis: bool = False,
                      bounds: list[tuple[str, np.ndarray]] | None = None, height: int = 520) -> dict:
    """The heatmap over (lr, sweep.axis) of final loss or steps to converge, as a figure dict.

    x is log10(lr) with ticks labelled in lr; y is the axis value (log10 of it when log_axis).
    Cells where every start diverged are red, those where none converged (steps) grey.
    bounds: (name, lr [M]) curves drawn over it (the closed-form stability edge, role "bound").
    Traces: the heatmap (role "grid"), the diverged layer, legend keys, the bound curves, the best
    cell's marker (role "best"), then the invisible click points at cell centres (role
    "grid-click", customdata [value, lr]).
    """
    if metric not in GRID_METRICS:
        raise ValueError(f"metric={metric!r}; valid: {', '.join(GRID_METRICS)}")
    z, title, log_ticks = grid_values(sweep, metric, min_value)
    x = np.log10(sweep.lrs)
    y = np.log10(sweep.values) if log_axis else sweep.values
    finite = z[np.isfinite(z)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    bar = {"thickness": 14, "len": 0.9, "outlinewidth": 0, "title": {"text": title, "side": "right"},
           **(_log_ticks(lo, hi) if log_ticks else {})}
    scale = [[i / (len(VIRIDIS) - 1), c] for i, c in enumerate(VIRIDIS)]
    diverged = np.where(sweep.diverged >= 1, 1.0, np.nan)
    data = [
        {"type": "heatmap", "x": x, "y": y, "z": z, "zmin": lo, "zmax": hi, "colorscale": scale, "colorbar": bar,
         "hoverinfo": "skip", "meta": {"role": "grid"}},
        {"type": "heatmap", "x": x, "y": y, "z": diverged, "zmin": 0, "zmax": 1, "showscale": False,
         "colorscale": [[0, DIVERGED], [1, DIVERGED]], "hoverinfo": "skip", "meta": {"role": "grid-diverged"}},
    ]
    keys = [("diverged", DIVERGED)] + ([("did not converge", NOWHERE_COLOR)] if metric == "steps" else [])
    data += [{"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": name, "hoverinfo": "skip",
              "marker": {"symbol": "square", "size": 14, "color": c, "line": {"width": 1, "color": OUTLINE}},
              "meta": {"role": "key"}} for name, c in keys]
    for i, (name, lrs) in enumerate(bounds or []):
        with np.errstate(invalid="ignore", divide="ignore"):
            bx = np.log10(lrs)
        data.append({"type": "scatter", "x": bx, "y": y, "mode": "lines", "name": name, "hoverinfo": "skip",
                     "line": {"color": "#FFFFFF" if i == 0 else "#000000", "width": 3, "dash": BOUND_DASHES[i % 3]},
                     "meta": {"role": "bound"}})
    if sweep.best is not None:
        row, col = sweep.best
        data.append({"type": "scatter", "x": [x[col]], "y": [y[row]], "mode": "markers", "name": "best setting",
                     "marker": {"symbol": "star", "size": 18, "color": "#FFFFFF", "line": {"width": 2, "color": OUTLINE}},
                     "hoverinfo": "skip", "meta": {"role": "best"}})
    gx, gy = np.meshgrid(x, y)
    cell_lr, cell_value = np.meshgrid(sweep.lrs, sweep.values)
    raw, what = (sweep.steps, "mean steps to converge") if metric == "steps" else (sweep.loss, "mean final f")
    text = [("every start diverged" if d >= 1 else f"{what}: {v:.4g}" if v == v else "did not converge")
            + (f" ({d:.0%} of starts diverged)" if 0 < d < 1 else "")
            for v, d in zip(raw.ravel().tolist(), sweep.diverged.ravel().tolist())]
    hidden = {"marker": {"opacity": 0.0}}
    data.append({
        "type": "scatter", "x": gx.ravel(), "y": gy.ravel(), "mode": "markers", "showlegend": False, "name": "cells",
        "customdata": np.stack([cell_value.ravel(), cell_lr.ravel()], axis=-1).tolist(), "text": text,
        "marker": {"size": 10, "opacity": 0.0, "color": "#000000", "maxdisplayed": 1},
        "selected": hidden, "unselected": hidden,
        "hovertemplate": f"lr %{{customdata[1]:.4g}}, {html.escape(sweep.axis)} %{{customdata[0]:.4g}}<br>%{{text}}"
                         "<br><i>click: load this setting</i><extra></extra>",
        "meta": {"role": "grid-click"}})
    y_title = f"log10 {sweep.axis}" if log_axis else sweep.axis
    layout = {
        "height": height, "margin": {"l": 70, "r": 30, "t": 60, "b": 50}, "font": FONT, "paper_bgcolor": "#FFFFFF",
        "plot_bgcolor": NOWHERE_COLOR, "hovermode": "closest", "clickmode": "event+select", "dragmode": "zoom",
        "xaxis": _axis(title={"text": "learning rate"}, range=[x[0] - (x[1] - x[0]) / 2, x[-1] + (x[-1] - x[-2]) / 2],
                       showgrid=False, **_log_ticks(float(x[0]), float(x[-1]))),
        "yaxis": _axis(title={"text": y_title}, showgrid=False,
                       range=[y[0] - (y[1] - y[0]) / 2, y[-1] + (y[-1] - y[-2]) / 2]),
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0, "font": {"size": 13}},
        "annotations": [{"text": f"<b>{html.escape(label)}</b>", "xref": "paper", "yref": "paper", "x": 1, "y": 1.02,
                         "xanchor": "right", "yanchor": "bottom", "showarrow": False}],
    }
    return {"data": data, "layout": layout}
