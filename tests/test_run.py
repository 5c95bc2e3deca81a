"""run(): divergence and convergence bookkeeping, clipping, noise, backends, shapes, mini-batches.

References: hand-written NumPy loops and closed-form gradients, torch.optim with
torch.nn.utils.clip_grad_norm_ / clip_grad_value_, and NumPy's default_rng for the noise table.
"""

import warnings

import numpy as np
import pytest

from optimizers import get_optimizer, run
from optimizers.run import LOSS_BOUND, PARAM_BOUND
from surfaces import get_surface

ROSENBROCK = get_surface("rosenbrock")
QUADRATIC = get_surface("quadratic", condition=10.0, angle=30.0)
ARRAY = dict(backend="numpy", compiled=False)  # one fixed path where the path does not matter


def assert_path_close(actual, expected, rtol=1e-10):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def arrays(res):
    """Every numeric array of a Result, by name."""
    out = {name: getattr(res, name) for name in ("path", "loss", "grad", "grad_norm", "lr", "eff_lr", "ratio")}
    out.update({f"state[{name}]": a for name, a in res.state.items()})
    return out


def run_quietly(*args, **kwargs):
    """run() with every warning an error: divergence must not leak overflow warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return run(*args, **kwargs)


# --- Divergence ---------------------------------------------------------------------------


def sgd_closed_form(grad, lr, start, steps):
    """Plain gradient descent on Rosenbrock, no guards: [steps + 1, 2], inf/nan allowed."""
    p = np.array(start, dtype=float)
    path = [p]
    with np.errstate(all="ignore"):
        for _ in range(steps):
            p = p - lr * grad(p)
            path.append(p)
    return np.array(path)


def first_bad(value, path):
    """First point that is non-finite or out of bounds (Result.diverged_at's definition)."""
    with np.errstate(all="ignore"):
        loss = value(path)
        bad = ~np.isfinite(loss) | (loss > LOSS_BOUND) | ~np.all(np.isfinite(path) & (np.abs(path) <= PARAM_BOUND), -1)
    return int(np.argmax(bad)) if bad.any() else -1


DIVERGING_STARTS = [(-1.5, 2.0), (-1.0, 1.0), (0.5, 0.5)]


def test_divergence_freezes_at_last_good_point(formulas, engine):
    configs = [get_optimizer("sgd", lr=1.0), get_optimizer("sgd", lr=1e-4), get_optimizer("adam", lr=500.0),
               get_optimizer("nadam", lr=1000.0, weight_decay=10.0), get_optimizer("rmsprop", lr=300.0, centered=True)]
    steps = 40
    res = run_quietly(ROSENBROCK, configs, DIVERGING_STARTS, steps, tol=0, **engine)
    for name, a in arrays(res).items():
        assert np.all(np.isfinite(a)), name

    # SGD lr=1 against the unguarded closed form: frozen at the point before the first bad one
    for n, start in enumerate(DIVERGING_STARTS):
        expected = sgd_closed_form(formulas.rosenbrock_grad, 1.0, start, steps)
        bad = first_bad(formulas.rosenbrock, expected)
        assert bad >= 1 and res.diverged_at[0, n] == bad
        assert_path_close(res.path[0, n, :bad], expected[:bad])
        assert np.all(res.path[0, n, bad:] == expected[bad - 1])
    # the small-lr SGD in the same batch is untouched
    assert np.all(res.diverged_at[1] == -1)
    assert_path_close(res.path[1, 0], sgd_closed_form(formulas.rosenbrock_grad, 1e-4, DIVERGING_STARTS[0], steps))

    # every diverging trajectory holds its last good point and stops recording
    for k in (0, 2, 3, 4):
        for n in range(len(DIVERGING_STARTS)):
            d = res.diverged_at[k, n]
            assert d >= 1, (k, n)
            last = d - 1
            assert np.all(res.path[k, n, last:] == res.path[k, n, last])
            assert np.all(res.loss[k, n, last:] == res.loss[k, n, last])
            assert formulas.rosenbrock(res.path[k, n, last]) <= LOSS_BOUND
            assert np.all(np.abs(res.path[k, n, :d]) <= PARAM_BOUND)
            assert not res.ratio_defined[k, n, last:].any()
            assert np.all(res.ratio[k, n, last:] == 0)
            assert res.stop_index()[k, n] == last


def test_start_out_of_bounds_diverges_at_zero(engine):
    # The loss at (1e5, 0) is 1e22: the start itself is already past the loss bound.
    res = run_quietly(ROSENBROCK, get_optimizer("adam", lr=0.1), [(1e5, 0.0), (-1.5, 2.0)], 20, tol=0, **engine)
    assert res.diverged_at[0].tolist() == [0, -1]
    assert np.all(res.path[0, 0] == [1e5, 0.0])
    for name, a in arrays(res).items():
        assert np.all(np.isfinite(a)), name


# --- Convergence --------------------------------------------------------------------------


def test_convergence_stops_at_first_small_gradient(reference, formulas, engine):
    starts, steps, tol = [(-2.5, 2.0), (2.5, -0.5), (0.5, 2.5)], 400, 1e-6
    res = run_quietly(QUADRATIC, get_optimizer("adam", lr=0.1), starts, steps, tol=tol, **engine)
    for n, start in enumerate(starts):
        ref = reference("Adam", dict(lr=0.1), formulas.quadratic, start, steps)
        norms = np.linalg.norm(ref.path @ formulas.quadratic_matrix(10.0, 30.0).T, axis=-1)  # gradient A p
        c = int(np.argmax(norms < tol))
        assert norms[c] < tol and c > 0
        assert res.converged_at[0, n] == c and res.diverged_at[0, n] == -1
        assert_path_close(res.path[0, n, :c + 1], ref.path[:c + 1])
        assert np.all(res.path[0, n, c:] == res.path[0, n, c])
        assert res.grad_norm[0, n, c] < tol <= res.grad_norm[0, n, c - 1]
        assert res.stop_index()[0, n] == c


def test_tol_zero_never_converges():
    res = run(QUADRATIC, get_optimizer("adam", lr=0.1), [(0.0, 0.0), (1.0, 1.0)], 30, tol=0, **ARRAY)
    assert np.all(res.converged_at == -1)
    res = run(QUADRATIC, get_optimizer("adam", lr=0.1), [(0.0, 0.0), (1.0, 1.0)], 30, tol=1e-8, **ARRAY)
    assert res.converged_at.tolist() == [[0, -1]]  # the minimum itself converges at once


# --- Clipping ------------------------------------------------------------------------------

# Adam at a small lr: at lr=0.05 with clip_value=5, sign-like steps along the valley amplify a
# one-ulp difference in exp_avg (torch's CPU lerp rounds once, as a fused multiply-add; the
# engine's rounds twice) to 2e-9 over 100 steps.
CLIPPED = [
    ("sgd", "SGD", dict(lr=1e-3, momentum=0.9)),
    ("adam", "Adam", dict(lr=0.01)),
    ("rmsprop", "RMSprop", dict(lr=0.01, centered=True)),
]
CLIPS = [dict(clip_norm=10.0), dict(clip_norm=0.5), dict(clip_value=2.0), dict(clip_value=10.0),
         dict(clip_norm=50.0, clip_value=20.0), dict(clip_norm=1.0, clip_value=0.5)]


@pytest.mark.parametrize("clip", CLIPS, ids=str)
def test_clipping_matches_torch_utils(reference, formulas, backends, clip):
    starts, steps = [(-1.5, 2.0), (1.5, -0.5)], 100
    configs = [get_optimizer(name, **kw) for name, _, kw in CLIPPED]
    refs = [[reference(cls, kw, formulas.rosenbrock, start, steps, **clip) for start in starts]
            for _, cls, kw in CLIPPED]
    clipped = False
    for engine in backends:
        res = run_quietly(ROSENBROCK, configs, starts, steps, tol=0, **clip, **engine)
        for k in range(len(CLIPPED)):
            for n, ref in enumerate(refs[k]):
                assert res.diverged_at[k, n] == -1
                assert_path_close(res.path[k, n], ref.path)
                assert_path_close(res.grad[k, n, :-1], ref.grad, rtol=1e-9)  # what the rule received
                # grad_norm stays the norm of the full, unclipped gradient
                expected_norm = np.linalg.norm(formulas.rosenbrock_grad(res.path[k, n]), axis=-1)
                np.testing.assert_allclose(res.grad_norm[k, n], expected_norm, rtol=1e-12)
                clipped |= bool(np.any(expected_norm[:-1] > np.linalg.norm(ref.grad, axis=-1) * (1 + 1e-9)))
    assert clipped  # the clip was active somewhere


# --- Noise ---------------------------------------------------------------------------------

NOISY = [get_optimizer("sgd", lr=2e-4, momentum=0.9), get_optimizer("adam", lr=0.05), get_optimizer("nadam", lr=0.02)]
NOISE_STARTS = [(-1.5, 2.0), (1.5, -0.5), (0.0, 0.0)]


def test_noise_is_seeded_and_shared_by_all_configurations(formulas):
    steps, scale, seed = 60, 0.7, 1234
    res = run(ROSENBROCK, NOISY, NOISE_STARTS, steps, noise=scale, seed=seed, tol=0, **ARRAY)
    table = np.random.default_rng(seed).standard_normal((steps, len(NOISE_STARTS), 2)) * scale
    assert np.all(res.diverged_at == -1)
    for k in range(len(NOISY)):
        received = res.grad[k, :, :-1]  # [N, T, 2]
        true = formulas.rosenbrock_grad(res.path[k, :, :-1])
        np.testing.assert_allclose(received, true + table.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.grad[k, :, 0] - formulas.rosenbrock_grad(np.array(NOISE_STARTS)), table[0],
                                   rtol=0, atol=1e-12)
        # the last entry and grad_norm are the noise-free full gradient
        np.testing.assert_allclose(res.grad[k, :, -1], formulas.rosenbrock_grad(res.path[k, :, -1]), rtol=1e-12)
        np.testing.assert_allclose(res.grad_norm[k], np.linalg.norm(formulas.rosenbrock_grad(res.path[k]), axis=-1),
                                   rtol=1e-12)

    same = run(ROSENBROCK, NOISY, NOISE_STARTS, steps, noise=scale, seed=seed, tol=0, **ARRAY)
    for name, a in arrays(res).items():
        np.testing.assert_array_equal(arrays(same)[name], a, err_msg=name)
    other = run(ROSENBROCK, NOISY, NOISE_STARTS, steps, noise=scale, seed=seed + 1, tol=0, **ARRAY)
    assert np.all(np.any(other.path[:, :, 1] != res.path[:, :, 1], axis=-1))


def test_noisy_trajectory_matches_torch_with_the_same_noise(reference, formulas, backends):
    steps, scale, seed = 80, 0.5, 7
    table = np.random.default_rng(seed).standard_normal((steps, len(NOISE_STARTS), 2)) * scale
    refs = [[reference(cls, kw, formulas.rosenbrock, start, steps, noise=table[:, n], clip_norm=30.0)
             for n, start in enumerate(NOISE_STARTS)] for cls, kw in [("SGD", dict(lr=2e-4, momentum=0.9)),
                                                                      ("Adam", dict(lr=0.05)), ("NAdam", dict(lr=0.02))]]
    for engine in backends:
        res = run(ROSENBROCK, NOISY, NOISE_STARTS, steps, noise=scale, seed=seed, clip_norm=30.0, tol=0, **engine)
        for k in range(len(NOISY)):
            for n, ref in enumerate(refs[k]):
                assert_path_close(res.path[k, n], ref.path)


MIXED = [
    get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True), get_optimizer("adam", lr=0.05, amsgrad=True),
    get_optimizer("rmsprop", lr=0.01, centered=True, momentum=0.5), get_optimizer("nadam", lr=0.02),
    get_optimizer("radam", lr=0.01), get_optimizer("adadelta"), get_optimizer("gnsgd", lr=0.05),
    get_optimizer("adagrad", lr=0.3, lr_decay=0.01), get_optimizer("adamax", lr=0.05), get_optimizer("sgd", lr=50.0),
]


