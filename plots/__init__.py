"""Plotly figure builders: a Result (and a few options) in, go.Figure or plain data out.

They read what the Result holds and never compute optimizer math; nothing here imports Streamlit.
"""

from .animation import animation_figure, animation_html
from .contour import CLICK_GRID, contour_figure, legend_label
from .internals import add_internal_arrows, internals_rows, update_equation
from .palette import color
from .series import distance_figure, eff_lr_figure, grad_norm_figure, loss_figure, schedule_figure
from .surface3d import surface3d_figure

__all__ = [
    "CLICK_GRID", "add_internal_arrows", "animation_figure", "animation_html", "color", "contour_figure",
    "distance_figure", "eff_lr_figure", "grad_norm_figure", "internals_rows", "legend_label", "loss_figure",
    "schedule_figure", "surface3d_figure", "update_equation",
]
