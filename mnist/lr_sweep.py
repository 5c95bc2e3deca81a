"""A learning-rate sweep on MNIST: K copies of one optimizer at log-spaced learning rates,
trained side by side as one batched run of mnist.train (issue #16).

`sweep_optimizers(base, low, high, k)` gives the K configurations (base's other hyperparameters
and schedule, lr from a log grid); a TrainConfig of them trains every lr from the same weights on
the same mini-batches, so each is the run that lr would get alone. `points(result)` reads
validation loss and accuracy per lr from a partial or final TrainResult, `best(points)` the lr of
the lowest validation loss.

Nothing here imports Streamlit or Plotly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizers import OptimizerConfig, get_optimizer

MIN_K, MAX_K = 2, 12


def lr_grid(low: float, high: float, k: int) -> tuple[float, ...]:
    """k learning rates spaced evenly in log from low to high, each rounded to 3 significant digits.

    ValueError for k outside MIN_K..MAX_K, a range that is not 0 < low < high, or one so narrow
    that two rates round to the same value.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"Invalid number of learning rates: {k!r} (allowed {MIN_K} to {MAX_K})")
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and 0 < low < high < np.inf):
        raise ValueError(f"Invalid lr range: {low!r} to {high!r} (need 0 < lowest < highest)")
    lrs = tuple(float(f"{v:.3g}") for v in np.geomspace(low, high, k))
    if len(set(lrs)) < k:
        raise ValueError(f"Invalid lr range: {low:g} to {high:g} is too narrow for {k} distinct learning rates")
    return lrs


def sweep_optimizers(base: OptimizerConfig, low: float, high: float, k: int) -> tuple[OptimizerConfig, ...]:
    """`base` at each lr of lr_grid(low, high, k); ValueError (naming the value) for an lr the
    optimizer does not allow."""
    hp = dict(base.hparams)
    return tuple(get_optimizer(base.name, schedule=base.schedule, **{**hp, "lr": lr}) for lr in lr_grid(low, high, k))


@dataclass(frozen=True)
class Points:
    """Validation loss and accuracy per lr ([K] each; NaN for a diverged configuration).

    step: the steps trained when they were measured; final: on the whole validation set at the
    end (else on the run's validation subset at its latest evaluation).
    """

    lrs: np.ndarray
    val_loss: np.ndarray
    val_acc: np.ndarray
    diverged: np.ndarray  # [K] bool
    step: int
    final: bool


def points(result) -> Points:
    """The sweep's points of a TrainResult (streamed or done) of sweep_optimizers' configurations."""
    lrs = np.array([c.lr for c in result.config.optimizers])
    if result.done:
        loss, acc, step = result.final_val_loss, result.final_val_acc, result.steps_done
    else:
        loss, acc, step = result.val_loss[:, -1], result.val_acc[:, -1], int(result.eval_steps[-1])
    return Points(lrs, np.asarray(loss, float), np.asarray(acc, float), result.diverged_at >= 0, step, result.done)


def best(p: Points) -> int | None:
    """Index of the lr with the lowest validation loss (None when every one diverged)."""
    finite = np.isfinite(p.val_loss)
    return int(np.flatnonzero(finite)[np.argmin(p.val_loss[finite])]) if finite.any() else None
