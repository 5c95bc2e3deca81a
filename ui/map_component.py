"""The 2-D page's map as a Streamlit custom component: map, charts, playback, internals, lr preview.

The server computes; the browser draws and animates (ui/map_component.js). `show(res, config)`
sends the run's data (plots.playback_data), which the browser fetches once per run (`by_file`);
a click on the map comes back as the component's "click" trigger, applied by a callback before
the next run of the script, like any widget's. Nothing is sent back while playing or scrubbing.
The component's words travel with its data (`texts`: the [map] catalogue's templates in the
session's language).

The drag preview (ui/preview): the sidebar's sliders (ui/live_slider) tell the map where they
are while they move, and the map draws the engine's run at that notch from the preview's entries,
sent by a second, invisible component at the end of the page's run: the learning rates' at once,
every other slider's when the browser asks for it, as the pointer or the focus comes to that
slider (a rerun of that component's fragment alone; `_preview_fragment`). At a release on a computed
notch of a single-start run, that run is the page's exact one and the map shows it at once,
before the server's rerun brings everything else. The entries travel as files the browser fetches
once (ui/static_files), not with every rerun, and so does the run's data (`by_file`): a rerun
sends its id, the file's URL and where the preview's sliders are. Where the browser cannot fetch
the file (pruned, or from a server that has since restarted), it says so (the "missing" trigger)
and the next run sends that run's data inline.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from optimizers import kernels
from plots.palette import color, presentation
from plots.playback_data import playback_payload

from . import assets, charts, first_view, i18n, preview, state, static_files, widgets
from .compute import compute
from .shared_results import SharedResults
from .state import RunConfig

HERE = Path(__file__).parent
ss = st.session_state

_COMPONENT = st.components.v2.component(
    "optvis_map",
    js=static_files.module_stub(  # not 50 KB a rerun
        "map_component", static_files.with_data_files(assets.with_page_run(assets.component_js(HERE / "map_component.js")))),
    css=(HERE / "map_component.css").read_text(),
    isolate_styles=False,  # Plotly's hover and mode-bar styles live in the document's head
)
# The drag preview's data travels in a second, invisible instance sent at the end of the page's run,
# so that the map is drawn before the preview's paths arrive; it hands them to the map's view.
_PREVIEW = st.components.v2.component("optvis_map_preview",
                                      js=static_files.module_stub(
                                          "map_preview", static_files.with_data_files(assets.with_page_run((HERE / "map_preview.js").read_text()))))


def available() -> bool:
    """Whether the page uses the component: Plotly.js can be served from here and
    OPTVIS_MAP_COMPONENT is not "0" (else the page draws server-side)."""
    return os.environ.get("OPTVIS_MAP_COMPONENT", "1") != "0" and assets.ensure_plotly_js()


WANTED = "map.preview_wanted"  # the ids of the sliders whose preview this session asked for, latest last
MAX_WANTED = 4
PAYLOADS = SharedResults(max_entries=16)  # base64 text, a few MB at most each: kept by count


def _payload(config: RunConfig, generation: int, smooth: int | None) -> dict:
    """The component's data for config's run (its loss chart smoothed over `smooth` steps, or
    raw), built once for every session on that link."""
    return PAYLOADS.get(("map", config, generation, smooth), lambda: _build_payload(config, smooth))


def _build_payload(config: RunConfig, smooth: int | None) -> dict:
    res = compute(config)
    data = playback_payload(res, smooth=smooth)
    data["colors"] = [color(k) for k in range(res.shape[0])]
    # the id names the file and the browser's cached copy: the loss chart's smoothing is part of it
    data["id"] = f"{data['id']}-s{smooth or 0}"
    return data


def _preview_payload(config: RunConfig, sliders: list[preview.Slider], generation: int, run_id: str,
                     only: set[str] | None = None) -> dict:
    """{run, entries}: the entries of the sliders `only` (ids; None: all) of those previewed, each
    as {basis, url} of its file (ui/static_files), or itself where no file can be written."""
    refs = []
    for entry in preview.payload(config, sliders, generation, only):
        url = static_files.publish(f"preview-{entry['basis']}-{generation}", lambda entry=entry: entry)
        refs.append({"basis": entry["basis"], "url": url} if url else entry)
    return {"run": run_id, "entries": refs}


def _sliders(config: RunConfig, panel_ids: list[int]) -> list[preview.Slider]:
    """The sliders previewed for this page: every optimizer's and the surface's where the page's run
    went through the compiled kernels, only the learning rates on the array code (_previews_all)."""
    keys = [lambda spec, pid=pid, name=o.name: state.PANELS.hp_key(pid, name, spec)
            for pid, o in zip(panel_ids, config.optimizers)]
    schedule_keys = [lambda schedule, param, pid=pid: state.PANELS.sched_key(pid, schedule, param) for pid in panel_ids]
    sliders = preview.page_sliders(config, keys, schedule_keys)
    if not _previews_all(config):
        return [s for s in sliders if s.axis == "lr"]
    return sliders + preview.surface_sliders(config, lambda name: widgets.surface_key(config.surface, name))


def _previews_all(config: RunConfig) -> bool:
    """Whether every slider is previewed, or only the learning rates: all of them where the page's
    run went through the compiled kernels, or with OPTVIS_FULL_PREVIEW=1.

    On the array code a run costs a Python step per group of configurations with the same
    hyperparameters (optimizers.stepper.group_configs): an lr slider's notches are one group, every
    notch of another slider (momentum, beta1, a schedule's or the surface's parameter) its own. The
    opening view's full preview would make every new setup cost each session seconds of the
    server's time until the kernels are built; its learning rates cost a few tenths.
    """
    if os.environ.get("OPTVIS_FULL_PREVIEW") == "1":
        return True
    compiled = kernels.cache.AUTO and config.backend == "numpy" and not config.get_surface().stochastic
    return compiled and compute(config).slow_reason is None


def texts() -> dict[str, str]:
    """The component's words in the session's language: {name: template}, the {fields} filled in the
    browser (ui/map_component.js `tr`)."""
    t = i18n.t
    return {
        "playback": t("map.playback"), "play_pause": t("map.play_pause"), "play": t("map.play"),
        "first_step": t("map.first_step"), "step_back": t("map.step_back"),
        "step_forward": t("map.step_forward"), "last_step": t("map.last_step"), "scrub": t("map.scrub"),
        "speed": t("map.speed"), "arrows_toggle": t("map.arrows_toggle"), "legend": t("map.legend"),
        "legend_toggle": t("map.legend_toggle"), "eff_title": t("map.eff_title"),
        "eff_note": t("map.eff_note"), "step_of": t("map.step_of"), "step_skips": t("map.step_skips"),
        "evaluations": t("map.evaluations"), "arrows_at": t("map.arrows_at"),
        "arrows_first_start": t("map.arrows_first_start"), "arrows_scale": t("map.arrows_scale"),
        "box_key": t("map.box_key"),
        "moving": t("map.moving"), "diverged_frozen": t("map.diverged_frozen"),
        "converged": t("map.converged"), "final_point": t("map.final_point"),
        "final_no_update": t("map.final_no_update"), "internals_at": t("map.internals_at"),
        "first_start": t("map.first_start"), "col_optimizer": t("map.col_optimizer"),
        "col_gradient": t("map.col_gradient"), "col_first": t("map.col_first"),
        "col_second": t("map.col_second"), "col_eff": t("map.col_eff"), "col_update": t("map.col_update"),
        "col_status": t("map.col_status"), "internals_note": t("map.internals_note"), "exit": t("map.exit"),
        "same_path": t("map.same_path"), "fate_diverged": t("map.fate_diverged"),
        "fate_some": t("map.fate_some"), "fate_converged": t("map.fate_converged"),
        "fate_all": t("map.fate_all"), "preview_exact": t("map.preview_exact"),
        "preview_this": t("map.preview_this"), "preview_nearest": t("map.preview_nearest"),
        "preview_running": t("map.preview_running"), "preview_of": t("map.preview_of"),
        "preview_pending": t("map.preview_pending"),
        "preview_first_only": t("map.preview_first_only"), "preview_surface_exact": t("map.preview_surface_exact"),
        "preview_surface_this": t("map.preview_surface_this"), "preview_surface_nearest": t("map.preview_surface_nearest"),
        "hover_step_full": t("map.hover_step_full"), "hover_step": t("map.hover_step"),
        "hover_end": t("map.hover_end"), "hover_start": t("map.hover_start"),
        "hover_diverged": t("map.hover_diverged"), "hover_last": t("map.hover_last"),
        "hover_outside": t("map.hover_outside"), "hover_density": t("map.hover_density"),
        "updating": t("map.updating"),
    }


@widgets.callback
def _on_click() -> None:
    point = (ss.get("map") or {}).get("click")
    if not point:
        return
    ss["start.mode"] = "point"
    for axis in "xy":
        widgets.put(state.START_SPEC, f"start.{axis}", float(point[axis]))


@widgets.callback
def _on_missing() -> None:
    """The browser could not fetch the shown run's file: its next run sends that run's data inline."""
    missing = (ss.get("map") or {}).get("missing")
    if missing:
        ss["map.inline"] = str(missing)
        ss[static_files.INLINE_ALL] = True


def show(config: RunConfig, panel_ids: list[int]) -> None:
    """The component for `config` (its result computed or cached); panel_ids: the sidebar panel
    of each of config.optimizers, in order, for the lr preview's release."""
    ss["map.panels"] = list(panel_ids)
    smooth = charts.chosen_span(config.noise > 0 or config.get_surface().stochastic)
    data = _payload(config, kernels.generation(), smooth)
    if state.presenting():  # the same run drawn anew, with larger type and thicker lines
        data = {**data, "id": data["id"] + "-present", "present": True,
                **{name: presentation(data[name]) for name in ("map", "eff", "loss")}}
    sliders = _sliders(config, panel_ids)
    ss["map.shown"] = (config, sliders, data["id"])
    previewed = {id(s) for s, _ in preview.plan(config, sliders)}
    data = {**i18n.map_data(data), "text": texts()}  # the id says the language: the words go too
    # sent inline once where the browser could not fetch its file (ui/map_component.js askInline)
    data = dict(data) if ss.pop("map.inline", None) == data["id"] or ss.get(static_files.INLINE_ALL) else by_file(data)
    data["sliders"] = {s.id: {"config": s.config, "axis": s.axis, "index": s.index, "basis": preview.basis_id(config, s)}
                       for s in sliders if id(s) in previewed}
    # rest_pending: a new session's first view (ui/first_view.py); once drawn, the map asks for the rest
    data["rest_pending"] = first_view.cut()
    _COMPONENT(key="map", data=data, on_click_change=_on_click, on_drawn_change=lambda: None,
               on_missing_change=_on_missing)


