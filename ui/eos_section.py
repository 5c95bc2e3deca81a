"""The edge-of-stability section of the MNIST page (Cohen et al., ICLR 2021), in an expander.

`render(data)` draws the paper's result in a sentence, a preset button that loads and runs the
paper's setting, the controls (learning rates, steps, images), Run and Cancel, then the sharpness
and loss charts and a table of the measured plateau against 2 / lr per learning rate.

A run is a thread (`_work`) on one of the MNIST page's training slots (ui.mnist_jobs: at most
MAX_JOBS trainings and runs at once on the server), tracked by a ui.mnist_jobs.Job in the session
(its `latest` holds the EosResult so far). A fragment polls it every POLL seconds; a run whose page
stops polling is cancelled. Work is bounded: one running job per session (this run, a training or
a sweep: ui/mnist_limits.py), and steps x learning rates x images at most WORK_CAP. Finished runs are kept server-wide (STORE_SIZE), so a class that
loads the preset together computes it once.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pandas as pd
import streamlit as st

from mnist import data as mnist
from mnist import eos
from mnist.mlp import one_thread
from plots.eos import eos_loss_figure, sharpness_figure
from ui import mnist_jobs as jobs
from ui import mnist_limits as limits
from ui import widgets
from ui.i18n import figure as localized
from ui.i18n import t
from ui.run_store import RunStore

WIDGET = "mnist.w.eos."  # under the MNIST page's widget prefix: saved while on the other page
JOB = "eos.job"
POLL = 1.0
IMAGES = (250, 500, 1000, 2000)
# Steps x learning rates x images per run: 1,000 steps of 3 lrs on 1,000 images, about 25 s on
# one core of this 2-core server (sharpness included).
WORK_CAP = 3_000_000
STORE_SIZE = 4
# 0.08 sharpens from 22.4 up to its 2/lr = 25 and stays; 0.1 and 0.15 start above 2/lr, fall to it and stay
PRESET = {"lrs": "0.08, 0.1, 0.15", "steps": 1000, "n_train": 1000}
CHART = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
PAPER = ("Cohen, Kaur, Li, Kolter & Talwalkar, [*Gradient Descent on Neural Networks Typically Occurs at the "
         "Edge of Stability*](https://arxiv.org/abs/2103.00065), ICLR 2021")

_store = RunStore(STORE_SIZE)
ss = st.session_state


# --- runs ----------------------------------------------------------------------------------------------


def forget_runs() -> None:
    """Empty the store of finished runs (tests)."""
    _store.clear()


def _work(job: jobs.Job, data: mnist.MnistData, slots: threading.BoundedSemaphore) -> None:
    """The thread: wait for a slot, run streaming into job.latest, keep a finished run (at a
    lowered priority, as the trainings)."""
    limits.lower_priority()
    cancelled = lambda: job.stop.is_set() or job.abandoned()  # noqa: E731
    try:
        job.phase = "queued"
        while not slots.acquire(timeout=0.5):
            if cancelled():
                return
        job.phase = "training"
        try:
            with one_thread(torch_too=True):
                for result in eos.run_stream(job.config, data.x_train, data.y_train, stop=cancelled):
                    job.latest = result
        finally:
            slots.release()
        if result.done and not result.stopped:
            _store.put(job.config, result)
    except Exception as exc:  # noqa: BLE001 - shown on the page instead of a traceback
        job.error = f"The run failed: {type(exc).__name__}: {exc}"
    finally:
        job.phase = "done"


def start(config: eos.EosConfig, data: mnist.MnistData, owner: str | None = None) -> jobs.Job:
    """A kept run of `config`, or a new job with its thread started; limits.Busy while session
    `owner` has another job running (one per session, trainings and sweeps included)."""
    done = _store.get(config)
    job = jobs.Job(config) if done is None else jobs.Job(config, latest=done, phase="done", cached=True)
    jobs.claim(owner, job)
    if job.cached:
        return job
    # the training page's slots: trainings and these runs share the server's cores
    threading.Thread(target=_work, args=(job, data, jobs.SLOTS), name=f"mnist-eos-{job.id}", daemon=True).start()
    return job


# --- controls ---------------------------------------------------------------------------------------------


def parse_lrs(text: str) -> tuple[float, ...]:
    """'0.05, 0.1 0.2' -> (0.05, 0.1, 0.2); ValueError naming a part that is not a number."""
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    if not parts:
        raise ValueError(f"Learning rates: none given (give 1 to {eos.MAX_CONFIGS}, e.g. 0.05, 0.1, 0.2)")
    out = []
    for part in parts:
        try:
            out.append(float(part))
        except ValueError:
            raise ValueError(f"Learning rates: {part!r} is not a number") from None
    return tuple(out)


def max_steps(k: int, n: int) -> int:
    """The most steps a run of k learning rates on n images may take (WORK_CAP), rounded to 50."""
    return max(50, min(eos.MAX_STEPS, WORK_CAP // (k * n) // 50 * 50))


@widgets.callback
def load_preset() -> None:
    """Callback of the preset button: the paper's setting into the widgets, then run it."""
    for name, value in PRESET.items():
        ss[WIDGET + name] = value
    ss["eos.run_pressed"] = True


