"""Numba helper called by the generated kernels: freezing a finished trajectory.

It implements, per trajectory, the same bookkeeping as `run._finish` does on whole arrays
(tests compare the two paths): after the last meaningful point `last`, point arrays hold their
value at `last` and step arrays their value at `last - 1` (zeros when there is none); a
trajectory that diverged at its start has non-finite values replaced as np.nan_to_num does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_BIG = np.finfo(np.float64).max


@njit(cache=True, inline="always")
def _finite(x):
    if x != x:
        return 0.0
    if x == math.inf:
        return _BIG
    if x == -math.inf:
        return -_BIG
    return x


@njit(cache=True)
def finish_trajectory(k, n, last, diverged_at, path, loss, grad, gnorm, eff, states, sidx):
    """Freeze trajectory (k, n) after point `last` and fill its ratio; arrays as in Result."""
    steps = eff.shape[2]
    d = path.shape[3]
    if diverged_at == 0:
        loss[k, n, 0] = _finite(loss[k, n, 0])
        gnorm[k, n, 0] = _finite(gnorm[k, n, 0])
        for j in range(d):
            path[k, n, 0, j] = _finite(path[k, n, 0, j])
            grad[k, n, 0, j] = _finite(grad[k, n, 0, j])
    for t in range(last + 1, steps + 1):
        loss[k, n, t] = loss[k, n, last]
        gnorm[k, n, t] = gnorm[k, n, last]
        for j in range(d):
            path[k, n, t, j] = path[k, n, last, j]
            grad[k, n, t, j] = grad[k, n, last, j]
    for s in range(max(last, 0), steps):
        for j in range(d):
            eff[k, n, s, j] = eff[k, n, last - 1, j] if last >= 1 else 0.0
            for i in range(sidx.shape[0]):
                states[sidx[i], k, n, s, j] = states[sidx[i], k, n, last - 1, j] if last >= 1 else 0.0
