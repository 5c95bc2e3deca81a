"""The MNIST page: sidebar widgets -> TrainConfig -> a training job in a thread -> live charts.

Pressing Train starts a job (ui/mnist_jobs.py): `mnist.train.train_stream` in a
background thread, or, for a configuration already trained, the finished run from the server's
store (instant). The thread keeps the latest partial result on the `Job`; a fragment polls it
every POLL seconds and redraws the progress bar and the live charts, so widgets stay usable while
it trains. Stop sets an event the training loop polls; it ends after the current step and keeps
what was computed. After training the same thread computes the landscape and the predictions;
the fragment then reruns the page once to draw them, the results table and the digit grid.

Two sections sit above the training: the edge-of-stability runs (ui/eos_section.py) and the
learning-rate sweep (ui/mnist_sweep.py, one batched job of K learning rates of one optimizer). A
session runs one job at a time, and a job's work is capped (ui/mnist_limits.py): the steps are
lowered with a note.

The MNIST arrays live in st.cache_resource (st.cache_data would copy them on every hit). Widget
values live under keys starting with WIDGET and are saved to a plain session key at the end of
every run, because Streamlit drops the state of widgets not drawn (while on the other page).
"""

from __future__ import annotations

import html
import re
import time
import uuid

import numpy as np
import pandas as pd
import streamlit as st

from hyperparams import Hyperparameter as H
from mnist import data as mnist
from mnist.closure_rule import work_weight
from mnist.mlp import HIDDEN_SIZES
from mnist.train import MAX_STEPS, TrainConfig, TrainResult, steps_per_epoch, warm_kernels
from optimizers import OPTIMIZERS, OptimizerConfig, get_optimizer
from plots.mnist import (
    accuracy_figure,
    digits_figure,
    eff_lr_figure,
    grad_norm_figure,
    label,
    landscape_figure,
    loss_figure,
    schedule_figure,
    sparsity_figure,
)
from plots.palette import color
from ui import eos_section, mnist_sweep, widgets
from ui import mnist_jobs as jobs
from ui import mnist_limits as limits
from ui.charts import plotly_chart
from ui.i18n import figure as localized
from ui.i18n import t
from ui.mnist_jobs import Finished, Job
from ui.optimizer_panel import METRIC_SCHEDULES, OptimizerPanels

WIDGET = "mnist.w."  # prefix of every widget key of this page
POLL = 1.0  # seconds between live updates (each redraw costs the browser and the server CPU)
N_DIGITS = 20
N_EVALS = 25  # validation evaluations over a run (on EVAL_SIZE images)
EVAL_SIZE = 1000
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
CHART = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
SPECS = {s.name: s for s in (
    H("epochs", 2, low=1, high=100, kind="int", help="passes over the training set"),
    H("steps", 500, low=1, high=MAX_STEPS, kind="int", help="optimizer steps (mini-batches)"),
    H("seed", 0, low=0, high=2**31 - 1, kind="int", help="initial weights and batch order (the same for every optimizer)"),
    H("clip_norm", 0.0, low=0, high=1e6, log=True, ui_high=100.0,
      help="rescale each model's whole gradient to at most this norm (clip_grad_norm_); 0 = off"),
    H("clip_value", 0.0, low=0, high=1e6, log=True, ui_high=100.0,
      help="clamp every gradient entry to ± this value (clip_grad_value_); 0 = off"),
)}
DEFAULT_OPTIMIZERS = (
    get_optimizer("sgd", lr=0.1),
    get_optimizer("sgd", lr=0.01, momentum=0.9),
    get_optimizer("adagrad", lr=0.05),
    get_optimizer("rmsprop", lr=1e-3),
    get_optimizer("adam", lr=1e-3),
)
# Keys mnist.opt{pid}.* (buttons), values under WIDGET (saved while away), the list under "mnist.panels"
# Rules on matrices (Adafactor, Muon) see each layer's tensor (mnist.train._LayerRule); Newton stays on the 2-D page
# The schedules include ReduceLROnPlateau, driven by the validation loss at each evaluation
PANELS = OptimizerPanels(default=get_optimizer("adam", lr=1e-3), namespace="mnist.", values=WIDGET + "opt.",
                         names=tuple(name for name, info in OPTIMIZERS.items() if not info.two_d_only),
                         schedules=tuple(METRIC_SCHEDULES), l1=True)
