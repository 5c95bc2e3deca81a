"""When a trajectory stops, and how it is frozen after its last meaningful point: on every path.

A trajectory diverges at the first point whose parameters, gradient or loss are not finite or
out of bounds (|theta| > PARAM_BOUND, loss > LOSS_BOUND, gradient norm > GRAD_NORM_BOUND), or
whose step produced a non-finite record; it converges at the first point whose full gradient
norm is below `tol`. From its stop index on (`stop_index`), point arrays hold the value at the
stop index and step arrays the value of the step before it (zeros when there is none). The array
code (optimizers.run) and the compiled kernels (optimizers.kernels, which test these same bounds
per point) both end with `freeze`, so they return the same arrays.
"""

from __future__ import annotations

import numpy as np

PARAM_BOUND = 1e6
LOSS_BOUND = 1e12
GRAD_NORM_BOUND = 1e300
_BIG = np.finfo(np.float64).max


def stop_index(diverged_at: np.ndarray, converged_at: np.ndarray, steps: int) -> np.ndarray:
    """[K, N] index of the last meaningful point: T, the last good point before a divergence,
    or the converged point."""
    last = np.where(diverged_at >= 0, np.maximum(diverged_at - 1, 0), steps)
    return np.where(converged_at >= 0, np.minimum(last, converged_at), last)


def freeze(points: dict, step_arrays: dict, diverged_at: np.ndarray, converged_at: np.ndarray) -> None:
    """Freeze every stopped trajectory in place.

    points: {name: [K, N, T+1, ...]} (path, loss, grad, grad_norm); step_arrays: {name:
    [K, N, T, ...]} (eff_lr, states). A trajectory that diverged at its start has its first
    point's non-finite values replaced as np.nan_to_num does (NaN -> 0, +-inf -> +-max).
    """
    steps = next(iter(points.values())).shape[2] - 1
    last = stop_index(diverged_at, converged_at, steps)
    ks, ns = np.nonzero(last < steps)
    if len(ks) == 0:
        return
    at_start = diverged_at[ks, ns] == 0
    for a in points.values():
        first = a[ks[at_start], ns[at_start], 0]
        a[ks[at_start], ns[at_start], 0] = np.nan_to_num(first, nan=0.0, posinf=_BIG, neginf=-_BIG)
        _hold(a, ks, ns, last[ks, ns])
    for a in step_arrays.values():
        _hold(a, ks, ns, last[ks, ns] - 1)


def _hold(a: np.ndarray, ks: np.ndarray, ns: np.ndarray, last: np.ndarray) -> None:
    """a[k, n, i] = a[k, n, last] for i > last, for each listed trajectory (zeros where last < 0)."""
    sub = a[ks, ns]  # [M, T', ...]
    idx = np.minimum(np.arange(sub.shape[1]), np.maximum(last, 0)[:, None])
    held = np.take_along_axis(sub, idx.reshape(idx.shape + (1,) * (sub.ndim - 2)), axis=1)
    held[last < 0] = 0.0
    a[ks, ns] = held
