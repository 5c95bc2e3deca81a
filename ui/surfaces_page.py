"""The 2-D surfaces page: sidebar widgets -> RunConfig -> cached run -> plots/ figures.

Order of a run: restore state (link, page re-entry) and apply a click on the map, read the
RunConfig the sidebar's widgets hold (their session state), draw the views from the cached
Result, then the sidebar, then put the config in the URL: the browser handles a run's messages
in order, so the map is redrawn before it works through the sidebar's ~100 widgets.
Playback (step scrubber, play/pause, the map and the internals at that step) is a fragment:
moving it reruns only the fragment, with the Result it closed over, so nothing is recomputed.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import streamlit as st

from optimizers import OPTIMIZERS, SCHEDULES, kernels
from optimizers.info import L1, THETA_NOW, WEIGHT_DECAY, Symbol, rule_latex, weight_decay_mode
from optimizers.torch_code import torch_script
from plots import (
    animation_html,
    color,
    contour_figure,
    distance_figure,
    eff_lr_figure,
    grad_norm_figure,
    internals_rows,
    loss_figure,
    schedule_figure,
    surface3d_figure,
    update_equation,
)
from plots.typed import typed_arrays
from surfaces import SURFACES, get_surface
from surfaces.expression import GRAMMAR
from ui import first_view, map_component, state, story, sweeps_section, theory_panel, widgets
from ui.charts import plotly_chart, smoothing_span
from ui.compute import compute, derived, page_claim
from ui.export import (
    ANIMATION_MAX_BYTES,
    CSV_MAX_BYTES,
    animation_frames,
    plan_csv,
    summary_frame,
    trajectories_csv,
)
from ui.figures_component import figures_row
from ui.i18n import code_comments, latex_words, phrase, t, titles
from ui.presets import PRESETS, preset_text

FRAME_SECONDS = 0.5  # playback tick: slower than a redraw of the map takes, so ticks do not queue up
PLAY_FRAMES = 50  # a full playback takes about this many ticks
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
# While a rerun is under way Streamlit fades every element it has not yet redrawn. On this page a
# rerun follows each slider notch, so the fade only flickers, and starting it repaints the whole
# page in the browser (~40 ms in Chromium, before the map can be redrawn): elements stay opaque.
NO_STALE_FADE = ('<style>.stElementContainer[data-stale="true"]'
                 "{opacity: 1 !important; transition: none !important}</style>")
# One screen: the header, the story, the play control and the whole map fit a 1400x1000 window
# (the map component sizes the map to what is left, ui/map_component.js FitLayout). Streamlit's
# default 6rem above the page and 5rem beside it go to the map instead. In a narrow window the
# theory panel's two columns stack, so that its legends and buttons keep their whole text, and so
# do the update rules', so that the longest formula fits (at 1024x768); in a
# low one (1024x768) a long story scrolls in its box and leaves the map room.
PAGE_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding: 2.6rem 1.5rem 2rem 1.5rem;}
[data-testid="stHeader"] {background: transparent; pointer-events: none;}
[data-testid="stHeader"] * {pointer-events: auto;}
.st-key-page_header h1 {font-size: 1.75rem; line-height: 1.2; padding: 0; margin: 0;}
@media (max-width: 1200px) {.st-key-page_header h1 {font-size: 1.35rem;}}
.st-key-page_header [data-testid="stCaptionContainer"] p {margin: 0;}
.st-key-surface_formula .katex {font-size: 1.3em;}
.st-key-surface_formula p {margin: 0.2rem 0; line-height: 1.9;}
.st-key-update_rules [data-testid="stMarkdownContainer"] code {white-space: nowrap;}
.st-key-rates_formula {text-align: center;}
.st-key-rates_formula .katex {font-size: 1.21em;}
.st-key-story [data-testid="stAlertContainer"] {padding: 0.55rem 0.9rem;}
.st-key-story [data-testid="stAlertContainer"] p {font-size: 0.95rem; line-height: 1.45;}
.stApp:has(.st-key-present_toggle input:checked) .st-key-story [data-testid="stAlertContainer"] p {font-size: 1.2rem;}
.stApp:has(.st-key-present_toggle input:checked) .st-key-page_header h1 {display: none;}
@media (max-height: 900px) {.st-key-story [data-testid="stAlertContainer"] {max-height: 30vh; overflow-y: auto;
  scrollbar-width: thin; scrollbar-color: #6f9fd0 transparent;}}
@media (max-width: 1200px) {
  .st-key-theory [data-testid="stHorizontalBlock"] {flex-wrap: wrap;}
  .st-key-theory [data-testid="stColumn"] {min-width: 100%; flex: 1 1 100%;}
  .st-key-update_rules [data-testid="stHorizontalBlock"] {flex-wrap: wrap;}
  .st-key-update_rules [data-testid="stColumn"] {min-width: 100%; flex: 1 1 100%;}
}
</style>"""
MAX_NOTES, NOTE_CHARS = 20, 300  # a link's notes listed, each cut to this length; the rest are counted
# Streamlit drops a query string of more than 1,000 fields or 512 Ki characters before the script
# sees it (streamlit.runtime.state.query_params, checked by tests/test_session_bounds.py): the page
# opens with no st.query_params. Only the browser still knows the link, as the URL its navigation
# entry was opened with (the address bar is rewritten since), so it says so in this element.
LINK_MAX_FIELDS, LINK_MAX_CHARS = 1000, 512 * 1024
UNREAD_LINK = f"""<style>.stElementContainer:has(#optvis-unread-link:empty){{display:none}}</style>
<div id="optvis-unread-link"></div><script>(() => {{
  const box = document.getElementById("optvis-unread-link");
  const nav = performance.getEntriesByType("navigation")[0];
  const query = new URL(nav ? nav.name : location.href).search.slice(1);
  const fields = query ? query.split("&").length : 0;
  if (!box || (fields <= {LINK_MAX_FIELDS} && query.length <= {LINK_MAX_CHARS})) return;
  box.textContent = "This link was too long to read (" + fields.toLocaleString("en") + " parameters, "
    + query.length.toLocaleString("en") + " characters; a link may hold at most {LINK_MAX_FIELDS:,} parameters "
    + "and {LINK_MAX_CHARS:,} characters): the page shows its default view.";
  box.setAttribute("role", "alert");
  box.style.cssText = "padding:1rem;border-radius:0.5rem;background:#FFFBE6;color:#7A5C00";
}})();</script>"""
ss = st.session_state