TWO_D_ONLY = [info for info in OPTIMIZERS.values() if info.two_d_only]
ss = st.session_state


# --- data ------------------------------------------------------------------------------------------------


# mnist.data's descriptions of the data (English), each with its words in the session's language
DESCRIPTIONS = (
    (re.compile(r"embedded MNIST subset: (?P<train>[\d,]+) train / (?P<val>[\d,]+) validation from the "
                r"(?P<n>[\d,]+) official test images \(validation = the last images in file order\)"),
     lambda m: t("mnist.described_embedded", **m.groupdict())),
    (re.compile(r"embedded MNIST subset: (?P<train>[\d,]+) train / (?P<val>[\d,]+) validation from the "
                r"(?P<n>[\d,]+) official test images \(random split, seed (?P<seed>\d+)\)"),
     lambda m: t("mnist.described_embedded_seed", **m.groupdict())),
    (re.compile(r"full MNIST: (?P<train>[\d,]+) train / (?P<test>[\d,]+) test from (?P<folder>.+)"),
     lambda m: t("mnist.described_full", **m.groupdict())),
)


def description_words(text: str) -> str:
    """The data's description (mnist.data) in the session's language; as it is if no pattern fits."""
    for pattern, words in DESCRIPTIONS:
        if (match := pattern.fullmatch(text)):
            return words(match)
    return text


@st.cache_resource(show_spinner="Loading MNIST…", max_entries=4)
def load_data(source: str, version: int) -> mnist.MnistData:
    """MNIST arrays, shared by every session; `version` changes after a download."""
    return mnist.load_mnist(source)


# --- widgets --------------------------------------------------------------------------------------------


def restore_widgets() -> None:
    """Widget values saved at the end of the last run of this page (they are dropped while away)."""
    for key, value in ss.get("mnist.saved", {}).items():
        if key not in ss:
            ss[key] = value


def save_widgets() -> None:
    ss["mnist.saved"] = {k: ss[k] for k in list(ss.keys()) if isinstance(k, str) and k.startswith(WIDGET)}


def key(*parts) -> str:
    return WIDGET + ".".join(str(p) for p in parts)


def checked(name: str, value, errors: list[str]):
    try:
        return SPECS[name].check(value, "setting")
    except ValueError as exc:
        errors.append(str(exc))
        return SPECS[name].default


def data_controls(errors: list[str]) -> mnist.MnistData | None:
    widgets.known_choice(key("source"), ("embedded", "full"), "embedded", errors, t("mnist.data"))
    source = st.radio(t("mnist.data"), ["embedded", "full"], key=key("source"), horizontal=True,
                      format_func={"embedded": t("mnist.embedded"), "full": t("mnist.full")}.get,
                      help=t("mnist.data_help"))
    try:
        data = load_data(source, ss.get("mnist.data_version", 0))
    except (mnist.MnistDataError, OSError) as exc:
        errors.append(t("mnist.load_failed", error=exc))
        return None
    st.caption(description_words(data.description))
    if source == "full" and data.source != "full":
        st.warning(data.note or t("mnist.full_not_found"), icon=":material/warning:")
        if st.button(t("mnist.download"), icon=":material/download:", width="stretch"):
            download()
    return data


def download() -> None:
    bar = st.progress(0.0, text=t("mnist.connecting"))

    def progress(name: str, done: int, total: int | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0, text=f"{name}: {done / 1e6:.1f} MB")

    try:
        mnist.download_full(progress=progress)
    except (mnist.MnistDownloadError, OSError, ValueError) as exc:
        bar.empty()
        st.error(t("mnist.download_failed", error=exc), icon=":material/warning:")
        return
    ss["mnist.data_version"] = ss.get("mnist.data_version", 0) + 1
    st.rerun()


