"""The theory panel's rows: for each optimizer of a Result, what it measured beside what the
closed forms predict for its settings (theory.rates on the quadratic, theory.saddle on x^2 - y^2).

The closed forms cover torch.optim.SGD with a constant learning rate and no dampening, Nesterov
or weight decay (plain gradient descent, or heavy-ball momentum), on exact gradients; every
other optimizer is still measured, with the reason it has no closed form here. Each row is about
the first start of the Result (n = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizers import OptimizerConfig, get_optimizer

from . import rates, saddle
from .measured import Fit, first_reaching, fitted_rate

LR_POINTS = 400  # samples of each rate-against-lr curve
DOUBLE_ROOT = ("a double root at these settings: the error falls like k·rᵏ, so a finite run measures a "
               "little above r (the gap shrinks like 1/k)")


@dataclass(frozen=True)
class RateRow:
    """One optimizer on the quadratic. fit: the measured rate (None: too few usable points);
    rate, threshold: the closed-form rate per step and the largest stable lr (None: no closed
    form, `reason` says why); momentum: its momentum when covered; note: what else to know when
    reading the two rates side by side ("" if nothing)."""

    k: int
    label: str
    lr: float
    momentum: float | None
    fit: Fit | None
    rate: float | None
    threshold: float | None
    reason: str
    outcome: str
    note: str = ""


@dataclass(frozen=True)
class EscapeRow:
    """One optimizer on the saddle. measured: first step with |y| >= 1 (None: not within the
    run); formula: log(1/|y0|)/log(1 + 2 lr) and predicted its ceiling (noise-free plain GD);
    median: the step by which half of all noise draws are past |y| = 1 (plain GD with noise)."""

    k: int
    label: str
    lr: float
    y0: float
    measured: int | None
    formula: float | None
    predicted: int | None
    median: int | None
    reason: str


@dataclass(frozen=True)
class RateCurve:
    """The closed-form rate against lr for one momentum value: lr [LR_POINTS], rate [LR_POINTS]."""

    momentum: float
    lr: np.ndarray
    rate: np.ndarray
    threshold: float


@dataclass(frozen=True)
class Comparison:
    """Gradient descent and heavy ball, each at its best settings for one condition number."""

    condition: float
    gd: rates.Optimum
    heavy_ball: rates.Optimum

    @property
    def speedup(self) -> float:
        """How many times fewer steps heavy ball needs per tenfold error reduction."""
        return rates.steps_per_decade(self.gd.rate) / rates.steps_per_decade(self.heavy_ball.rate)


def optimal_sgd(condition: float) -> tuple[OptimizerConfig, OptimizerConfig]:
    """torch SGD as gradient descent and as heavy ball, each at its best settings for the app's
    quadratic with this condition number."""
    best = comparison(condition)
    return (get_optimizer("sgd", lr=best.gd.lr),
            get_optimizer("sgd", lr=best.heavy_ball.lr, momentum=best.heavy_ball.momentum))


def sgd_momentum(config) -> tuple[float | None, str]:
    """(momentum, "") when the closed forms cover this OptimizerConfig, else (None, why not)."""
    if config.name != "sgd":
        return None, f"{config.info.title}: no closed form here"
    hp = dict(config.hparams)
    for why, excluded in (("an lr schedule", config.schedule.name != "constant"),
                          ("weight decay", hp["weight_decay"] != 0), ("Nesterov momentum", hp["nesterov"]),
                          ("dampening", hp["momentum"] != 0 and hp["dampening"] != 0)):
        if excluded:
            return None, f"SGD with {why}: not covered by these closed forms"
    return float(hp["momentum"]), ""


def run_reason(noise: float, clipped: bool) -> str:
    """Why the run's gradients are not the exact ones the closed forms assume ("" when they are)."""
    if noise > 0:
        return "gradient noise is on: the closed forms are for exact gradients"
    return "gradient clipping is on: the closed forms are for unclipped gradients" if clipped else ""


def comparison(condition: float) -> Comparison:
    """Best gradient descent against best heavy ball on the app's quadratic with this condition."""
    lam = rates.quadratic_eigenvalues(condition)
    return Comparison(float(condition), rates.gd_optimal(lam), rates.heavy_ball_optimal(lam))


