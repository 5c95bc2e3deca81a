"""The 2-D page's map as a Streamlit custom component: map, charts, playback, internals, lr preview.

The server computes; the browser draws and animates (ui/map_component.js). `show(res, config)`
sends the run's data (plots.playback_data) once per run; a click on the map comes back as the
component's "click" trigger and a released lr preview as "lr_pick", each applied by a callback
before the next run of the script, like any widget's. Nothing is sent back while playing or
scrubbing.

The lr preview: for up to PREVIEW_CONFIGS optimizers, one engine run over PREVIEW_VALUES
learning rates on a log grid of the lr slider's range (fewer values on long runs, so a preview
stays within PREVIEW_BUDGET trajectory-steps; none past PREVIEW_MIN_VALUES).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from optimizers import OPTIMIZERS, kernels, run
from plots.palette import color, presentation
from plots.playback_data import playback_payload, preview_payload
from sweeps import with_value

from . import assets, state, widgets
from .compute import compute
from .shared_results import SharedResults
from .state import RunConfig, capped_steps

PREVIEW_VALUES = 48
PREVIEW_MIN_VALUES = 12
PREVIEW_CONFIGS = 6
PREVIEW_BUDGET = 300_000  # trajectory-steps of one preview run
HERE = Path(__file__).parent
ss = st.session_state

_COMPONENT = st.components.v2.component(
    "optvis_map",
    js=(HERE / "map_component.js").read_text(),
    css=(HERE / "map_component.css").read_text(),
    isolate_styles=False,  # Plotly's hover and mode-bar styles live in the document's head
)
# The lr preview's data travels in a second, invisible instance sent at the end of the page's run,
# so that the map is drawn before the preview's paths arrive; it hands them to the map's view.
_PREVIEW = st.components.v2.component("optvis_map_preview", js=(HERE / "map_preview.js").read_text())


def available() -> bool:
    """Whether the page uses the component: Plotly.js can be served from here and
    OPTVIS_MAP_COMPONENT is not "0" (else the page draws server-side)."""
    return os.environ.get("OPTVIS_MAP_COMPONENT", "1") != "0" and assets.ensure_plotly_js()


def preview_grid(optimizer: str, count: int) -> np.ndarray:
    """[count] learning rates evenly spaced on a log scale over the lr slider's range."""
    spec = next(s for s in OPTIMIZERS[optimizer].specs if s.name == "lr")
    low, high = widgets._ui_range(spec)
    low = max(low, high * 1e-6)
    return np.geomspace(low, high, count)


PAYLOADS = SharedResults(max_entries=16)  # base64 text, a few MB at most each: kept by count


def _payload(config: RunConfig, generation: int) -> dict:
    """The component's data for config's run, built once for every session on that link."""
    return PAYLOADS.get(("map", config, generation), lambda: _build_payload(config))


def _build_payload(config: RunConfig) -> dict:
    res = compute(config)
    data = playback_payload(res)
    data["colors"] = [color(k) for k in range(res.shape[0])]
    return data


def _preview_payload(config: RunConfig, generation: int, run_id: str) -> dict:
    return PAYLOADS.get(("preview", config, generation), lambda: {"run": run_id, "preview": _preview(config)})


def _preview(config: RunConfig) -> dict | None:
    """The lr preview's paths: per optimizer, one vectorised run over its grid of learning rates."""
    rows = list(range(min(len(config.optimizers), PREVIEW_CONFIGS)))
    steps = capped_steps(config)
    count = min(PREVIEW_VALUES, PREVIEW_BUDGET // max(1, len(rows) * steps))
    if not rows or count < PREVIEW_MIN_VALUES:
        return None
    lrs = [preview_grid(config.optimizers[r].name, count) for r in rows]
    surface, start = config.get_surface(), config.starts()[:1]
    parts = []
    try:
        for r, grid in zip(rows, lrs):
            configs = [with_value(config.optimizers[r], "lr", float(v)) for v in grid]
            parts.append(run(surface, configs, start, steps, **config.run_kwargs()))
    except ValueError:
        return None
    return preview_payload(parts, rows, lrs, [config.optimizers[r].lr for r in rows])


@widgets.callback
def _on_click() -> None:
    point = (ss.get("map") or {}).get("click")
    if not point:
        return
    ss["start.mode"] = "point"
    for axis in "xy":
        widgets.put(state.START_SPEC, f"start.{axis}", float(point[axis]))


@widgets.callback
def _on_lr_pick() -> None:
    pick = (ss.get("map") or {}).get("lr_pick")
    pids = ss.get("map.panels") or []
    if not pick or not 0 <= int(pick["config"]) < len(pids):
        return
    pid = pids[int(pick["config"])]
    name = ss[state.PANELS.key(pid, "name")]
    spec = next(s for s in OPTIMIZERS[name].specs if s.name == "lr")
    widgets.put(spec, state.PANELS.hp_key(pid, name, "lr"), float(pick["lr"]))


def show(config: RunConfig, panel_ids: list[int]) -> None:
    """The component for `config` (its result computed or cached); panel_ids: the sidebar panel
    of each of config.optimizers, in order, for the lr preview's release."""
    ss["map.panels"] = list(panel_ids)
    data = _payload(config, kernels.generation())
    if state.presenting():  # the same run drawn anew, with larger type and thicker lines
        data = {**data, "id": data["id"] + "-present", "present": True,
                **{name: presentation(data[name]) for name in ("map", "eff", "loss")}}
    ss["map.shown"] = (config, data["id"])
    _COMPONENT(key="map", data=data, on_click_change=_on_click, on_lr_pick_change=_on_lr_pick)


def show_preview() -> None:
    """The lr preview of the map shown in this run (call last in the page): nothing drawn."""
    shown = ss.pop("map.shown", None)
    if shown is None:
        return
    config, run_id = shown
    _PREVIEW(key="map_preview", data=_preview_payload(config, kernels.generation(), run_id))