def training_controls(data: mnist.MnistData | None, errors: list[str]) -> dict:
    ss.setdefault(key("hidden"), 64)
    ss.setdefault(key("batch"), 64)
    widgets.known_choice(key("length"), ("epochs", "steps"), "epochs", errors, t("mnist.train_for"))
    hidden = st.select_slider(t("mnist.hidden"), HIDDEN_SIZES, key=key("hidden"))
    batch = st.select_slider(t("mnist.batch"), BATCH_SIZES, key=key("batch"))
    mode = st.segmented_control(t("mnist.train_for"), ["epochs", "steps"], key=key("length"), required=True,
                                format_func={"epochs": t("mnist.epochs"), "steps": t("mnist.steps")}.get)
    left, right = st.columns(2)
    with left:
        amount = checked(mode, widgets.spec_input(SPECS[mode], key(mode), label=t(f"mnist.{mode}")), errors)
    with right:
        seed = checked("seed", widgets.spec_input(SPECS["seed"], key("seed"), label=t("surfaces.seed")), errors)
    n = len(data.x_train) if data is not None else 8000
    per_epoch = steps_per_epoch(n, batch)
    steps = amount * per_epoch if mode == "epochs" else amount
    if steps > MAX_STEPS:
        errors.append(t("mnist.too_many_epochs", amount=amount, per_epoch=per_epoch, max_steps=MAX_STEPS))
        steps = MAX_STEPS
    st.caption(t("mnist.steps_caption", steps=steps, per_epoch=per_epoch, n=n,
                 cap=limits.max_optimizer_steps(batch, hidden), batch=batch, hidden=hidden))
    clip = {}
    changed = any(ss.get(key(c), 0.0) for c in ("clip_norm", "clip_value"))
    with st.expander(t("mnist.clipping"), expanded=bool(changed)):
        for name in ("clip_norm", "clip_value"):
            value = checked(name, widgets.spec_input(SPECS[name], key(name), zero=True), errors)
            clip[name] = value or None
        widgets.known_choice(key("backend"), ("numpy", "torch"), "numpy", errors, "backend")
        backend = st.selectbox("backend", ["numpy", "torch"], key=key("backend"),
                               help=t("mnist.backend_help"))
    return {"hidden": hidden, "batch_size": batch, "steps": steps, "seed": seed, "backend": backend, **clip}


def sidebar(errors: list[str]) -> tuple[mnist.MnistData | None, dict, tuple[OptimizerConfig, ...]]:
    with st.sidebar:
        st.subheader(t("mnist.data"))
        data = data_controls(errors)
        st.subheader(t("mnist.model"))
        settings = training_controls(data, errors)
        st.subheader(t("surfaces.optimizers"))
        panels = PANELS.read(errors)
        PANELS.sidebar(panels, color)
        configs = tuple(config for _, config, _ in panels if config is not None)
        settings["bias_optimizer"] = bias_optimizer(configs, errors)
        if TWO_D_ONLY:
            st.caption(t("mnist.two_d_only") + "; ".join(f"{info.title} ({info.two_d_only})" for info in TWO_D_ONLY)
                       + ".")
    return data, settings, configs


BIAS_SPECS = [s for s in OPTIMIZERS["adamw"].specs if s.name in ("lr", "betas", "weight_decay")]


def bias_optimizer(configs, errors: list[str]) -> OptimizerConfig | None:
    """The AdamW that steps the biases of the rules taking matrices only (Muon), set under a note
    saying so; None when no panel has such a rule (TrainConfig then takes AdamW's defaults)."""
    titles = sorted({c.info.title for c in configs if c.info.vectors_to})
    if not titles:
        return None
    st.caption(f"{', '.join(titles)} steps the weight matrices W1 and W2 (torch.nn.Linear's [out, in]); "
               "the biases b1 and b2 go to AdamW, as Muon is used in practice (torch.optim.Muon and "
               "torch.optim.AdamW over the parameter groups). The AdamW part:")
    values = {spec.name: widgets.spec_input(spec, key("bias_adamw", spec.name), label=f"AdamW {spec.name}")
              for spec in BIAS_SPECS}
    try:
        return get_optimizer("adamw", **values)
    except ValueError as exc:
        errors.append(str(exc))
        return None


# --- main area ------------------------------------------------------------------------------------------


def legend(labels) -> None:
    """One legend for all the training charts: a colour chip and the label of each optimizer."""
    chips = [f'<span style="white-space:nowrap;margin-right:1.2em"><span style="display:inline-block;width:22px;'
             f'height:4px;background:{color(k)};vertical-align:middle;margin-right:6px"></span>'
             f'{html.escape(text)}</span>' for k, text in enumerate(labels)]
    st.markdown(" ".join(chips), unsafe_allow_html=True)


