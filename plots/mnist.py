"""Figures of the MNIST page: a TrainResult (or its Landscape) in, a figure out.

Training curves (loss per step, validation accuracy, per-layer effective lr, gradient norm and
sparsity of the weights, the lr used),
the loss landscape with the projected paths, and a grid of validation digits with each
optimizer's prediction. Long series are thinned to at most MAX_POINTS per line; the training
loss is drawn raw (faint) with an exponential moving average on top. The training charts and
the planned schedule are plain figure dicts (ui/charts.py sends them as built: they are redrawn
every second while a run trains, and building go.Figure objects cost ~250 ms a redraw); the
landscape is a figure dict as well (ui/i18n.figure translates its titles); the digits, drawn
once, are a go.Figure. Nothing here computes optimizer math or
imports Streamlit.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go

from .coincide import COINCIDE_PX, first_coinciding, mark_same, same_path_note, same_polyline
from .palette import COLORSCALE, DIVERGED, FONT, LEGEND_BELOW, OUTLINE, color, line, rgba, symbol
from .series import BAND_ALPHA, BAND_EDGE_ALPHA, ema
from .ticks import readable_log_axes

ZOOM = 90.0  # % accuracy above which the accuracy axis zooms in (accuracy_range)

MAX_POINTS = 400
SMOOTH = 19  # EMA span of the smoothed training loss in steps: alpha = 2 / (19 + 1) = 0.1, debiased
GRID = {"showgrid": True, "gridcolor": "#E5E5E5", "zeroline": False, "showline": True, "linecolor": "#444444",
        "ticks": "outside"}


def label(result, k: int) -> str:
    """'1. Adam (lr=0.001)', with ' — diverged at step d' when it did."""
    text = f"{k + 1}. {result.labels[k]}"
    if result.diverged_at[k] >= 0:
        text += f" — diverged at step {int(result.diverged_at[k]) + 1}"
    return text


def _layout(height: int, **extra) -> dict:
    """Shared layout; the training charts carry no legend (the page draws one for all of them)."""
    return {
        "height": height, "margin": {"l": 60, "r": 10, "t": 30, "b": 45}, "font": FONT,
        "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF", "hovermode": "x unified", "showlegend": False,
        "uirevision": "keep",  # live updates keep the user's zoom
        **extra,
    }


def _thin(n: int) -> np.ndarray:
    """Indices of at most MAX_POINTS of n, evenly spread, the last one included."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.r_[np.linspace(0, n - 1, MAX_POINTS).astype(int), n - 1])


def _line(x, y, color: str, width: float, meta: dict, k: int | None = None, **extra) -> dict:
    """A line trace; with k, configuration k's line style (its dash past the palette's colours)."""
    style = line(k, width) if k is not None else {"color": color, "width": width}
    return {"type": "scatter", "x": x, "y": y, "mode": "lines", "line": style, "meta": meta, **extra}


def loss_figure(result, height: int = 330) -> dict:
    """Training loss of every step's mini-batch (faint) and its moving average, log scale."""
    steps = np.arange(1, result.steps_done + 1)
    idx = _thin(result.steps_done)
    smooth = ema(result.loss, SMOOTH) if result.steps_done else result.loss
    data = []
    for k in range(len(result.labels)):
        c = color(k)
        data.append(_line(steps[idx], result.loss[k, idx], rgba(c, 0.25), 1, {"role": "raw", "config": k},
                          legendgroup=str(k), showlegend=False, hoverinfo="skip"))
        data.append(_line(steps[idx], smooth[k, idx], c, 2.5, {"role": "smooth", "config": k}, k,
                          name=label(result, k), legendgroup=str(k), hovertemplate="%{y:.4g}"))
    return readable_log_axes({"data": data, "layout": {
        **_layout(height), "xaxis": {**GRID, "title": {"text": "step"}},
        "yaxis": {**GRID, "title": {"text": "training loss (moving average)"}, "type": "log",
                  "exponentformat": "power"}}})


def accuracy_range(result, full_range: bool = False) -> list[float]:
    """The accuracy axis in %: [ZOOM, 100] once every optimizer's latest accuracy is at least
    ZOOM (where the differences that matter are a few points), else, or with full_range, [0, 100]."""
    latest = [acc[np.isfinite(acc)][-1] if np.isfinite(acc).any() else np.nan for acc in 100 * result.val_acc]
    zoom = not full_range and len(latest) > 0 and all(v >= ZOOM for v in latest)
    return [ZOOM, 100.0] if zoom else [0.0, 100.0]


