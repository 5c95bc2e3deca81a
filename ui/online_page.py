"""The online page: Adam vs AMSGrad on the online problem of Reddi, Kale & Kumar (ICLR 2018).

Sidebar widgets -> (problem, optimizers, steps, start) -> cached run_online -> plots/online figures,
a results table and the preset's story, written from the numbers of the run. The paper's two
optimizers follow C and alpha (beta2 = 1 / (1 + C^2)); the optimizer panels below them add any
optimizer of the registry with its own settings. Widget values live under keys starting with
WIDGET and are copied to a plain session key at the end of every run, because Streamlit drops
the state of widgets not drawn (while on another page).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from hyperparams import Hyperparameter as H
from online import PAPER_SCHEDULE, REFERENCE, OnlineResult, get_problem, paper_optimizers, run_online
from online.problem import SPECS as PROBLEM_SPECS
from online.run import MAX_STEPS
from online.run import SPECS as RUN_SPECS
from optimizers import OPTIMIZERS, OptimizerConfig, get_optimizer
from optimizers.registry import MAX_LR
from plots.online import average_regret_figure, eff_lr_figure, iterate_figure
from plots.palette import color
from ui import widgets
from ui.charts import plotly_chart
from ui.i18n import phrase, t
from ui.optimizer_panel import OptimizerPanels

WIDGET = "online.w."  # prefix of every widget key of this page
CHART = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
SPECS = {s.name: s for s in (
    *PROBLEM_SPECS,
    H("alpha", 0.1, low=0, low_open=True, high=MAX_LR, help="the paper's α: lr_t = α / √t"),
    H("steps", 20_000, kind="int", low=1, high=MAX_STEPS, help="number of online steps T"),
    RUN_SPECS[1],  # start
)}
SGD = get_optimizer("sgd", lr=0.1, schedule=PAPER_SCHEDULE)
# Keys online.opt{pid}.* (buttons), values under WIDGET (saved while away), the list under "online.panels"
# A linear loss has no curvature for Newton's method to invert, nor for L-BFGS to estimate (and the
# online runner has no loss to hand a closure): they are not offered here
PANELS = OptimizerPanels(default=SGD, namespace="online.", values=WIDGET + "opt.",
                         names=tuple(name for name, info in OPTIMIZERS.items()
                                     if not info.curvature and info.closure_calls is None))
ss = st.session_state


@dataclass(frozen=True)
class Preset:
    """A story: widget settings, the extra optimizers in the panels, and its text from a run."""

    title: str
    settings: dict
    extra: tuple[OptimizerConfig, ...]
    story: Callable[[OnlineResult, list], str]


# --- the numbers the stories quote --------------------------------------------------------------------


def _cycle_moves(res: OnlineResult, k: int) -> tuple[float, float]:
    """(down, up) of configuration k in the last whole cycle, in units of that cycle's lr_t:
    eff_lr × |g| at the C step and summed over the two −1 steps (the move before the clamp when
    the direction is g itself, as for Adam with β₁ = 0)."""
    first = (res.steps // 3 - 1) * 3  # index of the last whole cycle's C step (step t = first + 1)
    moves = res.eff_lr[k, first:first + 3] * np.abs(res.grad[k, first:first + 3]) / res.lr[k, first]
    return float(moves[0]), float(moves[1] + moves[2])


def _outcome(res: OnlineResult, k: int) -> str:
    return f"x = {res.path[k, -1]:+.4f}, R_T/T = {res.average_regret[k, -1]:.4f}"


def reddi_story(res: OnlineResult, paper: list) -> str:
    p, steps = res.problem, res.steps
    best = {True: "so the best fixed point is x* = −1", False: "so the best fixed point is x* = +1",
            None: "so every point is as good as any"}[None if p.C == 2 else p.C > 2]
    text = (f"Every third step the gradient is C = {p.C:g}, at the two steps between it −1: the average gradient "
            f"is (C − 2)/3 = {(p.C - 2) / 3:.3g}, {best}. ")
    if len(paper) < 2 or steps < 6:
        return text + "Switch on the paper's Adam and AMSGrad (and run at least 6 steps) to see them part ways."
    adam, ams = paper
    down, up = _cycle_moves(res, adam)
    a_down, a_up = _cycle_moves(res, ams)
    text += (f"With β₂ = 1/(1+C²) = {p.paper_beta2():.3g}, Adam's v_t forgets the big gradient within a step: in "
             f"its last cycle the C step moved it down by {down:.2f} lr_t and the two −1 steps up by {up:.2f} lr_t "
             f"(see the band of its effective lr). Net drift: {'up' if up > down else 'down'}. After T = {steps:,} "
             f"steps Adam has {_outcome(res, adam)}; the worst fixed point's limit is 2(C − 2)/3 = "
             f"{p.worst_average_regret():.4g}. AMSGrad divides by the running maximum of v_t, so the big gradient "
             f"keeps its weight (down {a_down:.2f} lr_t, up {a_up:.2f} lr_t): {_outcome(res, ams)}, and R_T/T keeps "
             f"falling, like 1/√T.")
    others = [k for k in range(len(res.labels)) if k not in paper]
    if others:
        text += " Also here: " + "; ".join(f"{res.labels[k]}: {_outcome(res, k)}" for k in others) + "."
    if not p.lesson_holds:
        text += " (With C ≤ 2 the paper's premise is gone: see the note above.)"
    return text


def betas_story(res: OnlineResult, paper: list) -> str:
    rows = "; ".join(f"{res.labels[k]}: {_outcome(res, k)}" for k in range(len(res.labels)))
    return ("Same problem, same lr_t = α/√t; the extra Adam and AMSGrad use torch's default β₂ = 0.999. A long "
            "memory averages the rare big gradient with the small ones, the effective lr barely changes within a "
            "cycle (a thin line, not a band), and Adam follows the average gradient down as well. That is no cure "
            "in general: Theorem 2 of the paper builds, for any β₁ < √β₂, an online problem on which Adam fails; "
            f"AMSGrad's maximum is the fix that holds for all of them. After "
            f"{res.steps:,} steps — {rows}.")


PRESETS = {
    "reddi": Preset("Reddi et al. 2018: Adam drifts to the wrong end",
                    {"C": 3.0, "alpha": 0.1, "steps": 20_000, "start": 0.0, "adam": True, "amsgrad": True},
                    (SGD,), reddi_story),
    "betas": Preset("A longer memory (β₂ = 0.999) rescues Adam here — but not in general",
                    {"C": 3.0, "alpha": 0.1, "steps": 20_000, "start": 0.0, "adam": True, "amsgrad": True},
                    tuple(get_optimizer("adam", lr=0.1, amsgrad=ams, schedule=PAPER_SCHEDULE)
                          for ams in (False, True)), betas_story),
}


# --- widgets and their values ----------------------------------------------------------------------------


def key(name: str) -> str:
    return WIDGET + name


@widgets.callback
def apply_preset(overwrite: bool = True) -> None:
    """Callback of the preset picker; the opening view (overwrite=False) keeps what is already set."""
    preset = PRESETS.get(ss.get(key("preset")))
    if preset is None:
        return
    for name, value in preset.settings.items():
        if overwrite or key(name) not in ss:
            ss[key(name)] = value
    PANELS.clear()
    for config in preset.extra:
        PANELS.add(config)


def keep_widgets(restore: bool) -> None:
    """restore: put back the widget values saved at the end of the last run of this page (they are
    dropped while away); else save them."""
    if restore:
        ss.update({k: v for k, v in ss.get("online.saved", {}).items() if k not in ss})
    else:
        ss["online.saved"] = {k: ss[k] for k in list(ss.keys()) if isinstance(k, str) and k.startswith(WIDGET)}


def read(name: str, errors: list[str]):
    """A setting's checked value, or its default with the message in `errors`."""
    spec = SPECS[name]
    value = ss.setdefault(key(name), spec.default)
    try:
        return spec.check(value, "setting")
    except ValueError as exc:
        errors.append(t("online.default_used", error=exc, default=spec.default))
        return spec.default


