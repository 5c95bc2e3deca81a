"""Two-parameter sweeps: a heatmap over (learning rate x another numeric hyperparameter)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizers import FinalResult, run_final

from .axes import sweep_axes, with_value
from .lr import best_index
from .summary import over_starts

MAX_CELLS = 4_096


@dataclass(frozen=True, eq=False)
class ParamSweep:
    """One optimizer on an M x L grid of (axis value, lr) from the same N starts.

    axis: the swept hyperparameter's name (sweeps.axes); values: [M]; lrs: [L].
    loss, distance, steps, diverged, converged: [M, L], as sweeps.summary.over_starts.
    best: (m, l) of the best cell, as lr_sweep chooses (None if every cell diverged).
    configs: [M][L] the configuration of each cell; final: the FinalResult (row m * L + l).
    """

    axis: str
    values: np.ndarray
    lrs: np.ndarray
    loss: np.ndarray
    distance: np.ndarray
    steps: np.ndarray
    diverged: np.ndarray
    converged: np.ndarray
    best: tuple | None
    configs: tuple
    final: FinalResult


def param_sweep(surface, config, axis: str, values, lrs, starts=None, steps: int = 200, *,
                tol: float = 1e-6, compiled: bool | None = None) -> ParamSweep:
    """`config` at every (value of `axis`, lr) pair; M * L <= MAX_CELLS, values checked by the
    optimizer's own ranges (ValueError naming the parameter)."""
    if axis == "lr" or axis not in sweep_axes(config.name):
        valid = [a for a in sweep_axes(config.name) if a != "lr"]
        raise ValueError(f"axis={axis!r} is not a numeric hyperparameter of {config.name} besides lr; "
                         f"valid: {', '.join(valid)}")
    values = np.asarray(values, dtype=float).ravel()
    lrs = np.asarray(lrs, dtype=float).ravel()
    if len(values) < 2 or len(lrs) < 2 or len(values) * len(lrs) > MAX_CELLS:
        raise ValueError(f"a {len(values)} x {len(lrs)} grid: each side needs at least 2 values and the "
                         f"grid at most {MAX_CELLS:,} cells")
    cells = tuple(tuple(with_value(with_value(config, axis, float(v)), "lr", float(lr)) for lr in lrs)
                  for v in values)
    fin = run_final(surface, [c for row in cells for c in row], starts, steps, tol=tol, compiled=compiled)
    s = over_starts(fin, (len(values), len(lrs)))
    flat = best_index(*(s[name].ravel() for name in ("loss", "steps", "diverged", "converged")))
    best = None if flat < 0 else tuple(int(i) for i in np.unravel_index(flat, s["loss"].shape))
    return ParamSweep(axis, values, lrs, s["loss"], s["distance"], s["steps"], s["diverged"], s["converged"],
                      best, cells, fin)
