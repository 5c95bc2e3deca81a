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
    return " About the first start of the swarm." if res.shape[1] > 1 else ""


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
    return "never (grows)" if rate >= 1 else f"{rates.steps_per_decade(rate):.4g}"


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
            "κ": f"{kappa:g}" + (" (this surface)" if kappa == condition else ""),
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
    st.subheader("Textbook result: how fast gradient descent and momentum converge", anchor=False)
    st.markdown(
        "**Goh, “Why Momentum Really Works”, Distill 2017.** On a quadratic with curvatures λ₁ ≤ λₙ "
        "(κ = λₙ/λ₁), gradient descent shrinks the error by max |1 − lr·λᵢ| per step and diverges above "
        "lr = 2/λₙ; heavy-ball momentum shrinks it by the spectral radius of its 2×2 iteration matrix and "
        "diverges above lr = (2 + 2β)/λₙ. At their best settings the rates are (κ − 1)/(κ + 1) and "
        "(√κ − 1)/(√κ + 1): momentum needs about √κ times fewer steps."
    )
    st.latex(
        r"\text{GD: } r = \max_i |1 - \eta\lambda_i|,\qquad \text{momentum: } r = \max_i\, \rho\!\begin{pmatrix}"
        r"1 + \beta - \eta\lambda_i & -\beta \\ 1 & 0\end{pmatrix},\qquad"
        rf"\lambda_1 = 1/\kappa = {lam_min:.4g},\ \lambda_n = {lam_max:g}"
    )
    rows = report.rate_rows(res, noise=config.noise, clipped=_clipped(config))
    left, right = st.columns(2)
    with left:
        plotly_chart(rate_distance_figure(res, report.distance(res), rows), config=CHART_CONFIG)
        st.caption("Solid: each run's distance to the minimum (log scale). Dashed: the closed-form rate rᵏ, drawn "
                   "through the last fitted point; where the two run parallel, the measured rate is the theory's. "
                   "Measured rate: exp of the least-squares slope of log ‖θₖ − θ*‖ over the second half of the "
                   "steps before the run stopped or the distance fell below 10⁻¹⁵." + _first_start_note(res))
    with right:
        plotly_chart(rate_lr_figure(rows, report.rate_curves(rows, condition)), config=CHART_CONFIG)
        st.caption("Lines: the closed-form rate per step against the learning rate, one per momentum value; "
                   "dotted verticals: where each becomes unstable (the rate crosses 1). Dots: the rates the runs "
                   "measured, at their learning rates.")
    st.dataframe(rate_frame(rows), hide_index=True, width="stretch", key="theory.rates")
    for row in rows:
        if row.note:
            st.caption(f"{row.label}: {row.note}.")
    st.markdown(f"**Why momentum's advantage grows like √κ** — best settings at κ = {condition:g}: gradient descent "
                f"lr = 2/(λ₁ + λₙ), momentum lr = (2/(√λ₁ + √λₙ))², β = ((√λₙ − √λ₁)/(√λₙ + √λ₁))².")
    st.dataframe(sqrt_frame(condition), hide_index=True, width="stretch", key="theory.sqrt")
    best = report.comparison(condition)
    st.button(f"Set the optimal values for this condition number (κ = {condition:g})", key="theory.optimal",
              on_click=set_optimal, args=(condition,), icon=":material/tune:",
              help=f"Replaces the optimizers by SGD at lr = {best.gd.lr:.4g} and SGD with lr = "
                   f"{best.heavy_ball.lr:.4g}, momentum = {best.heavy_ball.momentum:.4g}")


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
            return "never: y₀ = 0, it converges to the saddle" if row.y0 == 0 else "never: lr = 0"
        return f"⌈{row.formula:.4f}⌉ = {row.predicted}"
    if row.median is None:
        return "half the draws: not within the run"
    return f"half the draws by step {row.median}"


def escape_frame(rows: list[report.EscapeRow], steps: int) -> pd.DataFrame:
    return pd.DataFrame([{
        "optimizer": r.label,
        "escape (measured)": str(r.measured) if r.measured is not None else f"not within {steps} steps",
        "escape (theory)": _theory_text(r),
    } for r in rows])


def saddle_panel(res, config: state.RunConfig) -> None:
    steps = res.shape[2]
    st.subheader("Textbook result: escaping a saddle point", anchor=False)
    st.markdown(
        "**Lee et al., “Gradient Descent Only Converges to Minimizers”, COLT 2016.** From almost every start, "
        "gradient descent leaves a strict saddle: only the starts on its stable set — here the line y = 0 — "
        "converge to it. **Jin et al., “How to Escape Saddle Points Efficiently”, ICML 2017.** Perturbed gradient "
        "descent, which adds small random kicks, escapes strict saddles in a number of steps only polylogarithmic "
        "in the dimension — even from the stable set. Here the kick is the run's gradient noise, added at every "
        "step."
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
        st.caption("Solid: |yₖ| of each run (log scale, drawn as at least 10⁻¹⁶). Dashed: the theory's |yₖ| for plain "
                   "gradient descent — without noise the exact |y₀|(1 + 2·lr)ᵏ, on top of the solid line; with "
                   "noise the root-mean-square over noise draws, which one run follows only up to a random factor. "
                   "Dotted: |y| = 1. Dashed verticals: the theory's escape steps"
                   + (" (with noise: the step by which at least half of all noise draws have escaped)." if config.noise > 0
                      else ".") + _first_start_note(res))
    with right:
        st.dataframe(escape_frame(rows, steps), hide_index=True, width="stretch", key="theory.escape")
        st.caption("Escape step: the first step k with |yₖ| ≥ 1.")
        if config.noise > 0:
            st.caption(f"Gradient noise σ = {config.noise:g}: each run's escape step depends on the draw (change "
                       "the noise seed); the theory gives the step by which half of all draws have |yₖ| ≥ 1.")
            st.button("Remove the gradient noise", key="theory.noise", on_click=set_noise, args=(0.0,))
        else:
            st.button(f"Add gradient noise σ = {PERTURBATION:g} (perturbed gradient descent)", key="theory.noise",
                      on_click=set_noise, args=(PERTURBATION,))
        if config.swarm or config.start[1] != 0:
            st.button("Start on the ridge line (y₀ = 0)", key="theory.ridge", on_click=start_on_ridge)
