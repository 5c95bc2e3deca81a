"""The 2-D page's "Which settings work" section: basin maps, a learning-rate sweep and a
two-parameter sweep of the page's optimizers (issue #16), each computed only while its toggle is on.

Each view is one final-state run (sweeps/, cached in ui/sweeps_compute.py) at the page's surface,
steps and convergence tolerance. A click on a view loads what it points at: a basin pixel becomes
the start, a point of an lr curve loads that lr into its optimizer's panel, a heatmap cell loads
its (lr, hyperparameter) setting. As with the map (surfaces_page.apply_click), the click is read
from the chart's selection state by `apply_clicks` at the start of a run, before any widget is
drawn, so that it may set the sidebar's widgets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import sweeps
from plots.basins import METRICS, basin_legend
from plots.basins import basin_figure as draw_basins
from plots.sweeps import GRID_METRICS, lr_sweep_figure, param_grid_figure

from . import state, widgets
from . import sweeps_compute as compute
from .charts import plotly_chart
from .i18n import phrase, t, titles

BASINS, LR, GRID = "sweeps.basins", "sweeps.lr", "sweeps.grid"  # key prefixes of the three views
CHART = ".chart"
RESOLUTIONS = (50, 100, 150, 200, 250, 300, 400, 500)
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
DEFAULT_LRS = (1e-4, 10.0)
ss = st.session_state


# --- clicks, applied before the widgets are drawn ------------------------------------------------------


def _selection(key: str) -> tuple | None:
    """(x, y, customdata...) of the point last selected on chart `key`, or None."""
    points = ((ss.get(key) or {}).get("selection") or {}).get("points") or []
    if not points or "x" not in points[0]:
        return None
    custom = points[0].get("customdata")
    if isinstance(custom, dict):  # a typed array's row, as the browser's JSON writes it: {"0": a, "1": b}
        custom = [custom[key] for key in sorted(custom, key=int)]
    custom = tuple(custom) if isinstance(custom, (list, tuple)) else () if custom is None else (custom,)
    return (float(points[0]["x"]), float(points[0]["y"]), *custom)


def _panel(k: int) -> int | None:
    """The panel id of the page's k-th optimizer (the k-th panel with valid settings)."""
    valid = [pid for pid in state.PANELS.ids if state.PANELS.config(pid)[0] is not None]
    return valid[k] if 0 <= k < len(valid) else None


def _load(k: int, change) -> None:
    """Load change(config) into the panel of the page's k-th optimizer; say what happened."""
    pid = _panel(k)
    if pid is None:
        return
    config = state.PANELS.config(pid)[0]
    try:
        new = change(config)
    except ValueError as exc:
        ss["sweeps.note"] = ("error", str(exc))
        return
    state.PANELS.load(pid, new)
    ss["sweeps.note"] = ("success", f"Loaded {new.label} into optimizer {k + 1}.")


def start_at(point: tuple) -> None:
    x, y = point[:2]
    ss["start.mode"] = "point"
    widgets.put(state.START_SPEC, "start.x", x)
    widgets.put(state.START_SPEC, "start.y", y)
    ss["sweeps.note"] = ("success", f"Start moved to the basin map's pixel at ({x:.4g}, {y:.4g}).")


def load_lr(point: tuple) -> None:
    k, lr = int(point[2]), float(point[3])
    _load(k, lambda c: sweeps.with_value(c, "lr", lr))


def load_cell(point: tuple) -> None:
    drawn = ss.get(GRID + ".drawn")
    if drawn is None:
        return
    k, axis = drawn
    value, lr = float(point[2]), float(point[3])
    _load(k, lambda c: sweeps.with_value(sweeps.with_value(c, axis, value), "lr", lr))


CLICKS = ((BASINS, start_at), (LR, load_lr), (GRID, load_cell))


def apply_clicks() -> None:
    """A new selection on a view's chart loads what it points at (call before widgets are drawn).
    A deselection forgets the last one, so that the same point can be clicked again."""
    for prefix, apply in CLICKS:
        point, memory = _selection(prefix + CHART), prefix + ".applied"
        if point is None:
            ss[memory] = None
        elif point != ss.get(memory):
            ss[memory] = point
            if len(point) >= 2 + (prefix != BASINS) * 2:
                apply(point)


