"""The page's state: a frozen, hashable RunConfig, its widgets' session state, and its URL form.

RunConfig is everything a run depends on; it keys the compute cache and is what a link holds.
`load_into_session` sets every sidebar widget from a RunConfig (presets, links, page re-entry);
`encode` / `decode` turn it into st.query_params and back, where every field is read on its own
and a bad or stale one falls back to its default with a note for the page to show.

URL form (values that equal the defaults are left out, except surface, opt and start):
    surface=rosenbrock & rosenbrock.b=30 & steps=800 & start=-1.5,2
    & opt=adam~lr:0.05~betas:0.9,0.99~l1:0.1~l1_mode:proximal~schedule:cosine~T_max:500
                                                                   (one opt per optimizer)
    & swarm=200 & swarm_seed=1 & noise=0.1 & seed=3 & clip_norm=5 & clip_value=0 & tol=1e-08
    & backend=torch & preset=saddle & present=1   (presentation mode, on every page: `presenting`)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import streamlit as st

from optimizers import MAX_STEPS, OPTIMIZERS, SCHEDULES, Hyperparameter, OptimizerConfig, get_optimizer
from optimizers.lbfgs import history_passes
from surfaces import SURFACES, get_surface

from . import i18n, widgets
from .optimizer_panel import L1_SPECS, MAX_PANELS, PANEL_SCHEDULES, OptimizerPanels

H = Hyperparameter

MAX_SWARM = 1000
APP_MAX_TRAJECTORY_STEPS = 1_000_000  # K * N * T the page will compute (~130 MB recorded)
# L-BFGS's steps run up to max_iter inner iterations over history_size pairs each, on the array code:
# its worst case (starts that never settle, or noise) is about 0.1 ms per two-loop pass here, a start
# adding 1/80 of one (rosenbrock, noise 1: 0.2 s a step from 1 start, 0.34 s from 30, 0.94 s from 300).
# The cap keeps an L-BFGS run under about 25 s at worst: the default (20 x 100 passes) from one start
# gets 123 steps, from 100 starts 55.
LBFGS_SECONDS_PER_PASS = 1e-4
LBFGS_STARTS_PER_PASS = 80
APP_MAX_LBFGS_WORK = 250_000

# Run settings as specs: one source for their widgets, their checks and their URL parsing.
RUN_SPECS: dict[str, Hyperparameter] = {s.name: s for s in (
    H("steps", 500, low=1, high=MAX_STEPS, kind="int", help="number of optimizer steps"),
    H("noise", 0.0, low=0, high=1e6, log=True, ui_high=100.0,
      help="std of Gaussian noise added to every gradient (same noise for every optimizer); 0 = off"),
    H("seed", 0, low=0, high=2**31 - 1, kind="int", help="seed of the gradient noise"),
    H("clip_norm", 0.0, low=0, high=1e12, log=True, ui_high=1e3,
      help="rescale each gradient to at most this norm (clip_grad_norm_); 0 = off"),
    H("clip_value", 0.0, low=0, high=1e12, log=True, ui_high=1e3,
      help="clamp each gradient entry to ± this value (clip_grad_value_); 0 = off"),
    H("tol", 1e-8, low=0, high=1e6, log=True, ui_low=1e-12, ui_high=1.0,
      help="converged (and stopped) when the gradient norm falls below tol; 0 = never"),
    H("backend", "numpy", kind="choice", choices=("numpy", "torch"),
      help="array library the update rules run on (same numbers, float64)"),
    H("swarm", 100, low=1, high=MAX_SWARM, kind="int", help="number of random starts"),
    H("swarm_seed", 0, low=0, high=2**31 - 1, kind="int", help="seed of the random starts"),
)}
ZERO_MEANS_OFF = ("noise", "clip_norm", "clip_value", "tol")
START_SPEC = H("start", 0.0, low=-1e6, high=1e6, help="starting coordinate")


# The page's optimizer panels: keys opt{pid}.*, the list under "panels"; "Add optimizer" adds Adam.
PANELS = OptimizerPanels(default=get_optimizer("adam", lr=1e-2), live=True, l1=True)


def default_optimizers() -> tuple[OptimizerConfig, ...]:
    """The opening view: plain SGD, heavy-ball and Nesterov momentum, RMSProp and Adam."""
    return (
        get_optimizer("sgd", lr=1e-3),
        get_optimizer("sgd", lr=1e-3, momentum=0.9),
        get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True),
        get_optimizer("rmsprop", lr=1e-2),
        get_optimizer("adam", lr=5e-2),
    )


@dataclass(frozen=True)
class RunConfig:
    """Everything one run depends on; frozen and hashable, so it keys st.cache_data.

    surface_params: the surface's full validated (name, value) pairs in spec order.
    start: the single start point; swarm > 0 replaces it by `swarm` random starts drawn
    uniformly over the surface's bounds with `swarm_seed`. clip_norm / clip_value: 0 = off.
    """

    surface: str
    surface_params: tuple
    start: tuple[float, float]
    optimizers: tuple[OptimizerConfig, ...] = field(default_factory=default_optimizers)
    swarm: int = 0
    swarm_seed: int = 0
    steps: int = 500
    noise: float = 0.0
    seed: int = 0
    clip_norm: float = 0.0
    clip_value: float = 0.0
    tol: float = 1e-8
    backend: str = "numpy"

    def get_surface(self):
        return get_surface(self.surface, **dict(self.surface_params))

    def starts(self) -> np.ndarray:
        """[N, 2] starting points."""
        if not self.swarm:
            return np.array([self.start], dtype=np.float64)
        (x0, x1), (y0, y1) = self.get_surface().bounds
        rng = np.random.default_rng(self.swarm_seed)
        return rng.uniform((x0, y0), (x1, y1), size=(self.swarm, 2))

    def run_kwargs(self) -> dict:
        """Keyword arguments of optimizers.run besides surface, configs, starts and steps."""
        return {"backend": self.backend, "noise": self.noise, "seed": self.seed,
                "clip_norm": self.clip_norm or None, "clip_value": self.clip_value or None, "tol": self.tol}


def make_config(surface: str = "rosenbrock", surface_params: Mapping | None = None, start=None,
                **settings) -> RunConfig:
    """A RunConfig with the surface's parameters completed and its default start unless given.

    make_config() is the opening view.
    """
    s = get_surface(surface, **dict(surface_params or {}))
    start = tuple(float(v) for v in (start if start is not None else s.default_starts[0]))
    return RunConfig(surface=surface, surface_params=tuple(s.params.items()), start=start, **settings)


def capped_steps(config: RunConfig) -> int:
    """The steps the page runs: config.steps, lowered so K * N * T stays within the app's cap and
    the L-BFGS configurations within theirs (`lbfgs_steps`)."""
    k, n = max(len(config.optimizers), 1), config.swarm or 1
    return max(1, min(config.steps, APP_MAX_TRAJECTORY_STEPS // (k * n), lbfgs_steps(config)))


def lbfgs_work(config: RunConfig) -> float:
    """The worst-case work of one step of the run's L-BFGS configurations, in two-loop passes: each
    configuration's max_iter x history_size (lbfgs.history_passes), times 1 + N / LBFGS_STARTS_PER_PASS
    for N starts (the passes are vectorised over the starts, so a start costs a fraction of one).
    Measured here: about LBFGS_SECONDS_PER_PASS seconds per unit (0 without L-BFGS)."""
    passes = sum(history_passes(c.hp) for c in config.optimizers if c.info.closure_calls is not None)
    return passes * (1 + (config.swarm or 1) / LBFGS_STARTS_PER_PASS)


def lbfgs_steps(config: RunConfig) -> int:
    """The most steps the run's L-BFGS configurations may take (config.steps without any): their
    worst-case work, lbfgs_work per step, stays within APP_MAX_LBFGS_WORK."""
    work = lbfgs_work(config)
    return config.steps if work == 0 else max(1, min(config.steps, int(APP_MAX_LBFGS_WORK // work)))


# --- session state ---------------------------------------------------------------------------------


def load_into_session(config: RunConfig) -> None:
    """Set every sidebar widget to `config` (call before the widgets are drawn, or in a callback)."""
    ss = st.session_state
    ss["surface"] = config.surface
    specs = {spec.name: spec for spec in SURFACES[config.surface].specs}
    for name, value in config.surface_params:
        widgets.put(specs[name], widgets.surface_key(config.surface, name), value)
    PANELS.clear()
    for optimizer in config.optimizers:
        PANELS.add(optimizer)
    ss["start.mode"] = "swarm" if config.swarm else "point"
    widgets.put(START_SPEC, "start.x", config.start[0])
    widgets.put(START_SPEC, "start.y", config.start[1])
    if config.swarm:
        widgets.put(RUN_SPECS["swarm"], "swarm", config.swarm)
    widgets.put(RUN_SPECS["swarm_seed"], "swarm_seed", config.swarm_seed)
    for name in ("steps", "noise", "seed", "clip_norm", "clip_value", "tol", "backend"):
        widgets.put(RUN_SPECS[name], name, getattr(config, name))


@widgets.callback
def reset_start() -> None:
    """Callback of the surface picker: start from the new surface's default point."""
    ss = st.session_state
    try:
        x, y = get_surface(ss["surface"]).default_starts[0]
    except ValueError:  # a crafted surface name: the page refuses it before drawing
        return
    widgets.put(START_SPEC, "start.x", x)
    widgets.put(START_SPEC, "start.y", y)


