"""Argument checks shared by the closed forms: ValueError naming the parameter and its range."""

from __future__ import annotations

import math

import numpy as np


def number(name: str, value, low: float, high: float = math.inf, *, low_open: bool = False) -> float:
    """`value` as a float in [low, high] ((low, high] when low_open), else ValueError."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = math.isfinite(value) and (low < value if low_open else low <= value) and value <= high
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high == math.inf else "]"
        raise ValueError(f"{name}={value!r} is outside the allowed range {left}{low:g}, {high:g}{right}")
    return value


def eigenvalues(values) -> np.ndarray:
    """Hessian eigenvalues as a 1-D float array, each finite and > 0, else ValueError."""
    try:
        lam = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"eigenvalues={values!r} must be positive numbers") from None
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam) & (lam > 0)):
        raise ValueError(f"eigenvalues={values!r} must be a non-empty list of finite numbers in (0, inf)")
    return lam