def current_note(config: state.RunConfig) -> tuple[str, str] | None:
    """(kind, text) of the last click's note while the setup is the one it made: a rerun that
    changes nothing (a component's trigger) keeps it; the next change of the setup drops it."""
    note = ss.get("sweeps.note")
    if not note:
        return None
    if len(note) == 2:  # set by a click's callback: this run's setup is the one it made
        ss["sweeps.note"] = note = (*note, config)
    elif note[2] != config:
        ss.pop("sweeps.note")
        return None
    return note[0], note[1]


# --- the section ------------------------------------------------------------------------------------------


def show(res, config: state.RunConfig) -> None:
    """The section, below the paths: three toggles, each view computed while its toggle is on."""
    toggles = [BASINS + ".on", LR + ".on", GRID + ".on"]
    with st.expander(t("sweeps.title"), expanded=any(ss.get(t) for t in toggles),
                     key="sweeps"):
        st.caption(t("sweeps.caption")
                   + (t("sweeps.no_noise") if config.noise or config.clip_norm
                      or config.clip_value else ""))
        note = current_note(config)
        if note:
            getattr(st, note[0])(note[1])
        surface = config.get_surface()
        if getattr(surface, "stochastic", False):
            st.info(t("sweeps.stochastic"))
            return
        views = ((toggles[0], t("sweeps.basins"), basins_view),
                 (toggles[1], t("sweeps.lr"), lr_view),
                 (toggles[2], t("sweeps.grid"), grid_view))
        for key, title, view in views:
            if st.toggle(title, key=key):
                with st.container(border=True, key=key.replace(".on", "-view").replace(".", "-")):
                    try:
                        view(res, config, surface)
                    except ValueError as exc:
                        st.error(t("sweeps.error", error=exc), icon=":material/warning:")


def _slow(reason: str | None) -> None:
    if reason:
        st.caption(t("sweeps.array_code", reason=phrase(reason.rstrip('.'))))


def _labels(config: state.RunConfig) -> list[str]:
    return [f"{k + 1}. {c.label}" for k, c in enumerate(config.optimizers)]


# --- basin maps ---------------------------------------------------------------------------------------------


def basin_frame(maps, labels, minima: np.ndarray, n_global: int) -> pd.DataFrame:
    """Per optimizer: the share of starts in each basin (locals pooled past eight minima), of those
    that reached no known minimum and of those that diverged, and the median steps to converge."""
    names = [name.removeprefix("reached ") for name, _ in basin_legend(minima, n_global)]
    rows = []
    for label, m in zip(labels, maps):
        shares = [float(np.mean(m.basin == i)) for i in range(len(minima))]
        if len(names) - 2 < len(minima):  # pooled locals
            shares = shares[:n_global] + [sum(shares[n_global:])]
        shares += [float(np.mean(m.basin == sweeps.basins.NOWHERE)), float(np.mean(m.basin == sweeps.basins.DIVERGED))]
        steps = m.steps[np.isfinite(m.steps)]
        rows.append({"optimizer": label, **{n: f"{s:.1%}" for n, s in zip(names, shares)},
                     "median steps to converge": f"{np.median(steps):.0f}" if steps.size else "—"})
    return pd.DataFrame(rows)


def basins_view(res, config: state.RunConfig, surface) -> None:
    left, right = st.columns(2)
    metric = left.selectbox(t("sweeps.colour_by"), list(METRICS), format_func=titles(METRICS), key=BASINS + ".metric")
    ss.setdefault(BASINS + ".resolution", 150)
    resolution = right.select_slider(t("sweeps.resolution"), RESOLUTIONS, key=BASINS + ".resolution")
    k_count = len(config.optimizers)
    steps = compute.capped_steps(config.steps, resolution**2)
    bar = st.progress(0.0, text=t("sweeps.basin_maps", r=resolution))
    maps = []
    for k, optimizer in enumerate(config.optimizers):
        maps.append(compute.basin_map(config.surface, config.surface_params, optimizer, resolution, config.steps,
                                      config.tol))
        bar.progress((k + 1) / k_count, text=t("sweeps.basin_map", k=k + 1, n=k_count, r=resolution))
    bar.empty()
    n_global = compute.global_count(surface)
    labels = _labels(config)
    fig = draw_basins(surface, maps, labels, metric, steps=steps, global_count=n_global,
                      res=res if res.shape[1] == 1 else None)
    plotly_chart(fig, key=BASINS + CHART, on_select="rerun", selection_mode="points", config=CHART_CONFIG)
    st.caption(t("sweeps.basins_caption", steps=steps))
    st.dataframe(basin_frame(maps, labels, maps[0].minima, n_global).rename(columns=phrase), hide_index=True, width="stretch",
                 key=BASINS + ".table")
    for reason in dict.fromkeys(m.slow_reason for m in maps):
        _slow(reason)


