"""The "Copy as PyTorch" snippet, executed, follows the same trajectory as optimizers.run."""

import numpy as np
import pytest
import torch

from optimizers import OPTIMIZERS, SCHEDULES, get_optimizer, run
from optimizers.torch_code import torch_code
from surfaces import get_surface

ROSENBROCK = get_surface("rosenbrock")
START = (-1.5, 2.0)
STEPS = 150

# Learning rates that keep every optimizer on Rosenbrock stable for STEPS steps (and Adafactor short of
# the chaos its update clipping reaches at lr=1e-2 after about 50 steps, see test_optimizers_torch).
LR = {"sgd": 1e-3, "gnsgd": 1e-3, "adagrad": 0.1, "rmsprop": 1e-2, "adadelta": 1.0, "adam": 1e-2,
      "adamw": 1e-2, "adamax": 1e-2, "nadam": 1e-2, "radam": 1e-2, "lion": 1e-3, "rprop": 1e-3,
      "asgd": 1e-3, "adafactor": 3e-3, "prodigy": 1.0,
      "sgd_schedule_free": 1e-3, "adamw_schedule_free": 1e-2}
VARIANTS = [
    ("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.5, "dampening": 0.3}), ("gnsgd", {"alpha": 0.5, "weight_decay": 0.1}),
    ("adagrad", {"lr_decay": 0.01, "initial_accumulator_value": 0.1}), ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5, "centered": True}), ("adadelta", {}), ("adam", {"amsgrad": True}),
    ("adam", {"decoupled_weight_decay": True, "weight_decay": 0.1}), ("adamw", {}), ("adamax", {}),
    ("nadam", {}), ("radam", {"weight_decay": 0.01}), ("lion", {}), ("lion", {"betas": (0.8, 0.95), "weight_decay": 0.5}),
    ("rprop", {}), ("rprop", {"etas": (0.3, 1.5), "step_sizes": (1e-4, 0.5)}),
    ("asgd", {}), ("asgd", {"lambd": 0.5, "alpha": 0.5, "t0": 20.0, "weight_decay": 0.01}),
    ("adafactor", {}), ("adafactor", {"beta2_decay": -0.5, "eps": (1e-10, 1e-2), "d": 2.0, "weight_decay": 0.1}),
    ("sgd_schedule_free", {}), ("sgd_schedule_free", {"momentum": 0.5, "warmup_steps": 10, "r": 1.0, "weight_decay": 0.01}),
    ("adamw_schedule_free", {}), ("adamw_schedule_free", {"betas": (0.8, 0.99), "warmup_steps": 15, "weight_lr_power": 1.0}),
    ("prodigy", {}), ("prodigy", {"betas": (0.0, 0.99), "weight_decay": 0.1, "decouple": False, "use_bias_correction": True,
                                  "d_coef": 0.5}),
]
SCHEDULE_PARAMS = {
    "step": {"step_size": 30, "gamma": 0.5}, "exponential": {"gamma": 0.99}, "polynomial": {"total_iters": 100},
    "cosine": {"T_max": 60}, "warmup": {"total_iters": 20}, "cyclic": {"step_size_up": 20},
    "onecycle": {"total_steps": 100}, "inverse_sqrt": {"alpha": 0.1}, "sawtooth": {"period": 40},
    "multistep": {"milestones": (20, 50, 90), "gamma": 0.5}, "constant_factor": {"factor": 0.25, "total_iters": 30},
    "cosine_restarts": {"T_0": 15, "T_mult": 2, "eta_min": 1e-4},
    "warmup_cosine": {"warmup_steps": 25, "start_factor": 0.05, "T_max": 100},
    "sequential": {"schedulers": [("constant_factor", {"factor": 0.5, "total_iters": 10}), ("inverse_sqrt", {}),
                                  "constant", ("cosine_restarts", {"T_0": 20})], "milestones": (15, 40, 80)},
}


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    """The snippet sets torch's default dtype to float64; leave other tests unaffected."""
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


