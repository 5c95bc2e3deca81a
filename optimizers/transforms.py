"""Gradient transforms applied before the update rule, as one chain: the L1 subgradient, noise,
then clipping; and the L1 penalty's proximal step, applied after the rule.

Every path applies the same list: the 2-D runner on arrays [K, N, D], the compiled kernels on
traced scalars (kernels.trajectory traces `apply` with leaf values), and the MNIST trainer on
[k, 1, P]. `chain(...)` gives the transforms a run uses in order; `apply(transforms, g, args, xp)`
runs them, `args` holding each transform's input by name (the noise of the step, the clip bounds).

L1 (`l1`, per configuration: OptimizerConfig.l1 and l1_mode) comes in two forms, defined here once:
- "subgradient": the chain's first transform adds l1 * sign(p) to the gradient, the gradient of
  l1 * sum(|p|) that a torch loop adding that term to its loss gets from autograd (0 where p is 0,
  as torch's), so noise and clipping act on the penalised gradient;
- "proximal": after the rule's step, `soft_threshold(p, lr_t * l1)` with the scheduled lr_t
  (optimizers.stepper.step, and the kernels trace the same function after the rule).
Weight decay is not here: torch.optim applies it inside each optimizer's step (coupled into the
gradient or decoupled on the weights, at a point that differs between optimizers), so it stays
in the rule definitions (optimizers.rules), which every path shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hyperparams import Hyperparameter as H

L1_MODES = ("subgradient", "proximal")
# The L1 penalty's settings, shared by every optimizer (OptimizerConfig.l1, .l1_mode)
L1_SPECS = (
    H("l1", 0.0, low=0, high=100, log=True, ui_low=1e-6, ui_high=10.0,
      help="L1 penalty strength: the loss gains l1 * sum(|p|); 0 = off"),
    H("l1_mode", "subgradient", kind="choice", choices=L1_MODES,
      help="subgradient: add l1 * sign(p) to the gradient before the rule; "
           "proximal: soft-threshold p by lr_t * l1 after the rule's step"),
)


def noise_table(seed: int, steps: int, n: int, d: int, scale: float) -> np.ndarray:
    """Additive Gaussian gradient noise: float64 [steps, N, D], scale * N(0, 1).

    One table per run, shared by all K configurations, so compared optimizers see identical
    noise; the same seed gives the same table on every backend.
    """
    return scale * np.random.default_rng(seed).standard_normal((steps, n, d))


def add_noise(g, noise, xp):
    """g + the step's noise (broadcast over configurations)."""
    return g + noise


def add_l1_subgradient(g, arg, xp):
    """g + l1 * sign(p), arg = (p, l1): p like g, l1 broadcastable to it ([K, 1, 1] per
    configuration, 0 where off); sign(0) = 0, as torch's gradient of |p| at 0."""
    p, strength = arg
    return g + strength * xp.sign(p)


def soft_threshold(p, threshold, xp):
    """The proximal step of threshold * sum(|p|): sign(p) max(|p| - threshold, 0), elementwise.

    p: parameters [..., D]; threshold: lr_t * l1, broadcastable to p. Entries within the
    threshold of 0 become exactly 0; NaN stays NaN.
    """
    return xp.sign(p) * xp.maximum(xp.abs(p) - threshold, 0.0)


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


L1 = Transform("l1", add_l1_subgradient)
NOISE = Transform("noise", add_noise)
CLIP_NORM = Transform("clip_norm", clip_by_norm)
CLIP_VALUE = Transform("clip_value", clip_by_value)


def chain(noise: bool, clip_norm: float | None, clip_value: float | None, l1: bool = False) -> tuple[Transform, ...]:
    """The transforms of a run, in order: the L1 subgradient is part of the loss's gradient, and
    noise is added before clipping, as in a training loop. l1: some configuration of the run has
    a subgradient L1 penalty (the others get strength 0 in `l1_strengths`)."""
    on = ((L1, l1), (NOISE, noise), (CLIP_NORM, clip_norm is not None), (CLIP_VALUE, clip_value is not None))
    return tuple(tr for tr, used in on if used)


def apply(transforms: tuple[Transform, ...], g, args: dict, xp):
    """g after each transform in order; args: {name: input} for every transform in the chain."""
    for tr in transforms:
        g = tr.fn(g, args[tr.name], xp)
    return g


def l1_strengths(configs) -> np.ndarray:
    """[K] float64 subgradient L1 strength of each configuration (0: none, or proximal)."""
    return np.array([c.l1 if c.l1_mode == "subgradient" else 0.0 for c in configs], dtype=np.float64)


def uses_l1_subgradient(configs) -> bool:
    """Whether any configuration adds the L1 subgradient (the chain then holds L1)."""
    return any(c.l1 > 0 and c.l1_mode == "subgradient" for c in configs)
