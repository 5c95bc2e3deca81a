"""Learning-rate schedules: closed forms of the step count t = 0, 1, 2, ...

`lr_t` is the learning rate used by optimizer step t + 1, i.e. what torch's scheduler holds
after t calls of `scheduler.step()`. Each schedule is a vectorized function
`fn(t, lr, **params) -> lr_t` of an integer array t [T] and the optimizer's base lr (float),
with parameters named as in torch.optim.lr_scheduler where torch has the schedule.

One schedule is no function of t: `plateau` (ReduceLROnPlateau) lowers the lr when a metric
(the MNIST trainer's validation loss) stops improving. Its closed form is the starting lr, and
the trainer updates its lr table from each evaluation on with `plateau_step`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from hyperparams import Hyperparameter as H
from hyperparams import validate

from .info import Symbol


def constant(t, lr):
    return np.full(t.shape, lr, dtype=np.float64)


def step(t, lr, step_size, gamma):
    """StepLR: lr * gamma ** floor(t / step_size)."""
    return lr * gamma ** (t // step_size)


def exponential(t, lr, gamma):
    """ExponentialLR: lr * gamma ** t."""
    return lr * gamma**t


def polynomial(t, lr, total_iters, power):
    """PolynomialLR: lr * (1 - min(t, total_iters) / total_iters) ** power."""
    return lr * (1.0 - np.minimum(t, total_iters) / total_iters) ** power


def cosine(t, lr, T_max, eta_min):
    """CosineAnnealingLR: eta_min + (lr - eta_min) (1 + cos(pi t / T_max)) / 2 (periodic past T_max)."""
    return eta_min + (lr - eta_min) * (1 + np.cos(math.pi * t / T_max)) / 2


def warmup(t, lr, start_factor, end_factor, total_iters):
    """LinearLR: lr * (start + (end - start) * min(t, total_iters) / total_iters)."""
    frac = np.minimum(t, total_iters) / total_iters
    return lr * (start_factor + (end_factor - start_factor) * frac)


def cyclic(t, lr, max_lr, step_size_up, step_size_down):
    """CyclicLR, mode 'triangular', between base lr and max_lr (lr only, no momentum cycling)."""
    down = step_size_down or step_size_up
    total = step_size_up + down
    ratio = step_size_up / total
    cycle = np.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    scale = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    return lr + (max_lr - lr) * scale


def onecycle(t, lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase):
    """OneCycleLR with max_lr = the optimizer's lr; from step total_steps - 1 on it holds its final
    value lr / (div_factor * final_div_factor) (torch refuses to step further)."""
    initial = lr / div_factor
    minimum = initial / final_div_factor
    ends = _onecycle_phases(total_steps, pct_start, three_phase)
    levels = [initial, lr, initial, minimum] if three_phase else [initial, lr, minimum]
    phases = [(end, levels[i], levels[i + 1]) for i, end in enumerate(ends)]
    t = np.minimum(t, total_steps - 1).astype(np.float64)
    out = np.empty_like(t)
    start_step = 0.0
    done = np.zeros(t.shape, dtype=bool)
    for i, (end_step, start_lr, end_lr) in enumerate(phases):
        here = ~done & ((t <= end_step) | (i == len(phases) - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = (t[here] - start_step) / (end_step - start_step)
        if anneal_strategy == "cos":
            out[here] = end_lr + (start_lr - end_lr) / 2.0 * (np.cos(math.pi * pct) + 1)
        else:
            out[here] = (end_lr - start_lr) * pct + start_lr
        done |= here
        start_step = end_step
    return out


def _onecycle_phases(total_steps, pct_start, three_phase) -> list[float]:
    """End steps of OneCycleLR's phases, as torch computes them."""
    if three_phase:
        return [float(pct_start * total_steps) - 1, float(2 * pct_start * total_steps) - 2, total_steps - 1]
    return [float(pct_start * total_steps) - 1, total_steps - 1]


