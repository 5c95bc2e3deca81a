"""The 2-D page's map as a Streamlit custom component: map, charts, playback, internals, lr preview.

The server computes; the browser draws and animates (ui/map_component.js). `show(res, config)`
sends the run's data (plots.playback_data) once per run; a click on the map comes back as the
component's "click" trigger, applied by a callback before the next run of the script, like any
widget's. Nothing is sent back while playing or scrubbing.

The drag preview (ui/preview): the sidebar's sliders (ui/live_slider) tell the map where they
are while they move, and the map draws the engine's run at that notch from the preview's entries,
sent by a second, invisible component at the end of the page's run. At a release on a computed
notch of a single-start run, that run is the page's exact one and the map shows it at once,
before the server's rerun brings everything else. The entries travel as files the browser fetches
once (ui/static_files), not with every rerun.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from optimizers import kernels
from plots.palette import color, presentation
from plots.playback_data import playback_payload

from . import assets, i18n, preview, state, static_files, widgets
from .compute import compute
from .shared_results import SharedResults
from .state import RunConfig

HERE = Path(__file__).parent
ss = st.session_state

_COMPONENT = st.components.v2.component(
    "optvis_map",
    js=assets.component_js(HERE / "map_component.js"),
    css=(HERE / "map_component.css").read_text(),
    isolate_styles=False,  # Plotly's hover and mode-bar styles live in the document's head
)
# The drag preview's data travels in a second, invisible instance sent at the end of the page's run,
# so that the map is drawn before the preview's paths arrive; it hands them to the map's view.
_PREVIEW = st.components.v2.component("optvis_map_preview", js=(HERE / "map_preview.js").read_text())
_WARM = st.components.v2.component("optvis_plotly_warm", js=assets.component_js(HERE / "plotly_warm.js"))


def available() -> bool:
    """Whether the page uses the component: Plotly.js can be served from here and
    OPTVIS_MAP_COMPONENT is not "0" (else the page draws server-side)."""
    return os.environ.get("OPTVIS_MAP_COMPONENT", "1") != "0" and assets.ensure_plotly_js()


PAYLOADS = SharedResults(max_entries=16)  # base64 text, a few MB at most each: kept by count


def _payload(config: RunConfig, generation: int) -> dict:
    """The component's data for config's run, built once for every session on that link."""
    return PAYLOADS.get(("map", config, generation), lambda: _build_payload(config))


def _build_payload(config: RunConfig) -> dict:
    res = compute(config)
    data = playback_payload(res)
    data["colors"] = [color(k) for k in range(res.shape[0])]
    return data


def _preview_payload(config: RunConfig, sliders: list[preview.Slider], generation: int, run_id: str) -> dict:
    """{run, entries}: each entry as {basis, url} of its file (ui/static_files), or itself where
    no file can be written."""
    refs = []
    for entry in preview.payload(config, sliders, generation):
        url = static_files.publish(f"preview-{entry['basis']}-{generation}", lambda entry=entry: entry)
        refs.append({"basis": entry["basis"], "url": url} if url else entry)
    return {"run": run_id, "entries": refs}


def _sliders(config: RunConfig, panel_ids: list[int]) -> list[preview.Slider]:
    keys = [lambda spec, pid=pid, name=o.name: state.PANELS.hp_key(pid, name, spec)
            for pid, o in zip(panel_ids, config.optimizers)]
    schedule_keys = [lambda schedule, param, pid=pid: state.PANELS.sched_key(pid, schedule, param) for pid in panel_ids]
    surface_key = lambda name: widgets.surface_key(config.surface, name)  # noqa: E731
    return preview.page_sliders(config, keys, schedule_keys) + preview.surface_sliders(config, surface_key)


@widgets.callback
def _on_click() -> None:
    point = (ss.get("map") or {}).get("click")
    if not point:
        return
    ss["start.mode"] = "point"
    for axis in "xy":
        widgets.put(state.START_SPEC, f"start.{axis}", float(point[axis]))


def warm() -> None:
    """Call first in the page: the browser starts loading Plotly.js before the map's data exists."""
    _WARM(key="plotly_warm", data={})


def show(config: RunConfig, panel_ids: list[int]) -> None:
    """The component for `config` (its result computed or cached); panel_ids: the sidebar panel
    of each of config.optimizers, in order, for the lr preview's release."""
    ss["map.panels"] = list(panel_ids)
    data = _payload(config, kernels.generation())
    if state.presenting():  # the same run drawn anew, with larger type and thicker lines
        data = {**data, "id": data["id"] + "-present", "present": True,
                **{name: presentation(data[name]) for name in ("map", "eff", "loss")}}
    sliders = _sliders(config, panel_ids)
    ss["map.shown"] = (config, sliders, data["id"])
    previewed = {id(s) for s, _ in preview.plan(config, sliders)}
    data = {**data, "sliders": {s.id: {"config": s.config, "axis": s.axis, "index": s.index,
                                       "basis": preview.basis_id(config, s)} for s in sliders if id(s) in previewed}}
    _COMPONENT(key="map", data=i18n.map_data(data), on_click_change=_on_click)


def show_preview() -> None:
    """The lr preview of the map shown in this run (call last in the page): nothing drawn."""
    shown = ss.pop("map.shown", None)
    if shown is None:
        return
    config, sliders, run_id = shown
    _PREVIEW(key="map_preview", data=i18n.preview_data(_preview_payload(config, sliders, kernels.generation(), run_id)))
