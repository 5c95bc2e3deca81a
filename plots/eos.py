"""Figures of the edge-of-stability section: an mnist.eos.EosResult in, a go.Figure out.

The sharpness of every learning rate at its measured steps, each with its stability threshold
2 / lr as a dashed line of the same colour, and the full-batch training loss per step (log
scale). Nothing here computes the model or imports Streamlit.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .mnist import GRID, _layout
from .palette import color

LOG_TICKS = [m * 10.0 ** e for e in range(-4, 3) for m in (1, 2, 5)]  # 1-2-5 labels, each with its decade


def lr_label(lr: float) -> str:
    """'lr = 0.1 (2/lr = 20)'."""
    return f"lr = {lr:g} (2/lr = {2 / lr:.3g})"


def _legend(fig: go.Figure) -> None:
    fig.update_layout(showlegend=True, legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0,
                                               "font": {"size": 13}},
                      margin={"l": 60, "r": 10, "t": 60, "b": 45})


def sharpness_figure(result, height: int = 380) -> go.Figure:
    """Top Hessian eigenvalue vs step per learning rate, with its 2 / lr threshold dashed."""
    fig = go.Figure()
    last = max(int(result.config.steps), 1)
    for k, lr in enumerate(result.config.lrs):
        c = color(k)
        fig.add_scatter(x=result.sharp_steps, y=result.sharpness[k], mode="lines+markers",
                        line={"color": c, "width": 2.5}, marker={"size": 4}, name=lr_label(lr),
                        legendgroup=str(k), hovertemplate="sharpness %{y:.4g}<extra>lr=" + f"{lr:g}</extra>",
                        meta={"role": "sharpness", "config": k})
        fig.add_scatter(x=[0, last], y=[2 / lr, 2 / lr], mode="lines", line={"color": c, "width": 1.5, "dash": "dash"},
                        name=f"2/lr = {2 / lr:.3g}", legendgroup=str(k), showlegend=False,
                        hovertemplate="2/lr = %{y:.4g}<extra></extra>", meta={"role": "threshold", "config": k})
    fig.update_layout(**_layout(height), xaxis={**GRID, "title": {"text": "step"}, "range": [0, last]},
                      yaxis={**GRID, "title": {"text": "sharpness (top Hessian eigenvalue)"}, "rangemode": "tozero"})
    _legend(fig)
    fig.update_layout(hovermode="closest")
    return fig


def eos_loss_figure(result, height: int = 380) -> go.Figure:
    """Full-batch training loss after each step per learning rate, log scale.

    Every step is drawn (runs are at most a few thousand steps): the loss's short rises at the edge
    of stability would vanish from a thinned line.
    """
    fig = go.Figure()
    steps = np.arange(result.steps_done + 1)
    for k, lr in enumerate(result.config.lrs):
        fig.add_scatter(x=steps, y=result.loss[k, :len(steps)], mode="lines", line={"color": color(k), "width": 2},
                        name=lr_label(lr), hovertemplate="%{y:.4g}", meta={"role": "eos-loss", "config": k})
    fig.update_layout(**_layout(height), xaxis={**GRID, "title": {"text": "step"},
                                                "range": [0, max(int(result.config.steps), 1)]},
                      yaxis={**GRID, "title": {"text": "training loss (full batch)"}, "type": "log",
                             "tickvals": LOG_TICKS, "ticktext": [f"{v:g}" for v in LOG_TICKS]})
    _legend(fig)
    return fig