def outcome(res, k: int) -> str:
    """'diverged at step n', 'converged at step n' or 'ran all T steps', for start 0."""
    if res.diverged_at[k, 0] >= 0:
        return f"diverged at step {int(res.diverged_at[k, 0])}"
    if res.converged_at[k, 0] >= 0:
        return f"converged at step {int(res.converged_at[k, 0])}"
    return f"ran all {res.shape[2]} steps"


def distance(res) -> np.ndarray:
    """[K, T+1] distance of start 0's points to the surface's first minimum (the quadratic's 0)."""
    target = np.asarray(res.surface.minima[0])
    return np.hypot(*(res.path[:, 0] - target).transpose(2, 0, 1))


def rate_rows(res, *, noise: float = 0.0, clipped: bool = False) -> list[RateRow]:
    """One RateRow per optimizer of a Result on the quadratic surface."""
    lam = rates.quadratic_eigenvalues(res.surface.params["condition"])
    dist, stop = distance(res), res.stop_index()[:, 0]
    rows = []
    for k, config in enumerate(res.configs):
        momentum, reason = sgd_momentum(config)
        reason = reason or run_reason(noise, clipped)
        covered = not reason
        double = covered and rates.heavy_ball_double_root(config.lr, momentum, lam)
        rows.append(RateRow(
            k, res.labels[k], config.lr, momentum, fitted_rate(dist[k], int(stop[k])),
            rates.rate(config.lr, momentum, lam) if covered else None,
            rates.threshold(momentum, lam) if covered else None, reason, outcome(res, k),
            DOUBLE_ROOT if double else "",
        ))
    return rows


def rate_curves(rows: list[RateRow], condition: float) -> list[RateCurve]:
    """The closed-form rate against lr for each momentum among the covered rows, over a log lr
    grid from below the smallest lr used to 1.5 times the largest threshold."""
    covered = [r for r in rows if r.rate is not None]
    if not covered:
        return []
    lam = rates.quadratic_eigenvalues(condition)
    top = 1.5 * max(r.threshold for r in covered)
    used = [r.lr for r in covered if r.lr > 0]
    bottom = min(min(used) / 3, top * 1e-3) if used else top * 1e-3
    grid = np.geomspace(bottom, top, LR_POINTS)
    curves = []
    for momentum in sorted({r.momentum for r in covered}):
        values = np.array([rates.rate(lr, momentum, lam) for lr in grid])
        curves.append(RateCurve(momentum, grid, values, rates.threshold(momentum, lam)))
    return curves


def escape_rows(res, *, noise: float = 0.0, clipped: bool = False) -> list[EscapeRow]:
    """One EscapeRow per optimizer of a Result on the saddle surface (start 0)."""
    y0 = float(res.starts[0, 1])
    stop = res.stop_index()[:, 0]
    steps = res.shape[2]
    rows = []
    for k, config in enumerate(res.configs):
        momentum, reason = sgd_momentum(config)
        if not reason and momentum:
            reason = "heavy-ball momentum: the formula is for plain gradient descent"
        reason = reason or ("gradient clipping is on: the formula is for unclipped gradients" if clipped else "")
        measured = first_reaching(res.path[k, 0, :, 1], int(stop[k]), saddle.ESCAPE_LEVEL)
        formula = predicted = median = None
        if not reason and noise == 0:
            formula, predicted = saddle.escape_time(y0, config.lr), saddle.escape_step(y0, config.lr)
        elif not reason:
            median = saddle.median_escape_step(y0, config.lr, noise, steps)
        rows.append(EscapeRow(k, res.labels[k], config.lr, y0, measured, formula, predicted, median, reason))
    return rows


def expected_y(row: EscapeRow, noise: float, steps: int) -> tuple[np.ndarray, str] | None:
    """([T+1] the theory's |y_k| for a covered row, its legend text): the exact |y0| (1 + 2 lr)^k
    without noise; with noise the root-mean-square of y_k over noise draws,
    sqrt(mean^2 + std^2); None for a row without a formula."""
    if row.reason:
        return None
    exact = np.abs(saddle.gd_path(0.0, row.y0, row.lr, steps)[:, 1])
    if noise == 0:
        return exact, "theory |y₀|(1+2·lr)ᵏ"
    return np.hypot(exact, saddle.noisy_std(row.lr, noise, steps)), "theory: rms of yₖ over noise draws"

