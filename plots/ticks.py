"""Readable log axes: label decades (and 2, 5 within a short range), never every digit.

Plotly labels the minor digits of a log axis spanning a decade or two ("1 9 8 7 6 ..." in small
print), which crowds on a projector. `readable_log_axes(fig)` reads the span of every log axis
of a figure (its explicit range, else its traces' positive finite values) and sets dtick:
under MIN_SPAN decades plotly's own ticks are left (there are few), up to SHORT_SPAN decades
"D2" (1, 2 and 5 of each decade), beyond that whole decades, every n-th one so that at most
MAX_LABELS are labelled. Works on figure dicts and on go.Figure.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SPAN = 0.7
SHORT_SPAN = 2.5
MAX_LABELS = 8


def log_ticks(span: float) -> dict:
    """Tick settings of a log axis spanning `span` decades."""
    if not span >= MIN_SPAN:
        return {}
    if span < SHORT_SPAN:
        return {"dtick": "D2"}
    return {"dtick": max(1, math.ceil(span / MAX_LABELS)), "tick0": 0}


def log_span(values, axis_range=None) -> float:
    """Decades an axis covers: its explicit [lo, hi] range (log10 units), else from its values."""
    if axis_range is not None:
        lo, hi = axis_range
        return float(hi - lo)
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return float(np.log10(v.max() / v.min())) if v.size else 0.0


def _arrays(trace) -> dict:
    """A go trace's x and y as arrays (what to_plotly_json would encode)."""
    return {letter: getattr(trace, letter) for letter in ("x", "y") if getattr(trace, letter, None) is not None}


def readable_log_axes(fig):
    """Set each log axis's ticks from its span (see the module docstring); returns `fig`."""
    if isinstance(fig, dict):
        layout, traces = fig.get("layout", {}), fig.get("data", [])
    else:  # the layout as plain values; the traces as objects (their JSON packs arrays as base64)
        layout, traces = fig.to_plotly_json()["layout"], [t.to_plotly_json() | _arrays(t) for t in fig.data]
    updates = {}
    for name, axis in list(layout.items()):
        if not (name[:5] in ("xaxis", "yaxis") and isinstance(axis, dict) and axis.get("type") == "log"
                and axis.get("tickvals") is None):  # explicit ticks are the caller's choice
            continue
        letter, ref = name[0], name[0] + name[5:]
        values = [np.asarray(t[letter], dtype=float).ravel() for t in traces
                  if t.get(f"{letter}axis", letter) == ref and t.get(letter) is not None]
        span = log_span(np.concatenate(values) if values else [], axis.get("range"))
        ticks = log_ticks(span)
        if ticks:
            updates[name] = ticks
    if isinstance(fig, dict):
        for name, ticks in updates.items():
            fig["layout"][name] = {**fig["layout"][name], **ticks}
    else:
        fig.update_layout(updates)
    return fig
