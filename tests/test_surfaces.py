"""2-D surfaces: values, closed-form gradients, critical points, regression batches, validation.

References are independent of the code under test: formulas retyped here from the literature,
Torch autograd for every gradient, published minima and values, and a direct NumPy MSE over the
regression data.
"""

import math
import pickle
import subprocess
import sys
from pathlib import Path

import array_api_compat.torch as xpt
import numpy as np
import pytest
import torch

from hyperparams import Hyperparameter
from surfaces import SURFACES, get_surface, surface_params


def _quadratic(x, y, condition, angle):
    t = math.radians(angle)
    along = x * math.cos(t) + y * math.sin(t)  # coordinate along the valley, curvature 1/condition
    across = -x * math.sin(t) + y * math.cos(t)
    return 0.5 * (along**2 / condition + across**2)


def _ackley(x, y):
    r = np.sqrt(0.5 * (x**2 + y**2))
    return -20 * np.exp(-0.2 * r) - np.exp(0.5 * (np.cos(2 * np.pi * x) + np.cos(2 * np.pi * y))) + np.e + 20


REFERENCE = {
    "rosenbrock": lambda x, y, a, b: (a - x) ** 2 + b * (y - x**2) ** 2,
    "quadratic": _quadratic,
    "saddle": lambda x, y: x**2 - y**2,
    "monkey_saddle": lambda x, y: x**3 - 3 * x * y**2,
    "himmelblau": lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
    "beale": lambda x, y: (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2,
    "rastrigin": lambda x, y, A: 2 * A + sum(v**2 - A * np.cos(2 * np.pi * v) for v in (x, y)),
    "ackley": _ackley,
    "six_hump_camel": lambda x, y: (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2,
    "booth": lambda x, y: (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2,
    "custom": lambda x, y, f, **plot_range: TYPED[f](x, y),
}
TYPED = {  # the custom surface's formulas tested here (more in test_custom_surface.py)
    "0.1*(x**2 + y**2) + sin(x)*cos(y)": lambda x, y: 0.1 * (x**2 + y**2) + np.sin(x) * np.cos(y),
    "x**2 + 3*y**2 + sin(4*x)": lambda x, y: x**2 + 3 * y**2 + np.sin(4 * x),
}

NON_DEFAULT = {
    "rosenbrock": {"a": -0.7, "b": 2500.0},
    "quadratic": {"condition": 300.0, "angle": -65.0},
    "rastrigin": {"A": 3.5},
    "regression": {"n_samples": 37, "noise": 2.0, "seed": 11},
    "custom": {"f": "x**2 + 3*y**2 + sin(4*x)", "xmin": -1.0, "ymax": 4.5},
}

CASES = [(name, {}) for name in SURFACES] + list(NON_DEFAULT.items())


def _over(cases):
    """Parametrize a test over (surface name, non-default params) pairs."""
    ids = [f"{name}-{'custom' if params else 'default'}" for name, params in cases]
    return pytest.mark.parametrize(("name", "params"), cases, ids=ids)


cases = _over(CASES)


def _points(surface, n=50, seed=0):
    """n random points inside the surface's bounds: [n, 2]."""
    (x0, x1), (y0, y1) = surface.bounds
    rng = np.random.default_rng(seed)
    return np.stack((rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)), axis=-1)


def _autograd(loss, p):
    """Gradient of sum(loss(p)) by Torch autograd: p [..., 2] NumPy -> [..., 2] NumPy."""
    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    loss(t).sum().backward()
    return t.grad.numpy()


def _assert_close(actual, expected, rtol):
    """Relative to the largest reference entry, so values near zero are not held to rtol alone."""
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)))


def test_registry_order_and_specs():
    assert list(SURFACES) == [
        "rosenbrock", "quadratic", "saddle", "monkey_saddle", "himmelblau", "beale",
        "rastrigin", "ackley", "six_hump_camel", "booth", "regression", "custom",
    ]
    for name in SURFACES:
        specs = surface_params(name)
        assert isinstance(specs, tuple) and all(isinstance(s, Hyperparameter) for s in specs)
        assert get_surface(name).params == {s.name: s.default for s in specs}