@pytest.mark.parametrize("surface", [ROSENBROCK, QUADRATIC], ids=["rosenbrock", "quadratic"])
def test_backends_agree_with_noise_and_clipping(backends, surface):
    kwargs = dict(noise=0.3, seed=5, clip_norm=20.0, clip_value=8.0, tol=1e-6)
    results = [run_quietly(surface, MIXED, NOISE_STARTS, 150, **kwargs, **engine) for engine in backends]
    base = results[0]
    if surface is ROSENBROCK:  # sgd lr=50 diverges there: the freezing must agree too
        assert (base.diverged_at[-1] >= 0).all()
    for other in results[1:]:
        np.testing.assert_array_equal(other.diverged_at, base.diverged_at)
        np.testing.assert_array_equal(other.converged_at, base.converged_at)
        np.testing.assert_array_equal(other.ratio_defined, base.ratio_defined)
        assert other.state_names == base.state_names and set(other.state) == set(base.state)
        for name, a in arrays(base).items():
            if name != "ratio":
                np.testing.assert_allclose(arrays(other)[name], a, rtol=1e-12, atol=1e-12 * np.abs(a).max(),
                                           err_msg=name)
        # -delta / g is ill-conditioned where g is small: compare the step it stands for
        g = base.grad[:, :, :-1]
        np.testing.assert_allclose(other.ratio * g, base.ratio * g, rtol=0, atol=1e-12 * np.abs(base.path).max())