def number(name: str, label: str, step: float) -> None:
    """A number input without bounds: a value out of range gets the page's message, not Streamlit's.
    Its type (int or float) is step's."""
    spec = SPECS[name]
    st.number_input(label, step=step, format=None if isinstance(step, int) else "%g", key=key(name),
                    help=f"{phrase(spec.help)} · {t('widgets.allowed', range=spec.range_text())}")


def sidebar(panels, n_paper: int) -> None:
    """Draw the sidebar; the panels' optimizers come after the n_paper of the paper in the colours."""
    with st.sidebar:
        st.selectbox(t("surfaces.presets"), list(PRESETS), key=key("preset"), on_change=apply_preset, index=None,
                     format_func=lambda n: PRESETS[n].title, placeholder=t("surfaces.presets_placeholder"))
        st.subheader(t("online.problem"))
        number("C", t("online.c"), 0.5)
        st.slider(t("online.start"), -1.0, 1.0, step=0.05, key=key("start"), help=phrase(SPECS["start"].help))
        number("steps", t("online.steps"), 1000)
        st.caption(t("online.max_steps", n=MAX_STEPS))
        st.subheader(t("online.paper_optimizers"))
        number("alpha", "α (lr_t = α / √t)", 0.01)
        st.checkbox("Adam", key=key("adam"))
        st.checkbox("AMSGrad", key=key("amsgrad"))
        st.caption(t("online.paper_caption"))
        st.subheader(t("online.more"))
        st.caption(t("online.more_caption"))
        PANELS.sidebar(panels, lambda k: color(k + n_paper))
        left_out = [OPTIMIZERS[name].title for name in OPTIMIZERS if name not in PANELS.names]
        if left_out:
            st.caption(t("online.two_d_only", names=", ".join(left_out)))


