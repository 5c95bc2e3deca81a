"""The hyperparameters a sweep can vary, and configurations with one of them changed.

An axis is a numeric hyperparameter of one optimizer: a float spec (lr, momentum, eps, ...) or
one element of a pair (betas[0] is "beta1", betas[1] is "beta2"). Booleans and choices are not
axes. Values are validated by get_optimizer, so a sweep can only build configurations the
engine accepts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimizers import OPTIMIZERS, OptimizerConfig, get_optimizer

PAIR_NAMES = {"betas": ("beta1", "beta2")}


@dataclass(frozen=True)
class Axis:
    """One sweepable hyperparameter: `name` as shown (beta1), `spec` the spec it lives in
    (betas), `index` the element of a pair (None for a plain float), the allowed interval
    [low, high] (open ends as in the spec) and the UI's default range [ui_low, ui_high]."""

    name: str
    spec: str
    index: int | None
    low: float
    high: float
    low_open: bool
    high_open: bool
    ui_low: float
    ui_high: float
    log: bool


def sweep_axes(optimizer: str) -> dict[str, Axis]:
    """The axes of optimizer `optimizer` by name, in spec order (lr first)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    axes = {}
    for spec in OPTIMIZERS[optimizer].specs:
        if spec.kind not in ("float", "pair"):
            continue
        names = PAIR_NAMES.get(spec.name, (f"{spec.name}[0]", f"{spec.name}[1]")) if spec.kind == "pair" else (spec.name,)
        for i, name in enumerate(names):
            low = spec.ui_low if spec.ui_low is not None else spec.low
            high = spec.ui_high if spec.ui_high is not None else spec.high
            if spec.log and not math.isfinite(high):
                high = max(low, 1e-12) * 1e6
            axes[name] = Axis(name, spec.name, i if spec.kind == "pair" else None, spec.low, spec.high,
                              spec.low_open, spec.high_open, low if math.isfinite(low) else 0.0,
                              high if math.isfinite(high) else 10.0, spec.log)
    return axes


def with_value(config: OptimizerConfig, axis: str, value: float, label: str | None = None) -> OptimizerConfig:
    """`config` with hyperparameter `axis` (an Axis name) set to `value`, validated again (its
    schedule and L1 penalty kept)."""
    axes = sweep_axes(config.name)
    if axis not in axes:
        raise ValueError(f"axis={axis!r} is not a numeric hyperparameter of {config.name}; valid: {', '.join(axes)}")
    ax = axes[axis]
    hp = dict(config.hparams)
    if ax.index is None:
        hp[ax.spec] = value
    else:
        pair = list(hp[ax.spec])
        pair[ax.index] = value
        hp[ax.spec] = tuple(pair)
    return get_optimizer(config.name, schedule=config.schedule, label=label, l1=config.l1, l1_mode=config.l1_mode,
                         **hp)