# --- state restored before any widget is drawn ---------------------------------------------------


def restore_state() -> None:
    """New session: the link's state (or the opening view). Page re-entry: the last config."""
    if not state.PANELS.started():
        loaded = state.read_url(PRESETS)
        config, preset, notes = loaded if loaded else (state.make_config(), None, [])
        state.load_into_session(config)
        ss["preset"] = preset
        ss["url_notes"] = summarised(notes)
        ss["url_unread"] = loaded is None  # no link, or one Streamlit dropped (UNREAD_LINK)
    elif "surface" not in ss and "config" in ss:  # Streamlit dropped the widgets while away
        preset = ss.get("preset_active")
        state.load_into_session(ss["config"])
        ss["preset"] = preset


def summarised(notes: list[str]) -> list[str]:
    """The first MAX_NOTES notes cut to NOTE_CHARS characters, then how many more there are."""
    shown = [note if len(note) <= NOTE_CHARS else note[: NOTE_CHARS - 1] + "…" for note in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        shown.append(t("surfaces.more_problems", n=len(notes) - MAX_NOTES))
    return shown


def selected_point() -> tuple[float, float] | None:
    """The point last selected on the map (session state of the chart keyed "contour")."""
    event = ss.get("contour") or {}
    points = (event.get("selection") or {}).get("points") or []
    if not points or "x" not in points[0] or "y" not in points[0]:
        return None
    return float(points[0]["x"]), float(points[0]["y"])


def click_pending() -> bool:
    point = selected_point()
    return point is not None and point != ss.get("clicked")


def apply_click() -> None:
    """A new selection on the map becomes the (single) start point."""
    point = selected_point()
    if point is None:
        ss["clicked"] = None  # a deselect: the same spot may be clicked again
    elif point != ss.get("clicked"):
        ss["clicked"] = point
        ss["start.mode"] = "point"
        for axis, value in zip("xy", point):  # click-grid coordinates, to 4 significant digits
            widgets.put(state.START_SPEC, f"start.{axis}", float(f"{value:.4g}"))


@widgets.callback
def apply_preset() -> None:
    """Callback of the preset picker."""
    preset = PRESETS.get(ss.get("preset"))  # a crafted name is refused in main
    if preset is not None:
        state.load_into_session(preset.config)
        ss.pop("play.step", None)


# --- sidebar ----------------------------------------------------------------------------------------


def checked(spec, value, errors: list[str]):
    try:
        return spec.check(value, "setting")
    except ValueError as exc:
        errors.append(str(exc))
        return spec.default


def schedule_preview(optimizer) -> None:
    """An optimizer panel's lr schedule over the run's steps."""
    steps = ss.get("steps", state.RUN_SPECS["steps"].default)
    plotly_chart(schedule_figure(optimizer.schedule.values(optimizer.lr, steps)), config={"displayModeBar": False})


def read_settings(errors: list[str]) -> tuple[state.RunConfig, dict]:
    """The RunConfig the sidebar's widgets hold, read from session state before they are drawn
    (a keyed widget's value is its session state), and what the sidebar shows next to them:
    {"surface_error": str, "panels": [(pid, config or None, error)]}. Problems go to `errors`.

    Read first so that the main area, the map above all, goes to the browser before the ~100
    sidebar widgets: the browser handles the messages of a run one by one, in order.
    """
    name = widgets.known_choice("surface", SURFACES, state.make_config().surface, errors, t("surfaces.surface"))
    params = {spec.name: widgets.spec_value(spec, widgets.surface_key(name, spec.name))
              for spec in SURFACES[name].specs}
    surface_error = ""
    try:
        surface = get_surface(name, **params)
    except ValueError as exc:
        surface_error = str(exc)
        errors.append(t("surfaces.surface_defaults_used", error=exc))
        surface = get_surface(name)
    panels = [_without_hessian(panel, i, surface, errors) for i, panel in enumerate(state.PANELS.read(errors))]
    optimizers = [config for _, config, _ in panels if config is not None]
    specs = state.RUN_SPECS
    swarm = ss.setdefault("start.mode", "point") == "swarm"
    settings = {"swarm": checked(specs["swarm"], widgets.spec_value(specs["swarm"], "swarm"), errors) if swarm else 0,
                "swarm_seed": (checked(specs["swarm_seed"], widgets.spec_value(specs["swarm_seed"], "swarm_seed"),
                                       errors) if swarm else ss.get("swarm_seed", 0))}
    settings["start"] = tuple(checked(state.START_SPEC, ss.setdefault(f"start.{axis}", 0.0), errors) for axis in "xy")
    for name in ("steps", "noise", "seed", "clip_norm", "clip_value", "tol", "backend"):
        settings[name] = checked(specs[name], widgets.spec_value(specs[name], name), errors)
    config = state.RunConfig(surface=surface.name, surface_params=tuple(surface.params.items()),
                             optimizers=tuple(optimizers), **settings)
    return config, {"surface_error": surface_error, "panels": panels}


def _without_hessian(panel, index: int, surface, errors: list[str]):
    """A panel whose rule needs the surface's Hessian (Newton) is left out where the surface has none."""
    pid, config, error = panel
    if config is None or not config.info.curvature or surface.hess_xy is not None:
        return panel
    error = t("surfaces.needs_hessian", optimizer=config.info.title)
    errors.append(t("panel.left_out", n=index + 1, error=error))
    return pid, None, error


def surface_controls(surface_error: str) -> None:
    st.selectbox(t("surfaces.surface"), list(SURFACES), format_func=titles(SURFACES), key="surface",
                 on_change=state.reset_start)
    name = ss["surface"]
    for spec in SURFACES[name].specs:
        widgets.spec_input(spec, widgets.surface_key(name, spec.name), live=True)
    if name == "custom":
        st.caption(t("surfaces.grammar", grammar=GRAMMAR))
    if surface_error:
        st.error(surface_error, icon=":material/warning:")


def start_controls() -> None:
    mode = st.segmented_control(t("surfaces.start"), ["point", "swarm"], key="start.mode", required=True,
                                label_visibility="collapsed",
                                format_func={"point": t("surfaces.one_point"), "swarm": t("surfaces.random_swarm")}.get)
    if mode == "swarm":
        left, right = st.columns(2)
        with left:
            widgets.spec_input(state.RUN_SPECS["swarm"], "swarm", label=t("surfaces.starts"))
        with right:
            widgets.spec_input(state.RUN_SPECS["swarm_seed"], "swarm_seed", label=t("surfaces.seed"))
        st.caption(t("surfaces.swarm_caption"))
    left, right = st.columns(2)
    spec = state.START_SPEC
    for col, axis in ((left, "x"), (right, "y")):
        with col:
            st.number_input(axis, min_value=spec.low, max_value=spec.high, step=0.1, format="%g", key=f"start.{axis}",
                            disabled=mode == "swarm")
    if mode == "point":
        st.caption(t("surfaces.click_caption"))


def run_controls() -> None:
    specs = state.RUN_SPECS
    widgets.spec_input(specs["steps"], "steps")
    more = ("noise", "seed", "clip_norm", "clip_value", "tol", "backend")
    changed = any(ss.get(n, specs[n].default) != specs[n].default for n in more)
    with st.expander(t("surfaces.run_more"), expanded=changed):
        for name in more:
            widgets.spec_input(specs[name], name, zero=name in state.ZERO_MEANS_OFF)


def sidebar(shown: dict) -> None:
    """Draw the sidebar's widgets; `shown` is read_settings' second value."""
    with st.sidebar:
        st.selectbox(t("surfaces.presets"), list(PRESETS), index=None, key="preset", on_change=apply_preset,
                     format_func={n: preset_text(n)[0] for n in PRESETS}.get, placeholder=t("surfaces.presets_placeholder"))
        st.subheader(t("surfaces.surface"))
        surface_controls(shown["surface_error"])
        st.subheader(t("surfaces.optimizers"))
        state.PANELS.sidebar(shown["panels"], color, preview=schedule_preview)
        st.subheader(t("surfaces.start"))
        start_controls()
        st.subheader(t("surfaces.run"))
        run_controls()


# --- main area ----------------------------------------------------------------------------------------


def _vec(v) -> str:
    return "—" if v is None else "(" + ", ".join(f"{c:.4g}" for c in v) + ")"


def _named(name: str | None, v) -> str:
    return f"{name} {_vec(v)}" if name and v is not None else "—"


def internals_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "optimizer": r["label"], "θ": _vec(r["point"]), "f(θ)": f"{r['loss']:.4g}", "gradient": _vec(r["gradient"]),
        "1st moment": _named(r["first_moment_name"], r["first_moment"]),
        "2nd moment": _named(r["second_moment_name"], r["second_moment"]),
        "eff. lr": _vec(r["eff_lr"]), "update Δθ": _vec(r["update"]), "status": r["status"],
    } for r in rows])


