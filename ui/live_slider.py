"""A slider over a grid of values that tells the page's other components where it is while it moves.

Streamlit's own sliders report only on release. This one (ui/live_slider.js, a custom component)
sends every position it passes through to the map component in the browser, which draws the
engine's run at that value from the lr preview while the thumb moves; the release comes back to
the server as the "pick" trigger, applied by `on_pick(value)` before the page's next run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from . import static_files

HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "optvis_live_slider",
    js=static_files.module_stub("live_slider", (HERE / "live_slider.js").read_text()),  # one copy a page, not 24 a rerun
    css=(HERE / "live_slider.css").read_text(),
    isolate_styles=False,  # in the page's DOM, as the map component is: one document for tests and the map
)


def live_slider(label: str, grid: tuple[float, ...], value: float, *, key: str, slider_id: str,
                on_pick: Callable[[float], None], labels: list[str] | None = None,
                linear: tuple[float, float, int] | None = None, fmt: str = "%g", help: str | None = None) -> None:
    """Draw the slider over `grid` (ascending) at `value` (one of grid).

    slider_id: what the browser's "optvis:slider" events name it by (the map component matches it
    to a configuration's hyperparameter); key: the component's session-state key; on_pick(value):
    called with the released grid value, as a widget's on_change callback is. Either `labels` (the
    text of each notch) or `linear` = (low, step, count) for a grid of widgets.notch values, which
    the browser computes and formats with `fmt` ("%g" or "%.4f"). A labelled grid of
    widgets.log_grid notches travels as its first notch and count (`log_form`), about 90 bytes,
    which the browser expands; any other grid travels whole, with its labels.
    """
    index = grid.index(value)

    def picked() -> None:
        pick = (st.session_state.get(key) or {}).get("pick")
        if not isinstance(pick, dict):
            return
        i, seq = _count(pick.get("index"), len(grid)), _count(pick.get("seq"), 2**31)
        if i is not None:
            st.session_state[f"{key}.seq"] = seq or 0
            on_pick(grid[i])

    # seq: the last pick this run has seen (the browser keeps its thumb until a run has seen its own)
    data = {"id": slider_id, "label": label, "index": index, "count": len(grid), "help": help or "",
            "seq": int(st.session_state.get(f"{key}.seq", 0))}
    labels = labels or [f"{v:g}" for v in grid]
    if linear is not None:
        data.update(linear=list(linear[:2]), fmt=fmt)
    elif (log := log_form(grid, labels)) is not None:
        data.update(log)
    else:
        data.update(grid=list(grid), labels=labels)
    _COMPONENT(key=key, data=data, on_pick_change=picked)


def _count(value, end: int) -> int | None:
    """`value` when it is an int in [0, end) (a browser's message: anything else is ignored), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < end else None


def log_form(grid: tuple[float, ...], labels: list[str]) -> dict | None:
    """{"log": [mantissas, e0, start, zero], "off": word}: `grid` as the browser rebuilds it
    (ui/live_slider.js `value`), when it is a run of ui.widgets.log_grid's notches m·10^e
    (0.0 first, written `word`, when zero) labelled f"{v:g}"; None for any other grid, which then
    travels whole. Notch i > 0 (after the zero) is mantissas[j % M] · 10^(e0 + j // M), j = start + i."""
    from .widgets import MANTISSAS  # ui.widgets draws these sliders: imported when one is drawn

    zero = bool(grid) and grid[0] == 0.0
    positive = grid[1:] if zero else grid
    if not positive or positive[0] <= 0:
        return None
    mantissas = [f"{m:g}" for m in MANTISSAS]
    near = math.floor(math.log10(positive[0]))
    first = next(((e, j) for e in (near - 1, near, near + 1) for j, m in enumerate(mantissas)
                  if float(f"{m}e{e}") == positive[0]), None)
    if first is None:
        return None
    form = {"log": [mantissas, *first, zero], "off": labels[0] if zero else ""}
    if list(notches({**form, "count": len(grid)})) != [list(grid), list(labels)]:
        return None
    return form


def notches(data: dict) -> tuple[list[float], list[str]]:
    """(values, labels) of a slider over a grid (as live_slider sends it, whole or in log form;
    not a linear one): what ui/live_slider.js shows, for tests and tools that read what a page
    was sent."""
    if "grid" in data:
        return list(data["grid"]), list(data["labels"])
    count = data["count"]
    mantissas, e0, start, zero = data["log"]
    m = len(mantissas)
    values = [0.0] * zero + [float(f"{mantissas[j % m]}e{e0 + j // m}") for j in range(start, start + count - zero)]
    return values, [data["off"] if v == 0 else f"{v:g}" for v in values]
