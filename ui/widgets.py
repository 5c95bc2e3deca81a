"""Sidebar widgets generated from Hyperparameter specs (the optimizer panels built from them are
in ui/optimizer_panel.py).

Every widget is keyed and never given `value=`: its value lives in st.session_state, written by
`put` (defaults, presets, URL state, a click on the map) before the widget is drawn. That one
rule lets presets, links and clicks set any control without Streamlit's "default value and
Session State" conflict.

A log-scale number has two widgets kept in sync by callbacks: a select slider over a 1-1.2-1.5-2-
2.5-3-4-5-6-8 grid per decade under `key + "#log"`, and an exact number input under `key`, which
holds the value. A pair (betas) is two sliders under `key + "#0"` and `key + "#1"` (two number
inputs for a log-scale pair). A list of
whole numbers (milestones) is a text input holding them comma-separated.

Any client may send Streamlit's clear_cache message, which empties the session's state but keeps
its widgets' callbacks: the next rerun calls them (every widget counts as changed) before the page
has set anything up. Every page run starts with `mark_live()`, every callback that touches session
state is a `callback`, and a wiped session skips them: the page then restores its link's state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import streamlit as st

from optimizers import Hyperparameter

from .i18n import phrase, t
from .live_slider import live_slider

MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
PAIR_STEP = 1e-4  # slider resolution of betas: 0.999 and 0.9999 are both reachable
SLIDER_MAX_SPAN = 200.0  # wider linear ranges (OneCycle's div factors) get a number input


LIVE = "session.live"  # set by every page run, gone after a client's clear_cache


# --- a session whose state a client cleared --------------------------------------------------------


def mark_live() -> None:
    """First in every page run: the session's state is set up from here on."""
    st.session_state[LIVE] = True


def live() -> bool:
    """Whether the session's state is still there (False after a clear_cache, until the next page run)."""
    return LIVE in st.session_state


def callback(fn: Callable) -> Callable:
    """`fn` as a widget callback that does nothing in a session whose state was cleared."""

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        return fn(*args, **kwargs) if live() else None

    return guarded


# --- keys ----------------------------------------------------------------------------------------


def surface_key(surface: str, param: str) -> str:
    return f"surface.{surface}.{param}"


# --- spec widgets --------------------------------------------------------------------------------


def log_grid(low: float, high: float, zero: bool = False) -> tuple[float, ...]:
    """Values m * 10^e (m in MANTISSAS) within [low, high], both > 0; 0.0 first when `zero`."""
    grid = [0.0] if zero else []
    for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        grid += [v for v in (float(f"{m:g}e{e}") for m in MANTISSAS) if low * (1 - 1e-12) <= v <= high * (1 + 1e-12)]
    return tuple(grid)


def nearest(grid: tuple[float, ...], value: float) -> float:
    """The grid value closest to `value` on a log scale (0 only for values <= 0)."""
    positive = [g for g in grid if g > 0]
    if value <= 0 or not positive:
        return grid[0]
    return min(positive, key=lambda g: abs(math.log(g / value)))


def _ui_range(spec: Hyperparameter) -> tuple[float, float]:
    low = spec.ui_low if spec.ui_low is not None else spec.low
    high = spec.ui_high if spec.ui_high is not None else spec.high
    return low, high


def _spec_grid(spec: Hyperparameter, value: float, zero: bool) -> tuple[float, ...]:
    low, high = _ui_range(spec)
    if low <= 0:  # an allowed range starting at 0 (noise, clipping): the grid starts 6 decades down
        low = high * 1e-6
    if value > 0:
        low, high = min(low, value), max(high, value)
    return log_grid(low, high, zero)


def lr_grid(spec: Hyperparameter, value: float) -> tuple[float, ...]:
    """The notches of the slider `spec_input` draws for a log-scale float at `value`."""
    return _spec_grid(spec, value, False)


def put(spec: Hyperparameter, key: str, value: Any) -> None:
    """Write `value` into the session state of the widget(s) `spec_input(spec, key)` draws."""
    ss = st.session_state
    if spec.kind == "pair":
        for i, v in enumerate(value):
            ss[f"{key}#{i}"] = float(v)
    elif spec.kind == "ints":
        ss[key] = ", ".join(str(v) for v in value)
    elif spec.kind == "float":
        ss[key] = float(value)
        ss.pop(f"{key}#log", None)  # re-derived from the exact value when drawn
    else:
        ss[key] = value