@widgets.callback
def _set_step(value: int) -> None:
    ss["play.step"] = value


@widgets.callback
def _set_playing(on: bool, total: int) -> None:
    """Callback: set (not toggle) the state the button showed, so a queued duplicate click is harmless."""
    ss["play.on"] = on
    if on and ss.get("play.step", total) >= total - 1:  # at the end: play from the start
        ss["play.step"] = 0


def _play_button(total: int, playing: bool) -> None:
    """Play/pause, outside the playback fragment: its click reruns the whole page, which a playback
    tick in flight cannot swallow (a click inside an auto-rerunning fragment can be lost)."""
    button, text = st.columns([1, 20], vertical_alignment="center")
    button.button("", icon=":material/pause:" if playing else ":material/play_arrow:", key="play.toggle",
                  on_click=_set_playing, args=(not playing, total), help=t("surfaces.pause") if playing else t("surfaces.play"),
                  type="primary")
    text.caption(t("surfaces.pause_caption") if playing else
                 t("surfaces.play_caption"))


def _controls(total: int, step: int) -> None:
    cols = st.columns([1, 1, 1, 1, 14], vertical_alignment="bottom")
    buttons = ((":material/skip_previous:", "play.first", 0, t("surfaces.first_step")),
               (":material/chevron_left:", "play.back", max(0, step - 1), t("surfaces.step_back")),
               (":material/chevron_right:", "play.next", min(total, step + 1), t("surfaces.step_forward")),
               (":material/skip_next:", "play.last", total, t("surfaces.last_step")))
    for col, (icon, key, target, help_text) in zip(cols, buttons):
        col.button("", icon=icon, key=key, on_click=_set_step, args=(target,), help=help_text)
    cols[4].slider(t("surfaces.playback_step"), 0, total, key="play.step")