def _check_onecycle(p):
    ends = [0.0] + _onecycle_phases(p["total_steps"], p["pct_start"], p["three_phase"])
    if any(b == a for a, b in zip(ends, ends[1:])):  # torch divides by the phase length
        raise ValueError(
            f"schedule onecycle: total_steps={p['total_steps']} with pct_start={p['pct_start']} "
            f"(three_phase={p['three_phase']}) leaves a phase with no steps; "
            f"increase total_steps or move pct_start away from 0 and 1"
        )


def multistep(t, lr, milestones, gamma):
    """MultiStepLR: lr * gamma ** (number of milestones <= t)."""
    return lr * gamma ** np.searchsorted(milestones, t, side="right")


def constant_factor(t, lr, factor, total_iters):
    """ConstantLR: lr * factor before step total_iters, lr from there on."""
    return lr * np.where(t < total_iters, factor, 1.0)


def cosine_restarts(t, lr, T_0, T_mult, eta_min):
    """CosineAnnealingWarmRestarts: cosine from lr down towards eta_min over a cycle of T_i steps,
    then back to lr; T_i = T_0 T_mult^i."""
    begin, length = _restart_cycles(t, T_0, T_mult)
    return eta_min + (lr - eta_min) * (1 + np.cos(math.pi * (t - begin) / length)) / 2


def _restart_cycles(t, T_0, T_mult):
    """(first step, length) of the warm-restart cycle holding each step, in integers as torch counts."""
    if T_mult == 1:
        return t - t % T_0, np.full(t.shape, T_0)
    begin, length = np.zeros_like(t), np.full(t.shape, T_0)
    start, size = T_0, T_0 * T_mult  # cycle lengths grow geometrically: a few dozen cycles at most
    while t.size and start <= t.max():
        later = t >= start
        begin[later], length[later] = start, size
        start, size = start + size, size * T_mult
    return begin, length


def sequential(t, lr, schedulers, milestones):
    """SequentialLR: schedulers[i] from milestones[i - 1] on, its step count starting again at 0 there.

    At a milestone torch sets the next scheduler's closed form at step 0 (`_update_lr(0)`), then
    steps it on: the closed forms here, restarted, are torch's numbers.
    """
    part = np.searchsorted(milestones, t, side="right")
    starts = (0, *milestones)
    out = np.empty(t.shape, dtype=np.float64)
    for i, schedule in enumerate(schedulers):
        here = part == i
        out[here] = schedule.at(t[here] - starts[i], lr)
    return out


def warmup_cosine(t, lr, warmup_steps, start_factor, T_max, eta_min):
    """Linear warm-up from lr * start_factor to lr over warmup_steps, then cosine annealing over T_max
    steps: SequentialLR([LinearLR, CosineAnnealingLR], milestones=[warmup_steps])."""
    return sequential(t, lr, *_warmup_cosine_parts(dict(warmup_steps=warmup_steps, start_factor=start_factor,
                                                        T_max=T_max, eta_min=eta_min)))


def _warmup_cosine_parts(p):
    """The (schedulers, milestones) of the SequentialLR that warmup_cosine is."""
    warm = ScheduleConfig("warmup", (("start_factor", p["start_factor"]), ("end_factor", 1.0),
                                     ("total_iters", p["warmup_steps"])))
    cos = ScheduleConfig("cosine", (("T_max", p["T_max"]), ("eta_min", p["eta_min"])))
    return (warm, cos), (p["warmup_steps"],)


def plateau(t, lr, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps):
    """ReduceLROnPlateau before any metric: the optimizer's lr (the trainer lowers it, plateau_step)."""
    return np.full(t.shape, lr, dtype=np.float64)


@dataclass(frozen=True)
class PlateauState:
    """ReduceLROnPlateau's state after some metrics: the lr it holds (float64), the best metric,
    the bad evaluations since, and the evaluations of cooldown left."""

    lr: float
    best: float
    num_bad: int = 0
    cooldown_counter: int = 0


def plateau_start(lr: float, params: dict) -> PlateauState:
    """The state before the first metric: torch's `_reset` (best is the worst value of the mode)."""
    return PlateauState(float(lr), math.inf if params["mode"] == "min" else -math.inf)


