"""What a preset's story says about its run, as data that a test checks against the run.

A Claim names a measure of one optimizer's trajectory (start 0, or every start's median for a
swarm where the measure says so), a comparison and a value, and carries the words of the story
that state it: `holds(claim, res, config)` computes the measure on the Result of the preset's config
(or of a variant of it: other settings the story invites the reader to try) and compares.
Comparisons: "<" and ">" strict; "=" exact (steps, counts); "≈" means the measure, rounded to
the significant digits the value is written with, is the value ("1.36" holds for 1.3645).
Steps count updates as the Result does: point index s is the point after s steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from optimizers import run
from plots.contour import contour_figure, hiding
from surfaces.base import hessian
from theory import rates, saddle
from theory.measured import first_reaching, fitted_rate

from .state import RunConfig, capped_steps


@dataclass(frozen=True)
class Claim:
    """kind: a key of MEASURES; k: the optimizer's index in the config; op: "<", ">", "=" or "≈";
    value: what the story says (for "≈" the
    number as written, a string: "0.0030" has two significant digits); text: the words of the story that say it (part of the story);
    steps: (first, last) point indices for the measures over a window; variant: (name, value)
    pairs of a RunConfig field or surface parameter to change first (a run the story suggests)."""

    kind: str
    k: int
    op: str
    value: float | str
    text: str
    steps: tuple[int, int] | None = None
    variant: tuple = ()


def result_of(config: RunConfig, variant: tuple = ()):
    """The Result the page computes for `config` with `variant` applied."""
    config = vary(config, variant)
    return run(config.get_surface(), config.optimizers, config.starts(), capped_steps(config), **config.run_kwargs())


def vary(config: RunConfig, variant: tuple) -> RunConfig:
    """`config` with each (name, value): a RunConfig field, else a surface parameter."""
    fields = {name: value for name, value in variant if hasattr(config, name)}
    surface = {name: value for name, value in variant if not hasattr(config, name)}
    if surface:
        params = {**dict(config.surface_params), **surface}
        fields["surface_params"] = tuple(config.get_surface().entry.create(params).params.items())
    return replace(config, **fields)


def holds(claim: Claim, res, config: RunConfig) -> tuple[bool, float]:
    """(whether the claim is true of `res`, the Result of `config`, the measured value)."""
    measured = float(MEASURES[claim.kind](res, claim.k, claim.steps, config))
    if claim.op == "<":
        return measured < claim.value, measured
    if claim.op == ">":
        return measured > claim.value, measured
    if claim.op == "=":
        return measured == claim.value, measured
    if claim.op == "≈":
        digits = significant_digits(claim.value)
        return f"{measured:.{digits}g}" == f"{float(claim.value):.{digits}g}", measured
    raise ValueError(f"claim: op={claim.op!r} must be one of <, >, =, ≈")


def significant_digits(written: str) -> int:
    """The significant digits of a number as written: "1.36" -> 3, "0.0030" -> 2, "5.2e5" -> 2,
    "1151" -> 4 (an integer's trailing zeros count)."""
    if not isinstance(written, str):
        raise ValueError(f"claim: value={written!r} of an '≈' claim must be the number as written, a string")
    mantissa = written.strip().lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").lstrip("0")
    return max(len(digits), 1)


# --- measures: (res, k, steps, config) -> float, about start 0 unless said otherwise ----------------------


def _stop(res, k: int) -> int:
    return int(res.stop_index()[k, 0])


def _window(res, k: int, steps) -> slice:
    first, last = steps if steps else (0, _stop(res, k))
    return slice(first, last + 1)


def _final_point(res, k: int) -> np.ndarray:
    return res.path[k, 0, _stop(res, k)]


def _targets(surface) -> np.ndarray:
    """[M, 2] the surface's minima, else its saddle points, else the origin."""
    return np.array(surface.minima or surface.saddles or ((0.0, 0.0),), dtype=float)


def _distance(res, k: int) -> np.ndarray:
    """[T+1] distance of start 0's points to the nearest target (_targets)."""
    points = res.path[k, 0]
    return np.min(np.linalg.norm(points[:, None, :] - _targets(res.surface), axis=-1), axis=-1)


def _valley(res) -> tuple[np.ndarray, np.ndarray]:
    """The quadratic's unit eigenvectors: along the valley (curvature 1/condition), across it (1)."""
    a = math.radians(res.surface.params["angle"])
    return np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])


def _overshoot(direction: int) -> Callable:
    """How far the path passes the minimum along one eigenvector, as a fraction of where it
    started along it: max over steps of -(p_s . e) / (p_0 . e); > 0 when it passed."""
    def measure(res, k, steps, config):
        along = res.path[k, 0, _window(res, k, steps)] @ _valley(res)[direction]
        return float(np.max(-along / along[0]))
    return measure


def _crossings(direction: int) -> Callable:
    """How many steps cross the minimum along one eigenvector (sign changes of p_s . e)."""
    def measure(res, k, steps, config):
        along = res.path[k, 0, _window(res, k, steps)] @ _valley(res)[direction]
        return int(np.sum(np.diff(np.sign(along)) != 0))
    return measure


def _escape_step(res, k, steps, config) -> int:
    """First point index with |y| >= 1 (the theory panel's escape), -1 if none."""
    hit = first_reaching(res.path[k, 0, :, 1], _stop(res, k), saddle.ESCAPE_LEVEL)
    return -1 if hit is None else hit


def _escape_median(res, k, steps, config) -> int:
    """The step by which half of all noise draws have |y| >= 1 (plain GD, the run's noise), -1 if
    not within the run."""
    step = saddle.median_escape_step(float(res.starts[0, 1]), res.configs[k].lr, config.noise, res.shape[2])
    return -1 if step is None else step