def by_file(data: dict) -> dict:
    """{id, url}: the run's data (`data`, under its id) as a file the browser fetches once per id
    (ui/static_files), so that a rerun showing the same run sends a few hundred bytes, not the
    run's 0.7 MB; a copy of `data` where no file can be written."""
    url = static_files.publish(f"map-{data['id']}", lambda: data)
    return {"id": data["id"], "url": url} if url else dict(data)


def end_run() -> None:
    """The end of the page's run: what static_files.INLINE_ALL asked for has been sent."""
    ss.pop(static_files.INLINE_ALL, None)


def show_preview() -> None:
    """The drag preview of the map shown in this run (call last in the page): nothing drawn."""
    ss["map.preview_of"] = ss.pop("map.shown", None)
    if ss["map.preview_of"] is not None:
        _preview_fragment()


@st.fragment
def _preview_fragment() -> None:
    """The preview's entries of the sliders sent at once (the learning rates, and those this session
    asked for: eager), and the ids of the others (`lazy`), whose entry the browser asks for (the
    "want" trigger) when the pointer or the focus comes to that slider. The answer reruns only this
    fragment, so a session costs the server the sliders its student touches, not all of them."""
    shown = ss.get("map.preview_of")
    if shown is None:
        return
    config, sliders, run_id = shown
    wanted = set(ss.get(WANTED, ()))
    eager = {s.id for s in sliders if s.axis == "lr" or s.id in wanted}
    data = _preview_payload(config, sliders, kernels.generation(), run_id, eager)
    data["lazy"] = sorted({s.id for s, _ in preview.plan(config, sliders)} - eager)
    _PREVIEW(key="map_preview", data=i18n.preview_data(data), on_want_change=_on_want)


@widgets.callback
def _on_want() -> None:
    """The browser wants the preview of a slider of the shown page (its id): it joins the session's
    eager ones (the latest MAX_WANTED)."""
    want = (ss.get("map_preview") or {}).get("want")
    shown = ss.get("map.preview_of")
    ident = want.get("id") if isinstance(want, dict) else None
    if shown is None or not isinstance(ident, str) or ident not in {s.id for s in shown[1]}:
        return
    ss[WANTED] = [w for w in ss.get(WANTED, []) if w != ident][-(MAX_WANTED - 1):] + [ident]
