"""st.plotly_chart for the figure dicts of plots/, sent as built.

Given a dict, st.plotly_chart builds and validates a go.Figure from it, and given a go.Figure it
deep-copies it: on the 2-D page that cost more than the rest of a rerun. The builders' output is
validated by the tests (tests/test_plots.py), so here it only has its NumPy arrays turned into
Plotly's typed-array form (base64, as plotly.py itself sends them) and goes out as it is; in
presentation mode (ui.state.presenting) with plots.palette.presentation's larger type and lines.

Also the results charts' smoothing control (smoothing_span).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from plots.palette import presentation
from plots.series import SPANS
from plots.typed import typed_arrays

from .i18n import figure as localized
from .i18n import t
from .state import presenting

AUTO = "auto"
# Span of "auto" on a noisy run: its noise shrinks to about a third (a white noise's standard
# deviation by sqrt(alpha / (2 - alpha)) = 0.30, alpha = 2/11), and a change shows within about
# 5 steps (the average's centre of mass lags (span - 1) / 2 steps), short beside runs of 100+ steps.
AUTO_SPAN = 10
SMOOTHING_KEY = "chart.smoothing"


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


def smoothing_span(noisy: bool) -> int | None:
    """The smoothing control of the loss and gradient-norm charts; the EMA span in steps, or None.

    "auto" (the default) smooths with AUTO_SPAN when the gradients are noisy (`noisy`: gradient
    noise or mini-batches) and not otherwise: a noise-free run's every wiggle is real (momentum's
    oscillation, a zig-zag, the edge of stability), a noisy run's spikes are the noise's draws."""
    options = (AUTO, 0, *SPANS)
    if st.session_state.get(SMOOTHING_KEY, AUTO) not in options:  # a crafted client's value
        st.session_state[SMOOTHING_KEY] = AUTO
    labels = {AUTO: t("surfaces.smoothing_auto", span=AUTO_SPAN), 0: t("surfaces.smoothing_off"),
              **{span: t("surfaces.smoothing_span", span=span) for span in SPANS}}
    st.selectbox(t("surfaces.smoothing"), options, key=SMOOTHING_KEY, format_func=labels.get,
                 help=t("surfaces.smoothing_help"), width=360)
    return chosen_span(noisy)


def chosen_span(noisy: bool) -> int | None:
    """The EMA span the smoothing control holds (see smoothing_span), read without drawing it: the
    map's loss chart, drawn above the control, follows it too."""
    choice = st.session_state.get(SMOOTHING_KEY, AUTO)
    if choice not in (AUTO, 0, *SPANS):
        choice = AUTO
    if choice == AUTO:
        return AUTO_SPAN if noisy else None
    return choice or None
