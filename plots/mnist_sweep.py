"""The MNIST learning-rate sweep's figure: validation loss and accuracy against lr (log x axis).

`sweep_figure(points, best, title)` takes mnist.lr_sweep.Points and the index of the best lr
(or None) and returns a plain Plotly figure dict (as the 2-D page's builders do: it is redrawn
every second while the sweep trains). Left: validation loss (log); right: accuracy (%). The best
lr is a star on both and a dashed line; a diverged lr is an X at the top of the loss panel and
the bottom of the accuracy panel. Nothing here imports Streamlit.
"""

from __future__ import annotations

import numpy as np

from .palette import DIVERGED, FONT, MINIMUM, OUTLINE, color

GRID = {"showgrid": True, "gridcolor": "#E5E5E5", "zeroline": False, "showline": True, "linecolor": "#444444",
        "ticks": "outside"}
PANELS = (("val_loss", "x", "y", "validation loss"), ("val_acc", "x2", "y2", "validation accuracy (%)"))


def _values(points, field: str) -> np.ndarray:
    values = getattr(points, field)
    return 100 * values if field == "val_acc" else values


def _diverged_y(points, field: str) -> float:
    """Where a diverged lr's X sits: above the highest finite loss, or at 0 % accuracy."""
    if field == "val_acc":
        return 0.0
    finite = points.val_loss[np.isfinite(points.val_loss)]
    return float(finite.max() * 1.5) if len(finite) else 10.0


def sweep_figure(points, best: int | None, title: str = "", k_color: int = 0, height: int = 380) -> dict:
    """Validation loss and accuracy per lr; `best` the index marked (None: no mark)."""
    c = color(k_color)
    lrs = points.lrs.tolist()
    data = []
    for field, x, y, name in PANELS:
        values = _values(points, field)
        fmt = "%{y:.2f} %" if field == "val_acc" else "%{y:.4g}"
        data.append({"type": "scatter", "x": lrs, "y": values.tolist(), "xaxis": x, "yaxis": y,
                     "mode": "lines+markers", "line": {"color": c, "width": 2.5}, "marker": {"size": 8, "color": c},
                     "name": name, "connectgaps": False, "hovertemplate": "lr %{x:.3g}: " + fmt + "<extra></extra>",
                     "meta": {"role": "sweep", "field": field}})
        bad = np.flatnonzero(points.diverged)
        if len(bad):
            data.append({"type": "scatter", "x": points.lrs[bad].tolist(), "y": [_diverged_y(points, field)] * len(bad),
                         "xaxis": x, "yaxis": y, "mode": "markers", "name": "diverged",
                         "marker": {"symbol": "x", "size": 12, "color": DIVERGED},
                         "hovertemplate": "lr %{x:.3g}: diverged<extra></extra>",
                         "meta": {"role": "diverged", "field": field}})
        if best is not None:
            data.append({"type": "scatter", "x": [lrs[best]], "y": [float(values[best])], "xaxis": x, "yaxis": y,
                         "mode": "markers", "name": f"best lr {lrs[best]:.3g}",
                         "marker": {"symbol": "star", "size": 18, "color": MINIMUM,
                                    "line": {"color": OUTLINE, "width": 1.5}},
                         "hovertemplate": "best lr %{x:.3g}: " + fmt + "<extra></extra>",
                         "meta": {"role": "best", "field": field}})
    shapes = [] if best is None else [
        {"type": "line", "xref": x, "yref": f"{y} domain", "x0": lrs[best], "x1": lrs[best], "y0": 0, "y1": 1,
         "line": {"color": OUTLINE, "width": 1, "dash": "dash"}} for _, x, y, _ in PANELS]
    layout = {
        "height": height, "margin": {"l": 60, "r": 10, "t": 40 if title else 20, "b": 50}, "font": FONT,
        "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF", "showlegend": False, "hovermode": "closest",
        "uirevision": "keep",  # live updates keep the user's zoom
        "title": {"text": title, "font": {"size": 14}, "x": 0, "xanchor": "left"},
        "shapes": shapes,
        "xaxis": {**GRID, "type": "log", "domain": [0, 0.45], "title": {"text": "learning rate"},
                  "exponentformat": "power", "anchor": "y"},
        "yaxis": {**GRID, "type": "log", "title": {"text": PANELS[0][3]}, "anchor": "x"},
        "xaxis2": {**GRID, "type": "log", "domain": [0.55, 1], "title": {"text": "learning rate"},
                   "exponentformat": "power", "anchor": "y2"},
        "yaxis2": {**GRID, "title": {"text": PANELS[1][3]}, "anchor": "x2"},
    }
    return {"data": data, "layout": layout}
