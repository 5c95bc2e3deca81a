"""Final-state runs (optimizers.final) against full runs and against torch.optim.

A final-state run must end every trajectory where `run` does: the point at its stop index, the
loss and gradient norm there, and the same divergence and convergence steps, on the array code
and on the compiled final-state kernel. `run` itself is checked against torch.optim in
test_optimizers_torch; one test here also checks the end points against a plain torch loop.
"""

import numpy as np
import pytest
import torch

from optimizers import get_optimizer, run
from optimizers.final import MAX_FINAL_STARTS, MAX_FINAL_TRAJECTORY_STEPS, run_final
from surfaces import SURFACES, get_surface
from tests.test_compiled import SETTINGS

POLYNOMIAL = {"rosenbrock", "quadratic", "saddle", "monkey_saddle", "himmelblau", "beale", "six_hump_camel", "booth"}


def at_stop(res):
    """run's (point, loss, grad_norm) at each trajectory's stop index."""
    idx = res.stop_index()
    k, n = idx.shape
    ks, ns = np.arange(k)[:, None], np.arange(n)[None]
    return res.path[ks, ns, idx], res.loss[ks, ns, idx], res.grad_norm[ks, ns, idx]


def assert_matches_run(fin, res, rtol=0.0):
    point, loss, grad_norm = at_stop(res)
    np.testing.assert_array_equal(fin.diverged_at, res.diverged_at)
    np.testing.assert_array_equal(fin.converged_at, res.converged_at)
    np.testing.assert_allclose(fin.point, point, rtol=rtol, atol=0)
    np.testing.assert_allclose(fin.loss, loss, rtol=rtol, atol=0)
    np.testing.assert_allclose(fin.grad_norm, grad_norm, rtol=rtol, atol=0)
    np.testing.assert_array_equal(fin.stop_index(), res.stop_index())


def grid(surface, g):
    (x0, x1), (y0, y1) = surface.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, g), np.linspace(y0, y1, g))
    return np.stack([xs.ravel(), ys.ravel()], axis=-1)


@pytest.mark.parametrize("compiled", [False, True])
def test_every_optimizer_ends_where_run_ends(compiled):
    surface = get_surface("rosenbrock")
    configs = [get_optimizer(name, **kw) for name, kw in SETTINGS]
    starts = grid(surface, 9)
    res = run(surface, configs, starts, 150, compiled=False, tol=1e-3)
    fin = run_final(surface, configs, starts, 150, compiled=compiled, tol=1e-3)
    assert (res.diverged_at >= 0).any() and (res.converged_at >= 0).any()
    assert_matches_run(fin, res)
    assert fin.slow_reason is None or not compiled


@pytest.mark.parametrize("name", [n for n, e in SURFACES.items() if n != "regression"])
def test_every_surface_ends_where_run_ends(name):
    surface = get_surface(name)
    configs = [get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=0.01, momentum=0.9, nesterov=True)]
    starts = grid(surface, 7)
    res = run(surface, configs, starts, 120, compiled=False, tol=1e-4)
    # transcendental functions may round differently in libm and NumPy's SIMD loops (and NumPy's
    # own loops differ by array layout), so bit equality holds for the polynomial surfaces only
    rtol = 0.0 if name in POLYNOMIAL else 1e-9
    for compiled in (False, True):
        assert_matches_run(run_final(surface, configs, starts, 120, compiled=compiled, tol=1e-4), res, rtol)


@pytest.mark.parametrize("compiled", [False, True])
def test_noise_clipping_and_schedules_end_where_run_ends(compiled):
    surface = get_surface("himmelblau")
    configs = [get_optimizer("rmsprop", lr=lr, schedule=("cosine", {"T_max": 80})) for lr in (0.01, 0.05, 0.3)]
    starts = grid(surface, 6)
    kw = dict(noise=0.5, seed=3, clip_norm=5.0, clip_value=3.0, tol=1e-2)
    res = run(surface, configs, starts, 80, compiled=False, **kw)
    assert_matches_run(run_final(surface, configs, starts, 80, compiled=compiled, **kw), res)


@pytest.mark.parametrize("compiled", [False, True])
def test_a_start_out_of_bounds_fails_at_step_zero_as_in_run(compiled):
    surface = get_surface("rosenbrock")
    starts = [[1e5, 0.0], [0.0, 0.0], [-7e5, 3.0]]
    configs = [get_optimizer("sgd", lr=1e-3)]
    res = run(surface, configs, starts, 20, compiled=False)
    fin = run_final(surface, configs, starts, 20, compiled=compiled)
    assert fin.diverged_at.tolist() == [[0, -1, 0]]
    assert_matches_run(fin, res)


def test_end_points_equal_a_plain_torch_adam_loop():
    surface = get_surface("rosenbrock")
    starts = np.array([[-1.5, 2.0], [0.3, -0.7], [1.8, 2.9]])
    fin = run_final(surface, [get_optimizer("adam", lr=0.02, betas=(0.8, 0.99))], starts, 200, compiled=True, tol=0)
    for i, start in enumerate(starts):
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=0.02, betas=(0.8, 0.99))
        for _ in range(200):
            opt.zero_grad()
            ((1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2).backward()
            opt.step()
        np.testing.assert_allclose(fin.point[0, i], p.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_many_configurations_share_one_kernel_and_match_single_runs():
    """An lr sweep: 60 configurations of one rule, each equal to its own single run."""
    surface = get_surface("quadratic")
    lrs = np.geomspace(1e-3, 3.0, 60)
    configs = [get_optimizer("sgd", lr=float(lr), momentum=0.5) for lr in lrs]
    fin = run_final(surface, configs, surface.default_starts[:1], 100, compiled=True, tol=1e-6)
    for i in (0, 17, 42, 59):
        single = run(surface, [configs[i]], surface.default_starts[:1], 100, tol=1e-6, compiled=False)
        assert_matches_run(type(fin)(**{**fin.__dict__, **{
            name: getattr(fin, name)[i:i + 1] for name in ("point", "loss", "grad_norm", "diverged_at", "converged_at")}}),
            single)


def test_caps_are_stated():
    surface = get_surface("rosenbrock")
    adam = get_optimizer("adam")
    with pytest.raises(ValueError, match=f"allowed 1 to {MAX_FINAL_STARTS}"):
        run_final(surface, adam, np.zeros((MAX_FINAL_STARTS + 1, 2)), 10)
    with pytest.raises(ValueError, match=f"{MAX_FINAL_TRAJECTORY_STEPS:,}"):
        run_final(surface, adam, np.zeros((250_000, 2)), 1001)
    with pytest.raises(ValueError, match="noise entries"):
        run_final(surface, adam, np.zeros((100_000, 2)), 100, noise=0.1)
    with pytest.raises(ValueError, match="deterministic"):
        run_final(get_surface("regression", batch_size=8), adam, None, 10)
    with pytest.raises(ValueError, match="steps"):
        run_final(surface, adam, None, 0)
    with pytest.raises(TypeError, match="optimizers"):
        run_final(surface, "adam", None, 10)
