"""A slider over a grid of values that tells the page's other components where it is while it moves.

Streamlit's own sliders report only on release. This one (ui/live_slider.js, a custom component)
sends every position it passes through to the map component in the browser, which draws the
engine's run at that value from the lr preview while the thumb moves; the release comes back to
the server as the "pick" trigger, applied by `on_pick(value)` before the page's next run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
_COMPONENT = st.components.v2.component(
    "optvis_live_slider",
    js=(HERE / "live_slider.js").read_text(),
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
    text of each notch: the grid travels whole) or `linear` = (low, step, count) for a grid of
    widgets.notch values, which the browser computes and formats with `fmt` ("%g" or "%.4f").
    """
    index = grid.index(value)

    def picked() -> None:
        pick = (st.session_state.get(key) or {}).get("pick")
        if pick and 0 <= int(pick.get("index", -1)) < len(grid):
            on_pick(grid[int(pick["index"])])

    data = {"id": slider_id, "label": label, "index": index, "count": len(grid), "help": help or ""}
    if linear is None:
        data.update(grid=list(grid), labels=labels or [f"{v:g}" for v in grid])
    else:
        data.update(linear=list(linear[:2]), fmt=fmt)
    _COMPONENT(key=key, data=data, on_pick_change=picked)