def torch_path(code: str, steps: int = STEPS, exact_grad: bool = True) -> np.ndarray:
    """Execute the snippet, train on Rosenbrock and return the visited points [steps + 1, 2]."""
    namespace: dict = {}
    exec(compile(code, "<snippet>", "exec"), namespace)
    points = []

    def loss_fn(p):
        points.append(p.detach().clone())
        if exact_grad:  # the engine's closed-form gradient, so only the optimizer math is compared
            g = ROSENBROCK.grad(p.detach(), torch)
            return torch.sum(p * g)
        return ROSENBROCK.value(p, torch)

    final = namespace["train"](loss_fn, steps)
    points.append(final.detach().clone())
    return torch.stack(points).numpy()


def engine_path(config, steps: int = STEPS, **kwargs) -> np.ndarray:
    res = run(ROSENBROCK, [config], [START], steps, **kwargs)
    assert res.diverged_at[0, 0] == -1
    return res.path[0, 0]


def test_every_optimizer_is_covered():
    assert {name for name, _ in VARIANTS} | {"newton", "muon", "lbfgs"} == set(OPTIMIZERS)  # newton: below; muon, lbfgs: own files


@pytest.mark.parametrize("hp", [{}, {"lr": 0.7, "damping": 2.0}], ids=str)
def test_newton_snippet_matches_engine(hp):
    """Newton's snippet takes autograd's Hessian of loss_fn, so it trains on the true Rosenbrock
    value (not the exact-gradient stand-in above), one step per train() call."""
    config = get_optimizer("newton", **hp)
    namespace: dict = {}
    exec(compile(torch_code(config, start=START, steps=1), "<snippet>", "exec"), namespace)
    loss = lambda p: ROSENBROCK.value(p, torch)  # noqa: E731
    path = [namespace["params"].detach().clone()] + [namespace["train"](loss).detach().clone() for _ in range(40)]
    np.testing.assert_allclose(torch.stack(path).numpy(), engine_path(config, 40, tol=0), rtol=0, atol=1e-10)


@pytest.mark.parametrize(("name", "hp"), VARIANTS, ids=[f"{n}-{'-'.join(h) or 'default'}" for n, h in VARIANTS])
def test_optimizer_snippet_matches_engine(name, hp):
    config = get_optimizer(name, lr=LR[name], **hp)
    code = torch_code(config, start=START, steps=STEPS)
    np.testing.assert_allclose(torch_path(code), engine_path(config), rtol=0, atol=1e-10)


@pytest.mark.parametrize("schedule", sorted(n for n, info in SCHEDULES.items() if n != "constant" and not info.metric))
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_schedule_snippet_matches_engine(name, schedule):
    params = dict(SCHEDULE_PARAMS[schedule], **({"max_lr": 3 * LR[name]} if schedule == "cyclic" else {}))
    extra = {"momentum": 0.9} if name == "sgd" else {}
    config = get_optimizer(name, lr=LR[name], schedule=(schedule, params), **extra)
    code = torch_code(config, start=START, steps=STEPS)
    assert "scheduler = torch.optim.lr_scheduler." in code
    np.testing.assert_allclose(torch_path(code), engine_path(config), rtol=0, atol=1e-10)


def test_clipping_is_written_into_the_loop():
    config = get_optimizer("sgd", lr=1e-3, momentum=0.9)
    code = torch_code(config, start=START, steps=STEPS, clip_norm=5.0, clip_value=3.0)
    assert "clip_grad_norm_" in code and "clip_grad_value_" in code
    np.testing.assert_allclose(torch_path(code), engine_path(config, clip_norm=5.0, clip_value=3.0),
                               rtol=0, atol=1e-10)


def test_autograd_loss_gives_the_same_path():
    """With the loss itself (autograd instead of the closed-form gradient) the paths still agree."""
    config = get_optimizer("adam", lr=1e-2)
    code = torch_code(config, start=START, steps=STEPS)
    np.testing.assert_allclose(torch_path(code, exact_grad=False), engine_path(config), rtol=0, atol=1e-10)


def test_constant_schedule_has_no_scheduler_and_values_are_exact():
    config = get_optimizer("adam", lr=0.1234567890123, betas=(0.8, 0.95), eps=1e-7)
    code = torch_code(config, start=START, steps=10)
    assert "scheduler" not in code.split("def train")[0].replace("no scheduler", "")
    assert "lr=0.1234567890123" in code and "betas=(0.8, 0.95)" in code and "eps=1e-07" in code