@cases
def test_grad_matches_autograd(name, params):
    s = get_surface(name, **params)
    p = _points(s)
    expected = _autograd(lambda t: s.value(t, xpt), p)
    g = s.grad(p)
    assert isinstance(g, np.ndarray) and g.shape == p.shape
    _assert_close(g, expected, 1e-10)
    g_torch = s.grad(torch.tensor(p, dtype=torch.float64), xpt)
    assert isinstance(g_torch, torch.Tensor) and g_torch.dtype == torch.float64
    _assert_close(g_torch.numpy(), expected, 1e-10)


@cases
def test_hess_matches_autograd_hessian(name, params):
    """f_xx, f_xy, f_yy against torch.autograd.functional.hessian of the value, point by point,
    on NumPy and Torch arrays."""
    s = get_surface(name, **params)
    p = _points(s, n=20)
    expected = np.stack([torch.autograd.functional.hessian(lambda t: s.value(t, xpt), torch.tensor(q)).numpy()
                         for q in p])  # [n, 2, 2]
    for xp, points in ((np, p), (xpt, torch.tensor(p))):
        hxx, hxy, hyy = (np.asarray(h) for h in s.hess(points, xp))
        assert hxx.shape == hxy.shape == hyy.shape == (len(p),)
        _assert_close(np.stack([np.stack([hxx, hxy], -1), np.stack([hxy, hyy], -1)], -2), expected, 1e-9)


def test_a_custom_formula_without_array_second_derivatives_has_no_hessian():
    s = get_surface("custom", f="abs(x) + y**2")
    assert s.hess_xy is None
    with pytest.raises(ValueError, match="no closed-form Hessian"):
        s.hess(np.zeros((1, 2)))


@cases
def test_value_numpy_equals_torch(name, params):
    s = get_surface(name, **params)
    p = _points(s, seed=1)
    v = s.value(p)
    v_torch = s.value(torch.tensor(p, dtype=torch.float64), xpt)
    assert isinstance(v, np.ndarray) and isinstance(v_torch, torch.Tensor) and v.shape == (len(p),)
    _assert_close(v_torch.numpy(), v, 1e-12)


@_over([case for case in CASES if case[0] in REFERENCE])
def test_value_matches_reference_formula(name, params):
    s = get_surface(name, **params)
    p = _points(s, seed=2)
    _assert_close(s.value(p), REFERENCE[name](p[:, 0], p[:, 1], **s.params), 1e-12)


@cases
def test_critical_points_have_zero_gradient(name, params):
    s = get_surface(name, **params)
    points = np.array(s.minima + s.saddles).reshape(-1, 2)
    assert len(points) > 0 or name == "custom"  # a typed function's critical points are unknown
    assert np.all(np.linalg.norm(s.grad(points), axis=-1) < 1e-8)


@cases
def test_global_minimum_value_and_geometry(name, params):
    s = get_surface(name, **params)
    (x0, x1), (y0, y1) = s.bounds
    inside = [x0 <= x <= x1 and y0 <= y <= y1 for x, y in s.minima + s.saddles + s.default_starts]
    assert all(inside) and len(s.default_starts) >= 1
    if s.min_value is None:
        assert s.minima == ()
        return
    minima_values = s.value(np.array(s.minima))
    assert minima_values[0] == pytest.approx(s.min_value, abs=1e-12)
    assert np.all(minima_values >= s.min_value - 1e-12)
    grid = np.stack(np.meshgrid(np.linspace(x0, x1, 201), np.linspace(y0, y1, 201)), axis=-1)
    assert s.value(grid).min() >= s.min_value - 1e-12


