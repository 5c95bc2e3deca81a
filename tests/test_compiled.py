"""The compiled fast path against the readable array code it is generated from.

Both paths trace back to the same rule and surface definitions, but the kernels are generated
code with their own loop and bookkeeping (freezing, divergence, convergence), so every recorded
array must agree. The array path itself is checked against torch.optim in test_optimizers_torch.
"""

import numpy as np
import pytest

from optimizers import OPTIMIZERS, get_optimizer, run
from optimizers.kernels.tracer import TraceError, TraceXP, Vec, leaf
from surfaces import SURFACES, get_surface

SETTINGS = [
    ("sgd", {"lr": 1e-3}),
    ("sgd", {"lr": 1e-3, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.1}),
    ("sgd", {"lr": 1e-3, "momentum": 0.9, "nesterov": True}),
    ("gnsgd", {"lr": 1e-2, "alpha": 0.5}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
    ("rmsprop", {"lr": 1e-3}),
    ("rmsprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.01}),
    ("adadelta", {"lr": 1.0, "rho": 0.8}),
    ("adam", {"lr": 1e-2}),
    ("adam", {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.1, "betas": (0.3, 0.9)}),
    ("adam", {"lr": 1e-2, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("adamw", {"lr": 1e-2}),
    ("adamax", {"lr": 1e-2, "weight_decay": 0.01}),
    ("nadam", {"lr": 1e-2}),
    ("nadam", {"lr": 1e-2, "decoupled_weight_decay": True, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("radam", {"lr": 1e-2}),
    ("radam", {"lr": 1e-2, "weight_decay": 0.1, "betas": (0.9, 0.9)}),
    ("lion", {"lr": 1e-3}),
    ("rprop", {"lr": 1e-3}),
    ("rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.5)}),
    ("lion", {"lr": 1e-2, "betas": (0.5, 0.9), "weight_decay": 0.1}),
    ("asgd", {"lr": 1e-3}),
    ("asgd", {"lr": 1e-3, "lambd": 0.5, "alpha": 0.5, "t0": 10.0, "weight_decay": 0.1}),
    ("adafactor", {"lr": 1e-2}),
    ("adafactor", {"lr": 0.05, "beta2_decay": -0.5, "eps": (1e-8, 1e-2), "d": 2.0, "weight_decay": 0.1}),
    ("prodigy", {}),
    ("prodigy", {"lr": 0.5, "betas": (0.0, 0.99), "weight_decay": 0.1, "decouple": False, "use_bias_correction": True,
                 "safeguard_warmup": True, "d0": 1e-4}),
    ("sgd_schedule_free", {"lr": 1e-3}),
    ("sgd_schedule_free", {"lr": 1e-3, "momentum": 0.5, "weight_decay": 0.1, "warmup_steps": 20, "r": 0.5,
                           "weight_lr_power": 1.0}),  # lr_max^p: powers 1 and 2 are exact in NumPy and libm alike
    ("adamw_schedule_free", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 0.1, "warmup_steps": 10, "r": 1.0}),
    ("sgd", {"lr": 0.5}),  # diverges on rosenbrock: exercises the freezing bookkeeping
]
FIELDS = ("path", "loss", "grad", "grad_norm", "eff_lr", "lr", "diverged_at", "converged_at",
          "ratio", "ratio_defined")
STARTS = [[-1.5, 2.0], [0.5, -0.5], [1.2, 1.2]]


def assert_same(a, b, rtol=0.0):
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        assert x.shape == y.shape, field
        np.testing.assert_allclose(x, y, rtol=rtol, atol=0, err_msg=field)
    assert a.state.keys() == b.state.keys()
    for name in a.state:
        np.testing.assert_allclose(a.state[name], b.state[name], rtol=rtol, atol=0, err_msg=name)
    assert a.state_names == b.state_names


def test_every_optimizer_setting_matches_the_array_code():
    """All settings in one run: groups with different hyperparameters get their own kernels."""
    surface = get_surface("rosenbrock")
    configs = [get_optimizer(name, **kw) for name, kw in SETTINGS]
    fast = run(surface, configs, STARTS, steps=150, compiled=True)
    slow = run(surface, configs, STARTS, steps=150, compiled=False)
    assert_same(fast, slow)
    assert (fast.diverged_at[-1] >= 0).all() and (fast.diverged_at[:-1] < 0).all()
    assert {c.name for c in configs} == {name for name, info in OPTIMIZERS.items()  # newton, muon, lbfgs: array code only
                                         if not info.curvature and not info.array_only and info.closure_calls is None}


@pytest.mark.parametrize("name", [n for n, entry in SURFACES.items() if n != "regression"])
def test_every_deterministic_surface_matches_the_array_code(name):
    surface = get_surface(name)
    configs = [get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1e-3, momentum=0.9)]
    starts = np.array(surface.default_starts[:3], dtype=float)
    fast = run(surface, configs, starts, steps=120, compiled=True)
    slow = run(surface, configs, starts, steps=120, compiled=False)
    # transcendental functions may round differently in libm and NumPy's SIMD loops
    assert_same(fast, slow, rtol=1e-9)


def test_noise_clipping_convergence_and_lr_sweeps_match():
    surface = get_surface("quadratic", condition=20.0)
    configs = [get_optimizer("adam", lr=lr, schedule=("cosine", {"T_max": 80})) for lr in (0.01, 0.05, 0.2)]
    configs.append(get_optimizer("rmsprop", lr=0.01, schedule=("step", {"step_size": 30, "gamma": 0.5})))
    kwargs = dict(steps=200, noise=0.3, seed=7, clip_norm=0.5, clip_value=0.4, tol=1e-3)
    fast = run(surface, configs, STARTS, compiled=True, **kwargs)
    slow = run(surface, configs, STARTS, compiled=False, **kwargs)
    assert_same(fast, slow)
    converged = run(surface, [get_optimizer("adam", lr=0.1)], STARTS, steps=2000, tol=1e-6, compiled=True)
    assert (converged.converged_at > 0).all()
    assert_same(converged, run(surface, [get_optimizer("adam", lr=0.1)], STARTS, steps=2000, tol=1e-6,
                               compiled=False))


def test_new_schedules_run_compiled_as_the_array_code():
    """The lr table is a kernel input: a schedule needs nothing of the kernels, whatever its kind."""
    surface = get_surface("rosenbrock")
    schedules = [("warmup_cosine", {"warmup_steps": 20, "T_max": 100}),
                 ("cosine_restarts", {"T_0": 15, "T_mult": 2}), ("multistep", {"milestones": (30, 60)}),
                 ("constant_factor", {"factor": 0.2, "total_iters": 40}),
                 ("sequential", {"schedulers": ["warmup", ("exponential", {"gamma": 0.98})], "milestones": (10,)})]
    configs = [get_optimizer("adam", lr=0.05, schedule=schedule) for schedule in schedules]
    fast = run(surface, configs, STARTS, steps=120, compiled=True)
    slow = run(surface, configs, STARTS, steps=120, compiled=False)
    assert_same(fast, slow)
    for k, schedule in enumerate(configs):
        np.testing.assert_array_equal(fast.lr[k], schedule.schedule.values(0.05, 120))


def test_start_outside_bounds_diverges_at_zero_identically():
    surface = get_surface("rosenbrock")
    configs = [get_optimizer("adam", lr=0.1)]
    starts = [[1000.0, -1000.0], [0.0, 0.0]]
    fast = run(surface, configs, starts, steps=20, compiled=True)
    slow = run(surface, configs, starts, steps=20, compiled=False)
    assert_same(fast, slow)
    assert fast.diverged_at.tolist() == [[0, -1]]


def test_tracer_emits_arithmetic_and_refuses_data_dependent_branches():
    from optimizers.kernels.tracer import Emitter

    with Emitter("v") as em:
        x = leaf("x", traj=True)
        y = TraceXP.sqrt(x * 2.0 + 1.0)
        z = TraceXP.where(x > 0.5, y, -y)
    assert em.lines == ["v0 = x * 2.0", "v1 = v0 + 1.0", "v2 = math.sqrt(v1)", "v3 = x > 0.5", "v4 = -v2",
                        "v5 = v2 if v3 else v4"]
    assert z.name == "v5"
    with Emitter("v"), pytest.raises(TraceError):
        if leaf("x") > 0.5:
            pass
    with Emitter("v"):
        h = leaf("h", 0.0)
        assert (h != 0) is False  # known hyperparameter values resolve Python branches
        assert Vec([x, x])[..., 1] is x



def test_vector_equality_is_elementwise():
    """v == c on a traced vector compares each entry, as on an array (it was identity: always False)."""
    from optimizers.kernels.tracer import Emitter

    with Emitter("v") as em:
        v = Vec([leaf("a", traj=True), leaf("b", traj=True)])
        eq, ne = v == 0.0, v != 1.0
    assert isinstance(eq, Vec) and isinstance(ne, Vec)
    assert em.lines == ["v0 = a == 0.0", "v1 = b == 0.0", "v2 = a != 1.0", "v3 = b != 1.0"]


def test_an_unwritable_kernel_cache_falls_back_to_the_array_code(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("OPTVIS_KERNEL_DIR", str(blocker / "kernels"))
    monkeypatch.setattr("optimizers.kernels.cache.AUTO", True)
    monkeypatch.setattr("optimizers.kernels.cache._LOADED", {})  # nothing loaded in this process either
    surface = get_surface("booth")
    configs = [get_optimizer("adamax", lr=0.037)]
    res = run(surface, configs, steps=2_000, starts=np.zeros((600, 2)))  # large: would compile now
    assert_same(res, run(surface, configs, steps=2_000, starts=np.zeros((600, 2)), compiled=False))
