"""Rates on the quadratic against Goh, "Why Momentum Really Works" (Distill 2017).

The published statements are retyped here: gradient descent's rate max_i |1 - lr lambda_i| and its
optimum (kappa - 1)/(kappa + 1) at lr = 2/(lambda_1 + lambda_n); heavy ball's rate, the spectral
radius of [[1 + beta - lr lambda, -beta], [1, 0]] (computed here with np.linalg.eigvals), and its
optimum (sqrt(kappa) - 1)/(sqrt(kappa) + 1); the thresholds 2/lambda_n and (2 + 2 beta)/lambda_n.
The engine's trajectories (optimizers.run, tol=0) are measured as the app measures them and
held to those numbers; the lr sweeps read Result.diverged_at.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optimizers import MAX_CONFIGS, get_optimizer, run
from surfaces import get_surface
from theory import rates
from theory.measured import FLOOR, fitted_rate
from theory.report import distance, optimal_sgd, rate_rows

START = [[-2.5, 2.0]]


def published_gd(kappa):
    """(lr, rate) at gradient descent's optimum for eigenvalues 1/kappa and 1."""
    return 2.0 / (1.0 / kappa + 1.0), (kappa - 1.0) / (kappa + 1.0)


def published_heavy_ball(kappa):
    """(lr, momentum, rate) at heavy ball's optimum for eigenvalues 1/kappa and 1."""
    lo, hi = math.sqrt(1.0 / kappa), 1.0
    return (2.0 / (lo + hi)) ** 2, ((hi - lo) / (hi + lo)) ** 2, (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)


def eig_radius(lr, beta, lam):
    """Spectral radius of the published 2x2 iteration matrix, by numerical eigenvalues."""
    return max(abs(np.linalg.eigvals(np.array([[1.0 + beta - lr * lam, -beta], [1.0, 0.0]]))))


def exponent_close(measured, expected, rel=0.05):
    """The rate within rel, and its exponent log(rate) (the steps per e-fold) within rel too."""
    assert measured == pytest.approx(expected, rel=rel)
    assert math.log(measured) == pytest.approx(math.log(expected), rel=rel)


# --- the closed forms are the published ones ---------------------------------------------------------


@pytest.mark.parametrize("kappa", [1.5, 10.0, 100.0, 1000.0, 1e4])
def test_optimal_settings_and_rates_are_the_published_ones(kappa):
    lam = rates.quadratic_eigenvalues(kappa)
    lr, rate = published_gd(kappa)
    best = rates.gd_optimal(lam)
    assert (best.lr, best.momentum) == (pytest.approx(lr, rel=1e-14), 0.0)
    assert best.rate == pytest.approx(rate, rel=1e-14)
    assert rates.gd_rate(best.lr, lam) == pytest.approx(rate, rel=1e-12)
    hb_lr, hb_beta, hb_rate = published_heavy_ball(kappa)
    hb = rates.heavy_ball_optimal(lam)
    assert (hb.lr, hb.momentum, hb.rate) == (pytest.approx(hb_lr, rel=1e-14), pytest.approx(hb_beta, rel=1e-14),
                                             pytest.approx(hb_rate, rel=1e-14))
    # at the optimum both eigenvalues sit on a double root: the radius is exact up to sqrt(rounding)
    assert rates.heavy_ball_rate(hb.lr, hb.momentum, lam) == pytest.approx(hb_rate, rel=1e-7)
    assert max(eig_radius(hb.lr, hb.momentum, v) for v in lam) == pytest.approx(hb_rate, rel=1e-7)


def test_general_rates_match_the_iteration_matrices():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lam = np.sort(rng.uniform(0.01, 3.0, 3))
        lr, beta = rng.uniform(0.0, 2.5), rng.uniform(0.0, 1.0)
        assert rates.gd_rate(lr, lam) == pytest.approx(max(abs(1 - lr * lam)), rel=1e-14)
        assert rates.heavy_ball_rate(lr, beta, lam) == pytest.approx(max(eig_radius(lr, beta, v) for v in lam),
                                                                     rel=1e-6, abs=1e-7)
        np.testing.assert_allclose(rates.heavy_ball_radius(lr, 0.0, lam), abs(1 - lr * lam), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.9])
def test_thresholds_are_where_the_radius_crosses_one(beta):
    lam = rates.quadratic_eigenvalues(50.0)
    threshold = rates.threshold(beta, lam)
    assert threshold == pytest.approx((2 + 2 * beta) / 1.0, rel=1e-15)
    if beta == 0:
        assert rates.gd_threshold(lam) == 2.0
    below, above = threshold * (1 - 1e-6), threshold * (1 + 1e-6)
    assert max(eig_radius(below, beta, v) for v in lam) < 1 < max(eig_radius(above, beta, v) for v in lam)
    assert rates.rate(below, beta, lam) < 1 < rates.rate(above, beta, lam)


def test_double_root_at_the_optimum_only():
    """At heavy ball's optimum the discriminant (1 + beta - lr lambda)^2 - 4 beta vanishes at both
    eigenvalues (Goh: the critical damping); elsewhere it does not."""
    lam = rates.quadratic_eigenvalues(100.0)
    lr, beta, _ = published_heavy_ball(100.0)
    for v in lam:
        assert (1 + beta - lr * v) ** 2 - 4 * beta == pytest.approx(0.0, abs=1e-12)
    assert rates.heavy_ball_double_root(lr, beta, lam)
    assert not rates.heavy_ball_double_root(1.0, 0.9, lam) and not rates.heavy_ball_double_root(1.0, 0.0, lam)


