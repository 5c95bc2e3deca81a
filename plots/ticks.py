"""Readable log axes: label decades (and 1, 2, 5 within a short range), never every digit.

Plotly labels the minor digits of a log axis spanning a decade or two ("1 9 8 7 6 ..." in small
print, at three quarters of the tick font), which crowds on a projector. `readable_log_axes(fig)`
reads the range of every log axis of a figure (its explicit range, else its traces' positive
finite values) and sets its ticks: an axis without a range whose values span less than a decade
(a constant learning rate) gets one decade around them, where Plotly's own range would label
every digit; where 1, 2 and 5 of each decade fit, those (as explicit ticks, so that every
label has the full font size); else whole decades, every n-th one, so that labels stay at least
LABEL_GAP tick-font heights apart on the axis's length (a y axis's length is known from the
figure's height, margins and domain; an x axis keeps at most MAX_LABELS). Works on figure dicts
and on go.Figure.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SPAN = 0.7
MAX_LABELS = 8
LABEL_GAP = 2.5  # tick-font heights between the labels of a y axis
TICK_FONT = 16  # px assumed for an axis whose tick font is not set (the presentation size)
MANTISSAS = (1, 2, 5)


def tick_text(value: float) -> str:
    """A log tick's label: 0.002, 50, 1000 as decimals, beyond as 10^e or m×10^e (Plotly's "power" form)."""
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10.0**exponent)
    if -3 <= exponent <= 4:
        return f"{value:.{max(0, -exponent)}f}"
    power = f"10<sup>{str(exponent).replace('-', '−')}</sup>"
    return power if mantissa == 1 else f"{mantissa}×{power}"


def log_ticks(lo: float, hi: float, max_labels: int = MAX_LABELS) -> dict:
    """Tick settings of a log axis from 10^lo to 10^hi with room for max_labels labels."""
    span = hi - lo
    if not span >= MIN_SPAN:
        return {}
    if len(MANTISSAS) * span <= max_labels:
        values = [m * 10.0**e for e in range(math.floor(lo), math.ceil(hi) + 1) for m in MANTISSAS]
        values = [v for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
        return {"tickvals": values, "ticktext": [tick_text(v) for v in values]}
    return {"dtick": max(1, math.ceil(span / max(1, max_labels))), "tick0": 0}


def log_range(values, axis_range=None) -> tuple[float, float] | None:
    """(lo, hi) in log10 units: the axis's explicit range, else its values' (None without any)."""
    if axis_range is not None:
        lo, hi = axis_range
        return float(lo), float(hi)
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v) & (v > 0)]
    return (float(np.log10(v.min())), float(np.log10(v.max()))) if v.size else None


def max_labels(layout: dict, name: str, axis: dict) -> int:
    """How many labels fit on axis `name` of `layout`: from its pixel length for a y axis of a
    figure with a height, else MAX_LABELS."""
    height = layout.get("height")
    if name[0] != "y" or not height:
        return MAX_LABELS
    margin = layout.get("margin") or {}
    lo, hi = axis.get("domain") or (0, 1)
    pixels = (height - margin.get("t", 100) - margin.get("b", 80)) * (hi - lo)
    font = max((axis.get("tickfont") or {}).get("size") or 0, TICK_FONT)
    return max(2, min(MAX_LABELS, int(pixels // (LABEL_GAP * font))))


def _arrays(trace) -> dict:
    """A go trace's x and y as arrays (what to_plotly_json would encode)."""
    return {letter: getattr(trace, letter) for letter in ("x", "y") if getattr(trace, letter, None) is not None}


def readable_log_axes(fig):
    """Set each log axis's ticks from its range and length (see the module docstring); returns `fig`."""
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
        found = log_range(np.concatenate(values) if values else [], axis.get("range"))
        if found is None:
            continue
        lo, hi = found
        ticks = {}
        if axis.get("range") is None and hi - lo < 1:
            mid = (lo + hi) / 2
            lo, hi = mid - 0.5, mid + 0.5
            ticks["range"] = [lo, hi]
        ticks.update(log_ticks(lo, hi, max_labels(layout, name, axis)))
        if ticks:
            updates[name] = ticks
    if isinstance(fig, dict):
        for name, ticks in updates.items():
            fig["layout"][name] = {**fig["layout"][name], **ticks}
    else:
        fig.update_layout(updates)
    return fig