@pytest.mark.parametrize(
    ("name", "points", "value"),
    [
        ("rosenbrock", [(1.0, 1.0)], 0.0),
        ("himmelblau", [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)], 0.0),
        ("beale", [(3.0, 0.5)], 0.0),
        ("booth", [(1.0, 3.0)], 0.0),
        ("rastrigin", [(0.0, 0.0)], 0.0),
        ("ackley", [(0.0, 0.0)], 0.0),
        ("six_hump_camel", [(0.0898, -0.7126), (-0.0898, 0.7126)], -1.0316284534898774),
    ],
)
def test_published_minima(name, points, value):
    s = get_surface(name)
    # Published coordinates carry four to six digits: compare the value to that precision.
    np.testing.assert_allclose(s.value(np.array(points)), value, atol=1e-5)
    listed = np.array(s.minima)
    for point in points:
        assert np.min(np.linalg.norm(listed - point, axis=-1)) < 1e-4
    if name == "six_hump_camel":
        assert s.min_value == pytest.approx(value, abs=1e-15)


def test_published_saddles_and_extremes():
    assert np.min(np.linalg.norm(np.array(get_surface("himmelblau").saddles) - (3.385154, 0.073852), axis=-1)) < 1e-5
    assert get_surface("beale").value(np.array([0.0, 1.0])) == 14.203125
    assert get_surface("rosenbrock").value(np.array([-1.0, 1.0])) == 4.0
    assert get_surface("rosenbrock", a=2.0).minima == ((2.0, 4.0),)
    assert get_surface("saddle").min_value is None and get_surface("monkey_saddle").min_value is None


def test_ackley_origin_is_finite_and_silent():
    s = get_surface("ackley")
    origin = np.zeros((1, 2))
    with np.errstate(all="raise"):
        assert np.array_equal(s.grad(origin), np.zeros((1, 2)))
        assert abs(s.value(origin)[0]) < 1e-12
    g_torch = s.grad(torch.zeros(1, 2, dtype=torch.float64), xpt)
    assert torch.equal(g_torch, torch.zeros(1, 2, dtype=torch.float64))


@cases
def test_no_numpy_warnings_on_a_grid(name, params):
    s = get_surface(name, **params)
    (x0, x1), (y0, y1) = s.bounds
    grid = np.stack(np.meshgrid(np.linspace(x0, x1, 41), np.linspace(y0, y1, 41)), axis=-1)
    grid = np.concatenate((grid.reshape(-1, 2), np.array(s.minima + s.saddles).reshape(-1, 2)))
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert np.all(np.isfinite(s.value(grid))) and np.all(np.isfinite(s.grad(grid)))


@cases
def test_shapes(name, params):
    s = get_surface(name, **params)
    p = _points(s, n=12).reshape(3, 4, 2)
    assert s.value(p).shape == (3, 4)
    assert s.grad(p).shape == (3, 4, 2)
    assert s.grad(p, step=5).shape == (3, 4, 2)
    assert tuple(s.value(torch.tensor(p), xpt).shape) == (3, 4)


def test_metadata():
    for name, entry in SURFACES.items():
        s = get_surface(name)
        assert (s.name, s.title, s.description) == (name, entry.title, entry.description)
        assert "\n" not in s.description and s.latex
        assert isinstance(s.log_levels, bool) and isinstance(s.stochastic, bool)
    assert get_surface("rosenbrock").log_levels and not get_surface("quadratic").log_levels
    assert "2500" in get_surface("rosenbrock", b=2500.0).latex


def test_surfaces_do_not_import_the_engine():
    """The 2-D surfaces share the spec type with optimizers/ through the top-level hyperparams."""
    code = "import sys, surfaces; print(sorted(m for m in sys.modules if m.split('.')[0] == 'optimizers'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"


def test_equality_hash_and_pickle():
    a, b = get_surface("rosenbrock"), get_surface("rosenbrock", a=1.0, b=100.0)
    assert a == b and hash(a) == hash(b) and a != get_surface("rosenbrock", b=10.0)
    assert a != get_surface("booth")
    for s in (a, get_surface("regression", batch_size=5)):
        copy = pickle.loads(pickle.dumps(s))
        assert copy == s
        p = _points(s)
        np.testing.assert_array_equal(copy.grad(p, step=3), s.grad(p, step=3))


# Regression -------------------------------------------------------------------------------------