def plateau_step(state: PlateauState, metric: float, params: dict) -> PlateauState:
    """One `ReduceLROnPlateau.step(metric)`, as torch 2.13 computes it (a NaN metric is no better).

    params: the schedule's parameters (mode, factor, patience, threshold, threshold_mode,
    cooldown, min_lr, eps); state.lr is the lr before the step.
    """
    current = float(metric)
    mode, threshold = params["mode"], params["threshold"]
    if params["threshold_mode"] == "rel":
        better = current < state.best * (1.0 - threshold) if mode == "min" else current > state.best * (threshold + 1.0)
    else:
        better = current < state.best - threshold if mode == "min" else current > state.best + threshold
    best, num_bad = (current, 0) if better else (state.best, state.num_bad + 1)
    cooldown, lr = state.cooldown_counter, state.lr
    if cooldown > 0:
        cooldown, num_bad = cooldown - 1, 0  # bad evaluations in cooldown are ignored
    if num_bad > params["patience"]:
        new_lr = max(lr * params["factor"], params["min_lr"])
        if lr - new_lr > params["eps"]:
            lr = new_lr
        cooldown, num_bad = params["cooldown"], 0
    return PlateauState(lr, best, num_bad, cooldown)


def inverse_sqrt(t, lr, alpha):
    """Inverse-square-root time decay: lr / sqrt(1 + alpha t)."""
    return lr / np.sqrt(1 + alpha * t)


def sawtooth(t, lr, period):
    """Sawtooth restart decay: lr (1 - (t mod period) / period)."""
    return lr * (1 - (t % period) / period)


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule's function, parameter specs, formula and torch equivalent."""

    name: str
    title: str
    fn: Callable
    specs: tuple[H, ...]
    latex: str
    torch_class: str | None
    check: Callable | None = None  # cross-parameter rules, raise ValueError
    # the parameter holding other schedules (SequentialLR's schedulers), validated apart from
    # the specs; the panel has no widget for it and offers its ready-made chain (warmup_cosine)
    children: str | None = None
    # a SequentialLR: params -> (its schedulers, milestones), for "Copy as PyTorch"
    parts: Callable | None = None
    # driven by a metric (ReduceLROnPlateau): only the MNIST trainer, which has one, runs it
    metric: bool = False
    # every symbol latex writes, defined (as OptimizerInfo.symbols)
    symbols: tuple[Symbol, ...] = ()


_INT_POS = dict(kind="int", low=1, high=1e7)
_ETA = Symbol(r"\eta", "the base lr", "lr")
_ETA_T = Symbol(r"\eta_t", "the scheduled lr at step t")
_ETA_MIN_S = Symbol(r"\eta_{min}", "", "eta_min")
_PI = Symbol(r"\pi", "3.14159...")
_ETA_MIN = H("eta_min", 0.0, low=0, high=10, help="lowest lr")
_MILESTONES = dict(kind="ints", low=1, high=1e7)
MAX_SEQUENCE = 8  # schedulers in one sequential schedule
# Not offered in a sequence: torch's OneCycleLR raises once stepped past total_steps; a nested
# SequentialLR runs one step ahead in first place (the outer one undoes its children's first step
# again) and raises NotImplementedError (no get_lr) at a milestone in a later place.
NOT_IN_SEQUENCE = ("onecycle", "warmup_cosine", "sequential", "plateau")


def _check_sequential(p):
    schedulers, milestones = p["schedulers"], p["milestones"]
    if len(milestones) != len(schedulers) - 1:
        raise ValueError(
            f"schedule sequential: milestones={milestones!r} must hold one step fewer than there are "
            f"schedulers ({len(schedulers)})"
        )