def live_charts(result: TrainResult, key_prefix: str) -> None:
    legend([label(result, k) for k in range(len(result.labels))])
    top = st.columns(2)
    with top[0]:
        plotly_chart(loss_figure(result), key=f"{key_prefix}.loss", config=CHART)
    with top[1]:
        full = st.toggle(t("mnist.acc_full"), key=f"mnist.acc_full.{key_prefix}",
                         help=t("mnist.acc_full_help"))
        plotly_chart(accuracy_figure(result, full_range=full), key=f"{key_prefix}.acc", config=CHART)
    bottom = st.columns(2)
    with bottom[0]:
        st.markdown(t("mnist.eff_lr_title"),
                    help=t("mnist.eff_lr_help"))
        plotly_chart(eff_lr_figure(result), key=f"{key_prefix}.eff", config=CHART)
    with bottom[1]:
        st.markdown(t("mnist.grad_norm_title"))
        plotly_chart(grad_norm_figure(result), key=f"{key_prefix}.grad", config=CHART)
    configs = result.config.optimizers
    penalised = any(c.l1 > 0 or dict(c.hparams).get("weight_decay", 0) for c in configs)
    plateau = any(c.schedule.name == "plateau" for c in configs)
    if not (penalised or plateau) or result.sparsity is None:
        return
    extra = st.columns(2)
    if penalised:
        with extra[0]:
            st.markdown("**Sparsity per layer** — share of the weights at zero: exactly 0 with proximal L1, "
                        "|w| < 10⁻³ for the others",
                        help="L1 pulls every weight towards 0 by the same amount, so weights with little gradient "
                             "end at (proximal) or around (subgradient) exactly 0; L2 (weight_decay) shrinks "
                             "every weight in proportion to its size, so few reach 0.")
            plotly_chart(sparsity_figure(result), key=f"{key_prefix}.sparsity", config=CHART)
    if plateau:
        with extra[1]:
            st.markdown("**Learning rate used** — ReduceLROnPlateau lowers it after evaluations whose validation "
                        "loss did not improve")
            plotly_chart(schedule_figure(result.lr[:, :max(result.steps_done, 1)], result.labels),
                         key=f"{key_prefix}.lr", config=CHART)


def progress(job: Job) -> None:
    r = job.latest
    if r is None:
        waiting = job.phase == "queued"
        st.progress(0.0, text=t("mnist.waiting", n=jobs.MAX_JOBS) if waiting else t("mnist.starting"))
        return
    if job.cached:
        text = t("mnist.cached", steps=r.steps_done, elapsed=r.elapsed, rate=r.steps_per_second)
    else:
        phase = {"landscape": t("mnist.computing_landscape"), "done": ""}.get(job.phase, "")
        stopping = t("mnist.stopping") if job.stop.is_set() and job.running else ""
        text = t("mnist.progress", done=r.steps_done, total=r.total_steps, rate=r.steps_per_second, elapsed=r.elapsed,
                 stopping=stopping, phase=phase)
    st.progress(min(1.0, r.steps_done / r.total_steps), text=text)


def live(job: Job) -> None:
    """Progress and charts, redrawn every POLL seconds while the job runs."""

    @st.fragment(run_every=POLL)
    def view():
        job.seen = time.monotonic()
        if not job.running:
            st.rerun()  # the whole page: results, landscape, digits; the timer stops
        progress(job)
        if job.latest is not None:
            live_charts(job.latest, "live")

    view()


