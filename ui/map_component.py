"""The 2-D page's map as a Streamlit custom component: map, charts, playback, internals, lr preview.

The server computes; the browser draws and animates (ui/map_component.js). `show(res, config)`
sends the run's data (plots.playback_data) once per run; a click on the map comes back as the
component's "click" trigger, applied by a callback before the next run of the script, like any
widget's. Nothing is sent back while playing or scrubbing.

The lr preview: for up to PREVIEW_CONFIGS optimizers, one engine run over the notches of the
sidebar's lr slider (ui/live_slider: every notch of its log grid, or every k-th where that would
pass PREVIEW_BUDGET trajectory-steps; none under PREVIEW_MIN_VALUES). While the slider moves the
map draws the run at its position; at a release on a computed notch, that run is the exact one
(same engine, start, steps and settings) and the map shows it at once, before the server's rerun
brings everything else. The preview does not depend on the optimizers' own learning rates, so
one computation serves every position of the sliders.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
import streamlit as st

from optimizers import OPTIMIZERS, OptimizerConfig, kernels, run
from plots.palette import color
from plots.playback_data import playback_payload, preview_payload
from sweeps import with_value

from . import assets, state, widgets
from .compute import compute
from .shared_results import SharedResults
from .state import RunConfig, capped_steps

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


def preview_grid(config: OptimizerConfig, count: int | None = None) -> tuple[float, ...]:
    """The lr values the preview computes for `config`: the notches of its lr slider (the log grid
    ui/widgets draws for its lr), every k-th of them (with both ends) when `count` is smaller."""
    spec = next(s for s in config.info.specs if s.name == "lr")
    grid = widgets.lr_grid(spec, config.lr)
    if count is None or count >= len(grid):
        return grid
    keep = np.unique(np.round(np.linspace(0, len(grid) - 1, max(2, count))).astype(np.int64))
    return tuple(grid[i] for i in keep)


PAYLOADS = SharedResults(max_entries=16)  # base64 text, a few MB at most each: kept by count


def _payload(config: RunConfig, generation: int) -> dict:
    """The component's data for config's run, built once for every session on that link."""
    return PAYLOADS.get(("map", config, generation), lambda: _build_payload(config))


def _build_payload(config: RunConfig) -> dict:
    res = compute(config)
    data = playback_payload(res)
    data["colors"] = [color(k) for k in range(res.shape[0])]
    return data


def _lr_free(config: RunConfig) -> tuple:
    """What the preview depends on: config with its optimizers' learning rates left out, and the
    grids (which widen to include an lr typed outside the slider's range)."""
    optimizers = tuple(dataclasses.replace(o, hparams=tuple((n, None if n == "lr" else v) for n, v in o.hparams),
                                           label="") for o in config.optimizers[:PREVIEW_CONFIGS])
    return (dataclasses.replace(config, optimizers=optimizers), tuple(preview_grid(o) for o in config.optimizers))


def _preview_payload(config: RunConfig, generation: int, run_id: str) -> dict:
    basis = _lr_free(config)
    shared = PAYLOADS.get(("preview", basis, generation), lambda: {"preview": _preview(config)})
    preview = shared["preview"]
    if preview is not None:  # the one part that depends on the learning rates: where each slider is
        lrs = [config.optimizers[r].lr for r in preview["configs"]]
        preview = {**preview, "current_lr": lrs,
                   "current": [int(np.argmin(np.abs(np.log(g) - np.log(v)))) for g, v in zip(preview["lrs"], lrs)]}
    return {"run": run_id, "basis": _basis_id(basis), "preview": preview}


def _basis_id(basis: tuple) -> str:
    return hashlib.sha256(repr(basis).encode()).hexdigest()[:16]


def _preview(config: RunConfig) -> dict | None:
    """The lr preview's paths: per optimizer, one vectorised run over its grid of learning rates."""
    rows = list(range(min(len(config.optimizers), PREVIEW_CONFIGS)))
    steps = capped_steps(config)
    count = PREVIEW_BUDGET // max(1, len(rows) * steps)
    if not rows or count < PREVIEW_MIN_VALUES:
        return None
    lrs = [np.array(preview_grid(config.optimizers[r], count)) for r in rows]
    surface, start = config.get_surface(), config.starts()[:1]
    parts, labels = [], []
    try:
        for r, grid in zip(rows, lrs):
            configs = [with_value(config.optimizers[r], "lr", float(v)) for v in grid]
            parts.append(run(surface, configs, start, steps, **config.run_kwargs()))
            labels.append([c.label for c in configs])
    except ValueError:
        return None
    data = preview_payload(parts, rows, lrs, [config.optimizers[r].lr for r in rows])
    data["labels"] = labels
    data["exact"] = len(config.starts()) == 1  # the page's run has this one start: a notch's run is the page's
    return data


@widgets.callback
def _on_click() -> None:
    point = (ss.get("map") or {}).get("click")
    if not point:
        return
    ss["start.mode"] = "point"
    for axis in "xy":
        widgets.put(state.START_SPEC, f"start.{axis}", float(point[axis]))


def show(config: RunConfig, panel_ids: list[int]) -> None:
    """The component for `config` (its result computed or cached); panel_ids: the sidebar panel
    of each of config.optimizers, in order, for the lr preview's release."""
    ss["map.panels"] = list(panel_ids)
    data = _payload(config, kernels.generation())
    ss["map.shown"] = (config, data["id"])
    lr_keys = [state.PANELS.hp_key(pid, o.name, "lr") for pid, o in zip(panel_ids, config.optimizers)]
    data = {**data, "lr_keys": lr_keys, "base_lrs": [o.lr for o in config.optimizers],
            "basis": _basis_id(_lr_free(config))}
    _COMPONENT(key="map", data=data, on_click_change=_on_click)


def show_preview() -> None:
    """The lr preview of the map shown in this run (call last in the page): nothing drawn."""
    shown = ss.pop("map.shown", None)
    if shown is None:
        return
    config, run_id = shown
    _PREVIEW(key="map_preview", data=_preview_payload(config, kernels.generation(), run_id))