SCHEDULES: dict[str, ScheduleInfo] = {
    s.name: s
    for s in [
        ScheduleInfo("constant", "Constant", constant, (), r"\eta_t = \eta", None, symbols=(_ETA, _ETA_T)),
        ScheduleInfo(
            "step", "Step decay", step,
            (H("step_size", 100, **_INT_POS, help="steps between decays"),
             H("gamma", 0.1, low=0, high=1, low_open=True, help="decay factor")),
            r"\eta_t = \eta\,\gamma^{\lfloor t / s \rfloor}", "StepLR",
            symbols=(_ETA, _ETA_T, Symbol(r"\gamma", "", "gamma"), Symbol("s", "", "step_size")),
        ),
        ScheduleInfo(
            "exponential", "Exponential decay", exponential,
            (H("gamma", 0.99, low=0, high=1, low_open=True, help="decay factor per step"),),
            r"\eta_t = \eta\,\gamma^{t}", "ExponentialLR",
            symbols=(_ETA, _ETA_T, Symbol(r"\gamma", "", "gamma")),
        ),
        ScheduleInfo(
            "polynomial", "Polynomial decay", polynomial,
            (H("total_iters", 500, **_INT_POS, help="steps until lr reaches 0"),
             H("power", 1.0, low=0, high=10, help="exponent")),
            r"\eta_t = \eta\,(1 - \min(t, T)/T)^{p}", "PolynomialLR",
            symbols=(_ETA, _ETA_T, Symbol("T", "", "total_iters"), Symbol("p", "", "power")),
        ),
        ScheduleInfo(
            "cosine", "Cosine annealing", cosine,
            (H("T_max", 500, **_INT_POS, help="half-period in steps"), _ETA_MIN),
            r"\eta_t = \eta_{min} + \tfrac12(\eta - \eta_{min})(1 + \cos(\pi t / T_{max}))",
            "CosineAnnealingLR",
            symbols=(_ETA, _ETA_T, _ETA_MIN_S, Symbol("T_{max}", "", "T_max"), _PI),
        ),
        ScheduleInfo(
            "warmup", "Linear warm-up", warmup,
            (H("start_factor", 1 / 3, low=0, high=1, low_open=True, help="lr multiplier at step 0"),
             H("end_factor", 1.0, low=0, high=1, help="lr multiplier after total_iters"),
             H("total_iters", 5, **_INT_POS, help="warm-up length in steps")),
            r"\eta_t = \eta\,(f_0 + (f_1 - f_0)\min(t, T)/T)", "LinearLR",
            symbols=(_ETA, _ETA_T, Symbol("f_0", "", "start_factor"), Symbol("f_1", "", "end_factor"), Symbol("T", "", "total_iters")),
        ),
        ScheduleInfo(
            "cyclic", "Cyclic (triangular)", cyclic,
            (H("max_lr", 0.1, low=0, high=10, low_open=True, log=True, help="upper lr of the cycle"),
             H("step_size_up", 2000, **_INT_POS, help="steps from lr to max_lr"),
             H("step_size_down", 0, kind="int", low=0, high=1e7, help="steps back down (0 = same as up)")),
            r"\eta_t = \eta + (\eta_{max} - \eta)\,\mathrm{tri}(t)", "CyclicLR",
            symbols=(_ETA, _ETA_T, Symbol(r"\eta_{max}", "", "max_lr")),
        ),
        ScheduleInfo(
            "onecycle", "One-cycle", onecycle,
            (H("total_steps", 1000, **_INT_POS, help="length of the cycle (lr is its peak)"),
             H("pct_start", 0.3, low=0, high=1, low_open=True, high_open=True, help="fraction spent increasing"),
             H("anneal_strategy", "cos", kind="choice", choices=("cos", "linear"), help="annealing shape"),
             H("div_factor", 25.0, low=1, high=1e6, help="initial lr = lr / div_factor"),
             H("final_div_factor", 1e4, low=1, high=1e9, help="final lr = initial lr / final_div_factor"),
             H("three_phase", False, kind="bool", help="anneal back to initial lr before the end")),
            r"\eta_t:\ \eta/d \nearrow \eta \searrow \eta/(d\,d_f)", "OneCycleLR", _check_onecycle,
            symbols=(_ETA, _ETA_T, Symbol("d", "", "div_factor"), Symbol("d_f", "", "final_div_factor")),
        ),
        ScheduleInfo(
            "multistep", "Multi-step decay", multistep,
            (H("milestones", (100, 200), **_MILESTONES, help="steps at which the lr is multiplied by gamma"),
             H("gamma", 0.1, low=0, high=1, low_open=True, help="decay factor")),
            r"\eta_t = \eta\,\gamma^{|\{m_i \le t\}|}", "MultiStepLR",
            symbols=(_ETA, _ETA_T, Symbol(r"\gamma", "", "gamma"), Symbol("m_i", "", "milestones")),
        ),
        ScheduleInfo(
            "constant_factor", "Constant factor, then full lr", constant_factor,
            (H("factor", 1 / 3, low=0, high=1, low_open=True, help="lr multiplier before total_iters"),
             H("total_iters", 5, **_INT_POS, help="steps run at the reduced lr")),
            r"\eta_t = \eta\,(f \text{ if } t < T \text{ else } 1)", "ConstantLR",
            symbols=(_ETA, _ETA_T, Symbol("f", "", "factor"), Symbol("T", "", "total_iters")),
        ),
        ScheduleInfo(
            "cosine_restarts", "Cosine with warm restarts", cosine_restarts,
            (H("T_0", 100, **_INT_POS, help="length of the first cycle in steps"),
             H("T_mult", 1, kind="int", low=1, high=10, help="each cycle is T_mult times longer than the last"),
             _ETA_MIN),
            r"\eta_t = \eta_{min} + \tfrac12(\eta - \eta_{min})(1 + \cos(\pi T_{cur} / T_i)),\ "
            r"T_i = T_0 T_{mult}^i",
            "CosineAnnealingWarmRestarts",
            symbols=(_ETA, _ETA_T, _ETA_MIN_S, Symbol("T_0", "", "T_0"), Symbol("T_{mult}", "", "T_mult"), _PI),
        ),
        ScheduleInfo(
            "warmup_cosine", "Warm-up, then cosine", warmup_cosine,
            (H("warmup_steps", 50, **_INT_POS, help="steps of linear warm-up from start_factor * lr to lr"),
             H("start_factor", 0.1, low=0, high=1, low_open=True, help="lr multiplier at step 0"),
             H("T_max", 450, **_INT_POS, help="cosine half-period in steps, counted from the end of the warm-up"),
             _ETA_MIN),
            r"\eta_t = \begin{cases} \eta\,(f_0 + (1 - f_0)\,t/W) & t < W \\ \eta_{min} + \tfrac12(\eta - "
            r"\eta_{min})(1 + \cos(\pi (t - W) / T_{max})) & t \ge W \end{cases}",
            "SequentialLR", parts=_warmup_cosine_parts,
            symbols=(_ETA, _ETA_T, _ETA_MIN_S, Symbol("W", "", "warmup_steps"), Symbol("f_0", "", "start_factor"),
                     Symbol("T_{max}", "", "T_max"), _PI),
        ),
        ScheduleInfo(
            "sequential", "Sequential", sequential,
            (H("milestones", (50,), **_MILESTONES, help="steps at which the next scheduler takes over"),),
            r"\eta_t = \text{schedulers}_i(t - m_{i-1}),\ m_{i-1} \le t < m_i", "SequentialLR",
            _check_sequential, children="schedulers", parts=lambda p: (p["schedulers"], p["milestones"]),
            symbols=(_ETA, _ETA_T, Symbol("m_i", "", "milestones")),
        ),
        ScheduleInfo(
            "plateau", "Reduce on plateau (validation loss)", plateau,
            (H("mode", "min", kind="choice", choices=("min", "max"),
               help="min: the validation loss should fall; max: rise"),
             H("factor", 0.1, low=0, high=1, high_open=True, help="new lr = lr * factor (torch: must be < 1)"),
             H("patience", 10, kind="int", low=0, high=1e6,
               help="evaluations without improvement before the lr drops (not counting the one at step 0)"),
             H("threshold", 1e-4, low=0, high=1e6, log=True, ui_low=1e-6, ui_high=1.0,
               help="how much better counts as an improvement"),
             H("threshold_mode", "rel", kind="choice", choices=("rel", "abs"),
               help="rel: better than best * (1 -/+ threshold); abs: than best -/+ threshold"),
             H("cooldown", 0, kind="int", low=0, high=1e6, help="evaluations to wait after a drop"),
             H("min_lr", 0.0, low=0, high=1e3, help="the lr never drops below this"),
             H("eps", 1e-8, low=0, high=1, log=True, ui_low=1e-12, ui_high=1e-2,
               help="drops smaller than eps are skipped")),
            r"\eta \leftarrow \max(f\,\eta, \eta_{min})\ \text{after more than } n"
            r"\text{ evaluations without a better validation loss}",
            "ReduceLROnPlateau", metric=True,
            symbols=(_ETA, Symbol("f", "", "factor"), Symbol(r"\eta_{min}", "", "min_lr"), Symbol("n", "", "patience")),
        ),
        ScheduleInfo(
            "inverse_sqrt", "Inverse-sqrt time decay", inverse_sqrt,
            (H("alpha", 0.01, low=0, high=1e3, help="decay rate per step"),),
            r"\eta_t = \eta / \sqrt{1 + \alpha t}", None,
            symbols=(_ETA, _ETA_T, Symbol(r"\alpha", "", "alpha")),
        ),
        ScheduleInfo(
            "sawtooth", "Sawtooth restarts", sawtooth,
            (H("period", 100, **_INT_POS, help="restart period in steps"),),
            r"\eta_t = \eta\,(1 - (t \bmod P)/P)", None,
            symbols=(_ETA, _ETA_T, Symbol("P", "", "period")),
        ),
    ]
}