def results_table(res: TrainResult) -> pd.DataFrame:
    rows = []
    for k in range(len(res.labels)):
        acc = res.val_acc[k]
        reached = np.flatnonzero(acc >= 0.9)
        tail = res.loss[k, -max(1, res.steps_done // 10):]
        status = ("diverged at step " + str(int(res.diverged_at[k]) + 1) if res.diverged_at[k] >= 0
                  else "stopped" if res.stopped else "done")
        rows.append({
            "optimizer": f"{k + 1}. {res.labels[k]}",
            "val. accuracy (%)": 100 * res.final_val_acc[k],
            "val. loss": res.final_val_loss[k],
            "train loss (last 10 %)": np.nanmean(tail) if np.isfinite(tail).any() else np.nan,
            "best val. acc. (%)": 100 * np.nanmax(acc) if np.isfinite(acc).any() else np.nan,
            "steps to 90 %": int(res.eval_steps[reached[0]]) if len(reached) else None,
            # mini-batch loss evaluations: one a step, L-BFGS's closure calls (its fair cost to compare)
            "loss evaluations": int(np.nansum(res.n_evals[k])) if res.n_evals is not None else None,
            "time (s)": res.elapsed,
            "status": status,
        })
    return pd.DataFrame(rows)


def digit_choice(done: Finished, data: mnist.MnistData, hard: bool) -> np.ndarray:
    """Indices of N_DIGITS validation images: a seeded random set, or ones some optimizer gets wrong."""
    rng = np.random.default_rng(0)
    candidates = np.arange(len(data.y_val))
    if hard:
        ok = done.result.diverged_at < 0
        wrong = (done.predictions[ok] != data.y_val).any(axis=0) if ok.any() else np.zeros(len(data.y_val), bool)
        candidates = np.flatnonzero(wrong)
    return np.sort(rng.choice(candidates, min(N_DIGITS, len(candidates)), replace=False))


def results(job: Job, data: mnist.MnistData | None) -> None:
    done = job.finished
    res = done.result
    progress(job)
    if res.stopped:
        st.info(t("mnist.stopped", done=res.steps_done, total=res.total_steps), icon=":material/stop_circle:")
    live_charts(res, "final")
    st.subheader(t("surfaces.results"))
    table = results_table(res)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "val. accuracy (%)": st.column_config.NumberColumn(format="%.2f"),
        "best val. acc. (%)": st.column_config.NumberColumn(format="%.2f"),
        "val. loss": st.column_config.NumberColumn(format="%.4f"),
        "train loss (last 10 %)": st.column_config.NumberColumn(format="%.4f"),
        "time (s)": st.column_config.NumberColumn(format="%.1f"),
    })
    n_val = len(data.y_val) if data is not None else 0
    st.caption(t("mnist.results_caption", n_val=n_val, n_eval=min(EVAL_SIZE, n_val)))
    left, right = st.columns([3, 2])
    with left:
        st.subheader(t("mnist.landscape"))
        if done.landscape is None:
            st.warning(t("mnist.no_landscape", error=done.landscape_error), icon=":material/warning:")
        else:
            land = done.landscape
            fig = landscape_figure(land, res, note=lambda first: t("map.same_path", label=first))  # the map's words
            st.plotly_chart(localized(fig), key="landscape", config=CHART)
            left_out = [label(res, k) for k in np.flatnonzero(~land.fitted)]
            st.caption(
                t("mnist.landscape_caption", explained=100 * land.explained, images=len(land.images), a=len(land.a),
                  b=len(land.b), snapshots=len(land.steps))
                + (t("mnist.left_out", names=", ".join(left_out)) if left_out else ""))
    with right:
        st.subheader(t("mnist.digits"))
        if data is None or done.predictions.shape[1] != len(data.y_val):
            st.info(t("mnist.data_changed"))
        else:
            hard = st.toggle(t("mnist.hard"), key="mnist.hard_digits")
            idx = digit_choice(done, data, hard)
            if len(idx) == 0:
                st.success(t("mnist.all_correct"))
            else:
                st.plotly_chart(digits_figure(data.x_val[idx], data.y_val[idx], done.predictions[:, idx], res,
                                              columns=5), key="digits", config=CHART)
                st.caption(t("mnist.digits_caption"))


def plan(config: TrainConfig) -> None:
    """Before the first run: the learning rate each optimizer will use (and Plotly loads in the browser)."""
    lrs = np.stack([c.schedule.values(c.lr, config.steps) for c in config.optimizers])
    st.markdown(t("mnist.planned", steps=config.steps)
                + (" (ReduceLROnPlateau starts at its lr and lowers it as the validation loss stalls)"
                   if any(c.schedule.name == "plateau" for c in config.optimizers) else ""))
    legend([f"{k + 1}. {text}" for k, text in enumerate(config.labels)])
    plotly_chart(schedule_figure(lrs, config.labels), key="plan", config=CHART)


