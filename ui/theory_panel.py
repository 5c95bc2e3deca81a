"""The theory panel of the 2-D page: a textbook result beside what the run measured.

On the quadratic: each optimizer's measured rate per step next to the closed-form rate and
stability threshold for its settings (Goh 2017), and a button setting gradient descent and
momentum to their best values for the current condition number. On the saddle x^2 - y^2: each
optimizer's measured escape step next to the formula (Lee et al. 2016) and, with gradient
noise, the escape from the ridge line itself (Jin et al. 2017). Other surfaces show nothing.
The numbers come from theory.report, the figures from plots.theory.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from plots.theory import escape_figure, rate_distance_figure, rate_lr_figure
from theory import rates, report

from . import state, widgets
from .charts import plotly_chart
from .i18n import phrase, t

CONDITIONS = (10.0, 100.0, 1000.0, 10000.0)  # rows of the square-root table
PERTURBATION = 0.01  # the noise the saddle panel's button switches on
CHART_CONFIG = {"displaylogo": False}
ss = st.session_state


def show(res, config: state.RunConfig) -> None:
    """The panel for the Result `res` of `config`, when its surface has a textbook result."""
    panels = {"quadratic": rates_panel, "saddle": saddle_panel}
    if res.surface.name in panels:
        with st.container(border=True, key="theory"):
            panels[res.surface.name](res, config)


def _first_start_note(res) -> str:
    return t("theory.first_start") if res.shape[1] > 1 else ""


def _clipped(config: state.RunConfig) -> bool:
    return bool(config.clip_norm or config.clip_value)


# --- rates on the quadratic ---------------------------------------------------------------------------


@widgets.callback
def set_optimal(condition: float) -> None:
    """Callback: the optimizers become gradient descent and heavy ball at their best settings."""
    state.PANELS.clear()
    for optimizer in report.optimal_sgd(condition):
        state.PANELS.add(optimizer)
    ss.pop("play.step", None)


def _per_decade(rate: float | None) -> str:
    if rate is None:
        return "—"
    return t("theory.never_grows") if rate >= 1 else f"{rates.steps_per_decade(rate):.4g}"


def rate_frame(rows: list[report.RateRow]) -> pd.DataFrame:
    return pd.DataFrame([{
        "optimizer": r.label,
        "measured rate": f"{r.fit.rate:.5g}" if r.fit else "— (too few points)",
        "fitted over steps": f"{r.fit.first}–{r.fit.last}" if r.fit else "—",
        "closed-form rate": f"{r.rate:.5g}" if r.rate is not None else f"— ({r.reason})",
        "steps per ×10 (measured / theory)": f"{_per_decade(r.fit.rate if r.fit else None)} / {_per_decade(r.rate)}",
        "stable for lr below": (f"{r.threshold:.4g} (lr = {r.lr:.4g})" if r.threshold is not None else "—"),
        "run": r.outcome,
    } for r in rows])


def sqrt_frame(condition: float) -> pd.DataFrame:
    """Best gradient descent against best momentum at several condition numbers and this one."""
    conditions = sorted({*CONDITIONS, float(condition)})
    out = []
    for kappa in conditions:
        best = report.comparison(kappa)
        out.append({
            "κ": f"{kappa:g}" + (t("theory.this_surface") if kappa == condition else ""),
            "best GD rate": f"{best.gd.rate:.5g}",
            "GD steps per ×10": f"{rates.steps_per_decade(best.gd.rate):.4g}",
            "best momentum rate": f"{best.heavy_ball.rate:.5g}",
            "momentum steps per ×10": f"{rates.steps_per_decade(best.heavy_ball.rate):.4g}",
            "momentum is … × faster": f"{best.speedup:.3g}",
            "√κ": f"{math.sqrt(kappa):.3g}",
        })
    return pd.DataFrame(out)


def rates_panel(res, config: state.RunConfig) -> None:
    condition = float(res.surface.params["condition"])
    lam_min, lam_max = rates.quadratic_eigenvalues(condition)
    st.subheader(t("theory.rates_title"), anchor=False)
    st.markdown(
        t("theory.rates_text")
    )
    formulas = (r"\text{GD: } r = \max_i |1 - \eta\lambda_i|",
                r"\text{momentum: } r = \max_i\, \rho\!\begin{pmatrix}1 + \beta - \eta\lambda_i & -\beta \\ 1 & 0\end{pmatrix}",
                rf"\lambda_1 = 1/\kappa = {lam_min:.4g},\ \lambda_n = {lam_max:g}")
    # three inline formulas, which a narrow window puts on lines of their own instead of cutting them
    st.container(key="rates_formula").markdown(",&emsp;".join(f"${f}$" for f in formulas))
    rows = report.rate_rows(res, noise=config.noise, clipped=_clipped(config))
    left, right = st.columns(2)
    with left:
        plotly_chart(rate_distance_figure(res, report.distance(res), rows), config=CHART_CONFIG)
        st.caption(t("theory.distance_caption") + _first_start_note(res))
    with right:
        plotly_chart(rate_lr_figure(rows, report.rate_curves(rows, condition)), config=CHART_CONFIG)
        st.caption(t("theory.lr_caption"))
    st.dataframe(rate_frame(rows).rename(columns=phrase), hide_index=True, width="stretch", key="theory.rates")
    for row in rows:
        if row.note:
            st.caption(f"{row.label}: {row.note}.")
    st.markdown(t("theory.sqrt_title", condition=condition))
    st.dataframe(sqrt_frame(condition).rename(columns=phrase), hide_index=True, width="stretch", key="theory.sqrt")
    best = report.comparison(condition)
    st.button(t("theory.set_optimal", condition=condition), key="theory.optimal",
              on_click=set_optimal, args=(condition,), icon=":material/tune:",
              help=t("theory.set_optimal_help", gd_lr=best.gd.lr, hb_lr=best.heavy_ball.lr,
                     momentum=best.heavy_ball.momentum))


# --- escaping the saddle --------------------------------------------------------------------------------


@widgets.callback
def set_noise(value: float) -> None:
    """Callback: the run's gradient noise becomes `value` (0 = off)."""
    widgets.put(state.RUN_SPECS["noise"], "noise", value)