def test_steps_per_decade():
    assert rates.steps_per_decade(0.1) == pytest.approx(1.0)
    assert rates.steps_per_decade(10 ** -0.5) == pytest.approx(2.0)
    assert rates.steps_per_decade(1.0) == math.inf and rates.steps_per_decade(0.0) == 0.0


@pytest.mark.parametrize("call, name", [
    (lambda: rates.gd_rate(-1.0, [1.0]), "lr"),
    (lambda: rates.gd_rate(float("nan"), [1.0]), "lr"),
    (lambda: rates.heavy_ball_rate(0.1, 1.5, [1.0]), "momentum"),
    (lambda: rates.heavy_ball_threshold(-0.1, [1.0]), "momentum"),
    (lambda: rates.gd_optimal([0.0, 1.0]), "eigenvalues"),
    (lambda: rates.gd_threshold([]), "eigenvalues"),
    (lambda: rates.quadratic_eigenvalues(0.5), "condition"),
    (lambda: rates.steps_per_decade(-0.5), "rate"),
])
def test_bad_input_names_the_parameter_and_range(call, name):
    with pytest.raises(ValueError, match=rf"{name}=.*(range|must)"):
        call()


# --- the measurement -------------------------------------------------------------------------------------


def test_fitted_rate_of_a_geometric_sequence_is_its_ratio():
    d = 3.0 * 0.9 ** np.arange(101)
    fit = fitted_rate(d, 100)
    assert fit.rate == pytest.approx(0.9, rel=1e-12) and (fit.first, fit.last) == (50, 100)
    # points below the floor are left out; so are points after the stop index
    d = 1.0 * 0.5 ** np.arange(200)
    fit = fitted_rate(d, 199)
    assert fit.last == int(np.flatnonzero(d < FLOOR)[0]) - 1 and fit.rate == pytest.approx(0.5, rel=1e-12)
    assert fitted_rate(d, 30).last == 30
    assert fitted_rate(d, 1) is None and fitted_rate(np.zeros(10), 9) is None
    with pytest.raises(ValueError, match="stop"):
        fitted_rate(d, 200)
    with pytest.raises(ValueError, match="distance"):
        fitted_rate(np.ones((2, 3)), 1)


# --- the engine's trajectories converge at the closed-form rates ------------------------------------------

STEPS = {10.0: 2000, 100.0: 6000, 1000.0: 20000}  # GD at lr = 1 shrinks by e^-20 at kappa = 1000


@pytest.mark.parametrize("angle", [0.0, 30.0, -60.0])
@pytest.mark.parametrize("kappa", sorted(STEPS))
def test_measured_rate_is_the_closed_form(kappa, angle):
    """Best GD, best heavy ball, GD at lr = 1 (rate 1 - 1/kappa) and heavy ball at lr = 1,
    momentum 0.9 (the radius of its iteration matrix), from one start, tol = 0."""
    gd_lr, gd_rate = published_gd(kappa)
    hb_lr, hb_beta, hb_rate = published_heavy_ball(kappa)
    lam = (1.0 / kappa, 1.0)
    configs = [get_optimizer("sgd", lr=gd_lr), get_optimizer("sgd", lr=hb_lr, momentum=hb_beta),
               get_optimizer("sgd", lr=1.0), get_optimizer("sgd", lr=1.0, momentum=0.9)]
    expected = [gd_rate, hb_rate, 1.0 - 1.0 / kappa, max(eig_radius(1.0, 0.9, v) for v in lam)]
    res = run(get_surface("quadratic", condition=kappa, angle=angle), configs, START, STEPS[kappa], tol=0)
    assert (res.diverged_at == -1).all()
    rows = rate_rows(res)
    for row, want in zip(rows, expected):
        exponent_close(row.fit.rate, want)
        assert row.rate == pytest.approx(want, rel=1e-6)  # the panel's closed form, too
    # best gradient descent shrinks both eigen-components by exactly its rate: ||p_k|| = r^k ||p_0||
    d = distance(res)[0]
    np.testing.assert_allclose(d[:1000], d[0] * gd_rate ** np.arange(1000), rtol=1e-9)


# --- the divergence threshold, from one run over an lr grid ----------------------------------------------


@pytest.mark.parametrize("kappa, angle", [(10.0, 30.0), (100.0, -45.0)])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_divergence_threshold_from_an_lr_sweep(kappa, angle, beta):
    """lambda_n = 1 on this surface: published threshold (2 + 2 beta) / 1 (2 without momentum)."""
    threshold = 2.0 + 2.0 * beta
    grid = np.linspace(0.75 * threshold, 1.25 * threshold, MAX_CONFIGS)
    cell = grid[1] - grid[0]
    configs = [get_optimizer("sgd", lr=float(lr), momentum=beta) for lr in grid]
    res = run(get_surface("quadratic", condition=kappa, angle=angle), configs, START, 4000, tol=0)
    diverged = res.diverged_at[:, 0] >= 0
    first = int(np.argmax(diverged))
    assert diverged[first] and diverged[first:].all() and not diverged[:first].any()
    assert grid[first - 1] <= threshold <= grid[first]
    assert abs(grid[first] - threshold) <= cell


def test_optimal_sgd_builds_the_published_optimizers():
    gd, hb = optimal_sgd(1000.0)
    gd_lr, _ = published_gd(1000.0)
    hb_lr, hb_beta, _ = published_heavy_ball(1000.0)
    assert gd.name == hb.name == "sgd"
    assert gd.lr == pytest.approx(gd_lr, rel=1e-14) and dict(gd.hparams)["momentum"] == 0.0
    assert hb.lr == pytest.approx(hb_lr, rel=1e-14) and dict(hb.hparams)["momentum"] == pytest.approx(hb_beta, rel=1e-14)