# --- Shapes and records ------------------------------------------------------------------------


def test_result_shapes_and_records(formulas):
    k, n, t = 3, 4, 50
    configs = [get_optimizer("sgd", lr=1e-4), get_optimizer("adam", lr=0.05), get_optimizer("rmsprop", lr=0.01)]
    starts = [(-1.5, 2.0), (-1.0, 1.0), (1.5, -0.5), (0.3, 0.8)]
    res = run(ROSENBROCK, configs, starts, t, tol=0, **ARRAY)
    assert res.shape == (k, n, t, 2)
    expected = {
        "path": (k, n, t + 1, 2), "loss": (k, n, t + 1), "grad": (k, n, t + 1, 2), "grad_norm": (k, n, t + 1),
        "lr": (k, t), "eff_lr": (k, n, t, 2), "ratio": (k, n, t, 2),
    }
    for name, shape in expected.items():
        a = getattr(res, name)
        assert a.shape == shape and a.dtype == np.float64, name
    assert res.ratio_defined.shape == (k, n, t, 2) and res.ratio_defined.dtype == bool
    assert res.diverged_at.shape == res.converged_at.shape == (k, n)
    assert np.issubdtype(res.diverged_at.dtype, np.integer) and np.issubdtype(res.converged_at.dtype, np.integer)
    assert res.state_names == ((), ("exp_avg", "exp_avg_sq"), ("square_avg",))
    assert set(res.state) == {"exp_avg", "exp_avg_sq", "square_avg"}
    for name, a in res.state.items():
        assert a.shape == (k, n, t, 2) and a.dtype == np.float64, name
    # configurations without a state record zeros there
    assert np.all(res.state["exp_avg"][[0, 2]] == 0) and np.all(res.state["square_avg"][:2] == 0)
    assert np.all(np.any(res.state["exp_avg"][1] != 0, axis=(-2, -1)))
    assert len(res.labels) == len(res.configs) == k and res.configs == tuple(configs)
    np.testing.assert_array_equal(res.starts, starts)
    np.testing.assert_array_equal(res.path[:, :, 0], np.broadcast_to(starts, (k, n, 2)))
    np.testing.assert_array_equal(res.lr, [[1e-4] * t, [0.05] * t, [0.01] * t])
    # records against the published formulas
    np.testing.assert_allclose(res.loss, formulas.rosenbrock(res.path), rtol=1e-12)
    np.testing.assert_allclose(res.grad, formulas.rosenbrock_grad(res.path), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(formulas.rosenbrock_grad(res.path), axis=-1), rtol=1e-12)