def _side_figure(fig, caption: str) -> None:
    """A figure in the narrow column next to the map: no legend (colours as on the map)."""
    fig["layout"]["showlegend"] = False
    plotly_chart(fig, config=CHART_CONFIG)
    if caption:
        st.caption(caption)


def slow_path_note(res) -> None:
    """One quiet line under the map when the engine ran this view on its array code although
    compiled kernels apply (Result.slow_reason; results of engines without it never show one)."""
    reason = getattr(res, "slow_reason", None)
    if reason:
        st.caption(t("surfaces.array_code", reason=phrase(reason.rstrip('.'))))


def playback(res) -> None:
    """Scrubber, play/pause, the map (or 3-D view), the effective lr and the internals at a step."""
    total = res.shape[2]
    last_update = max(0, total - 1)  # opens on the last update: every internal quantity is defined there
    step, before = ss.get("play.step"), ss.get("play.total")
    if step is None or step > total or (before != total and step >= (before or 1) - 1):  # follow the end
        ss["play.step"] = last_update
    ss["play.total"] = total
    playing = ss.get("play.on", False)
    stride = max(1, math.ceil(total / PLAY_FRAMES))
    _play_button(total, playing)

    @st.fragment(run_every=FRAME_SECONDS if playing else None)
    def view():
        if not widgets.live():
            st.rerun()  # a client cleared the session's state: the whole page sets it up again
        if ss.get("play.on"):
            ss["play.step"] = min(total, ss["play.step"] + stride)
            if ss["play.step"] >= total:
                ss["play.on"] = False
                st.rerun()  # the whole page, to stop the timer
        step = ss["play.step"]
        _controls(total, step)
        left, right = st.columns([3, 2])
        with left:
            opts = st.container(horizontal=True)
            ss.setdefault("view.arrows", True)
            show_3d = opts.toggle(t("surfaces.view_3d"), key="view.3d")
            arrows = opts.toggle(t("surfaces.arrows"), key="view.arrows", disabled=show_3d,
                                 help=t("surfaces.arrows_help"))
            if show_3d:
                plotly_chart(surface3d_figure(res, step=step), key="surface3d", config=CHART_CONFIG)
            else:
                fig = contour_figure(res, step=step, arrows=arrows, height=620)
                plotly_chart(fig, key="contour", on_select="rerun", selection_mode="points", config=CHART_CONFIG)
                if click_pending():
                    st.rerun()  # the whole page: the click moves the start point
            slow_path_note(res)
        with right:
            st.markdown(t("surfaces.eff_lr_title"))
            _side_figure(eff_lr_figure(res, step=step, height=600),
                         t("surfaces.eff_lr_caption"))
        many = res.shape[1] > 1
        st.markdown(t("surfaces.internals_title", step=step) + (t("surfaces.first_start") if many else ""))
        st.dataframe(internals_frame(internals_rows(res, step)).rename(columns=phrase), hide_index=True, width="stretch")
        st.caption(t("surfaces.internals_caption"))
        with st.expander(t("surfaces.equations_at", step=step), expanded=True):
            for k in range(res.shape[0]):
                st.latex(latex_words(update_equation(res, k, step)))

    view()