def accuracy_figure(result, height: int = 330, full_range: bool = False) -> dict:
    """Validation accuracy (on the fixed validation subset) at the evaluation steps; the y range
    is accuracy_range's (the early points below ZOOM leave the zoomed axis at its bottom)."""
    data = [{**_line(result.eval_steps, 100 * result.val_acc[k], color(k), 2.5, {"role": "accuracy", "config": k}, k,
                     name=label(result, k), hovertemplate="%{y:.2f} %"),
             "mode": "lines+markers", "marker": {"size": 7, "symbol": symbol(k)}} for k in range(len(result.labels))]
    low, high = accuracy_range(result, full_range)
    title = "validation accuracy (%)" + (f", {low:g}–{high:g} % shown" if low > 0 else "")
    return {"data": data, "layout": {**_layout(height), "xaxis": {**GRID, "title": {"text": "step"}},
                                     "yaxis": {**GRID, "title": {"text": title}, "range": [low, high + 0.5],
                                               "dtick": 2 if low > 0 else 10,
                                               # switching the range drops a zoom made on the other one
                                               "uirevision": f"{low:g}"}}}


SUBPLOT_GAP = 0.1  # horizontal space between the per-layer panels, as a fraction of the width


def _columns(titles) -> tuple[list[list[float]], list[dict]]:
    """x domains of len(titles) side-by-side panels and their titles (make_subplots' layout)."""
    n = len(titles)
    width = (1 - SUBPLOT_GAP * (n - 1)) / n
    domains = [[i * (width + SUBPLOT_GAP), i * (width + SUBPLOT_GAP) + width] for i in range(n)]
    notes = [{"text": t, "x": (a + b) / 2, "y": 1.0, "xref": "paper", "yref": "paper", "xanchor": "center",
              "yanchor": "bottom", "showarrow": False, "font": {"size": 16}} for t, (a, b) in zip(titles, domains)]
    return domains, notes


def _per_layer(result, values, steps, title: str, height: int, band: bool, log: bool = True,
               hover: str = "%{y:.3g}") -> dict:
    """One panel per layer; values [K, L, 3, n] (10/50/90 percentiles, band) or [K, L, n] (line);
    log: log-scale y axes (else linear from 0). Bands are filled as the 2-D page's (series.BAND_ALPHA,
    an edge in the configuration's colour) and come before all the lines, so none covers one."""
    names = result.layer_names
    idx = _thin(len(steps))
    x = np.asarray(steps)[idx]
    data, bands = [], []
    for k in range(len(result.labels)):
        c = color(k)
        for i in range(len(names)):
            axes = {"xaxis": f"x{i + 1 if i else ''}", "yaxis": f"y{i + 1 if i else ''}"}
            if band:
                lo, mid, hi = (values[k, i, q, idx] for q in range(3))
                bands.append({**_line(np.r_[x, x[::-1]], np.r_[hi, lo[::-1]], rgba(c, BAND_EDGE_ALPHA), 1,
                                      {"role": "band", "config": k, "layer": i}, fill="toself",
                                      fillcolor=rgba(c, BAND_ALPHA), hoverinfo="skip", showlegend=False,
                                      legendgroup=str(k)), **axes})
            else:
                mid = values[k, i, idx]
            data.append({**_line(x, mid, c, 2.2, {"role": "median" if band else "line", "config": k, "layer": i}, k,
                                 name=label(result, k), legendgroup=str(k), showlegend=i == 0,
                                 hovertemplate=hover), **axes})
    data = bands + data
    domains, notes = _columns([n.capitalize() for n in names])
    layout = {**_layout(height), "annotations": notes}
    for i, domain in enumerate(domains):
        suffix = str(i + 1) if i else ""
        layout[f"xaxis{suffix}"] = {**GRID, "domain": domain, "anchor": f"y{suffix}", "title": {"text": "step"}}
        scale = {"type": "log", "exponentformat": "power"} if log else {"rangemode": "tozero"}
        layout[f"yaxis{suffix}"] = {**GRID, "anchor": f"x{suffix}", **scale,
                                    **({"title": {"text": title}} if i == 0 else {})}
    return readable_log_axes({"data": data, "layout": layout}) if log else {"data": data, "layout": layout}


def eff_lr_figure(result, height: int = 330) -> dict:
    """Per-layer effective learning rate: median line and 10–90th percentile band per optimizer."""
    return _per_layer(result, result.eff_lr, result.record_steps, "effective lr", height, band=True)


