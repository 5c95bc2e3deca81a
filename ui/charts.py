"""st.plotly_chart for the figure dicts of plots/, sent as built.

Given a dict, st.plotly_chart builds and validates a go.Figure from it, and given a go.Figure it
deep-copies it: on the 2-D page that cost more than the rest of a rerun. The builders' output is
validated by the tests (tests/test_plots.py), so here it only has its NumPy arrays turned into
Plotly's typed-array form (base64, as plotly.py itself sends them) and goes out as it is.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

# NumPy dtype -> plotly.js typed-array dtype
TYPED = {"float64": "f8", "float32": "f4", "int32": "i4", "int16": "i2", "int8": "i1", "uint8": "u1",
         "uint16": "u2", "uint32": "u4"}


class _Built(go.Figure):
    """A figure dict wearing go.Figure's type: st.plotly_chart takes a go.Figure as validated and
    only asks it for to_dict()."""

    def __init__(self, fig: dict):  # no go.Figure.__init__: that would validate the dict
        self._fig = fig

    def to_dict(self) -> dict:
        return self._fig


def typed_arrays(value: Any) -> Any:
    """`value` with every numeric NumPy array (at any depth of dicts and lists) in Plotly's
    typed-array form {"dtype", "bdata"[, "shape"]}; a copy, the input is left as it is."""
    if isinstance(value, dict):
        return {k: typed_arrays(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [typed_arrays(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype == np.int64 and value.size and -2**31 <= value.min() and value.max() < 2**31:
            value = value.astype(np.int32)
        dtype = TYPED.get(str(value.dtype))
        if dtype is None or not value.size:
            return value.tolist()
        spec = {"dtype": dtype, "bdata": base64.b64encode(np.ascontiguousarray(value)).decode("ascii")}
        if value.ndim > 1:
            spec["shape"] = ", ".join(map(str, value.shape))
        return spec
    return value


def plotly_chart(fig: dict, **kwargs):
    """st.plotly_chart(fig, **kwargs) for a figure dict of plots/ (see the module docstring)."""
    return st.plotly_chart(_Built({"data": typed_arrays(fig["data"]), "layout": fig["layout"]}), **kwargs)
