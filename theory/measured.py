"""What the app reads off one trajectory, independently of any theory: a fitted rate per step
and the first step past a level.

The rate is the slope of log ||p_k - p*|| against k, fitted by least squares over the second
half of the usable points 0..end, where `end` is the trajectory's stop index (converged,
diverged or the last step) or the last point before the distance falls below FLOOR, whichever
comes first. The first half is left out so that faster-decaying components have died away, and
points below FLOOR because the distance charts draw max(distance, 1e-16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOOR = 1e-15  # distances below this are not fitted (the charts' log floor is 1e-16)
MIN_POINTS = 3  # fewer usable points give no rate


@dataclass(frozen=True)
class Fit:
    """rate: exp(fitted slope), the factor per step; first..last: the fitted point indices."""

    rate: float
    first: int
    last: int


def fitted_rate(distance, stop: int, floor: float = FLOOR) -> Fit | None:
    """The fitted rate of distance [T+1] (>= 0, index k = point after k steps) up to index `stop`;
    None with fewer than MIN_POINTS usable points."""
    d = np.asarray(distance, dtype=np.float64)
    if d.ndim != 1:
        raise ValueError(f"distance must be one trajectory [T+1], got shape {list(d.shape)}")
    if not 0 <= stop < d.size:
        raise ValueError(f"stop={stop!r} must be an index in [0, {d.size - 1}]")
    low = np.flatnonzero(~(d[: stop + 1] >= floor))
    end = stop if low.size == 0 else int(low[0]) - 1
    if end + 1 < MIN_POINTS:
        return None
    first = end // 2
    if end - first + 1 < MIN_POINTS:
        first = end - MIN_POINTS + 1
    k = np.arange(first, end + 1, dtype=np.float64)
    slope = np.polyfit(k, np.log(d[first : end + 1]), 1)[0]
    return Fit(float(np.exp(slope)), int(first), int(end))


def first_reaching(values, stop: int, level: float) -> int | None:
    """The first index k <= stop with |values[k]| >= level (values [T+1]), None if there is none."""
    v = np.abs(np.asarray(values, dtype=np.float64)[: stop + 1])
    hit = np.flatnonzero(v >= level)
    return int(hit[0]) if hit.size else None