def browser_view(res, config: state.RunConfig) -> None:
    """The map, charts, playback, internals and lr preview in the browser (ui/map_component); its
    3-D switch is in the header."""
    map_component.show(config, ss.get("map.panels", []))
    slow_path_note(res)
    if first_view.cut():
        return
    last = max(0, res.shape[2] - 1)
    with st.expander(t("surfaces.equations_last", step=last), expanded=False):
        for k in range(res.shape[0]):
            st.latex(latex_words(update_equation(res, k, last)))


def _results_table(res) -> pd.DataFrame:
    """The results table: built once per result for every session that shows it."""
    table = summary_frame(res)
    for column in table.columns:
        if column.startswith(("final loss", "distance")):
            table[column] = [f"{v:.4g}" if pd.notna(v) else "— (no known minimum)" for v in table[column]]
    return table


def _results_figures(res, smooth: int | None) -> list[dict]:
    """The loss, distance and gradient-norm figures (their arrays in Plotly's typed-array form),
    loss and gradient norm smoothed over `smooth` steps (None: raw): built once per result and
    span for every session that shows them."""
    figures = [loss_figure(res, height=300, smooth=smooth), distance_figure(res, height=300),
               grad_norm_figure(res, height=300, smooth=smooth)]
    return [{"data": typed_arrays(f["data"]), "layout": f["layout"]} for f in figures]


