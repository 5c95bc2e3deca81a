"""Gradient descent at the saddle of f(x, y) = x^2 - y^2 (Lee et al. 2016; Jin et al. 2017).

The gradient is (2x, -2y), so gradient descent with learning rate lr moves each coordinate on
its own: x_k = (1 - 2 lr)^k x0 and y_k = (1 + 2 lr)^k y0, exactly. From y0 = 0 it converges to
the saddle (when |1 - 2 lr| < 1); from any y0 != 0 it leaves, reaching |y| = level after
log(level / |y0|) / log(1 + 2 lr) steps (Lee et al.: the starts that converge to a strict saddle
have measure zero, here the line y = 0).

With Gaussian gradient noise of standard deviation sigma per coordinate (perturbed gradient
descent, Jin et al.), y_{k+1} = (1 + 2 lr) y_k - lr sigma xi_k, so y_k is Gaussian with mean
(1 + 2 lr)^k y0 and variance lr^2 sigma^2 ((1 + 2 lr)^{2k} - 1) / ((1 + 2 lr)^2 - 1): the noise
pushes even a start on the line y = 0 off the saddle, and the escape time grows only like the
logarithm of 1 / (lr sigma).
"""

from __future__ import annotations

import math

import numpy as np

from .checks import number

ESCAPE_LEVEL = 1.0  # |y| that counts as having left the saddle


def gd_path(x0: float, y0: float, lr: float, steps: int) -> np.ndarray:
    """The exact gradient-descent path [steps + 1, 2]: (1 - 2 lr)^k x0, (1 + 2 lr)^k y0."""
    lr = number("lr", lr, 0.0)
    steps = int(number("steps", steps, 0, 1e7))
    k = np.arange(steps + 1, dtype=np.float64)
    return np.stack((number("x0", x0, -math.inf) * (1.0 - 2.0 * lr) ** k,
                     number("y0", y0, -math.inf) * (1.0 + 2.0 * lr) ** k), axis=-1)


def escape_time(y0: float, lr: float, level: float = ESCAPE_LEVEL) -> float:
    """log(level / |y0|) / log(1 + 2 lr): steps from |y0| to |y| = level; 0 when |y0| >= level,
    inf when y0 = 0 or lr = 0 (gradient descent never leaves)."""
    y0 = abs(number("y0", y0, -math.inf))
    lr = number("lr", lr, 0.0)
    level = number("level", level, 0.0, low_open=True)
    if y0 >= level:
        return 0.0
    if y0 == 0.0 or lr == 0.0:
        return math.inf
    return math.log(level / y0) / math.log1p(2.0 * lr)


def escape_step(y0: float, lr: float, level: float = ESCAPE_LEVEL) -> int | None:
    """The first step k with |y_k| >= level, ceil(escape_time); None when it never comes."""
    t = escape_time(y0, lr, level)
    return None if math.isinf(t) else math.ceil(t)


def noisy_std(lr: float, sigma: float, steps: int) -> np.ndarray:
    """[steps + 1] standard deviation of y_k under gradient noise sigma, from any fixed y0:
    lr sigma sqrt(((1 + 2 lr)^{2k} - 1) / ((1 + 2 lr)^2 - 1)) (0 when lr = 0: nothing moves)."""
    lr = number("lr", lr, 0.0)
    sigma = number("sigma", sigma, 0.0)
    k = np.arange(int(number("steps", steps, 0, 1e7)) + 1, dtype=np.float64)
    if lr == 0.0:
        return np.zeros_like(k)
    growth = 1.0 + 2.0 * lr
    return lr * sigma * np.sqrt(np.expm1(2.0 * k * math.log(growth)) / np.expm1(2.0 * math.log(growth)))


def escaped_probability(y0: float, lr: float, sigma: float, steps: int, level: float = ESCAPE_LEVEL) -> np.ndarray:
    """[steps + 1] P(|y_k| >= level) for y_k Gaussian with mean (1 + 2 lr)^k y0 and std noisy_std."""
    mean = gd_path(0.0, y0, lr, steps)[:, 1]
    std = noisy_std(lr, sigma, steps)
    level = number("level", level, 0.0, low_open=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        above = _normal_tail((level - mean) / std) + _normal_tail((level + mean) / std)
    return np.where(std > 0, above, (np.abs(mean) >= level).astype(float))


def median_escape_step(y0: float, lr: float, sigma: float, steps: int, level: float = ESCAPE_LEVEL) -> int | None:
    """The first step k <= steps by which half of all noise draws are at |y_k| >= level (None if
    none); for sigma = 0 the deterministic escape_step."""
    reached = np.flatnonzero(escaped_probability(y0, lr, sigma, steps, level) >= 0.5)
    return int(reached[0]) if reached.size else None


def _normal_tail(z: np.ndarray) -> np.ndarray:
    """P(Z >= z) for a standard normal Z, elementwise."""
    return 0.5 * np.vectorize(math.erfc)(np.asarray(z, dtype=np.float64) / math.sqrt(2.0))
