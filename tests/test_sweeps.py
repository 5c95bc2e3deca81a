"""The sweeps engine against independent references: Himmelblau's basins from a plain NumPy
gradient loop, sweep values from single optimizers.run runs at the same settings, and the
closed-form momentum-SGD stability edge from the spectral radius of the 2x2 iteration matrix.

The references never use sweeps/: Himmelblau's loss and gradient and its four minima are the
published ones retyped here, iteration matrices are written out from torch.optim.SGD's update.
"""

from __future__ import annotations

import numpy as np
import pytest

import sweeps
from optimizers import get_optimizer, kernels, run
from surfaces import get_surface

# Himmelblau 1972: f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2; its four minima (f = 0).
HIMMELBLAU_MINIMA = np.array([[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848127]])
COMPILED = [False] + ([True] if kernels.AVAILABLE else [])


def himmelblau_grad(p: np.ndarray) -> np.ndarray:
    x, y = p[..., 0], p[..., 1]
    a, b = x * x + y - 11, x + y * y - 7
    return np.stack([4 * x * a + 2 * b, 2 * a + 4 * y * b], axis=-1)


def descend(starts: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """Plain gradient descent from every start at once: where each ends after `steps` steps."""
    p = starts.copy()
    for _ in range(steps):
        p = p - lr * himmelblau_grad(p)
    return p


def nearest_minimum(points: np.ndarray) -> np.ndarray:
    return np.argmin(np.linalg.norm(points[:, None] - HIMMELBLAU_MINIMA, axis=-1), axis=1)


# --- basin maps -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", COMPILED)
def test_himmelblau_basins_are_the_minima_gradient_descent_reaches(compiled):
    surface = get_surface("himmelblau")
    bm = sweeps.basin_map(surface, [get_optimizer("sgd", lr=0.005)], resolution=30, steps=2000, tol=1e-10,
                          compiled=compiled)
    np.testing.assert_allclose(bm.minima[:4], HIMMELBLAU_MINIMA, atol=1e-6)  # the engine's order is the paper's
    gx, gy = np.meshgrid(bm.xs, bm.ys)
    starts = np.stack([gx.ravel(), gy.ravel()], axis=-1)
    # the same descent in plain NumPy ends at the same minimum from every pixel
    ends = descend(starts, 0.005, 2000)
    assert np.all(np.linalg.norm(ends - HIMMELBLAU_MINIMA[nearest_minimum(ends)], axis=1) < 1e-4)
    np.testing.assert_array_equal(bm.basin[0].ravel(), nearest_minimum(ends))
    # and, but for pixels on the basins' boundaries, the one the gradient flow (10x smaller steps) reaches
    flow = nearest_minimum(descend(starts, 0.0005, 20_000))
    assert np.mean(bm.basin[0].ravel() == flow) > 0.97
    assert np.allclose(bm.shares()[0, 4:], 0)  # none stuck, none diverged
    assert sorted(set(bm.basin[0].ravel())) == [0, 1, 2, 3]
    np.testing.assert_array_equal(np.isfinite(bm.steps).ravel(), bm.final.converged_at.ravel() >= 0)


def test_diverged_pixels_are_labelled_as_such():
    surface = get_surface("himmelblau")
    bm = sweeps.basin_map(surface, [get_optimizer("sgd", lr=0.05)], resolution=20, steps=200, compiled=False)
    diverged = bm.final.diverged_at[0].reshape(20, 20) >= 0
    assert diverged.any()
    np.testing.assert_array_equal(bm.basin[0] == sweeps.basins.DIVERGED, diverged)


# --- sweeps against single runs ----------------------------------------------------------------------------------


def single(surface, config, starts, steps, tol):
    """One optimizers.run: (end points at the stop index [N, 2], diverged [N], converged [N])."""
    res = run(surface, [config], starts, steps, tol=tol)
    stop = res.stop_index()[0]
    return res.path[0, np.arange(len(starts)), stop], res.diverged_at[0] >= 0, res.converged_at[0] >= 0, res


@pytest.mark.parametrize("compiled", COMPILED)
def test_lr_sweep_equals_single_runs(compiled):
    surface = get_surface("rosenbrock")
    configs = [get_optimizer("sgd", lr=1.0, momentum=0.9), get_optimizer("adam", lr=1.0)]
    starts = np.array([[-1.5, 2.0], [0.5, -0.5], [1.2, 1.2]])
    lrs = sweeps.lr.log_grid(1e-4, 0.1, 7)
    sweep = sweeps.lr_sweep(surface, configs, lrs, starts, 300, tol=1e-6, compiled=compiled)
    assert sweep.diverged.any() and (sweep.diverged < 1).any()
    for k, config in enumerate(configs):
        for i, lr in enumerate(lrs):
            ends, diverged, converged, res = single(surface, sweeps.with_value(config, "lr", float(lr)), starts, 300, 1e-6)
            np.testing.assert_allclose(sweep.final.point[k * len(lrs) + i], ends, rtol=1e-12, atol=1e-12)
            assert sweep.diverged[k, i] == diverged.mean() and sweep.converged[k, i] == converged.mean()
            kept = ~diverged
            loss = res.loss[0, np.arange(3), res.stop_index()[0]]
            if kept.any():
                assert sweep.loss[k, i] == pytest.approx(loss[kept].mean(), rel=1e-12, abs=1e-300)
                assert sweep.distance[k, i] == pytest.approx(np.linalg.norm(ends[kept] - [1, 1], axis=1).mean(), rel=1e-9)
            else:
                assert np.isnan(sweep.loss[k, i])
            if converged.any():
                assert sweep.steps[k, i] == res.converged_at[0][converged].mean()
        first = np.nonzero(sweep.diverged[k] >= 0.5)[0]
        assert (sweep.threshold[k] == lrs[first[0]]) if len(first) else np.isnan(sweep.threshold[k])


@pytest.mark.parametrize("compiled", COMPILED)
def test_param_sweep_cells_equal_single_runs(compiled):
    surface = get_surface("himmelblau")
    base = get_optimizer("adam", lr=0.1)
    starts = np.array([[0.0, 0.0], [-4.0, 4.5]])
    values, lrs = [0.5, 0.9, 0.99], sweeps.lr.log_grid(1e-3, 1.0, 4)
    sweep = sweeps.param_sweep(surface, base, "beta1", values, lrs, starts, 150, tol=1e-6, compiled=compiled)
    for m, value in enumerate(values):
        for i, lr in enumerate(lrs):
            config = get_optimizer("adam", lr=float(lr), betas=(value, 0.999))
            assert sweep.configs[m][i] == config
            ends, diverged, converged, _ = single(surface, config, starts, 150, 1e-6)
            np.testing.assert_allclose(sweep.final.point[m * len(lrs) + i], ends, rtol=1e-12, atol=1e-12)
            assert sweep.diverged[m, i] == diverged.mean() and sweep.converged[m, i] == converged.mean()


# --- the closed-form stability edge ---------------------------------------------------------------------------------


def iteration_matrix(lr: float, lam: float, momentum: float, dampening: float, nesterov: bool) -> np.ndarray:
    """torch.optim.SGD on f = lam x^2 / 2 as a linear map of (x, b), b the momentum buffer:
    b' = mu b + (1 - d) lam x; x' = x - lr b' (heavy ball) or x - lr (lam x + mu b') (Nesterov, d = 0)."""
    mu, g = momentum, (1 - dampening) * lam
    if nesterov:
        return np.array([[1 - lr * lam * (1 + mu), -lr * mu * mu], [lam, mu]])
    return np.array([[1 - lr * g, -lr * mu], [g, mu]])


def spectral_radius(*args) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(iteration_matrix(*args)))))


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("lam", [0.1, 1.0, 25.0])
def test_bound_is_where_the_spectral_radius_reaches_one(lam, nesterov):
    momenta = np.array([0.0, 0.3, 0.6, 0.9, 0.99]) if not nesterov else np.array([0.1, 0.5, 0.9, 0.99])
    for dampening in ([0.0] if nesterov else [0.0, 0.4]):
        bounds = sweeps.momentum_lr_bound([lam / 10, lam], momenta, dampening=dampening, nesterov=nesterov)
        for mu, bound in zip(momenta, bounds):
            assert spectral_radius(bound * (1 - 1e-6), lam, mu, dampening, nesterov) < 1
            assert spectral_radius(bound * (1 + 1e-6), lam, mu, dampening, nesterov) > 1
            assert spectral_radius(bound, lam, mu, dampening, nesterov) == pytest.approx(1.0, abs=1e-6)


