"""Gradient transforms applied before the update rule, as one chain: noise, then clipping.

Every path applies the same list: the 2-D runner on arrays [K, N, D], the compiled kernels on
traced scalars (kernels.trajectory traces `apply` with leaf values), and the MNIST trainer on
[k, 1, P]. `chain(...)` gives the transforms a run uses in order; `apply(transforms, g, args, xp)`
runs them, `args` holding each transform's input by name (the noise of the step, the clip bounds).
Weight decay is not here: torch.optim applies it inside each optimizer's step (coupled into the
gradient or decoupled on the weights, at a point that differs between optimizers), so it stays
in the rule definitions (optimizers.rules), which every path shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def noise_table(seed: int, steps: int, n: int, d: int, scale: float) -> np.ndarray:
    """Additive Gaussian gradient noise: float64 [steps, N, D], scale * N(0, 1).

    One table per run, shared by all K configurations, so compared optimizers see identical
    noise; the same seed gives the same table on every backend.
    """
    return scale * np.random.default_rng(seed).standard_normal((steps, n, d))


def add_noise(g, noise, xp):
    """g + the step's noise (broadcast over configurations)."""
    return g + noise


def clip_by_norm(g, max_norm: float, xp):
    """Scale each trajectory's gradient [..., D] to norm <= max_norm, as clip_grad_norm_."""
    total_norm = xp.sqrt(xp.sum(g * g, axis=-1, keepdims=True))
    coef = max_norm / (total_norm + 1e-6)
    return g * xp.where(coef < 1.0, coef, 1.0 + 0 * coef)


def clip_by_value(g, clip_value: float, xp):
    """Clamp every gradient entry to [-clip_value, clip_value], as clip_grad_value_."""
    return xp.clip(g, -clip_value, clip_value)


@dataclass(frozen=True)
class Transform:
    """One gradient transform: `fn(g, arg, xp) -> g`, its input `arg` looked up by `name`."""

    name: str
    fn: Callable


NOISE = Transform("noise", add_noise)
CLIP_NORM = Transform("clip_norm", clip_by_norm)
CLIP_VALUE = Transform("clip_value", clip_by_value)


def chain(noise: bool, clip_norm: float | None, clip_value: float | None) -> tuple[Transform, ...]:
    """The transforms of a run, in order: noise is added before clipping, as in a training loop."""
    on = ((NOISE, noise), (CLIP_NORM, clip_norm is not None), (CLIP_VALUE, clip_value is not None))
    return tuple(tr for tr, used in on if used)


def apply(transforms: tuple[Transform, ...], g, args: dict, xp):
    """g after each transform in order; args: {name: input} for every transform in the chain."""
    for tr in transforms:
        g = tr.fn(g, args[tr.name], xp)
    return g
