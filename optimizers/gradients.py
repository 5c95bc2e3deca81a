"""Gradient transforms applied before the update rule: noise and clipping."""

from __future__ import annotations

import numpy as np


def noise_table(seed: int, steps: int, n: int, d: int, scale: float) -> np.ndarray:
    """Additive Gaussian gradient noise: float64 [steps, N, D], scale * N(0, 1).

    One table per run, shared by all K configurations, so compared optimizers see identical
    noise; the same seed gives the same table on every backend.
    """
    return scale * np.random.default_rng(seed).standard_normal((steps, n, d))


def clip_by_norm(g, max_norm: float, xp):
    """Scale each trajectory's gradient [..., D] to norm <= max_norm, as clip_grad_norm_."""
    total_norm = xp.sqrt(xp.sum(g * g, axis=-1, keepdims=True))
    coef = max_norm / (total_norm + 1e-6)
    return g * xp.where(coef < 1.0, coef, 1.0 + 0 * coef)


def clip_by_value(g, clip_value: float, xp):
    """Clamp every gradient entry to [-clip_value, clip_value], as clip_grad_value_."""
    return xp.clip(g, -clip_value, clip_value)
