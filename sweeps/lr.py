"""Learning-rate sweeps: final loss, distance to the minimum and steps to converge against lr."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizers import FinalResult, run_final

from .axes import with_value
from .summary import over_starts

MAX_LRS = 200


@dataclass(frozen=True, eq=False)
class LrSweep:
    """K optimizers, each run at L learning rates from the same N starts.

    lrs: [L] ascending; labels: the K base configurations' labels.
    loss, distance, steps, diverged, converged: [K, L], as sweeps.summary.over_starts.
    best: [K] index into lrs of each optimizer's best lr (see lr_sweep), -1 if every lr diverged.
    threshold: [K] the smallest lr at which at least half the starts diverged (NaN if none).
    final: the FinalResult behind it (row k * L + l is optimizer k at lrs[l]).
    """

    lrs: np.ndarray
    labels: tuple
    loss: np.ndarray
    distance: np.ndarray
    steps: np.ndarray
    diverged: np.ndarray
    converged: np.ndarray
    best: np.ndarray
    threshold: np.ndarray
    final: FinalResult


def log_grid(low: float, high: float, count: int) -> np.ndarray:
    """[count] learning rates evenly spaced on a log scale from low to high."""
    if not (isinstance(count, (int, np.integer)) and not isinstance(count, bool) and 2 <= count <= MAX_LRS):
        raise ValueError(f"count={count!r} must be a whole number in [2, {MAX_LRS}]")
    if not (0 < low < high < np.inf):
        raise ValueError(f"the lr range [{low!r}, {high!r}] must satisfy 0 < low < high")
    return np.geomspace(low, high, count)


def lr_sweep(surface, configs, lrs, starts=None, steps: int = 200, *, tol: float = 1e-6,
             compiled: bool | None = None) -> LrSweep:
    """Each configuration at each learning rate in `lrs` ([L], 2 <= L <= MAX_LRS), from `starts`.

    One vectorised final-state run of K * L configurations. The best lr of an optimizer is the one
    that converges from every start in the fewest steps when some lr does; otherwise the one with
    the lowest mean final loss among the lrs where no start diverged (or, failing that, where the
    fewest did).
    """
    configs = list(configs) if isinstance(configs, (list, tuple)) else [configs]
    lrs = np.sort(np.asarray(lrs, dtype=float).ravel())
    if not 2 <= len(lrs) <= MAX_LRS:
        raise ValueError(f"lrs: {len(lrs)} values given, allowed 2 to {MAX_LRS}")
    rows = [with_value(c, "lr", float(lr)) for c in configs for lr in lrs]
    fin = run_final(surface, rows, starts, steps, tol=tol, compiled=compiled)
    s = over_starts(fin, (len(configs), len(lrs)))
    best = np.array([best_index(s["loss"][k], s["steps"][k], s["diverged"][k], s["converged"][k])
                     for k in range(len(configs))])
    threshold = np.array([lrs[np.argmax(row >= 0.5)] if (row >= 0.5).any() else np.nan for row in s["diverged"]])
    return LrSweep(lrs, tuple(c.label for c in configs), s["loss"], s["distance"], s["steps"], s["diverged"],
                   s["converged"], best, threshold, fin)


def best_index(loss, steps, diverged, converged) -> int:
    """The best setting of one row (see lr_sweep), -1 when every setting diverged everywhere."""
    if np.all(diverged >= 1):
        return -1
    everywhere = converged >= 1
    if everywhere.any():
        return int(np.nanargmin(np.where(everywhere, steps, np.inf)))
    fewest = diverged <= diverged.min()
    return int(np.argmin(np.where(fewest & np.isfinite(loss), loss, np.inf)))