# --- URL ------------------------------------------------------------------------------------------

_DEFAULT = make_config()
_SETTINGS = ("swarm", "swarm_seed", "steps", "noise", "seed", "clip_norm", "clip_value", "tol", "backend")


def _text(value: Any) -> str:
    """A value as URL text: floats by repr (exact round trip) without '+' (a space in URLs)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    return str(value)


def _parse(spec: Hyperparameter, text: str, owner: str) -> Any:
    """URL text -> a value checked against `spec`; ValueError says what is wrong."""
    try:
        if spec.kind == "bool":
            lowered = text.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError
            value: Any = lowered in ("true", "1")
        elif spec.kind in ("pair", "ints"):
            value = tuple(float(v) for v in text.split(","))
        elif spec.kind == "int":
            number = float(text)
            value = int(number) if number.is_integer() else number
        elif spec.kind in ("choice", "text"):
            value = text
        else:
            value = float(text)
    except ValueError:
        raise ValueError(f"{owner}: {spec.name}={text!r} is not a valid {spec.kind}") from None
    return spec.check(value, owner)


def encode_optimizer(config: OptimizerConfig) -> str:
    """'adam~lr:0.05~eps:1e-07~l1:0.1~schedule:cosine~T_max:500': lr always, other values (the L1
    penalty's too) when not default; the schedule's parameters follow its name."""
    parts = [config.name]
    defaults = {spec.name: spec.default for spec in config.info.specs}
    for name, value in config.hparams:
        if name == "lr" or value != defaults[name]:
            parts.append(f"{name}:{_text(value)}")
    if config.l1 > 0:
        parts.append(f"l1:{_text(config.l1)}")
        if config.l1_mode != "subgradient":
            parts.append(f"l1_mode:{config.l1_mode}")
    if config.schedule.name != "constant":
        parts.append(f"schedule:{config.schedule.name}")
        parts += [f"{name}:{_text(value)}" for name, value in config.schedule.params]
    return "~".join(parts)


def decode_optimizer(text: str, notes: list[str]) -> OptimizerConfig | None:
    """Parse one `opt` value; bad fields fall back to defaults (noted), an unusable one gives None."""
    name, *items = text.split("~")
    if name not in OPTIMIZERS:
        notes.append(f"unknown optimizer {name!r} in the link was skipped (valid: {', '.join(OPTIMIZERS)})")
        return None
    specs = {spec.name: spec for spec in OPTIMIZERS[name].specs}
    penalty_specs = {spec.name: spec for spec in L1_SPECS}
    hp: dict[str, Any] = {}
    penalty: dict[str, Any] = {}
    schedule, sched_params = "constant", {}
    for item in items:
        key, _, value = item.partition(":")
        try:
            if key in penalty_specs:
                penalty[key] = _parse(penalty_specs[key], value, name)
            elif key == "schedule":
                if value in SCHEDULES and SCHEDULES[value].metric:
                    raise ValueError(f"{name}: schedule {value} follows a validation loss, which a surface has not "
                                     "(it is on the MNIST page); using a constant lr")
                if value not in PANEL_SCHEDULES:  # a sequence's schedules have no panel widgets
                    raise ValueError(f"{name}: unknown schedule {value!r}, using a constant lr")
                schedule = value
            elif schedule != "constant":
                sched_specs = {spec.name: spec for spec in SCHEDULES[schedule].specs}
                if key not in sched_specs:
                    raise ValueError(f"{name}: schedule {schedule} has no parameter {key!r}")
                sched_params[key] = _parse(sched_specs[key], value, f"{name} schedule {schedule}")
            elif key in specs:
                hp[key] = _parse(specs[key], value, name)
            else:
                raise ValueError(f"{name}: unknown hyperparameter {key!r} ignored")
        except ValueError as exc:
            notes.append(str(exc))
    try:
        return get_optimizer(name, schedule=(schedule, sched_params), **penalty, **hp)
    except ValueError as exc:
        notes.append(f"{exc}; this optimizer was skipped")
        return None


def encode(config: RunConfig, preset: str | None = None) -> dict[str, str | list[str]]:
    """The query parameters of `config` (see the module docstring)."""
    out: dict[str, str | list[str]] = {"surface": config.surface}
    defaults = {spec.name: spec.default for spec in SURFACES[config.surface].specs}
    for name, value in config.surface_params:
        if value != defaults[name]:
            out[f"{config.surface}.{name}"] = _text(value)
    out["opt"] = [encode_optimizer(c) for c in config.optimizers]
    out["start"] = _text(tuple(float(v) for v in config.start))
    for name in _SETTINGS:
        value = getattr(config, name)
        if value != getattr(_DEFAULT, name):
            out[name] = _text(value)
    if preset:
        out["preset"] = preset
    return out


def decode(params: Mapping[str, list[str]], presets: Mapping[str, Any] = ()) -> tuple[RunConfig, str | None, list[str]]:
    """(config, preset name or None, notes) from query parameters {name: [values]}.

    Every field is read on its own; one that is missing takes its default, one that is bad or
    stale takes its default and adds a note.
    """
    notes: list[str] = []
    last = {name: values[-1] for name, values in params.items() if values}
    used = {"surface", "opt", "start", "preset", i18n.KEY, PRESENT, *_SETTINGS}

    surface = last.get("surface", _DEFAULT.surface)
    if surface not in SURFACES:
        notes.append(f"unknown surface {surface!r}; showing {_DEFAULT.surface} (valid: {', '.join(SURFACES)})")
        surface = _DEFAULT.surface
    specs = {spec.name: spec for spec in SURFACES[surface].specs}
    surface_params = {}
    for key, value in last.items():
        prefix, _, name = key.partition(".")
        if not name:
            continue
        used.add(key)
        if prefix != surface or name not in specs:
            notes.append(f"{key}={value!r} does not apply to the {surface} surface and was ignored")
            continue
        surface_params[name] = _field(notes, _parse, specs[name], value, surface)
    surface_params = {name: v for name, v in surface_params.items() if v is not None}
    try:
        base = make_config(surface, surface_params)
    except ValueError as exc:  # parameters fine alone but not together (regression batch > samples)
        notes.append(f"{exc}; using the surface's default parameters")
        base = make_config(surface)

    settings: dict[str, Any] = {}
    if "opt" in params:
        tokens = params["opt"]
        if len(tokens) > MAX_PANELS:
            notes.append(f"opt: the link names {len(tokens)} optimizers; the page shows at most {MAX_PANELS}, "
                         f"the first {MAX_PANELS} are kept")
            tokens = tokens[:MAX_PANELS]
        optimizers = tuple(c for c in (decode_optimizer(t, notes) for t in tokens) if c is not None)
        if optimizers:
            settings["optimizers"] = optimizers
        else:
            notes.append("no usable optimizer in the link; showing the default ones")
    if "start" in last:
        settings["start"] = _field(notes, _parse_start, last["start"])
    for name in _SETTINGS:
        if name in last:
            settings[name] = _field(notes, _parse, RUN_SPECS[name], last[name], "link")
    settings = {name: v for name, v in settings.items() if v is not None}
    preset = last.get("preset")
    if preset is not None and preset not in presets:
        notes.append(f"unknown preset {preset!r} ignored")
        preset = None
    for key in sorted(set(params) - used):
        notes.append(f"unknown link parameter {key!r} ignored")
    if preset is not None and not set(params) - {"preset", i18n.KEY, PRESENT}:  # a preset's own link: its setup
        return presets[preset].config, preset, notes
    return replace(base, **settings), preset, notes


def _field(notes: list[str], parse: Callable, *args) -> Any:
    """parse(*args), or None with a note when the value is bad (None is never a valid value)."""
    try:
        return parse(*args)
    except ValueError as exc:
        notes.append(f"{exc}; using the default")
        return None


def _parse_start(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise ValueError(f"start={text!r} must be two numbers 'x,y'")
    return tuple(_parse(START_SPEC, p, "start") for p in parts)


def read_url(presets: Mapping[str, Any]) -> tuple[RunConfig, str | None, list[str]] | None:
    """decode(st.query_params), or None when the page was opened without any."""
    params = {name: st.query_params.get_all(name) for name in st.query_params if name != i18n.KEY}
    if not params:  # the language alone is no setup
        return None
    return decode(params, presets)


def write_url(config: RunConfig, preset: str | None) -> None:
    """Put `config` in the address bar (only when it changed, to keep reruns quiet)."""
    wanted = i18n.query(encode(config, preset))
    if presenting():
        wanted[PRESENT] = "1"
    current = {name: st.query_params.get_all(name) for name in st.query_params}
    if current != {k: v if isinstance(v, list) else [v] for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)



# --- presentation mode ------------------------------------------------------------------------------

PRESENT = "present"  # the link's key (present=1) and the toggle's session-state key


def presenting() -> bool:
    """Whether the page is in presentation mode: the toggle's value, which a new session reads
    from its link (present=1)."""
    if PRESENT not in st.session_state:
        st.session_state[PRESENT] = st.query_params.get(PRESENT) == "1"
    return bool(st.session_state[PRESENT])


def write_present() -> None:
    """Keep present=1 in the address bar exactly while presentation mode is on (every page)."""
    if presenting() and st.query_params.get(PRESENT) != "1":
        st.query_params[PRESENT] = "1"
    elif not presenting() and PRESENT in st.query_params:
        del st.query_params[PRESENT]