def controls(data: mnist.MnistData) -> eos.EosConfig | None:
    """The widgets; the run's configuration, or None after showing why it is invalid."""
    for name, value in PRESET.items():
        ss.setdefault(WIDGET + name, value)
    cols = st.columns([3, 2, 2], vertical_alignment="bottom")
    text = cols[0].text_input(t("eos.lrs"), key=WIDGET + "lrs",
                              help=t("eos.lrs_help", n=eos.MAX_CONFIGS, max_lr=eos.MAX_LR))
    steps = cols[1].number_input(t("eos.steps"), min_value=1, max_value=eos.MAX_STEPS, step=100, key=WIDGET + "steps")
    n = cols[2].select_slider(t("eos.images"), IMAGES, key=WIDGET + "n_train")
    try:
        lrs = parse_lrs(text)
        cap = max_steps(min(len(lrs), eos.MAX_CONFIGS), n)
        if steps > cap:
            raise ValueError(f"Steps: {steps:,} is more than the {cap:,} steps a run of {len(lrs)} learning rate(s) "
                             f"on {n:,} images may take")
        if n > len(data.x_train):
            raise ValueError(f"Training images: {n:,} is more than the {len(data.x_train):,} of this data set")
        config = eos.EosConfig(lrs, steps=int(steps), n_train=n, every=max(5, int(steps) // 40), source=data.source)
    except ValueError as exc:
        st.error(t("eos.invalid", error=exc), icon=":material/warning:")
        return None
    st.caption(t("eos.controls_caption", cap=cap, k=len(lrs), n=n, every=config.every, iters=eos.HVP_ITERS,
                 source=data.source))
    return config


# --- results ----------------------------------------------------------------------------------------------


def plateau_table(result: eos.EosResult) -> pd.DataFrame:
    """Per learning rate: 2/lr, the sharpness at the start and over the second half, the last loss
    (every rate starts from the same loss, shown in the chart)."""
    stats = result.plateau()
    rows = []
    for k, lr in enumerate(result.config.lrs):
        loss = result.loss[k, :result.steps_done + 1]
        finite = loss[np.isfinite(loss)]
        rows.append({
            "lr": lr,
            "2 / lr": 2 / lr,
            "sharpness at step 0": result.sharpness[k, 0] if result.sharpness.shape[1] else np.nan,
            "plateau median": stats["median"][k],
            "plateau min": stats["min"][k],
            "plateau max": stats["max"][k],
            "median ÷ (2/lr)": stats["median"][k] * lr / 2,
            "last loss": finite[-1] if len(finite) else np.nan,
            "steps the loss rose (%)": 100 * np.mean(np.diff(finite) > 0) if len(finite) > 1 else np.nan,
            "status": f"diverged at step {result.diverged_at[k]}" if result.diverged_at[k] >= 0 else "ok",
        })
    return pd.DataFrame(rows)


def show(result: eos.EosResult, key: str) -> None:
    cols = st.columns(2)
    cols[0].plotly_chart(localized(sharpness_figure(result)), key=f"eos.{key}.sharp", config=CHART)
    cols[1].plotly_chart(localized(eos_loss_figure(result)), key=f"eos.{key}.loss", config=CHART)
    if result.sharpness.shape[1] == 0:
        return
    stats = result.plateau()
    fmt = st.column_config.NumberColumn
    st.dataframe(plateau_table(result), hide_index=True, width="stretch", column_config={
        "lr": fmt(format="%g"), "2 / lr": fmt(format="%.2f"), "sharpness at step 0": fmt(format="%.2f"),
        "plateau median": fmt(format="%.2f"), "plateau min": fmt(format="%.2f"), "plateau max": fmt(format="%.2f"),
        "median ÷ (2/lr)": fmt(format="%.3f"), "last loss": fmt(format="%.4f"),
        "steps the loss rose (%)": fmt(format="%.1f"),
    })
    st.caption(t("eos.plateau_caption", first=stats["first"], last=stats["last"], pixels=result.n_pixels))


def progress(job: jobs.Job) -> None:
    """The bar: waiting for a slot, the step reached, cancelled, or a kept run."""
    r = job.latest
    if r is None:
        fraction = 0.0
        text = (t("eos.waiting", n=jobs.MAX_JOBS)
                if job.phase == "queued" else t("mnist.starting"))
    else:
        fraction = min(1.0, r.steps_done / r.config.steps)
        text = (t("eos.cached", done=r.steps_done, elapsed=r.elapsed) if job.cached else
                t("eos.cancelled", done=r.steps_done, total=r.config.steps, elapsed=r.elapsed) if r.stopped else
                t("eos.progress", done=r.steps_done, total=r.config.steps, elapsed=r.elapsed))
    st.progress(fraction, text=text)


def live(job: jobs.Job) -> None:
    @st.fragment(run_every=POLL)
    def view():
        job.seen = time.monotonic()
        if not job.running:
            st.rerun()
        progress(job)
        if job.latest is not None:
            show(job.latest, "live")

    view()


def section(data: mnist.MnistData | None, owner: str | None) -> None:
    st.markdown(
        t("eos.intro", paper=PAPER))
    if data is None:
        st.info(t("eos.no_data"))
        return
    job: jobs.Job | None = ss.get(JOB)
    running = job is not None and job.running
    config = controls(data)
    if ss.pop("eos.run_pressed", False) and config is not None and not running:
        try:
            job = ss[JOB] = start(config, data, owner)
            if job.running:
                st.rerun()  # the page's other start buttons were drawn before this run began
        except limits.Busy:
            st.warning(t("eos.busy"), icon=":material/hourglass_top:")
        running = job is not None and job.running
    other = owner is not None and jobs.running_job(owner) not in (None, job)
    cols = st.columns([2, 2, 3], vertical_alignment="center")
    cols[0].button(t("eos.run"), type="primary", icon=":material/play_arrow:", key="eos.run",
                   disabled=config is None or running or other, width="stretch",
                   on_click=widgets.callback(lambda: ss.update({"eos.run_pressed": True})))
    cols[1].button(t("eos.cancel"), icon=":material/stop:", key="eos.cancel", disabled=not running,
                   on_click=lambda: job.stop.set(), width="stretch")
    cols[2].button(t("eos.preset"), icon=":material/auto_stories:", key="eos.preset",
                   on_click=load_preset, disabled=running or other, width="stretch",
                   help=t("eos.preset_help", lrs=PRESET["lrs"], steps=PRESET["steps"], n=PRESET["n_train"]))
    if job is None:
        return
    if job.error:
        st.error(job.error, icon=":material/warning:")
    if job.running:
        live(job)
    elif job.latest is not None:
        progress(job)
        show(job.latest, "final")


def render(data: mnist.MnistData | None, owner: str | None = None) -> None:
    """The section, in an expander (open while this session has a run); owner: the session's
    token for the one-running-job-per-session rule."""
    label = t("eos.title")
    with st.expander(label, expanded=ss.get(JOB) is not None, icon=":material/show_chart:"):
        section(data, owner)