@widgets.callback
def start_on_ridge() -> None:
    """Callback: a single start at the current x on the ridge line y = 0."""
    ss["start.mode"] = "point"
    widgets.put(state.START_SPEC, "start.y", 0.0)


def _theory_text(row: report.EscapeRow) -> str:
    if row.reason:
        return f"— ({row.reason})"
    if row.formula is not None:
        if math.isinf(row.formula):
            return t("theory.never_y0") if row.y0 == 0 else t("theory.never_lr0")
        return f"⌈{row.formula:.4f}⌉ = {row.predicted}"
    if row.median is None:
        return t("theory.half_not_within")
    return t("theory.half_by", step=row.median)


def escape_frame(rows: list[report.EscapeRow], steps: int) -> pd.DataFrame:
    return pd.DataFrame([{
        "optimizer": r.label,
        "escape (measured)": str(r.measured) if r.measured is not None else t("theory.not_within", steps=steps),
        "escape (theory)": _theory_text(r),
    } for r in rows])


def saddle_panel(res, config: state.RunConfig) -> None:
    steps = res.shape[2]
    st.subheader(t("theory.saddle_title"), anchor=False)
    st.markdown(
        t("theory.saddle_text")
    )
    st.latex(r"x_k = (1 - 2\eta)^k x_0,\qquad y_k = (1 + 2\eta)^k y_0,\qquad "
             r"k_{\text{escape}} = \left\lceil \frac{\log(1/|y_0|)}{\log(1 + 2\eta)} \right\rceil")
    rows = report.escape_rows(res, noise=config.noise, clipped=_clipped(config))
    expected = {}
    for row in rows:
        line = report.expected_y(row, config.noise, steps)
        if line is not None:
            expected[row.k] = line
    left, right = st.columns([3, 2])
    with left:
        plotly_chart(escape_figure(res, rows, expected), config=CHART_CONFIG)
        st.caption(t("theory.escape_caption")
                   + (t("theory.escape_caption_noise") if config.noise > 0
                      else ".") + _first_start_note(res))
    with right:
        st.dataframe(escape_frame(rows, steps).rename(columns=phrase), hide_index=True, width="stretch", key="theory.escape")
        st.caption(t("theory.escape_step"))
        if config.noise > 0:
            st.caption(t("theory.noise_caption", noise=config.noise))
            st.button(t("theory.remove_noise"), key="theory.noise", on_click=set_noise, args=(0.0,))
        else:
            st.button(t("theory.add_noise", noise=PERTURBATION), key="theory.noise",
                      on_click=set_noise, args=(PERTURBATION,))
        if config.swarm or config.start[1] != 0:
            st.button(t("theory.ridge"), key="theory.ridge", on_click=start_on_ridge)