def grad_norm_figure(result, height: int = 330) -> dict:
    """Per-layer norm of each step's mini-batch gradient (moving average)."""
    smooth = ema(result.grad_norm, SMOOTH) if result.steps_done else result.grad_norm
    return _per_layer(result, smooth, np.arange(1, result.steps_done + 1), "gradient norm", height, band=False)


def sparsity_figure(result, height: int = 330) -> dict:
    """Per-layer share of the weights at zero (%, TrainResult.sparsity): exactly 0 for a proximal L1
    configuration, |w| < 1e-3 for any other, at the effective-lr record steps."""
    return _per_layer(result, 100 * result.sparsity, result.record_steps, "weights at zero (%)", height, band=False,
                      log=False, hover="%{y:.1f} %")


def schedule_figure(lrs: np.ndarray, labels, height: int = 260) -> dict:
    """The learning rate each optimizer will use at every step: lrs [K, T], log scale."""
    idx = _thin(lrs.shape[1])
    data = [_line(idx + 1, lrs[k, idx], color(k), 2.5, {"role": "schedule", "config": k}, k, name=f"{k + 1}. {name}",
                  hovertemplate="%{y:.3g}") for k, name in enumerate(labels)]
    return readable_log_axes({"data": data, "layout": {
        **_layout(height), "xaxis": {**GRID, "title": {"text": "step"}},
        "yaxis": {**GRID, "title": {"text": "scheduled lr"}, "type": "log", "exponentformat": "power"}}})


# The landscape's plot area in pixels along either axis, about (400 x 335 at 1400 x 1000, 705 x 390
# at 1920 x 1080: the 560 px figure less its margins and legend, in the page's 3/5 column): paths
# within COINCIDE_PX of each other at this size look like one.
LANDSCAPE_DRAWN_PX = 380


def coinciding_paths(landscape, px: float = COINCIDE_PX, drawn_px: float = LANDSCAPE_DRAWN_PX) -> list[int | None]:
    """Per configuration, the first earlier one whose projected path [S, 2] it coincides with on
    the landscape, or None (plots.coincide's rule): both paths' finite snapshots, clipped to the
    frame [a0, a-1] x [b0, b-1] and scaled so that each axis is `drawn_px` pixels long, within `px`
    pixels of each other's polyline everywhere. Two identical configurations give such paths."""
    lo = np.array([landscape.a[0], landscape.b[0]], np.float64)
    hi = np.array([landscape.a[-1], landscape.b[-1]], np.float64)
    scale = drawn_px / np.where(hi > lo, hi - lo, 1.0)

    def drawn(k: int) -> np.ndarray:
        p = np.asarray(landscape.paths[k], np.float64)
        p = p[np.isfinite(p).all(axis=1)]
        return (np.clip(p, lo, hi) - lo) * scale

    paths = [drawn(k) for k in range(len(landscape.paths))]
    return first_coinciding(len(paths), lambda j, k: len(paths[j]) > 0 and len(paths[k]) > 0
                            and same_polyline(paths[j], paths[k], px))