# ui/export.summary_frame's outcome words (English), each with its words in the session's language
OUTCOMES = (
    (re.compile(r"not converged in (?P<steps>\d+) steps"), lambda m: t("surfaces.outcome_not_converged", **m.groupdict())),
    (re.compile(r"(?P<n>\d+)/(?P<of>\d+) diverged \(first at step (?P<step>\d+)\)"),
     lambda m: t("surfaces.outcome_some_diverged", **m.groupdict())),
    (re.compile(r"(?P<n>\d+)/(?P<of>\d+) converged"), lambda m: t("surfaces.outcome_some_converged", **m.groupdict())),
    (re.compile(r"diverged at step (?P<step>\d+)"), lambda m: t("surfaces.outcome_diverged", **m.groupdict())),
    (re.compile(r"converged at step (?P<step>\d+)"), lambda m: t("surfaces.outcome_converged", **m.groupdict())),
)


def outcome_words(text: str) -> str:
    """An outcome of the results table in the session's language."""
    for pattern, words in OUTCOMES:
        text = pattern.sub(words, text)
    return text


def results(res, config: state.RunConfig) -> None:
    st.subheader(t("surfaces.results"))
    table = derived(config, "results", lambda: _results_table(res))
    table = table.assign(outcome=table["outcome"].map(outcome_words))
    st.dataframe(table.rename(columns=phrase), hide_index=True, width="stretch")
    smooth = smoothing_span(config.noise > 0 or res.surface.stochastic)
    figures = derived(config, f"results.figures.{smooth}", lambda: _results_figures(res, smooth))
    if map_component.available():  # drawn with the map's Plotly.js: no second copy to load
        figures_row([{"data": f["data"], "layout": {**f["layout"], "showlegend": False}} for f in figures],
                    key="results.figures", identity=(config, kernels.generation(), smooth))
    else:
        cols = st.columns(3)
        for col, fig in zip(cols, figures):
            with col:
                _side_figure({"data": fig["data"], "layout": dict(fig["layout"])}, "")
    st.caption(t("surfaces.results_caption"))


def update_rules(config: state.RunConfig) -> None:
    """Each optimizer's rule and effective lr as implemented, its symbols defined, the schedules'
    formulas; the words in the session's language (i18n.latex_words), the mathematics as written."""
    st.subheader(t("surfaces.update_rules"))
    names = list(dict.fromkeys(c.name for c in config.optimizers))
    cols = st.container(key="update_rules").columns(2)  # stacked in a narrow window (PAGE_CSS)
    for i, name in enumerate(names):
        info = OPTIMIZERS[name]
        with cols[i % 2]:
            torch_name = f"torch.optim.{info.torch_class}" if info.torch_class else t("surfaces.no_torch_class")
            st.markdown(f"**{info.title}** · {phrase(info.reference, 'rule_words')} · `{torch_name}`")
            runs = [c for c in config.optimizers if c.name == name]
            l1_modes = tuple(dict.fromkeys(c.l1_mode for c in runs if c.l1 > 0))
            decay = tuple(dict.fromkeys(m for c in runs if (m := weight_decay_mode(info, c.hp))))
            st.latex(latex_words(rule_latex(info.latex, l1_modes, decay, info.decoupled_by)))
            st.latex(r"\text{" + t("rules.effective_lr") + "} " + latex_words(info.eff_lr))
            extra = [Symbol(WEIGHT_DECAY.latex, DECAY_WORDS[m], WEIGHT_DECAY.hyperparameter) for m in decay]
            extra += [THETA_NOW] if "decoupled" in decay else []
            st.caption(_symbols_caption([*info.symbols, *extra, *([L1] if l1_modes else [])]), unsafe_allow_html=True)
    schedules = list(dict.fromkeys(c.schedule.name for c in config.optimizers if c.schedule.name != "constant"))
    for name in schedules:
        st.markdown(t("surfaces.schedule_title", schedule=SCHEDULES[name].title))
        st.latex(latex_words(SCHEDULES[name].latex))
        st.caption(_symbols_caption(SCHEDULES[name].symbols), unsafe_allow_html=True)


