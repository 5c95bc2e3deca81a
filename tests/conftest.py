"""Shared fixtures of the engine tests: the ways run() computes, the published test functions,
and a plain torch.optim reference loop in float64.

They are fixtures rather than imports because `conftest` is not a unique module name (tests/e2e
has its own). The references never touch the engine or `surfaces/`: losses are the published
formulas written here, gradients come from autograd or the closed forms below, steps from
torch.optim.
"""

import math
import os
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
import torch

# Tests name the compiled path where they mean it; elsewhere (the app under AppTest) run() stays
# on the array code instead of compiling kernels in the background while the suite runs.
os.environ.setdefault("OPTVIS_COMPILE", "0")

from optimizers import kernels  # noqa: E402

# The two backends, the NumPy one on its array code. Left to itself NumPy picks the array code or
# the Numba kernels by what is compiled, so each path is named explicitly. The kernels compile
# once per machine (about two seconds each): tests/test_compiled.py holds them to the array code
# for every rule, and only the tests of run()'s own bookkeeping here run them as well.
BACKENDS = [dict(backend="numpy", compiled=False), dict(backend="torch")]
ENGINES = BACKENDS + ([dict(backend="numpy", compiled=True)] if kernels.AVAILABLE else [])


@pytest.fixture
def backends():
    """run() keyword arguments for each backend, for tests sharing one reference between them."""
    return list(BACKENDS)


@pytest.fixture
def engines():
    """The backends plus the compiled kernels, where available."""
    return list(ENGINES)


@pytest.fixture(params=ENGINES, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def engine(request):
    """run() keyword arguments selecting one computation path."""
    return request.param


def _rosenbrock(p, a=1.0, b=100.0):
    """Rosenbrock 1960: (a - x)^2 + b (y - x^2)^2 over p [..., 2] (NumPy or torch)."""
    return (a - p[..., 0]) ** 2 + b * (p[..., 1] - p[..., 0] ** 2) ** 2


def _rosenbrock_grad(p):
    """Its gradient for a = 1, b = 100, over NumPy points [..., 2]."""
    x, y = p[..., 0], p[..., 1]
    return np.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], axis=-1)


def _quadratic_matrix(condition=10.0, angle=30.0):
    """A = R(angle) diag(1/condition, 1) R(angle)^T: curvature 1/condition along the valley."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    rotation = np.array([[c, -s], [s, c]])
    return rotation @ np.diag([1.0 / condition, 1.0]) @ rotation.T


def _quadratic(p, condition=10.0, angle=30.0):
    """1/2 p^T A p for a torch tensor p [2]; the gradient is A p."""
    return 0.5 * p @ torch.as_tensor(_quadratic_matrix(condition, angle)) @ p


@pytest.fixture
def formulas():
    """rosenbrock(p), rosenbrock_grad(p), quadratic(p, condition, angle), quadratic_matrix(condition, angle)."""
    return SimpleNamespace(rosenbrock=_rosenbrock, rosenbrock_grad=_rosenbrock_grad, quadratic=_quadratic,
                           quadratic_matrix=_quadratic_matrix)


@pytest.fixture
def float64():
    """torch's default dtype float64 for the test (optimizer state scalars follow it)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@dataclass
class Reference:
    """One torch.optim trajectory: path [T+1, 2], grad [T, 2] (as stepped on), lr [T],
    state {name: [T, 2]} after each step."""

    path: np.ndarray
    grad: np.ndarray
    lr: np.ndarray
    state: dict


def _torch_reference(optimizer, kw, loss, start, steps, *, scheduler=None, clip_norm=None, clip_value=None,
                     noise=None, set_lr=None):
    """Run torch.optim.<optimizer>(**kw) from `start` for `steps` steps on `loss` (a callable p -> loss).

    optimizer: a torch.optim class name, or a class of the same interface (lion_pytorch.Lion).

    scheduler: callable opt -> lr_scheduler, stepped after each optimizer step.
    noise: [steps, 2] added to the gradient before clipping.
    set_lr: callable (t, p, grad) -> lr set on the optimizer just before step t.
    """
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = (getattr(torch.optim, optimizer) if isinstance(optimizer, str) else optimizer)([p], **kw)
    sched = scheduler(opt) if scheduler else None
    path, grads, lrs, states = [p.detach().clone()], [], [], []
    for t in range(steps):
        opt.zero_grad()
        loss(p).backward()
        if noise is not None:
            p.grad += torch.as_tensor(noise[t])
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(p, clip_norm)
        if clip_value is not None:
            torch.nn.utils.clip_grad_value_(p, clip_value)
        if set_lr is not None:
            opt.param_groups[0]["lr"] = set_lr(t, p.detach(), p.grad)
        lrs.append(opt.param_groups[0]["lr"])
        grads.append(p.grad.detach().clone())
        opt.step()
        if sched is not None:
            sched.step()
        path.append(p.detach().clone())
        states.append({k: v.detach().clone() for k, v in opt.state[p].items()
                       if torch.is_tensor(v) and v.shape == p.shape})
    state = {k: np.stack([s[k].numpy() for s in states]) for k in states[-1]}
    return Reference(torch.stack(path).numpy(), torch.stack(grads).numpy(), np.array(lrs, dtype=np.float64), state)


@pytest.fixture
def reference(float64):
    """The torch.optim reference loop (see _torch_reference), with float64 defaults in force."""
    return _torch_reference
