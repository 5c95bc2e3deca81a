"""Figures of the MNIST page: a TrainResult (or its Landscape) in, a go.Figure out.

Training curves (loss per step, validation accuracy, per-layer effective lr and gradient norm),
the loss landscape with the projected paths, and a grid of validation digits with each
optimizer's prediction. Long series are thinned to at most MAX_POINTS per line; the training
loss is drawn raw (faint) with an exponential moving average on top. Nothing here computes
optimizer math or imports Streamlit.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .palette import COLORSCALE, DIVERGED, FONT, OUTLINE, color, line, rgba, symbol
from .ticks import readable_log_axes

MAX_POINTS = 400
ZOOM = 90.0  # % accuracy above which the accuracy axis zooms in (accuracy_range)
SMOOTH = 0.9  # EMA factor of the smoothed training loss (per step; debiased like TensorBoard's)
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


def ema(values: np.ndarray, factor: float = SMOOTH) -> np.ndarray:
    """Debiased exponential moving average along the last axis (pandas' ewm); NaN stays NaN."""
    flat = np.asarray(values, np.float64).reshape(-1, values.shape[-1])
    smooth = pd.DataFrame(flat.T).ewm(alpha=1 - factor, adjust=True, ignore_na=True).mean().to_numpy().T
    return np.where(np.isfinite(flat), smooth, np.nan).reshape(values.shape)


def loss_figure(result, height: int = 330) -> go.Figure:
    """Training loss of every step's mini-batch (faint) and its moving average, log scale."""
    fig = go.Figure()
    steps = np.arange(1, result.steps_done + 1)
    idx = _thin(result.steps_done)
    smooth = ema(result.loss) if result.steps_done else result.loss
    for k in range(len(result.labels)):
        c = color(k)
        fig.add_scatter(x=steps[idx], y=result.loss[k, idx], mode="lines", line={"color": rgba(c, 0.25), "width": 1},
                        legendgroup=str(k), showlegend=False, hoverinfo="skip", meta={"role": "raw", "config": k})
        fig.add_scatter(x=steps[idx], y=smooth[k, idx], mode="lines", line=line(k),
                        name=label(result, k), legendgroup=str(k), hovertemplate="%{y:.4g}",
                        meta={"role": "smooth", "config": k})
    fig.update_layout(**_layout(height), xaxis={**GRID, "title": {"text": "step"}},
                      yaxis={**GRID, "title": {"text": "training loss (moving average)"}, "type": "log",
                             "exponentformat": "power"})
    return readable_log_axes(fig)


def accuracy_range(result, full_range: bool = False) -> list[float]:
    """The accuracy axis in %: [ZOOM, 100] once every optimizer's latest accuracy is at least
    ZOOM (where the differences that matter are a few points), else, or with full_range, [0, 100]."""
    latest = [acc[np.isfinite(acc)][-1] if np.isfinite(acc).any() else np.nan for acc in 100 * result.val_acc]
    zoom = not full_range and len(latest) > 0 and all(v >= ZOOM for v in latest)
    return [ZOOM, 100.0] if zoom else [0.0, 100.0]


def accuracy_figure(result, height: int = 330, full_range: bool = False) -> go.Figure:
    """Validation accuracy (on the fixed validation subset) at the evaluation steps; the y range
    is accuracy_range's (the early points below ZOOM leave the zoomed axis at its bottom)."""
    fig = go.Figure()
    for k in range(len(result.labels)):
        fig.add_scatter(x=result.eval_steps, y=100 * result.val_acc[k], mode="lines+markers",
                        line=line(k), marker={"size": 7, "symbol": symbol(k)}, name=label(result, k),
                        hovertemplate="%{y:.2f} %", meta={"role": "accuracy", "config": k})
    low, high = accuracy_range(result, full_range)
    title = "validation accuracy (%)" + (f", {low:g}–{high:g} % shown" if low > 0 else "")
    fig.update_layout(**_layout(height), xaxis={**GRID, "title": {"text": "step"}},
                      yaxis={**GRID, "title": {"text": title}, "range": [low, high + 0.5],  # room for a marker at 100
                             "dtick": 2 if low > 0 else 10,
                             "uirevision": f"{low:g}"})  # switching the range drops a zoom made on the other one
    return fig


def _per_layer(result, values, steps, title: str, height: int, band: bool) -> go.Figure:
    """One subplot per layer; values [K, L, 3, n] (10/50/90 percentiles, band) or [K, L, n] (line)."""
    names = result.layer_names
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[n.capitalize() for n in names],
                        horizontal_spacing=0.1)
    idx = _thin(len(steps))
    x = np.asarray(steps)[idx]
    for k in range(len(result.labels)):
        c = color(k)
        for i in range(len(names)):
            col = i + 1
            if band:
                lo, mid, hi = (values[k, i, q, idx] for q in range(3))
                fig.add_scatter(x=np.r_[x, x[::-1]], y=np.r_[hi, lo[::-1]], fill="toself", fillcolor=rgba(c, 0.15),
                                line={"width": 0}, mode="lines", hoverinfo="skip", showlegend=False,
                                legendgroup=str(k), row=1, col=col, meta={"role": "band", "config": k, "layer": i})
            else:
                mid = values[k, i, idx]
            fig.add_scatter(x=x, y=mid, mode="lines", line=line(k, 2.2), name=label(result, k),
                            legendgroup=str(k), showlegend=i == 0, hovertemplate="%{y:.3g}", row=1, col=col,
                            meta={"role": "median" if band else "line", "config": k, "layer": i})
    fig.update_layout(**_layout(height))
    fig.update_xaxes(**GRID, title_text="step")
    fig.update_yaxes(**GRID, type="log", exponentformat="power")
    fig.update_yaxes(title_text=title, row=1, col=1)
    return readable_log_axes(fig)