DECAY_WORDS = {"coupled": "coupled: added to the gradient", "decoupled": "decoupled: the weights shrink"}


NOWRAP = '<span style="white-space: nowrap">{}</span>'


def _symbols_caption(symbols) -> str:
    """Markdown defining each symbol once: "$\\mu$ = `momentum`; ...; $g_t$: the gradient at step t",
    the hyperparameters first, then the state (symbols of the same words together)."""
    named, described = {}, {}  # a hyperparameter's symbol; the symbols of one state's words, together
    for s in symbols:
        if s.hyperparameter:
            named.setdefault(s.latex, (s.hyperparameter, s.words))
        else:
            latexes = described.setdefault(s.words, [])
            if s.latex not in latexes:
                latexes.append(s.latex)
    parts = [f"${latex}$ = `{hp}`" + (t("rules.symbol_words", words=phrase(words)) if words else "")
             for latex, (hp, words) in named.items()]
    # the symbols and their colon in one unbreakable box: a line never starts with the colon
    parts += [NOWRAP.format(", ".join(f"${latex}$" for latex in latexes) + t("rules.symbol_colon").rstrip())
              + t("rules.symbol_colon")[len(t("rules.symbol_colon").rstrip()):] + phrase(words)
              for words, latexes in described.items()]
    return t("rules.symbol_sep").join(parts)


def _file_stem(config: state.RunConfig) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", f"{config.surface}-{len(config.optimizers)}-optimizers")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def export(res, config: state.RunConfig) -> None:
    st.subheader(t("surfaces.export"))
    st.caption(t("surfaces.export_caption"))
    plan = plan_csv(res)
    cap = f"{CSV_MAX_BYTES / 1e6:g} MB"
    row = st.container(horizontal=True)  # the buttons at their labels' widths, wrapping: no label cut
    every = "" if plan.stride == 1 else t("surfaces.every_kth", k=_ordinal(plan.stride), n=plan.stride)
    # The files are built from the shared result when asked for: the callables hold the config,
    # not the Result, which would otherwise stay in memory as long as the session lives.
    stride = plan.stride
    row.download_button(t("surfaces.csv_button", every=every, cap=cap), data=lambda: trajectories_csv(compute(config), stride),
                        file_name=_file_stem(config) + ".csv", mime="text/csv", on_click="ignore",
                        icon=":material/download:", width="content",
                        help=t("surfaces.csv_help", cap=cap))
    frames = animation_frames(res)
    row.download_button(t("surfaces.animation_button", mb=ANIMATION_MAX_BYTES / 1e6),
                        data=lambda: animation_html(compute(config), max_frames=frames),
                        file_name=_file_stem(config) + "-animation.html", mime="text/html", on_click="ignore",
                        icon=":material/movie:", width="content",
                        help=t("surfaces.animation_help", frames=frames))
    if plan.stride > 1:
        row.download_button(t("surfaces.final_button"), data=lambda: trajectories_csv(compute(config), final=True),
                            file_name=_file_stem(config) + "-final.csv", mime="text/csv", on_click="ignore",
                            icon=":material/download:", help=t("surfaces.final_help"))
        st.caption(t("surfaces.stride_caption", mb=plan.full_bytes / 1e6, cap=cap, k=_ordinal(plan.stride),
                     n=plan.stride, rows=plan.rows))
    st.markdown(t("surfaces.pytorch_script"))
    starts = config.starts()
    tabs = st.tabs([f"{i + 1}. {c.label}" for i, c in enumerate(config.optimizers)])
    for tab, optimizer in zip(tabs, config.optimizers):
        with tab:
            script = torch_script(optimizer, res.surface, start=tuple(starts[0]), steps=res.shape[2],
                                  clip_norm=config.clip_norm or None, clip_value=config.clip_value or None,
                                  noise=config.noise, seed=config.seed, n_starts=len(starts), tol=config.tol)
            st.code(code_comments(script), language="python")  # comments in the session's language


def header(config: state.RunConfig, view_toggle: bool) -> None:
    """Title, the surface's formula and (view_toggle) the 3-D switch, in one row."""
    surface = config.get_surface()
    with st.container(key="page_header"):
        left, right = st.columns([5, 7], vertical_alignment="center")
        with left:
            st.title(t("surfaces.title"), anchor=False)
            if view_toggle:
                st.toggle(t("surfaces.view_3d"), key="view.3d", help=t("surfaces.view_3d_help"))
        with right:
            # inline math, which breaks after = and + in a narrow window, where a display one is cut
            st.container(key="surface_formula").markdown(f"${surface.latex}$")
            st.caption(f"**{phrase(surface.title)}** — {phrase(surface.description)}")