def test_single_config_and_single_start_are_accepted():
    res = run(QUADRATIC, get_optimizer("adam"), (1.0, -1.0), 5, **ARRAY)
    assert res.path.shape == (1, 1, 6, 2)
    np.testing.assert_array_equal(res.path[0, 0, 0], [1.0, -1.0])


# --- Mini-batch regression -----------------------------------------------------------------------


def minibatch_grad(surface, p, step):
    """d/d(w, b) of the mean squared error over the documented mini-batch of `step`."""
    x, y = surface.data
    params = surface.params
    index = np.random.default_rng([params["seed"], step]).choice(params["n_samples"], params["batch_size"],
                                                                   replace=False)
    residual = p[..., 0:1] * x[index] + p[..., 1:2] - y[index]
    return np.stack([2 * np.mean(residual * x[index], -1), 2 * np.mean(residual, -1)], axis=-1)


def full_grad(surface, p):
    x, y = surface.data
    residual = p[..., 0:1] * x + p[..., 1:2] - y
    return np.stack([2 * np.mean(residual * x, -1), 2 * np.mean(residual, -1)], axis=-1)


def test_minibatch_runs_are_reproducible_and_use_each_steps_batch(backends):
    surface = get_surface("regression", n_samples=200, batch_size=16, noise=0.5, seed=3)
    configs = [get_optimizer("sgd", lr=0.1), get_optimizer("adam", lr=0.05)]
    starts, steps = [(-1.0, -2.0), (4.0, 3.0)], 40
    results = [run_quietly(surface, configs, starts, steps, tol=0, **engine) for engine in backends]
    again = run_quietly(surface, configs, starts, steps, tol=0, **ARRAY)
    for name, a in arrays(results[0]).items():
        np.testing.assert_array_equal(arrays(again)[name], a, err_msg=name)
        for other in results[1:]:
            np.testing.assert_allclose(arrays(other)[name], a, rtol=1e-12, atol=1e-12 * np.abs(a).max(),
                                       err_msg=name)
    res = results[0]
    for t in (0, 1, steps - 1):
        np.testing.assert_allclose(res.grad[:, :, t], minibatch_grad(surface, res.path[:, :, t], t),
                                   rtol=1e-10, atol=1e-12)
    assert not np.allclose(res.grad[:, :, :-1], full_grad(surface, res.path[:, :, :-1]))
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(full_grad(surface, res.path), axis=-1), rtol=1e-10)
    other_data = get_surface("regression", n_samples=200, batch_size=16, noise=0.5, seed=4)
    assert not np.array_equal(run(other_data, configs, starts, steps, tol=0, **ARRAY).path, res.path)