def _mse(p, x, y):
    """Direct MSE over samples: p [..., 2] -> [...]; works for NumPy arrays and tensors."""
    return ((p[..., :1] * x + p[..., 1:] - y) ** 2).mean(-1)


def test_regression_data_recipe():
    s = get_surface("regression", n_samples=50, noise=0.3, seed=4)
    x, y = s.data
    rng = np.random.default_rng(4)
    expected_x = rng.uniform(-1, 1, 50)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, 3 * expected_x + 1 + 0.3 * rng.standard_normal(50))


@pytest.mark.parametrize("params", [{}, {"n_samples": 37, "noise": 2.0, "seed": 11}, {"noise": 0.0}])
def test_regression_full_batch_loss_and_minimum(params):
    s = get_surface("regression", **params)
    x, y = s.data
    p = _points(s)
    _assert_close(s.value(p), _mse(p, x, y), 1e-12)
    design = np.stack((x, np.ones_like(x)), axis=-1)
    solution = np.linalg.solve(design.T @ design, design.T @ y)
    np.testing.assert_allclose(s.minima[0], solution, rtol=1e-12, atol=1e-12)
    assert s.min_value == pytest.approx(_mse(solution, x, y), rel=1e-12, abs=1e-15)
    assert np.linalg.norm(s.grad(np.array(s.minima[0]))) < 1e-12
    assert not s.stochastic


def test_regression_minibatch_gradient_follows_recipe():
    s = get_surface("regression", n_samples=60, batch_size=8, seed=5)
    assert s.stochastic
    x, y = map(torch.tensor, s.data)
    p = _points(s, n=20)
    for step in (0, 1, 7, 123):
        index = torch.tensor(np.random.default_rng([5, step]).choice(60, size=8, replace=False))
        expected = _autograd(lambda t, index=index: _mse(t, x[index], y[index]), p)
        _assert_close(s.grad(p, step=step), expected, 1e-12)
        _assert_close(s.grad(torch.tensor(p), xpt, step=step).numpy(), expected, 1e-12)
    # Deterministic per step, independent of call order; steps differ; step=None is the full batch.
    np.testing.assert_array_equal(s.grad(p, step=7), s.grad(p, step=7))
    assert not np.allclose(s.grad(p, step=1), s.grad(p, step=2))
    full = _autograd(lambda t: _mse(t, x, y), p)
    _assert_close(s.grad(p), full, 1e-12)


@pytest.mark.parametrize("batch_size", [0, 60])
def test_regression_full_batch_sizes_are_deterministic(batch_size):
    s = get_surface("regression", n_samples=60, batch_size=batch_size)
    p = _points(s)
    assert not s.stochastic
    np.testing.assert_array_equal(s.grad(p, step=3), s.grad(p))


# Validation -------------------------------------------------------------------------------------


def test_unknown_surface_lists_valid_names():
    with pytest.raises(ValueError, match="unknown surface 'nope'.*rosenbrock.*regression"):
        get_surface("nope")
    with pytest.raises(ValueError, match="valid: rosenbrock"):
        surface_params("nope")


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("rosenbrock", {"b": -1.0}, r"b=-1.0 is outside the allowed range \[0, 10000\]"),
        ("quadratic", {"condition": 0.5}, r"condition=0.5 is outside the allowed range \[1, 10000\]"),
        ("rastrigin", {"A": float("nan")}, r"A=nan is outside"),
        ("regression", {"n_samples": 1}, r"n_samples=1 is outside the allowed range \[2, 10000\]"),
        ("regression", {"batch_size": 2.5}, r"batch_size=2.5 must be a whole number"),
        ("rosenbrock", {"c": 1.0}, r"unknown parameter\(s\) c; valid: a, b"),
        ("booth", {"a": 1.0}, r"unknown parameter\(s\) a; valid: \(none\)"),
        ("regression", {"n_samples": 10, "batch_size": 11}, r"batch_size=11 exceeds n_samples=10"),
    ],
)
def test_invalid_parameters(name, params, message):
    with pytest.raises(ValueError, match=message):
        get_surface(name, **params)
