"""Convergence rates on a quadratic f(p) = 1/2 p^T A p, after Goh, "Why Momentum Really Works"
(Distill, 2017).

The error p_k - p* of gradient descent evolves in A's eigenbasis one eigenvalue lambda at a
time, so everything below is a formula over the eigenvalues lambda_1 <= ... <= lambda_n (1/length^2
units, the curvatures; kappa = lambda_n / lambda_1). A *rate* is the factor by which the error
shrinks per step in the long run (< 1 converges, > 1 diverges); a *threshold* is the largest
learning rate that still converges.

- Gradient descent, p_{k+1} = p_k - lr A p_k: rate max_i |1 - lr lambda_i|, converges iff
  0 < lr lambda_i < 2 for all i; best lr = 2 / (lambda_1 + lambda_n), rate (kappa - 1)/(kappa + 1).
- Heavy ball as torch.optim.SGD writes momentum (buf = momentum buf + g; p -= lr buf), i.e.
  p_{k+1} = p_k - lr A p_k + momentum (p_k - p_{k-1}): rate = max over lambda of the spectral
  radius of [[1 + momentum - lr lambda, -momentum], [1, 0]], converges iff
  0 < lr lambda_i < 2 + 2 momentum; best lr = (2 / (sqrt(lambda_1) + sqrt(lambda_n)))^2 and
  momentum = ((sqrt(lambda_n) - sqrt(lambda_1)) / (sqrt(lambda_n) + sqrt(lambda_1)))^2, rate
  (sqrt(kappa) - 1)/(sqrt(kappa) + 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .checks import eigenvalues as _eigenvalues
from .checks import number


@dataclass(frozen=True)
class Optimum:
    """The best constant settings for a spectrum and the rate per step they reach."""

    lr: float
    momentum: float
    rate: float


def quadratic_eigenvalues(condition: float) -> tuple[float, float]:
    """Hessian eigenvalues (1/condition, 1) of the app's quadratic surface, A = R diag(1/kappa, 1) R^T."""
    kappa = number("condition", condition, 1.0)
    return 1.0 / kappa, 1.0


def gd_rate(lr: float, eigenvalues) -> float:
    """Gradient descent's rate per step, max_i |1 - lr lambda_i| (lr >= 0)."""
    lr = number("lr", lr, 0.0)
    lam = _eigenvalues(eigenvalues)
    return float(np.max(np.abs(1.0 - lr * lam)))


def gd_threshold(eigenvalues) -> float:
    """The learning rate 2 / lambda_n above which gradient descent diverges."""
    return 2.0 / float(np.max(_eigenvalues(eigenvalues)))


def gd_optimal(eigenvalues) -> Optimum:
    """lr = 2 / (lambda_1 + lambda_n), rate (kappa - 1)/(kappa + 1)."""
    lam = _eigenvalues(eigenvalues)
    lo, hi = float(lam.min()), float(lam.max())
    kappa = hi / lo
    return Optimum(2.0 / (lo + hi), 0.0, (kappa - 1.0) / (kappa + 1.0))


def heavy_ball_radius(lr: float, momentum: float, eigenvalues) -> np.ndarray:
    """Per eigenvalue, the spectral radius of [[1 + momentum - lr lambda, -momentum], [1, 0]].

    Its eigenvalues z solve z^2 - (1 + momentum - lr lambda) z + momentum = 0: a complex pair of
    modulus sqrt(momentum) when the discriminant is negative, else two real roots. [n] -> [n].
    """
    lr = number("lr", lr, 0.0)
    beta = number("momentum", momentum, 0.0, 1.0)
    lam = _eigenvalues(eigenvalues)
    trace = 1.0 + beta - lr * lam
    disc = trace * trace - 4.0 * beta
    real = 0.5 * (np.abs(trace) + np.sqrt(np.maximum(disc, 0.0)))
    return np.where(disc >= 0.0, real, math.sqrt(beta))


def heavy_ball_rate(lr: float, momentum: float, eigenvalues) -> float:
    """Heavy-ball momentum's rate per step: the largest spectral radius over the eigenvalues."""
    return float(np.max(heavy_ball_radius(lr, momentum, eigenvalues)))


def heavy_ball_double_root(lr: float, momentum: float, eigenvalues, tol: float = 1e-6) -> bool:
    """Whether an eigenvalue with the largest radius has a (nearly) repeated root, |discriminant| <= tol:
    its matrix is then a Jordan block and the error falls like k r^k, not r^k, so the slope
    measured over a finite run lies a little above log r (the gap shrinks like 1/k)."""
    radius = heavy_ball_radius(lr, momentum, eigenvalues)
    lam = _eigenvalues(eigenvalues)
    trace = 1.0 + momentum - lr * lam
    disc = trace * trace - 4.0 * momentum
    dominant = radius >= radius.max() * (1 - 1e-12)
    return bool(momentum > 0 and np.any(dominant & (np.abs(disc) <= tol)))


def heavy_ball_threshold(momentum: float, eigenvalues) -> float:
    """The learning rate (2 + 2 momentum) / lambda_n above which heavy-ball momentum diverges."""
    beta = number("momentum", momentum, 0.0, 1.0)
    return (2.0 + 2.0 * beta) / float(np.max(_eigenvalues(eigenvalues)))


def heavy_ball_optimal(eigenvalues) -> Optimum:
    """lr = (2 / (sqrt(l_1) + sqrt(l_n)))^2, momentum = ((sqrt(l_n) - sqrt(l_1)) / (sqrt(l_n) + sqrt(l_1)))^2,
    rate (sqrt(kappa) - 1)/(sqrt(kappa) + 1)."""
    lam = _eigenvalues(eigenvalues)
    lo, hi = math.sqrt(float(lam.min())), math.sqrt(float(lam.max()))
    root_kappa = hi / lo
    return Optimum((2.0 / (lo + hi)) ** 2, ((hi - lo) / (hi + lo)) ** 2, (root_kappa - 1.0) / (root_kappa + 1.0))


def rate(lr: float, momentum: float, eigenvalues) -> float:
    """The rate of torch's SGD with this lr and momentum (0: gradient descent)."""
    return gd_rate(lr, eigenvalues) if momentum == 0 else heavy_ball_rate(lr, momentum, eigenvalues)


def threshold(momentum: float, eigenvalues) -> float:
    """The stability threshold of torch's SGD with this momentum (0: gradient descent)."""
    return heavy_ball_threshold(momentum, eigenvalues)


def steps_per_decade(rate_per_step: float) -> float:
    """Steps the error needs to shrink tenfold at this rate, -1 / log10(rate); inf for rate >= 1."""
    r = number("rate", rate_per_step, 0.0)
    if r >= 1.0:
        return math.inf
    return 0.0 if r == 0.0 else -1.0 / math.log10(r)
