"""Summaries of final states over a swarm of starts, shared by the sweeps."""

from __future__ import annotations

import numpy as np


def global_minima(surface) -> np.ndarray:
    """[M, 2] the surface's minima whose value is its global minimum value (all listed minima
    when it states none); empty when it lists none."""
    minima = np.array(surface.minima, dtype=float).reshape(-1, 2)
    if len(minima) == 0 or surface.min_value is None:
        return minima
    values = surface.value(minima, np)
    return minima[np.abs(values - surface.min_value) <= 1e-9 * max(1.0, abs(surface.min_value))]


def over_starts(fin, shape: tuple) -> dict:
    """Per-setting means over the N starts of a FinalResult with K = prod(shape) rows.

    Returns arrays of `shape`: loss (mean final loss of the starts that did not diverge, NaN if
    all did), distance (mean distance of those end points to the nearest global minimum, NaN
    without one), steps (mean steps to converge of the converged starts, NaN if none),
    diverged (fraction of starts that diverged), converged (fraction that converged).
    """
    diverged = fin.diverged_at >= 0
    converged = fin.converged_at >= 0
    kept = ~diverged
    with np.errstate(invalid="ignore", divide="ignore"):
        loss = np.where(kept, fin.loss, 0.0).sum(1) / kept.sum(1)
        minima = global_minima(fin.surface)
        if len(minima):
            dist = np.linalg.norm(fin.point[:, :, None, :] - minima, axis=-1).min(-1)
            distance = np.where(kept, dist, 0.0).sum(1) / kept.sum(1)
        else:
            distance = np.full(len(loss), np.nan)
        steps = np.where(converged, fin.converged_at, 0).sum(1) / converged.sum(1)
    loss = np.where(kept.any(1), loss, np.nan)
    distance = np.where(kept.any(1), distance, np.nan)
    steps = np.where(converged.any(1), steps, np.nan)
    return {name: a.reshape(shape) for name, a in (
        ("loss", loss), ("distance", distance), ("steps", steps),
        ("diverged", diverged.mean(1)), ("converged", converged.mean(1)))}
