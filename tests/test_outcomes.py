"""The same outcome on every path: a trajectory that converged stays converged.

The array code and the Torch backend keep stepping a converged trajectory (it is frozen
afterwards); the compiled kernels stop at once. A blow-up after the convergence point must not
be reported as a divergence on some paths and not on others. The reference is the definition in
the Result's docstring, checked by hand here: converged at the first point with grad_norm < tol.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers import get_optimizer, kernels, run
from surfaces import get_surface

FIELDS = ("path", "loss", "grad", "grad_norm", "eff_lr", "diverged_at", "converged_at")
PATHS = [dict(backend="numpy", compiled=False), dict(backend="torch")] + (
    [dict(backend="numpy", compiled=True)] if kernels.AVAILABLE else [])


def outcomes(surface, configs, starts, **kw):
    return [run(surface, configs, starts, **kw, **path) for path in PATHS]


def assert_agree(results):
    first = results[0]
    for other in results[1:]:
        for name in FIELDS:
            np.testing.assert_allclose(getattr(other, name), getattr(first, name), rtol=1e-9, atol=0, err_msg=name)


def test_converged_near_the_saddle_stays_converged_on_every_path():
    """SGD from just off the saddle's ridge: the gradient norm falls below tol at step 4; running on,
    the path would leave along y and overflow near step 190."""
    surface = get_surface("saddle")
    results = outcomes(surface, [get_optimizer("sgd", lr=0.1)], [[0.01, 1e-9]], steps=400, tol=0.01)
    for res in results:
        assert res.converged_at.tolist() == [[4]] and res.diverged_at.tolist() == [[-1]]
        assert np.all(res.path[0, 0, 4:] == res.path[0, 0, 4])
    assert_agree(results)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(name=st.sampled_from(["saddle", "monkey_saddle", "rosenbrock", "himmelblau", "booth", "quadratic"]),
       opt=st.sampled_from(["sgd", "adam", "adamw", "rmsprop", "adagrad"]),
       log_lr=st.floats(-3, 3), tol=st.sampled_from([1e-3, 1e-2, 0.1]), seed=st.integers(0, 100))
def test_random_configurations_agree_on_every_path(name, opt, log_lr, tol, seed):
    """Polynomial surfaces only: there every path does the same IEEE operations, so the arrays
    agree exactly; with sines and exponentials the backends' libraries round differently and a
    chaotic run (a large lr) separates, which is no disagreement about outcomes."""
    surface = get_surface(name)
    (x0, x1), (y0, y1) = surface.bounds
    starts = np.random.default_rng(seed).uniform([x0, y0], [x1, y1], (4, 2))
    results = outcomes(surface, [get_optimizer(opt, lr=10.0**log_lr)], starts, steps=150, tol=tol)
    for res in results:
        both = (res.converged_at >= 0) & (res.diverged_at >= 0)
        assert not both.any()
    assert_agree(results)