def shown(value: Any, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters: what a note quotes of a value a client sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def known_choice(key: str, options, default: Any, errors: list[str], what: str) -> Any:
    """The value the choice widget `key` (selectbox, radio, segmented control) holds, before it is
    drawn. Streamlit keeps a value that is none of the options as the client sent it (a crafted
    client): that one is replaced by `default`, with a line in `errors`."""
    ss = st.session_state
    value = ss.setdefault(key, default)
    if value in list(options):
        return value
    errors.append(t("widgets.not_a_choice", what=what, value=shown(value))
                  + (t("widgets.none_picked") if default is None else t("widgets.using", default=repr(default))))
    ss[key] = default
    return default


def _default(spec: Hyperparameter, key: str) -> None:
    probe = f"{key}#0" if spec.kind == "pair" else key
    if probe not in st.session_state:
        put(spec, key, spec.default)


def _help(spec: Hyperparameter) -> str:
    allowed = t("widgets.allowed", range=spec.range_text())
    return f"{phrase(spec.help)} · {allowed}" if spec.help else allowed


def _fmt(v: float, off: str = "off") -> str:
    return off if v == 0 else f"{v:g}"


@callback
def _slider_to_number(key: str) -> None:
    st.session_state[key] = st.session_state[f"{key}#log"]


@callback
def _pick_to_number(key: str, value: float) -> None:
    st.session_state[key] = st.session_state[f"{key}#log"] = value


@callback
def _number_to_slider(key: str, grid: tuple[float, ...]) -> None:
    value = st.session_state[key]
    if value is not None:
        st.session_state[f"{key}#log"] = nearest(grid, value)


def _nice_step(low: float, high: float) -> float:
    return 10.0 ** math.floor(math.log10((high - low) / 100)) if high > low else 0.01


def spec_value(spec: Hyperparameter, key: str) -> Any:
    """The value spec_input(spec, key) shows and returns (not yet checked), read from session
    state before the widget is drawn: a keyed widget's value is its session state."""
    _default(spec, key)
    ss = st.session_state
    if spec.kind == "ints":
        return _numbers(ss[key])
    return tuple(ss[f"{key}#{i}"] for i in range(len(spec.default))) if spec.kind == "pair" else ss[key]


def _numbers(text: str) -> tuple[float, ...] | str:
    """'30, 80' -> (30.0, 80.0); text that is no list of numbers comes back as it is, for the
    spec's check to refuse by name."""
    try:
        return tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        return text


def spec_input(spec: Hyperparameter, key: str, *, label: str | None = None, zero: bool = False,
               live: bool = False) -> Any:
    """Draw the widget(s) for one parameter and return its value (not yet checked).

    bool: checkbox; choice: selectbox; text: text input; int: number input; pair: two sliders (two
    number inputs with spec.log); ints: a text input of comma-separated whole numbers; float with
    spec.log: log-grid select slider + exact number input (`zero`: the grid starts with 0,
    shown as "off"); other floats: a slider over the UI range (a number input when that range
    is unbounded or wider than SLIDER_MAX_SPAN). `live`: every slider (log grid, linear, a pair's)
    is ui/live_slider's, which tells the map component its position while it moves (the drag
    preview); its id is its session-state key (`key`, or `key#i` for a pair's element).
    """
    _default(spec, key)
    ss = st.session_state
    label = label or spec.name
    help_text = _help(spec)
    if spec.kind == "bool":
        return st.checkbox(label, key=key, help=help_text)
    if spec.kind == "choice":
        return st.selectbox(label, spec.choices, key=key, help=help_text)
    if spec.kind == "text":
        return st.text_input(label, key=key, help=phrase(spec.help))
    if spec.kind == "ints":
        return _numbers(st.text_input(label, key=key, help=t("widgets.comma_separated", help=help_text)))
    if spec.kind == "int":
        low = int(spec.low) if math.isfinite(spec.low) else None
        high = int(spec.high) if math.isfinite(spec.high) else None
        return st.number_input(label, min_value=low, max_value=high, step=1, key=key, help=help_text)
    if spec.kind == "pair":
        names = ("beta1", "beta2") if spec.name == "betas" else tuple(f"{label}[{i}]" for i in range(len(spec.default)))
        values = []
        for i, name in enumerate(names):
            k = f"{key}#{i}"
            if spec.log:  # values over decades (Rprop's step sizes, 1e-6 to 50): exact inputs, no slider
                values.append(st.number_input(name, min_value=float(spec.low), max_value=float(spec.high), format="%g",
                                              key=k, help=help_text))
                continue
            values.append(_pair_element(name, notches=pair_notches(spec, ss[k]), key=k, help_text=help_text, live=live,
                                        spec=spec))
        return tuple(values)
    value = ss[key]
    if spec.log:
        grid = _spec_grid(spec, value if value is not None else spec.default, zero)
        if ss.get(f"{key}#log") not in grid:
            ss[f"{key}#log"] = nearest(grid, value if value is not None else spec.default)
        left, right = st.columns([3, 2], vertical_alignment="bottom")
        with left:
            if live:
                live_slider(label, grid, ss[f"{key}#log"], key=f"{key}#live", slider_id=key,
                            labels=[_fmt(v, off=t("widgets.off")) for v in grid], help=help_text,
                            on_pick=functools.partial(_pick_to_number, key))
            else:
                st.select_slider(label, grid, format_func=functools.partial(_fmt, off=t("widgets.off")), key=f"{key}#log",
                                 help=help_text, on_change=_slider_to_number, args=(key,))
        with right:
            return st.number_input(t("widgets.exact", label=label), min_value=0.0 if spec.low >= 0 else None, format="%g",
                                   step=_nice_step(0, grid[-1]) if zero else grid[1] if len(grid) > 1 else None,
                                   key=key, label_visibility="collapsed", on_change=_number_to_slider,
                                   args=(key, grid))
    notches = float_notches(spec, value)
    if notches is None:
        return st.number_input(label, min_value=float(spec.low) if math.isfinite(spec.low) else None,
                               max_value=float(spec.high) if math.isfinite(spec.high) else None,
                               format="%g", key=key, help=help_text)
    low, step, count = notches
    if live and value in linear_grid(*notches):
        _live_linear(label, notches, value, key, help_text, "%g")
        return value
    return st.slider(label, low, notch(low, step, count - 1), step=step, format="%g", key=key, help=help_text)


def _pair_element(label: str, *, notches: tuple[float, float, int], key: str, help_text: str, live: bool,
                  spec: Hyperparameter) -> float:
    """One element of a linear pair (beta1, beta2): a slider over its notches beside an exact number
    box, which holds the value (st.session_state[key]); the slider shows the nearest notch of a
    value between them. live: ui/live_slider's slider (its id is `key`), else Streamlit's, kept
    in step by callbacks under key + "#slider"."""
    ss = st.session_state
    grid = linear_grid(*notches)
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    with left:
        value = ss[key]  # read once: each read of session state goes through Streamlit's proxy
        shown = min(grid, key=lambda v: abs(v - value))
        if live:
            _live_linear(label, notches, shown, key, help_text, "%.4f")
        else:
            if ss.get(f"{key}#slider") != shown:
                ss[f"{key}#slider"] = shown
            lo, step, count = notches
            st.slider(label, lo, notch(lo, step, count - 1), step=step, format="%.4f", key=f"{key}#slider",
                      help=help_text, on_change=_copy_value, args=(f"{key}#slider", key))
    with right:
        return st.number_input(t("widgets.exact", label=label), min_value=float(spec.low),
                               max_value=float(spec.high), format="%g", step=PAIR_STEP, key=key,
                               label_visibility="collapsed", help=help_text)


@callback
def _copy_value(source: str, target: str) -> None:
    st.session_state[target] = st.session_state[source]


def float_notches(spec: Hyperparameter, value: float | None) -> tuple[float, float, int] | None:
    """(low, step, count) of the linear slider `spec_input` draws for a float spec at `value`
    (None: it draws a number input, the UI range being unbounded or wider than SLIDER_MAX_SPAN)."""
    low, high = _ui_range(spec)
    if not (math.isfinite(low) and math.isfinite(high)) or high - low > SLIDER_MAX_SPAN:
        return None
    step = _nice_step(low, high)
    low = low + step if spec.low_open and low == spec.low else low
    high = high - step if spec.high_open and high == spec.high else high
    if value is not None:
        low, high = min(low, value), max(high, value)
    return float(low), step, round((high - low) / step) + 1


def pair_notches(spec: Hyperparameter, value: float) -> tuple[float, float, int]:
    """(low, step, count) of the slider `spec_input` draws for one element of a linear pair at `value`."""
    high = spec.high - PAIR_STEP if spec.high_open else spec.high
    lo, hi = float(min(spec.low, value)), float(max(high, value))
    return lo, PAIR_STEP, round((hi - lo) / PAIR_STEP) + 1


def notch(low: float, step: float, i: int) -> float:
    """The i-th value of a linear slider from `low` by `step` (12 significant digits, as the
    browser's slider (ui/live_slider.js) computes it)."""
    return float(f"{low + i * step:.12g}")


@functools.lru_cache(maxsize=256)  # a page asks for each slider's grid of up to 10,000 notches a few times a run
def linear_grid(low: float, step: float, count: int) -> tuple[float, ...]:
    return tuple(notch(low, step, i) for i in range(count))


def _live_linear(label: str, notches: tuple[float, float, int], value: float, key: str, help_text: str,
                 fmt: str) -> None:
    """A linear slider as ui/live_slider's (its id is `key`): its release writes st.session_state[key]."""
    grid = linear_grid(*notches)
    live_slider(label, grid, value, key=f"{key}#live", slider_id=key, linear=notches, fmt=fmt, help=help_text,
                on_pick=functools.partial(_pick_to_value, key))


@callback
def _pick_to_value(key: str, value: float) -> None:
    st.session_state[key] = value