def owner() -> str:
    """This session's token for the server's one-running-job-per-session rule (ui/mnist_limits.py)."""
    return ss.setdefault("mnist.owner", uuid.uuid4().hex)


def cap_steps(settings: dict, configs) -> None:
    """Lower settings["steps"] to the work cap for `configs`, with a note (L-BFGS's own when it weighs in)."""
    k = len(configs)
    weight = sum(work_weight(c, settings["batch_size"]) for c in configs)
    steps = limits.capped_steps(weight, settings["steps"], settings["batch_size"], settings["hidden"])
    if steps < settings["steps"]:
        cap = limits.max_optimizer_steps(settings["batch_size"], settings["hidden"])
        if weight > k:
            st.warning(t("mnist.lbfgs_capped", weight=weight, k=k, steps=settings["steps"], cap=cap,
                         training=steps), icon=":material/content_cut:")
        else:
            st.warning(t("mnist.capped", k=k, steps=settings["steps"], batch=settings["batch_size"],
                         hidden=settings["hidden"], cap=cap, training=steps), icon=":material/content_cut:")
        settings["steps"] = steps


def start(config: TrainConfig, data: mnist.MnistData) -> Job | None:
    """jobs.start for this session; None after a note when the session already has a job running."""
    try:
        return jobs.start(config, data, owner())
    except limits.Busy:
        st.warning(t("mnist.busy"), icon=":material/hourglass_top:")
        return None


def main() -> None:
    widgets.mark_live()
    if not PANELS.started():
        for config in DEFAULT_OPTIMIZERS:
            PANELS.add(config)
    restore_widgets()
    errors: list[str] = []
    data, settings, configs = sidebar(errors)
    save_widgets()

    st.title(t("mnist.title"), anchor=False)
    st.caption(t("mnist.subtitle"))
    for error in errors:
        st.error(error, icon=":material/warning:")
    sections = st.container()  # drawn below, once a Train press has started its job (so they see it)

    config = None
    if data is not None and configs:
        cap_steps(settings, configs)
        try:
            config = TrainConfig(configs, eval_size=EVAL_SIZE, eval_every=max(1, settings["steps"] // N_EVALS),
                                 source=data.source, **settings)
            if config.batch_size > len(data.x_train):
                raise ValueError(f"Invalid batch size: {config.batch_size} (the training set has "
                                 f"{len(data.x_train):,} images)")
            warm_kernels(config)  # a first visit compiles them in the background while the user picks
        except ValueError as exc:
            st.error(t("surfaces.run_error", error=exc), icon=":material/warning:")
            config = None
    elif not configs:
        st.info(t("mnist.no_optimizer"))

    if ss.pop("mnist.train_pressed", False) and config is not None:
        ss["mnist.job"] = start(config, data) or ss.get("mnist.job")
    job: Job | None = ss.get("mnist.job")
    busy = jobs.running_job(owner())
    cols = st.columns([1, 1, 4], vertical_alignment="center")
    cols[0].button(t("mnist.train"), type="primary", icon=":material/play_arrow:", key="mnist.train",
                   disabled=config is None or busy is not None, width="stretch",
                   on_click=widgets.callback(lambda: ss.update({"mnist.train_pressed": True})),
                   help=t("mnist.train_busy") if busy is not None else None)
    cols[1].button(t("mnist.stop"), icon=":material/stop:", key="mnist.stop", disabled=job is None or not job.running,
                   on_click=lambda: job.stop.set(), width="stretch")
    if job is not None and config is not None and job.config != config and not job.running:
        cols[2].caption(t("mnist.settings_changed"))
    with sections:
        eos_section.render(data, owner())
        mnist_sweep.render(data, settings, PANELS, owner())

    if job is None:
        st.info(t("mnist.pick"), icon=":material/arrow_back:")
        if config is not None:
            plan(config)
        return
    if job.error:
        st.error(job.error, icon=":material/warning:")
    if job.running:
        live(job)
    elif job.finished is not None:
        results(job, data)


if __name__ == "__main__":  # run as a page script (AppTest); app.py calls main()
    main()
