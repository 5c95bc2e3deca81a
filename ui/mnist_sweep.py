"""The learning-rate sweep section of the MNIST page (issue #16), in an expander.

`render(data, settings, panels, owner)`: pick one of the sidebar's optimizers (its other
hyperparameters and schedule are kept), an lr range (log-spaced), K and the steps; Run sweep
trains the K configurations as ONE batched job of ui.mnist_jobs (the same training slots, work
cap and one-running-job-per-session rule as a Train press), with the model settings of the
sidebar (H, batch size, seed, clipping, backend). A fragment polls the job every POLL seconds and
redraws validation loss and accuracy against lr (on the validation subset at the latest
evaluation); at the end they are on the whole validation set, the best lr (lowest validation
loss) is marked, and a button loads it into the optimizer's panel.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from hyperparams import Hyperparameter as H
from mnist import data as mnist
from mnist import lr_sweep
from mnist.closure_rule import work_weight
from mnist.train import TrainConfig
from optimizers import OptimizerConfig
from plots.mnist_sweep import sweep_figure
from ui import mnist_jobs as jobs
from ui import mnist_limits as limits
from ui import widgets
from ui.charts import plotly_chart
from ui.i18n import t
from ui.optimizer_panel import OptimizerPanels

WIDGET = "mnist.w.sweep."  # under the MNIST page's widget prefix: saved while on the other page
JOB = "mnist.sweep.job"
SOURCE = "mnist.sweep.panel_used"  # the panel id the running or last sweep came from
POLL = 1.0
N_EVALS = 20  # evaluations on the validation subset over a sweep: the live chart's updates
EVAL_SIZE = 1000
CHART = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
SPECS = {s.name: s for s in (
    H("lr_low", 1e-4, low=1e-7, high=10.0, log=True, help="lowest learning rate of the sweep"),
    H("lr_high", 1.0, low=1e-7, high=10.0, log=True, help="highest learning rate of the sweep"),
    H("k", 8, low=lr_sweep.MIN_K, high=lr_sweep.MAX_K, kind="int",
      help="learning rates, log-spaced from lowest to highest, trained side by side"),
    H("steps", 300, low=1, high=1000, kind="int", help="optimizer steps of every learning rate (a short sweep)"),
)}
ss = st.session_state


# --- controls ---------------------------------------------------------------------------------------------


def choose_panel(panels: OptimizerPanels) -> tuple[int, OptimizerConfig] | None:
    """The sidebar optimizer to sweep (pid, config), or None when no panel is valid."""
    valid = [(i, pid, config) for i, (pid, config, _) in enumerate(panels.read([])) if config is not None]
    if not valid:
        st.info("No valid optimizer in the sidebar to sweep.")
        return None
    names = {pid: f"{i + 1}. {config.label}" for i, pid, config in valid}
    if ss.get(WIDGET + "panel") not in names:
        ss[WIDGET + "panel"] = valid[0][1]
    pid = st.selectbox(t("msweep.optimizer"), list(names),
                       format_func=names.get, key=WIDGET + "panel")
    return pid, next(config for _, p, config in valid if p == pid)


def controls(data: mnist.MnistData, settings: dict, base: OptimizerConfig) -> TrainConfig | None:
    """The sweep's widgets; its TrainConfig, or None after showing why it is invalid."""
    cols = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
    values = {}
    for col, name, text in zip(cols, SPECS, (t("sweeps.lowest_lr"), t("sweeps.highest_lr"), "K", t("mnist.steps"))):
        with col:
            values[name] = widgets.spec_input(SPECS[name], WIDGET + name, label=text)
    try:
        checked = {name: SPECS[name].check(value, "sweep") for name, value in values.items()}
        optimizers = lr_sweep.sweep_optimizers(base, checked["lr_low"], checked["lr_high"], checked["k"])
    except ValueError as exc:
        st.error(t("eos.invalid", error=exc), icon=":material/warning:")
        return None
    k, steps = len(optimizers), checked["steps"]
    weight = sum(work_weight(c, settings["batch_size"]) for c in optimizers)  # L-BFGS weighs more than 1
    capped = limits.capped_steps(weight, steps, settings["batch_size"], settings["hidden"])
    if capped < steps:
        st.warning(t("msweep.capped", k=k, steps=steps, capped=capped), icon=":material/content_cut:")
    config = TrainConfig(optimizers, eval_size=EVAL_SIZE, eval_every=max(1, capped // N_EVALS), source=data.source,
                         **{**settings, "steps": capped})
    st.caption(t("msweep.caption", lrs=", ".join(f"{c.lr:g}" for c in optimizers), steps=capped, hidden=config.hidden,
                 batch=config.batch_size, seed=config.seed))
    return config


# --- results ----------------------------------------------------------------------------------------------


def table(p: lr_sweep.Points, result) -> pd.DataFrame:
    status = [f"diverged at step {int(d) + 1}" if d >= 0 else "ok" for d in result.diverged_at]
    return pd.DataFrame({"lr": p.lrs, "val. loss": p.val_loss, "val. accuracy (%)": 100 * p.val_acc,
                         "status": status})


def title(p: lr_sweep.Points) -> str:
    return (t("msweep.final", step=p.step) if p.final else
            t("msweep.live", n=EVAL_SIZE, step=p.step))


def chart(result, key: str) -> tuple[lr_sweep.Points, int | None]:
    p = lr_sweep.points(result)
    best = lr_sweep.best(p)
    plotly_chart(sweep_figure(p, best, title(p)), key=f"mnist.sweep.{key}", config=CHART)
    return p, best


def progress(job: jobs.Job) -> None:
    r = job.latest
    if r is None:
        st.progress(0.0, text=t("mnist.waiting", n=jobs.MAX_JOBS) if job.phase == "queued" else t("mnist.starting"))
        return
    text = (t("msweep.cached", done=r.steps_done, elapsed=r.elapsed) if job.cached else
            t("msweep.stopped", done=r.steps_done, total=r.total_steps) if r.stopped else
            t("mnist.progress", done=r.steps_done, total=r.total_steps, rate=r.steps_per_second, elapsed=r.elapsed,
              stopping="", phase=""))
    st.progress(min(1.0, r.steps_done / r.total_steps), text=text)


def live(job: jobs.Job) -> None:
    """Progress and the chart, redrawn every POLL seconds while the sweep trains."""

    @st.fragment(run_every=POLL)
    def view():
        job.seen = time.monotonic()
        if not job.running:
            st.rerun()  # the whole page: the final chart, the table and the button
        progress(job)
        if job.latest is not None:
            chart(job.latest, "live")

    view()


def load_best(panels: OptimizerPanels, pid: int, config: OptimizerConfig) -> None:
    """Callback: `config` (the swept optimizer at the best lr) into panel pid, or a new panel if it is gone."""
    if pid in panels.ids:
        panels.load(pid, config)
    elif not panels.full():
        panels.add(config)


def results(job: jobs.Job, panels: OptimizerPanels) -> None:
    result = job.finished.result
    progress(job)
    p, best = chart(result, "final")
    st.dataframe(table(p, result), hide_index=True, width="stretch", column_config={
        "lr": st.column_config.NumberColumn(format="%g"),
        "val. loss": st.column_config.NumberColumn(format="%.4f"),
        "val. accuracy (%)": st.column_config.NumberColumn(format="%.2f"),
    })
    if best is None:
        st.warning(t("msweep.all_diverged"), icon=":material/warning:")
        return
    config = result.config.optimizers[best]
    edge = t("msweep.edge") if best in (0, len(p.lrs) - 1) else ""
    st.markdown(t("msweep.best", lr=config.lr, loss=p.val_loss[best], acc=100 * p.val_acc[best], edge=edge))
    pid = ss.get(SOURCE)
    position = panels.ids.index(pid) + 1 if pid in panels.ids else None
    where = t("msweep.where", n=position) if position else t("msweep.new_panel")
    st.button(t("msweep.use", lr=config.lr, where=where), icon=":material/input:", key="mnist.sweep.load",
              on_click=widgets.callback(load_best), args=(panels, pid, config), disabled=position is None and panels.full(),
              help=t("msweep.use_help"))


# --- the section ------------------------------------------------------------------------------------------


def start(config: TrainConfig, data: mnist.MnistData, owner: str, pid: int) -> None:
    try:
        job = jobs.start(config, data, owner)
    except limits.Busy:
        st.warning(t("msweep.busy"), icon=":material/hourglass_top:")
        return
    ss[JOB], ss[SOURCE] = job, pid
    if job.running:
        st.rerun()  # the page's other start buttons were drawn before this run began


def section(data: mnist.MnistData | None, settings: dict, panels: OptimizerPanels, owner: str) -> None:
    st.markdown(t("msweep.intro"))
    if data is None:
        st.info(t("eos.no_data"))
        return
    chosen = choose_panel(panels)
    config = controls(data, settings, chosen[1]) if chosen else None
    if ss.pop("mnist.sweep.pressed", False) and config is not None:
        start(config, data, owner, chosen[0])
    job: jobs.Job | None = ss.get(JOB)
    busy = jobs.running_job(owner)
    cols = st.columns([1, 1, 3], vertical_alignment="center")
    cols[0].button(t("msweep.run"), type="primary", icon=":material/play_arrow:", key="mnist.sweep.run",
                   disabled=config is None or busy is not None, width="stretch",
                   on_click=widgets.callback(lambda: ss.update({"mnist.sweep.pressed": True})),
                   help=t("mnist.train_busy") if busy is not None else None)
    cols[1].button(t("msweep.cancel"), icon=":material/stop:", key="mnist.sweep.stop",
                   disabled=job is None or not job.running, on_click=lambda: job.stop.set(), width="stretch")
    if job is None:
        return
    if job.error:
        st.error(job.error, icon=":material/warning:")
    if job.running:
        live(job)
    elif job.finished is not None:
        results(job, panels)


def render(data: mnist.MnistData | None, settings: dict, panels: OptimizerPanels, owner: str) -> None:
    """The section, in an expander (open while this session has a sweep)."""
    with st.expander(t("msweep.title"), expanded=JOB in ss,
                     icon=":material/tune:"):
        section(data, settings, panels, owner)
