"""Plotly figure builders: a Result (and a few options) in, a figure dict or plain data out.

They read what the Result holds and never compute optimizer math; nothing here imports Streamlit.
Figures are plain dicts in Plotly's JSON schema ({"data": [...], "layout": {...}}, NumPy arrays
allowed), not go.Figure: building and validating graph objects cost more than everything else
in a page rerun. The tests validate every builder's output with go.Figure instead.
"""

from .animation import animation_figure, animation_html
from .contour import CLICK_GRID, contour_figure, legend_label
from .internals import internals_rows, update_equation
from .palette import color
from .series import distance_figure, eff_lr_figure, grad_norm_figure, loss_figure, schedule_figure
from .surface3d import surface3d_figure

__all__ = [
    "CLICK_GRID", "animation_figure", "animation_html", "color", "contour_figure",
    "distance_figure", "eff_lr_figure", "grad_norm_figure", "internals_rows", "legend_label", "loss_figure",
    "schedule_figure", "surface3d_figure", "update_equation",
]