@dataclass(frozen=True)
class ScheduleConfig:
    """A validated schedule: name and its parameters as a hashable tuple of (name, value)."""

    name: str = "constant"
    params: tuple = ()

    def values(self, lr: float, steps: int) -> np.ndarray:
        """The learning rate used at each of `steps` steps: float64 [steps]."""
        return self.at(np.arange(steps), lr)

    def at(self, t: np.ndarray, lr: float) -> np.ndarray:
        """The learning rate at the integer steps t [T]: float64 [T]."""
        return np.asarray(SCHEDULES[self.name].fn(t, lr, **dict(self.params)), dtype=np.float64)


def get_schedule(name: str = "constant", **params) -> ScheduleConfig:
    """Validate a schedule by name and parameters; ValueError names what is wrong."""
    if not isinstance(name, str) or name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid: {', '.join(SCHEDULES)}")
    info = SCHEDULES[name]
    children = {}
    if info.children:
        if info.children not in params:
            raise ValueError(f"schedule {name}: {info.children} is missing: give a list of schedules")
        children[info.children] = _children(name, info.children, params.pop(info.children))
    checked = {**children, **validate(f"schedule {name}", info.specs, params)}
    if info.check:
        info.check(checked)
    return ScheduleConfig(name, tuple(checked.items()))


