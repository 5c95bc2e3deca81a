"""st.plotly_chart for the figure dicts of plots/, sent as built.

Given a dict, st.plotly_chart builds and validates a go.Figure from it, and given a go.Figure it
deep-copies it: on the 2-D page that cost more than the rest of a rerun. The builders' output is
validated by the tests (tests/test_plots.py), so here it only has its NumPy arrays turned into
Plotly's typed-array form (base64, as plotly.py itself sends them) and goes out as it is; in
presentation mode (ui.state.presenting) with plots.palette.presentation's larger type and lines.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from plots.palette import presentation
from plots.typed import typed_arrays

from .i18n import figure as localized
from .state import presenting


class _Built(go.Figure):
    """A figure dict wearing go.Figure's type: st.plotly_chart takes a go.Figure as validated and
    only asks it for to_dict()."""

    def __init__(self, fig: dict):  # no go.Figure.__init__: that would validate the dict
        self._fig = fig

    def to_dict(self) -> dict:
        return self._fig


def prepared(fig: dict) -> dict:
    """A figure dict of plots/ as the browser gets it: in the session's language, in presentation
    mode when on, its arrays in typed-array form."""
    fig = localized(fig)  # axis and colour-bar titles in the session's language
    if presenting():
        fig = presentation(fig)
    return {"data": typed_arrays(fig["data"]), "layout": fig["layout"]}


def plotly_chart(fig: dict, **kwargs):
    """st.plotly_chart(fig, **kwargs) for a figure dict of plots/ (see the module docstring)."""
    return st.plotly_chart(_Built(prepared(fig)), **kwargs)