def notes_and_errors(config: state.RunConfig, errors: list[str]) -> None:
    if ss.get("url_unread") and config == state.make_config():  # the opening view, as yet unchanged
        st.html(UNREAD_LINK, unsafe_allow_javascript=True)
    if ss.get("url_notes"):
        with st.container(border=True):
            st.warning(t("surfaces.link_notes") + "\n\n"
                       + "\n".join(f"- {note}" for note in ss["url_notes"]), icon=":material/link:")
            st.button(t("surfaces.dismiss"), key="dismiss_notes", on_click=widgets.callback(lambda: ss.update(url_notes=[])))
    for error in errors:
        st.error(error, icon=":material/warning:")
    steps = state.capped_steps(config)
    if steps < config.steps and steps == state.lbfgs_steps(config):
        st.warning(t("surfaces.lbfgs_capped", steps=config.steps, running=steps, n=config.swarm or 1,
                     seconds=state.APP_MAX_LBFGS_WORK * state.LBFGS_SECONDS_PER_PASS), icon=":material/content_cut:")
    elif steps < config.steps:
        st.warning(t("surfaces.capped", k=len(config.optimizers), n=config.swarm or 1, steps=config.steps,
                     running=steps))


def main() -> None:
    widgets.mark_live()
    first_view.start_run()
    restore_state()
    apply_click()
    sweeps_section.apply_clicks()
    errors: list[str] = []
    preset = widgets.known_choice("preset", (None, *PRESETS), None, errors, t("surfaces.presets"))
    config, shown = read_settings(errors)
    ss["map.panels"] = [pid for pid, optimizer, _ in shown["panels"] if optimizer is not None]
    ss["preset_active"] = preset
    ss["config"] = config
    try:
        main_area(config, preset, errors)
    finally:  # also after an error in the main area: the settings stay in reach
        if not first_view.deferred():  # a new session's map first, its controls with the rest
            sidebar(shown)
        # The link last: the query-string update is one more message the browser handles
        # (a page-wide re-render, ~20 ms) before it reaches the map when sent first.
        state.write_url(config, preset)
        if not first_view.deferred():
            map_component.show_preview()
        map_component.end_run()
    st.html(NO_STALE_FADE)  # last: it takes no space, and nothing waits behind it


def main_area(config: state.RunConfig, preset: str | None, errors: list[str]) -> None:
    st.html(PAGE_CSS)
    in_browser = map_component.available() and not ss.get("view.3d")
    if in_browser:
        st.html(first_view.plotly_early(), unsafe_allow_javascript=True)
    header(config, view_toggle=in_browser)
    if preset and config == PRESETS[preset].config:
        with st.container(key="story"):
            story.show(*preset_text(preset), folded=state.presenting(), more=t("surfaces.story_more"))
    elif preset:  # the story's claims are about the preset's own run, not this one
        with st.container(key="story"):
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.caption(t("surfaces.preset_modified", title=preset_text(preset)[0]))
            right.button(t("surfaces.restore_preset"), key="restore_preset", on_click=apply_preset, width="stretch")
    notes_and_errors(config, errors)
    if not config.optimizers:
        st.info(t("surfaces.no_optimizer"))
        return
    with page_claim(config):  # the server's memory for runs in flight (ui/compute.py)
        try:
            res = compute(config)
        except ValueError as exc:
            st.error(t("surfaces.run_error", error=exc), icon=":material/warning:")
            return
        if in_browser:
            browser_view(res, config)
            if first_view.cut():  # a new session: the rest once the map is drawn (ui/first_view.py)
                first_view.map_sent()
                with st.container(key="rest_pending"):
                    st.caption(t("surfaces.rest_pending"))
                return
        else:
            playback(res)
        theory_panel.show(res, config)
        sweeps_section.show(res, config)
        results(res, config)
    update_rules(config)
    export(res, config)


if __name__ == "__main__":  # run as a page script (AppTest, `streamlit run`); app.py calls main()
    main()