def test_bound_needs_a_positive_definite_hessian_and_the_quadratic():
    with pytest.raises(ValueError, match="positive definite"):
        sweeps.momentum_lr_bound([-1.0, 0.0], [0.5])
    with pytest.raises(ValueError, match="quadratic"):
        sweeps.hessian_eigenvalues(get_surface("rosenbrock"))
    np.testing.assert_allclose(sweeps.hessian_eigenvalues(get_surface("quadratic", condition=50.0)), [0.02, 1.0])


@pytest.mark.parametrize("nesterov", [False, True])
def test_param_sweep_on_the_quadratic_diverges_just_above_the_bound_and_converges_just_below(nesterov):
    surface = get_surface("quadratic")
    momenta = np.array([0.1, 0.5, 0.9])
    edge = sweeps.momentum_lr_bound(sweeps.hessian_eigenvalues(surface), momenta, nesterov=nesterov)
    lrs = np.sort(np.concatenate([edge * 0.95, edge * 1.05]))
    base = get_optimizer("sgd", lr=0.1, momentum=0.5, nesterov=nesterov)
    sweep = sweeps.param_sweep(surface, base, "momentum", momenta, lrs, np.array([[2.0, 2.0]]), 6000, tol=1e-6,
                               compiled=False)
    for m, bound in enumerate(edge):
        below, above = np.searchsorted(lrs, bound * 0.95), np.searchsorted(lrs, bound * 1.05)
        assert sweep.converged[m, below] == 1 and sweep.diverged[m, below] == 0
        assert sweep.diverged[m, above] == 1