def eff_lr_figure(result, height: int = 330) -> go.Figure:
    """Per-layer effective learning rate: median line and 10–90th percentile band per optimizer."""
    return _per_layer(result, result.eff_lr, result.record_steps, "effective lr", height, band=True)


def grad_norm_figure(result, height: int = 330) -> go.Figure:
    """Per-layer norm of each step's mini-batch gradient (moving average)."""
    smooth = ema(result.grad_norm) if result.steps_done else result.grad_norm
    return _per_layer(result, smooth, np.arange(1, result.steps_done + 1), "gradient norm", height, band=False)


def schedule_figure(lrs: np.ndarray, labels, height: int = 260) -> go.Figure:
    """The learning rate each optimizer will use at every step: lrs [K, T], log scale."""
    fig = go.Figure()
    idx = _thin(lrs.shape[1])
    for k, name in enumerate(labels):
        fig.add_scatter(x=idx + 1, y=lrs[k, idx], mode="lines", line=line(k),
                        name=f"{k + 1}. {name}", hovertemplate="%{y:.3g}", meta={"role": "schedule", "config": k})
    fig.update_layout(**_layout(height), xaxis={**GRID, "title": {"text": "step"}},
                      yaxis={**GRID, "title": {"text": "scheduled lr"}, "type": "log", "exponentformat": "power"})
    return readable_log_axes(fig)


def landscape_figure(landscape, result, height: int = 560) -> go.Figure:
    """Loss on the PCA plane (log colour scale) with every optimizer's projected path."""
    ratio = 100 * landscape.plane.variance_ratio
    z = np.log10(np.maximum(landscape.loss, 1e-6))
    top = float(np.nanmax(z)) if np.isfinite(z).any() else 1.0
    bottom = float(np.nanmin(z)) if np.isfinite(z).any() else 0.0
    ticks = np.linspace(bottom, top, 6)
    fig = go.Figure()
    fig.add_contour(
        x=landscape.a, y=landscape.b, z=z, colorscale=[list(s) for s in COLORSCALE], ncontours=24,
        contours={"coloring": "heatmap", "showlines": True}, line={"width": 0.6, "color": "rgba(60,60,60,0.35)"},
        colorbar={"title": {"text": "loss", "side": "right"}, "tickvals": ticks,
                  "ticktext": [f"{10 ** t:.3g}" for t in ticks], "thickness": 14, "outlinewidth": 0},
        hovertemplate="PC1 %{x:.3g}<br>PC2 %{y:.3g}<br>loss %{customdata:.4g}<extra></extra>",
        customdata=landscape.loss, name="loss", meta={"role": "landscape"},
    )
    for k in range(len(result.labels)):
        c = color(k)
        path = landscape.paths[k]
        fig.add_scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", line=line(k),
                        marker={"size": 5, "color": c, "symbol": symbol(k)}, name=label(result, k), customdata=landscape.steps,
                        hovertemplate="step %{customdata}<extra>" + html.escape(result.labels[k]) + "</extra>",
                        meta={"role": "path", "config": k})
        diverged = result.diverged_at[k] >= 0
        fig.add_scatter(x=path[-1:, 0], y=path[-1:, 1], mode="markers", showlegend=False, hoverinfo="skip",
                        marker={"symbol": "x" if diverged else "circle", "size": 13 if diverged else 11,
                                "color": DIVERGED if diverged else c, "line": {"color": OUTLINE, "width": 1.5}},
                        meta={"role": "end", "config": k})
    start = landscape.paths[0, 0]
    fig.add_scatter(x=[start[0]], y=[start[1]], mode="markers", name="common start",
                    marker={"symbol": "star", "size": 16, "color": "#FFFFFF", "line": {"color": OUTLINE, "width": 1.5}},
                    hoverinfo="skip", meta={"role": "start"})
    fig.update_layout(
        **{**_layout(height), "hovermode": "closest",
           "margin": {"l": 60, "r": 10, "t": 30, "b": 45},  # room for the mode bar above the colour bar
           "showlegend": True, "legend": {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0,
                                          "font": {"size": 12}}},
        xaxis={**GRID, "title": {"text": f"PC 1 ({ratio[0]:.1f} % of the variance)"},
               "range": [landscape.a[0], landscape.a[-1]]},
        yaxis={**GRID, "title": {"text": f"PC 2 ({ratio[1]:.1f} % of the variance)"},
               "range": [landscape.b[0], landscape.b[-1]]},
    )
    return fig


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