# --- learning-rate sweep ---------------------------------------------------------------------------------------


def lr_range(prefix: str, count_default: int, count_max: int) -> tuple[float, float, int] | None:
    """Lr range and count widgets; (low, high, count), or None after an error shown."""
    cols = st.columns(3)
    ss.setdefault(prefix + ".lr_low", DEFAULT_LRS[0])
    ss.setdefault(prefix + ".lr_high", DEFAULT_LRS[1])
    ss.setdefault(prefix + ".count", count_default)
    low = cols[0].number_input(t("sweeps.lowest_lr"), min_value=1e-12, max_value=1e3, format="%g", key=prefix + ".lr_low")
    high = cols[1].number_input(t("sweeps.highest_lr"), min_value=1e-12, max_value=1e3, format="%g", key=prefix + ".lr_high")
    count = cols[2].slider(t("sweeps.lr_count"), 2, count_max, key=prefix + ".count")
    if not low < high:
        st.error(t("sweeps.lr_order", low=low, high=high), icon=":material/warning:")
        return None
    return float(low), float(high), int(count)


def _starts(config: state.RunConfig) -> tuple:
    return tuple(map(tuple, config.starts().tolist()))


def _fit(count: int, settings_per_count: int, starts: int) -> int:
    """`count` lowered so that count * settings_per_count * starts fits the final-state cap."""
    return min(count, compute.max_per_start(count * settings_per_count, starts) // settings_per_count)


def lr_frame(sweep, labels) -> pd.DataFrame:
    rows = []
    for k, label in enumerate(labels):
        b = int(sweep.best[k])
        rows.append({"optimizer": label,
                     "best lr": f"{sweep.lrs[b]:.4g}" if b >= 0 else "— (diverged at every lr)",
                     "final loss at best": f"{sweep.loss[k, b]:.4g}" if b >= 0 else "—",
                     "steps at best": f"{sweep.steps[k, b]:.4g}" if b >= 0 and np.isfinite(sweep.steps[k, b]) else "—",
                     "diverges from lr": f"{sweep.threshold[k]:.4g}" if np.isfinite(sweep.threshold[k]) else "— (never)"})
    return pd.DataFrame(rows)


def lr_view(res, config: state.RunConfig, surface) -> None:
    picked = lr_range(LR, 80, sweeps.lr.MAX_LRS)
    if picked is None:
        return
    low, high, count = picked
    starts = _starts(config)
    fitted = _fit(count, len(config.optimizers), len(starts))
    if fitted < 2:
        st.warning(t("sweeps.too_many"))
        return
    if fitted < count:
        st.caption(t("sweeps.lr_fitted", k=len(config.optimizers), n=len(starts), fitted=fitted))
    base = tuple(sweeps.with_value(c, "lr", low) for c in config.optimizers)
    sweep, slow = compute.lr_sweep(config.surface, config.surface_params, base, (low, high, fitted), starts,
                                   config.steps, config.tol)
    labels = _labels(config)
    plotly_chart(lr_sweep_figure(sweep, labels, min_value=surface.min_value), key=LR + CHART, on_select="rerun",
                 selection_mode="points", config=CHART_CONFIG)
    many = len(starts) > 1
    st.caption((t("sweeps.lr_means")
                if many else t("sweeps.lr_current"))
               + t("sweeps.lr_star") + (t("sweeps.lr_half") if many else "")
               + t("sweeps.lr_gaps"))
    st.dataframe(lr_frame(sweep, labels).rename(columns=phrase), hide_index=True, width="stretch", key=LR + ".table")
    _slow(slow)


# --- two-parameter sweep -----------------------------------------------------------------------------------------


def _value_range(optimizer, axis: sweeps.Axis) -> tuple[float, float]:
    """The default range of an axis: its UI range, kept 1 % off ends where runs never settle
    (momentum 1) or the optimizer refuses the value (Nesterov at momentum 0)."""
    low, high = axis.ui_low, axis.ui_high
    if axis.log:
        return (low if low > 0 else high * 1e-6), high
    span = high - low
    if high == axis.high:
        high -= span / 100
    try:
        sweeps.with_value(optimizer, axis.name, low)
    except ValueError:
        low += span / 100
    return low, high


def stability_bounds(surface, optimizer, axis: str, values: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The closed-form edge of momentum SGD on the quadratic for each Hessian eigenvalue (largest
    first), when the heatmap is SGD's lr x momentum; [] otherwise."""
    if surface.name != "quadratic" or optimizer.name != "sgd" or axis != "momentum":
        return []
    hp = dict(optimizer.hparams)
    nesterov, dampening = bool(hp["nesterov"]), float(hp["dampening"])
    if dampening >= 1 or (nesterov and dampening):
        return []
    edge = "lr·λ = 2(1 + μ)/(1 + 2μ)" if nesterov else "(1 − d)·lr·λ = 2 + 2μ"
    return [(f"closed-form stability edge {edge}, λ = {lam:.3g}",
             sweeps.momentum_lr_bound([lam], values, dampening=dampening, nesterov=nesterov))
            for lam in sweeps.hessian_eigenvalues(surface)[::-1]]


def grid_view(res, config: state.RunConfig, surface) -> None:
    labels = _labels(config)
    cols = st.columns(3)
    k = cols[0].selectbox(t("sweeps.optimizer"), range(len(labels)), format_func=lambda i: labels[i], key=GRID + ".optimizer")
    optimizer = config.optimizers[k]
    axes = {name: a for name, a in sweeps.sweep_axes(optimizer.name).items() if name != "lr"}
    if not axes:
        st.info(t("sweeps.no_axis", optimizer=optimizer.info.title))
        return
    names = list(axes)
    if ss.get(GRID + ".axis") not in names:
        ss[GRID + ".axis"] = next((n for n in ("momentum", "beta1") if n in names), names[0])
    axis = axes[cols[1].selectbox(t("sweeps.against_lr"), names, key=GRID + ".axis")]
    metric = cols[2].selectbox(t("sweeps.colour"), list(GRID_METRICS), format_func=titles(GRID_METRICS), key=GRID + ".metric")
    picked = lr_range(GRID, 40, 64)
    if picked is None:
        return
    lr_low, lr_high, lr_count = picked
    prefix = f"{GRID}.{optimizer.name}.{axis.name}"
    default_low, default_high = _value_range(optimizer, axis)
    ss.setdefault(prefix + ".low", float(default_low))
    ss.setdefault(prefix + ".high", float(default_high))
    ss.setdefault(GRID + ".values", 24)
    row = st.columns(3)
    low = row[0].number_input(t("sweeps.lowest", name=axis.name), format="%g", key=prefix + ".low")
    high = row[1].number_input(t("sweeps.highest", name=axis.name), format="%g", key=prefix + ".high")
    count = row[2].slider(t("sweeps.values", name=axis.name), 2, 64, key=GRID + ".values")
    if not low < high or (axis.log and low <= 0):
        st.error(t("sweeps.range_order", name=axis.name) + (t("sweeps.both_positive") if axis.log else "."), icon=":material/warning:")
        return
    starts = _starts(config)
    fitted = _fit(count, lr_count, len(starts))
    if fitted < 2:
        st.warning(t("sweeps.too_many_cells"))
        return
    values = np.geomspace(low, high, fitted) if axis.log else np.linspace(low, high, fitted)
    base = sweeps.with_value(sweeps.with_value(optimizer, axis.name, float(values[0])), "lr", lr_low)
    sweep, slow = compute.param_sweep(config.surface, config.surface_params, base, axis.name, tuple(values.tolist()),
                                      (lr_low, lr_high, lr_count), starts, config.steps, config.tol)
    bounds = stability_bounds(surface, optimizer, axis.name, values)
    fig = param_grid_figure(sweep, labels[k], metric, min_value=surface.min_value, log_axis=axis.log, bounds=bounds)
    plotly_chart(fig, key=GRID + CHART, on_select="rerun", selection_mode="points", config=CHART_CONFIG)
    ss[GRID + ".drawn"] = (k, axis.name)
    best = ("" if sweep.best is None else
            t("sweeps.best_cell", lr=sweep.lrs[sweep.best[1]], name=axis.name, value=sweep.values[sweep.best[0]]))
    st.caption(t("sweeps.grid_settings", fitted=fitted, lr_count=lr_count, label=labels[k])
               + (t("sweeps.grid_averaged", n=len(starts)) if len(starts) > 1 else t("sweeps.grid_current"))
               + t("sweeps.grid_colours", best=best)
               + (t("sweeps.grid_lines") if bounds else "")
               + t("sweeps.grid_click"))
    _slow(slow)
    if fitted < count:
        st.caption(t("sweeps.grid_fitted", n=len(starts), fitted=fitted, name=axis.name))