def _argmin_grad_norm(res, k, steps, config) -> int:
    """The point index of the smallest gradient norm in the window."""
    window = _window(res, k, steps)
    return window.start + int(np.argmin(res.grad_norm[k, 0, window]))


def _sgd_rate(res, k, steps, config) -> float:
    """The closed-form rate per step of SGD (momentum or not) config k on the quadratic."""
    optimizer = res.configs[k]
    lam = rates.quadratic_eigenvalues(res.surface.params["condition"])
    return rates.rate(optimizer.lr, float(dict(optimizer.hparams)["momentum"]), lam)


def _measured_rate(res, k, steps, config) -> float:
    """The rate per step fitted to the distance to the minimum (the theory panel's)."""
    return fitted_rate(_distance(res, k), _stop(res, k)).rate


def _step_length(res, k: int) -> np.ndarray:
    return np.linalg.norm(np.diff(res.path[k, 0], axis=0), axis=-1)


def _eff_lr_growth(dim: int) -> Callable:
    """Largest effective lr of one parameter over the run, divided by that of the first step."""
    def measure(res, k, steps, config):
        eff = res.eff_lr[k, 0, : max(_stop(res, k), 1), dim]
        return float(eff.max() / eff[0])
    return measure


def _sharpness_times_lr(reduce: Callable) -> Callable:
    """lr x the largest Hessian eigenvalue along the path (GD is stable at a minimum whose value
    is below 2), reduced over the window."""
    def measure(res, k, steps, config):
        points = res.path[k, 0, _window(res, k, steps)]
        top = np.linalg.eigvalsh(hessian(res.surface.grad_xy, points))[:, -1]
        return float(reduce(res.configs[k].lr * top))
    return measure


def _first_loss_rise(res, k, steps, config) -> int:
    """The first point index whose loss is above the one before, -1 if the loss never rises."""
    rises = np.flatnonzero(np.diff(res.loss[k, 0, : _stop(res, k) + 1]) > 0)
    return int(rises[0]) + 1 if rises.size else -1


def _sharpness_at_minimum(res, k, steps, config) -> float:
    """lr x the largest Hessian eigenvalue at the surface's global minimum."""
    top = np.linalg.eigvalsh(hessian(res.surface.grad_xy, np.array(res.surface.minima[0])))[-1]
    return float(res.configs[k].lr * top)


def _hidden_by(res, k, steps, config) -> int:
    """The first later configuration whose path hides k's on the map (plots.contour.hiding: the
    rule that dashes the one on top), -1 if none."""
    hides = hiding(res)
    return next((j for j in range(k + 1, len(hides)) if k in hides[j]), -1)


def _map_dashed(res, k, steps, config) -> int:
    """1 if the map draws configuration k's path dashed (plots.contour.contour_figure), else 0."""
    for trace in contour_figure(res)["data"]:
        meta = trace.get("meta") or {}
        if meta.get("role") == "path" and meta.get("config") == k:
            return int(trace["line"].get("dash", "solid") != "solid")
    raise ValueError(f"claim: k={k} has no path on the map")


def _median_loss(res, k, steps, config) -> float:
    """Median over the window of the per-step median loss over all starts (the swarm's line)."""
    return float(np.median(np.median(res.loss[k], axis=0)[_window(res, k, steps)]))


MEASURES: dict[str, Callable] = {
    "diverged_at": lambda res, k, steps, config: int(res.diverged_at[k, 0]),
    "converged_at": lambda res, k, steps, config: int(res.converged_at[k, 0]),
    "min_grad_norm": lambda res, k, steps, config: float(res.grad_norm[k, 0, _window(res, k, steps)].min()),
    "argmin_grad_norm": _argmin_grad_norm,
    "final_grad_norm": lambda res, k, steps, config: float(res.grad_norm[k, 0, _stop(res, k)]),
    "final_distance": lambda res, k, steps, config: float(_distance(res, k)[_stop(res, k)]),
    "min_distance": lambda res, k, steps, config: float(_distance(res, k)[_window(res, k, steps)].min()),
    "last_x": lambda res, k, steps, config: float(_final_point(res, k)[0]),
    "last_y": lambda res, k, steps, config: float(_final_point(res, k)[1]),
    "last_loss": lambda res, k, steps, config: float(res.loss[k, 0, _stop(res, k)]),
    "first_loss_rise": _first_loss_rise,
    "loss_rises": lambda res, k, steps, config: int(np.sum(np.diff(res.loss[k, 0, _window(res, k, steps)]) > 0)),
    "overshoot_along": _overshoot(0),
    "overshoot_across": _overshoot(1),
    "crossings_along": _crossings(0),
    "crossings_across": _crossings(1),
    "escape_step": _escape_step,
    "escape_formula": lambda res, k, steps, config: saddle.escape_time(float(res.starts[0, 1]), res.configs[k].lr),
    "escape_median": _escape_median,
    "rate_formula": _sgd_rate,
    "steps_per_decade_formula": lambda res, k, steps, config: rates.steps_per_decade(_sgd_rate(res, k, steps, config)),
    "rate_measured": _measured_rate,
    "max_step": lambda res, k, steps, config: float(_step_length(res, k)[_window(res, k, steps)].max()),
    "median_step": lambda res, k, steps, config: float(np.median(_step_length(res, k)[_window(res, k, steps)])),
    "eff_lr_growth_x": _eff_lr_growth(0),
    "eff_lr_growth_y": _eff_lr_growth(1),
    "sharpness_lr_min": _sharpness_times_lr(np.min),
    "sharpness_lr_max": _sharpness_times_lr(np.max),
    "sharpness_lr_at_minimum": _sharpness_at_minimum,
    "median_loss": _median_loss,
    "hidden_by": _hidden_by,
    "map_dashed": _map_dashed,
}