def changed(preset: Preset, values: dict, extra: tuple[OptimizerConfig, ...]) -> bool:
    """Whether the settings and the panels' optimizers differ from the preset's."""
    now = {**values, "adam": ss.get(key("adam")), "amsgrad": ss.get(key("amsgrad"))}
    return any(now[name] != value for name, value in preset.settings.items()) or extra != preset.extra


# --- main area --------------------------------------------------------------------------------------------


@st.cache_data(max_entries=8, show_spinner="Running the optimizers…")
def compute(problem, configs: tuple[OptimizerConfig, ...], steps: int, start: float) -> OnlineResult:
    return run_online(problem, configs, steps, start=start)


def results_table(res: OnlineResult) -> pd.DataFrame:
    best = res.problem.minimiser()
    return pd.DataFrame([{
        "optimizer": f"{k + 1}. {res.labels[k]}",
        "final x": f"{res.path[k, -1]:+.4f}",
        "distance to x*": "—" if best is None else f"{abs(res.path[k, -1] - best):.4f}",
        "R_T / T": f"{res.average_regret[k, -1]:.4f}",
        "R_T": f"{res.regret[k, -1]:.4g}",
        "status": "ok" if res.diverged_at[k] < 0 else f"not finite from step {int(res.diverged_at[k])}",
    } for k in range(len(res.labels))])


def figures(res: OnlineResult) -> None:
    st.markdown(t("online.iterate"))
    plotly_chart(iterate_figure(res), key="online.iterate", config=CHART)
    left, right = st.columns(2)
    with left:
        st.markdown(t("online.regret"))
        plotly_chart(average_regret_figure(res), key="online.regret", config=CHART)
        st.caption(t("online.regret_caption"))
    with right:
        st.markdown(t("online.eff_lr"))
        plotly_chart(eff_lr_figure(res), key="online.eff_lr", config=CHART)
        st.caption(t("online.eff_lr_caption"))


def torch_loop(res: OnlineResult, alpha: float) -> None:
    """The paper's Adam and AMSGrad as a torch.optim loop (the tests hold the engine to it)."""
    with st.expander(t("online.torch")):
        st.code(f"""import math
import torch

torch.set_default_dtype(torch.float64)
C, alpha, T = {res.problem.C!r}, {alpha!r}, {res.steps}
x = torch.full((1,), {res.start!r}, requires_grad=True)
opt = torch.optim.Adam([x], lr=alpha, betas=(0.0, 1 / (1 + C**2)), amsgrad=False)
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 / math.sqrt(s + 1))    # lr_t = alpha / sqrt(t)
for t in range(1, T + 1):
    x.grad = torch.full_like(x, C if t % 3 == 1 else -1.0)  # f_t(x) = C x or -x
    opt.step()
    sched.step()
    x.data.clamp_(-1, 1)  # the projection onto [-1, 1]
print(x.item())""", language="python")


def main() -> None:
    widgets.mark_live()
    if not PANELS.started():  # the opening view is the paper's counterexample
        ss.setdefault(key("preset"), "reddi")
        apply_preset(overwrite=False)
    keep_widgets(restore=True)
    errors: list[str] = []
    values = {name: read(name, errors) for name in SPECS}
    problem = get_problem(C=values["C"])
    paper = [c for c, on in zip(paper_optimizers(problem, values["alpha"]),
                                (ss.setdefault(key("adam"), True), ss.setdefault(key("amsgrad"), True))) if on]
    panels = PANELS.read(errors)
    configs = tuple(paper) + tuple(c for _, c, _ in panels if c is not None)
    sidebar(panels, len(paper))
    keep_widgets(restore=False)

    st.title(t("page.online"), anchor=False)
    st.markdown(t("online.citation", reference=REFERENCE))
    st.latex(problem.latex)
    for error in errors:
        st.error(error, icon=":material/warning:")
    if not problem.lesson_holds:
        st.warning(f"C = {problem.C:g} ≤ 2: the average loss (C − 2) x / 3 is then minimised at "
                   f"{'+1' if problem.C < 2 else 'every x (it is 0)'}, so drifting to +1 is no failure. "
                   "The paper's counterexample needs C > 2.", icon=":material/info:")
    if not configs:
        st.info(t("online.no_optimizer"))
        return
    try:
        res = compute(problem, configs, values["steps"], values["start"])
    except ValueError as exc:  # settings the runner refuses: say so, keep the sidebar in reach
        st.error(t("surfaces.run_error", error=exc), icon=":material/warning:")
        return
    preset = PRESETS.get(ss.get(key("preset")))
    if preset is not None:
        text = f"**{preset.title}** — {preset.story(res, list(range(len(paper))))}"
        if changed(preset, values, configs[len(paper):]):
            text += ("\n\n*You changed the settings since picking this story: its numbers are the current run's, "
                     "its words are the preset's.*")
        st.info(text, icon=":material/school:")
    st.dataframe(results_table(res), hide_index=True, width="stretch")
    st.caption(t("online.after", steps=res.steps, start=res.start))
    figures(res)
    torch_loop(res, values["alpha"])


if __name__ == "__main__":  # run as a page script (AppTest); app.py calls main()
    main()