def landscape_figure(landscape, result, height: int = 560, note: Callable[[str], str] = same_path_note) -> dict:
    """Loss on the PCA plane (log colour scale) with every optimizer's projected path, a figure dict.

    Traces: the contour (role "landscape"), then per configuration k its path (role "path",
    lines and a marker per snapshot) and its last snapshot (role "end": a circle, or a red x
    where it diverged, role "diverged"), then the common start (role "start"). Configurations
    whose paths coincide (coinciding_paths) are told apart as on the 2-D map (plots.coincide:
    dash, its line alone and an open end marker so that the first one's markers show through,
    meta.same_as, and note('<k>. <label>') of the first of the group appended to the legend
    entry; the page passes the note in the session's language)."""
    ratio = 100 * landscape.plane.variance_ratio
    z = np.log10(np.maximum(landscape.loss, 1e-6))
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    bottom = float(np.nanmin(z)) if np.isfinite(z).any() else 0.0
    ticks = np.linspace(bottom, top, 6)
    data = [{
        "type": "contour", "x": landscape.a, "y": landscape.b, "z": z, "colorscale": [list(s) for s in COLORSCALE],
        "ncontours": 24, "contours": {"coloring": "heatmap", "showlines": True},
        "line": {"width": 0.6, "color": "rgba(60,60,60,0.35)"},
        "colorbar": {"title": {"text": "loss", "side": "right"}, "tickvals": ticks,
                     "ticktext": [f"{10 ** t:.3g}" for t in ticks], "thickness": 14, "outlinewidth": 0},
        "hovertemplate": "PC1 %{x:.3g}<br>PC2 %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>",
        "customdata": landscape.loss, "name": "loss", "meta": {"role": "landscape"},
    }]
    for k in range(len(result.labels)):
        c = color(k)
        path = landscape.paths[k]
        data.append({"type": "scatter", "x": path[:, 0], "y": path[:, 1], "mode": "lines+markers", "line": line(k),
                     "marker": {"size": 5, "color": c, "symbol": symbol(k)}, "name": label(result, k),
                     "customdata": landscape.steps,
                     "hovertemplate": "step %{customdata}<extra>" + html.escape(result.labels[k]) + "</extra>",
                     "meta": {"role": "path", "config": k}})
        diverged = result.diverged_at[k] >= 0
        data.append({"type": "scatter", "x": path[-1:, 0], "y": path[-1:, 1], "mode": "markers", "showlegend": False,
                     "hoverinfo": "skip",
                     "marker": {"symbol": "x" if diverged else "circle", "size": 13 if diverged else 11,
                                "color": DIVERGED if diverged else c, "line": {"color": OUTLINE, "width": 1.5}},
                     "meta": {"role": "diverged" if diverged else "end", "config": k}})
    numbered = [f"{k + 1}. {name}" for k, name in enumerate(result.labels)]
    data = mark_same(data, coinciding_paths(landscape), numbered, hollow=True, note=note)
    start = landscape.paths[0, 0]
    data.append({"type": "scatter", "x": [start[0]], "y": [start[1]], "mode": "markers", "name": "common start",
                 "marker": {"symbol": "star", "size": 16, "color": "#FFFFFF", "line": {"color": OUTLINE, "width": 1.5}},
                 "hoverinfo": "skip", "meta": {"role": "start"}})
    layout = {
        **_layout(height), "hovermode": "closest",
        "margin": {"l": 60, "r": 10, "t": 30, "b": 45},  # room for the mode bar above the colour bar
        "showlegend": True, "legend": {**LEGEND_BELOW, "font": {"size": 12}},
        "xaxis": {**GRID, "title": {"text": f"PC 1 ({ratio[0]:.1f} % of the variance)"},
                  "range": [landscape.a[0], landscape.a[-1]], "automargin": True},
        "yaxis": {**GRID, "title": {"text": f"PC 2 ({ratio[1]:.1f} % of the variance)"},
                  "range": [landscape.b[0], landscape.b[-1]]},
    }
    return {"data": data, "layout": layout}


def digits_figure(images: np.ndarray, truth: np.ndarray, predictions: np.ndarray, result, columns: int = 10,
                  height: int | None = None) -> go.Figure:
    """Validation digits [n, 784] as tiles, each with its label and every optimizer's prediction.

    predictions: [K, n]. Under each tile: the true digit, then one digit per optimizer in its
    colour (a wrong one bold and underlined).
    """
    n = len(images)
    rows = -(-n // columns)
    wide, tall = 32, 46  # a 28-pixel tile plus room for its caption below
    canvas = np.full((rows * tall, columns * wide), np.nan)
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[r * tall:r * tall + 28, c * wide:c * wide + 28] = images[i].reshape(28, 28)
    fig = go.Figure(go.Heatmap(z=canvas, colorscale="Greys", zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                               meta={"role": "digits"}))
    for i in range(n):
        r, c = divmod(i, columns)
        marks = []
        for k in range(predictions.shape[0]):
            p = int(predictions[k, i])
            text = f"<b><u>{p}</u></b>" if p != truth[i] else str(p)
            marks.append(f'<span style="color:{color(k)}">{text}</span>')
        fig.add_annotation(x=c * wide + 13.5, y=r * tall + 29, yanchor="top", showarrow=False,
                           text=f"<b>{int(truth[i])}</b><br>" + " ".join(marks), font={"size": 15})
    fig.update_layout(
        height=height or 20 + rows * 130, margin={"l": 5, "r": 5, "t": 5, "b": 5}, paper_bgcolor="#FFFFFF",
        plot_bgcolor="#FFFFFF",
        xaxis={"visible": False, "range": [-2, columns * wide - 2]},
        yaxis={"visible": False, "range": [rows * tall, -2], "scaleanchor": "x"},
    )
    return fig