def _children(owner: str, field: str, value) -> tuple[ScheduleConfig, ...]:
    """A list of 2 to MAX_SEQUENCE schedules (names, (name, params) pairs or ScheduleConfigs), validated."""
    where = f"schedule {owner}: {field}"
    if isinstance(value, (str, bytes, Mapping, ScheduleConfig)) or not hasattr(value, "__len__"):
        raise ValueError(f"{where}={value!r} must be a list of 2 to {MAX_SEQUENCE} schedules")
    if not 2 <= len(value) <= MAX_SEQUENCE:
        raise ValueError(f"{where}={value!r} must be a list of 2 to {MAX_SEQUENCE} schedules")
    out = []
    for i, child in enumerate(value):
        try:
            config = as_schedule(child)
        except ValueError as exc:
            raise ValueError(f"{where}[{i}]: {exc}") from None
        if config.name in NOT_IN_SEQUENCE:
            raise ValueError(f"{where}[{i}]={config.name!r} cannot be part of a sequence; allowed: "
                             f"{', '.join(n for n in SCHEDULES if n not in NOT_IN_SEQUENCE)}")
        out.append(config)
    return tuple(out)


def as_schedule(schedule) -> ScheduleConfig:
    """Accept a ScheduleConfig, a name, a (name, params) pair or None (constant)."""
    if schedule is None:
        return ScheduleConfig()
    if isinstance(schedule, ScheduleConfig):
        return schedule
    if isinstance(schedule, str):
        return get_schedule(schedule)
    try:
        name, params = schedule
    except (TypeError, ValueError):
        raise ValueError(f"schedule={schedule!r} must be a name or a (name, params) pair") from None
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise ValueError(f"schedule={schedule!r}: its params must be a dict of parameter names to values")
    return get_schedule(name, **dict(params))
