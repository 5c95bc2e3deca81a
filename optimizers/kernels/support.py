"""Numba helpers that generated kernels import: NaN-propagating max and min as NumPy's.

Generated modules import them by name (`from optimizers.kernels.support import nan_max`); the
cache key of every kernel covers this file's source, so an edit here recompiles them.
"""

from __future__ import annotations

from numba import njit


@njit(inline="always")
def nan_max(a, b):
    """np.maximum of two scalars: NaN if either is NaN."""
    return a if (a != a or a >= b) and not (b != b) else b


@njit(inline="always")
def nan_min(a, b):
    """np.minimum of two scalars: NaN if either is NaN."""
    return a if (a != a or a <= b) and not (b != b) else b
