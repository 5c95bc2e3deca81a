"""Gradient descent at the saddle x^2 - y^2 against the closed form (Lee et al. 2016; Jin et al. 2017).

Published statement, retyped here: x_k = (1 - 2 lr)^k x0, y_k = (1 + 2 lr)^k y0; the escape time
from |y0| to |y| = 1 is log(1/|y0|)/log(1 + 2 lr), so the first k with |y_k| >= 1 is its ceiling;
from y0 = 0 gradient descent converges to the saddle. With gradient noise sigma, y_k is the sum
(1 + 2 lr)^k y0 - lr sigma sum_j (1 + 2 lr)^(k-1-j) xi_j, a Gaussian whose variance is summed here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from theory import saddle
from theory.report import escape_rows, expected_y

SADDLE = get_surface("saddle")


@pytest.mark.parametrize("lr", [0.01, 0.05, 0.1, 0.3, 0.45])
def test_path_is_the_closed_form(lr):
    starts = np.array([[-2.0, 1e-3], [1.5, -0.2], [0.3, 1e-9]])
    res = run(SADDLE, get_optimizer("sgd", lr=lr), starts, 50, tol=0)
    k = np.arange(51)
    for n, (x0, y0) in enumerate(starts):
        expected = np.stack(((1 - 2 * lr) ** k * x0, (1 + 2 * lr) ** k * y0), axis=-1)
        stop = res.stop_index()[0, n] + 1  # a path past |y| = 1e6 leaves the bounds
        np.testing.assert_allclose(res.path[0, n, :stop], expected[:stop], rtol=1e-12, atol=0)
        np.testing.assert_allclose(saddle.gd_path(x0, y0, lr, 50), expected, rtol=1e-14, atol=0)


@pytest.mark.parametrize("y0", [1e-3, -3e-5, 0.02, 1e-10])
@pytest.mark.parametrize("lr", [0.01, 0.07, 0.2])
def test_escape_step_is_the_ceiling_of_the_formula(y0, lr):
    formula = math.log(1 / abs(y0)) / math.log(1 + 2 * lr)
    assert abs(formula - round(formula)) > 1e-6  # no start exactly on a step boundary
    steps = math.ceil(formula) + 5
    res = run(SADDLE, get_optimizer("sgd", lr=lr), [[-2.0, y0]], steps, tol=0)
    y = np.abs(res.path[0, 0, :, 1])
    measured = int(np.flatnonzero(y >= 1)[0])
    assert measured == math.ceil(formula)
    assert saddle.escape_time(y0, lr) == pytest.approx(formula, rel=1e-14)
    assert saddle.escape_step(y0, lr) == measured
    (row,) = escape_rows(res)  # what the panel shows
    assert (row.measured, row.predicted, row.reason) == (measured, measured, "")


def test_from_the_ridge_line_gradient_descent_converges_to_the_saddle():
    res = run(SADDLE, get_optimizer("sgd", lr=0.1), [[-2.0, 0.0]], 300)
    assert (res.path[0, 0, :, 1] == 0).all()
    assert res.converged_at[0, 0] > 0  # gradient norm 2|x_k| below tol
    assert np.hypot(*res.path[0, 0, res.stop_index()[0, 0]]) < 1e-8
    assert saddle.escape_time(0.0, 0.1) == math.inf and saddle.escape_step(0.0, 0.1) is None
    (row,) = escape_rows(res)
    assert row.measured is None and row.formula == math.inf


def _escaped_fraction(y0, lr, sigma, k):
    """P(|y_k| >= 1) for the Gaussian y_k: the mean and variance summed term by term."""
    growth = 1 + 2 * lr
    mean = growth**k * y0
    std = lr * sigma * math.sqrt(sum(growth ** (2 * i) for i in range(k)))
    tail = 0.5 * math.erfc((1 - mean) / (std * math.sqrt(2))) + 0.5 * math.erfc((1 + mean) / (std * math.sqrt(2)))
    return tail, std


@pytest.mark.parametrize("lr, sigma", [(0.1, 0.01), (0.05, 0.01), (0.1, 1e-4)])
def test_noise_escapes_from_the_ridge_line(lr, sigma):
    """Perturbed GD from y0 = 0 over 2,000 noise draws: the spread of y_k is the Gaussian's, and
    the median first escape step lies at or just before the step by which half the draws are at
    |y_k| >= 1 (a first passage can only come earlier)."""
    n, steps = 2000, 200
    res = run(SADDLE, get_optimizer("sgd", lr=lr), np.tile([-2.0, 0.0], (n, 1)), steps, noise=sigma, seed=3, tol=0)
    first = np.array([np.flatnonzero(np.abs(res.path[0, i, :, 1]) >= 1)[0] for i in range(n)])
    half = next(k for k in range(1, steps) if _escaped_fraction(0.0, lr, sigma, k)[0] >= 0.5)
    assert saddle.median_escape_step(0.0, lr, sigma, steps) == half
    assert half - 2 <= np.median(first) <= half
    k = half - 5
    _, std = _escaped_fraction(0.0, lr, sigma, k)
    assert np.std(res.path[0, :, k, 1]) == pytest.approx(std, rel=0.06)  # 2,000 draws: ~1.6 % standard error
    np.testing.assert_allclose(saddle.noisy_std(lr, sigma, steps)[k], std, rtol=1e-10)
    rows = escape_rows(res, noise=sigma)
    assert rows[0].median == half and rows[0].predicted is None
    values, _ = expected_y(rows[0], sigma, steps)
    assert values[k] == pytest.approx(std, rel=1e-10)  # from y0 = 0 the rms is the std


def test_escape_rows_say_why_others_have_no_formula():
    configs = [get_optimizer("sgd", lr=0.05), get_optimizer("sgd", lr=0.05, momentum=0.9), get_optimizer("adam", lr=0.05)]
    res = run(SADDLE, configs, [[-2.0, 1e-3]], 100)
    rows = escape_rows(res)
    assert rows[0].predicted == math.ceil(math.log(1000) / math.log(1.1)) == 73
    assert "momentum" in rows[1].reason and "Adam" in rows[2].reason
    assert rows[1].predicted is rows[2].predicted is None
    assert all(r.measured is not None for r in rows)  # all of them leave within 100 steps
    assert "clipping" in escape_rows(res, clipped=True)[0].reason


@pytest.mark.parametrize("call, name", [
    (lambda: saddle.escape_time(1e-3, -0.1), "lr"),
    (lambda: saddle.escape_time(float("inf"), 0.1), "y0"),
    (lambda: saddle.escape_time(1e-3, 0.1, level=0.0), "level"),
    (lambda: saddle.noisy_std(0.1, -1.0, 10), "sigma"),
    (lambda: saddle.gd_path(1.0, 1.0, 0.1, -1), "steps"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=rf"{name}=.*range"):
        call()
