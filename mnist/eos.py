"""Edge of stability (Cohen, Kaur, Li, Kolter & Talwalkar, ICLR 2021) on a small MNIST subset.

Full-batch gradient descent, one run per learning rate (K of them, trained together from the same
initial weights), on the model of the paper's MNIST-style check:

    f_p(x) = tanh(x W1 + b1) W2 + b2,    x [n, d] pixels in [0, 1], W1 [d, H], W2 [H, 10]
    L(p)   = 1 / (2 n) * sum_i || f_p(x_i) - onehot(y_i) ||^2     (Cohen et al.'s squared loss)

Every `every` steps the sharpness, the largest eigenvalue of the Hessian of L, is estimated from
Hessian-vector products (torch autograd, double backward) by Lanczos, the Krylov form of power
iteration, warm-started from the last eigenvector. Gradient descent on a quadratic of curvature S
is stable iff S < 2 / lr; the paper's finding is that the sharpness rises to 2 / lr and then hovers
just above it while L keeps falling.

Parameters of K models are stacked as p [K, P], each row laid out as W1 [d, H] (input-major) |
b1 [H] | W2 [H, 10] | b2 [10]; the Hessian-vector product of sum_k L(p_k) is block diagonal, so
one call serves all K models. Computed in float32 by default (about twice as fast as float64 on
the CPU; the estimate agrees with a float64 dense Hessian to about 1e-5 relative).

Input pixels that are 0 in every training image are left out of x and W1: their weights get zero
gradient and zero Hessian rows and columns, so the losses, the trajectory and the sharpness are
those of the full 784-input network for less work. Nothing here imports Streamlit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

N_OUT = 10
MAX_CONFIGS = 6  # learning rates per run
MAX_LR = 2.0
MAX_STEPS = 20_000
MAX_IMAGES = 10_000
DTYPES = ("float32", "float64")
DIVERGED_LOSS = 1e4  # a loss above this (or not finite) marks a run as diverged
HVP_ITERS = 30  # most Hessian-vector products per sharpness estimate (Lanczos steps)
RESIDUAL_TOL = 1e-2  # ... stopped once every eigenpair's residual is below this, relative


@dataclass(frozen=True)
class EosConfig:
    """One edge-of-stability run: full-batch GD at each of `lrs` on the first `n_train` images.

    lrs: K learning rates in (0, MAX_LR]; steps: GD steps per learning rate in 1..MAX_STEPS;
    every: the sharpness is measured at steps 0, every, 2 every, ... and at the last step;
    hidden: H, tanh units; seed: the initial weights (torch.nn.Linear's default initialisation
    drawn from torch.Generator().manual_seed(seed)); source: the data set the images come from
    (only a label, part of the key of stored runs).
    """

    lrs: tuple[float, ...]
    steps: int = 1000
    n_train: int = 1000
    hidden: int = 64
    every: int = 25
    seed: int = 0
    dtype: str = "float32"
    source: str = "embedded"

    def __post_init__(self):
        lrs = tuple(self.lrs) if not isinstance(self.lrs, (str, bytes)) else ()
        if not 1 <= len(lrs) <= MAX_CONFIGS:
            raise ValueError(f"Invalid lrs: {self.lrs!r} (give 1 to {MAX_CONFIGS} learning rates)")
        for lr in lrs:
            if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)) \
                    or not 0 < lr <= MAX_LR:
                raise ValueError(f"Invalid lr: {lr!r} (each learning rate must be in (0, {MAX_LR:g}])")
        object.__setattr__(self, "lrs", tuple(float(lr) for lr in lrs))
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_int("n_train", self.n_train, 1, MAX_IMAGES)
        _check_int("hidden", self.hidden, 1, 1024)
        _check_int("every", self.every, 1, MAX_STEPS)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        if self.dtype not in DTYPES:
            raise ValueError(f"Invalid dtype: {self.dtype!r} (allowed {', '.join(DTYPES)})")

    @property
    def thresholds(self) -> np.ndarray:
        """2 / lr for each learning rate: [K] float64, the sharpness above which GD is unstable."""
        return 2.0 / np.array(self.lrs)

    @property
    def measure_steps(self) -> np.ndarray:
        """The steps at which the sharpness is measured: 0, every, ..., and `steps`. [m] int64."""
        return np.unique(np.r_[np.arange(0, self.steps, self.every), self.steps]).astype(np.int64)


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"Invalid {name}: {value!r} (must be a whole number in {low:,}..{high:,})")


@dataclass
class EosResult:
    """A run so far. K learning rates, steps_done of config.steps done.

    loss: [K, steps + 1] float64, the full-batch loss of the parameters after t steps (NaN: not yet,
    or after divergence); sharp_steps: [m] the steps of config.measure_steps measured so far;
    sharpness: [K, m] float64 top Hessian eigenvalue at those steps; hvps: [m] Hessian-vector
    products each estimate took; diverged_at: [K] the step whose loss first exceeded DIVERGED_LOSS,
    else -1; elapsed: seconds; stopped: ended early by `stop`.
    """

    config: EosConfig
    steps_done: int
    loss: np.ndarray
    sharp_steps: np.ndarray
    sharpness: np.ndarray
    hvps: np.ndarray
    diverged_at: np.ndarray
    elapsed: float
    stopped: bool = False
    n_pixels: int = 0  # input pixels used (nonzero in some training image)

    @property
    def done(self) -> bool:
        return self.steps_done >= self.config.steps

    def plateau(self, start: int | None = None) -> dict[str, np.ndarray]:
        """Sharpness statistics over the measurements at steps >= start (default: the second half
        of the steps done): median, min, max [K] and their step window (first, last).

        NaN where a learning rate has no finite measurement there.
        """
        start = self.steps_done // 2 if start is None else start
        window = self.sharp_steps >= start
        values = self.sharpness[:, window]
        finite = np.isfinite(values).any(axis=1) if values.size else np.zeros(len(values), bool)
        stats = {"median": np.nanmedian, "min": np.nanmin, "max": np.nanmax}
        out = {name: np.array([fn(row) if ok else np.nan for row, ok in zip(values, finite)])
               for name, fn in stats.items()}
        steps = self.sharp_steps[window]
        out["first"], out["last"] = (int(steps[0]), int(steps[-1])) if len(steps) else (start, start)
        return out


# --- the model ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TanhMLP:
    """Shapes of the d -> H -> 10 tanh network and its flat parameter vector (see the module doc)."""

    n_in: int
    hidden: int
    n_out: int = N_OUT

    @property
    def size(self) -> int:
        """P, the parameters of one model."""
        return self.n_in * self.hidden + self.hidden + self.hidden * self.n_out + self.n_out

    def split(self, p: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(W1 [K, d, H], b1 [K, 1, H], W2 [K, H, 10], b2 [K, 1, 10]) views of p [K, P]."""
        k, d, h, o = p.shape[0], self.n_in, self.hidden, self.n_out
        cuts = np.cumsum([0, d * h, h, h * o, o])
        shapes = ((d, h), (1, h), (h, o), (1, o))
        return tuple(p[:, a:b].reshape(k, *s) for a, b, s in zip(cuts[:-1], cuts[1:], shapes))

    def outputs(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """f_p(x): [K, n, 10] for p [K, P] and x [n, d]."""
        w1, b1, w2, b2 = self.split(p)
        return torch.matmul(torch.tanh(torch.matmul(x, w1) + b1), w2) + b2

    def loss(self, p: torch.Tensor, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """[K] squared losses 1/(2n) sum_i ||f(x_i) - target_i||^2; target [n, 10] (one-hot)."""
        return 0.5 * ((self.outputs(p, x) - target) ** 2).sum(dim=(1, 2)) / x.shape[0]


def init_params(n_in: int, hidden: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One model's flat parameters [P] as torch.nn.Linear(n_in, H), Linear(H, 10) initialise them.

    Each layer draws its weight [out, in] by kaiming_uniform_(a=sqrt(5)) (U(+-1/sqrt(fan_in))) and
    then its bias by U(+-1/sqrt(fan_in)), layer 1 first, from torch.Generator().manual_seed(seed):
    the same numbers as those layers after torch.manual_seed(seed), without touching torch's global
    generator (runs share it with other threads of the server). Drawn in float32, then cast.
    """
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for fan_in, fan_out in ((n_in, hidden), (hidden, N_OUT)):
        weight = torch.empty(fan_out, fan_in)
        torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=gen)
        bound = 1 / math.sqrt(fan_in)
        bias = torch.empty(fan_out).uniform_(-bound, bound, generator=gen)
        parts += [weight.T.reshape(-1), bias]
    return torch.cat(parts).to(dtype)


def onehot(y: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """[n] class labels -> [n, 10] one-hot targets."""
    return torch.nn.functional.one_hot(torch.as_tensor(np.array(y, np.int64)), N_OUT).to(dtype)


# --- sharpness ---------------------------------------------------------------------------------------


def hessian_vector_product(loss_fn: Callable[[torch.Tensor], torch.Tensor], p: torch.Tensor):
    """(losses [K], gradient [K, P], hvp) at p [K, P] for loss_fn: p -> [K] losses.

    hvp(v) = H v for v [K, P]: each row by the Hessian of its own model's loss (the rows do not
    interact). The gradient's graph is kept, so each hvp call is one more backward pass.
    """
    p = p.detach().requires_grad_(True)
    loss = loss_fn(p)
    (grad,) = torch.autograd.grad(loss.sum(), p, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        (hv,) = torch.autograd.grad(grad, p, grad_outputs=v, retain_graph=True)
        return hv

    return loss.detach(), grad.detach(), hvp


def top_eigenvalue(hvp: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, iters: int = HVP_ITERS,
                   tol: float = RESIDUAL_TOL) -> tuple[np.ndarray, torch.Tensor, int]:
    """Top Hessian eigenvalue per row by Lanczos: (estimates [K] float64, unit eigenvectors [K, P], products).

    Power iteration's Krylov refinement, as Cohen et al. compute the sharpness: the products
    H v0, H^2 v0, ... are kept (fully re-orthogonalised) and the top eigenvalue of H on their span
    is taken. It finds the top eigenvalue itself, not the largest in magnitude, and converges in
    tens of products where the top eigenvalues cluster (they do at the edge of stability) and plain
    power iteration needs hundreds. v0 [K, P]: the start (the last eigenvector warm-starts it).
    Stops after `iters` products or once every row's residual ||H u - s u|| is at most tol * |s|
    (the eigenvalue's error is then of order tol^2 s^2 / gap, far below tol).
    """
    if not iters >= 1:
        raise ValueError(f"Invalid iters: {iters!r} (must be at least 1)")
    k = v0.shape[0]
    basis = torch.zeros((iters, *v0.shape), dtype=v0.dtype)
    alpha, beta = np.zeros((k, iters)), np.zeros((k, iters))
    q = v0 / v0.norm(dim=1, keepdim=True).clamp_min(1e-30)
    for j in range(iters):
        basis[j] = q
        w = hvp(q)
        alpha[:, j] = (q * w).sum(dim=1).double().numpy()
        for _ in range(2):  # twice: one pass leaves rounding-size components behind
            w = w - torch.einsum("jk,jkp->kp", torch.einsum("jkp,kp->jk", basis[:j + 1], w), basis[:j + 1])
        norm = w.norm(dim=1)
        beta[:, j] = norm.double().numpy()
        tri = np.zeros((k, j + 1, j + 1))
        idx = np.arange(j + 1)
        tri[:, idx, idx] = alpha[:, :j + 1]
        tri[:, idx[:-1], idx[1:]] = tri[:, idx[1:], idx[:-1]] = beta[:, :j]
        values, vectors = np.linalg.eigh(tri)
        top, y = values[:, -1], vectors[:, :, -1]
        residual = beta[:, j] * np.abs(y[:, -1])
        if np.all(~np.isfinite(top) | (residual <= tol * np.abs(top))):
            break
        q = w / norm[:, None].clamp_min(1e-30)
    u = torch.einsum("jk,jkp->kp", torch.as_tensor(y.T, dtype=v0.dtype), basis[:j + 1])
    return top, u / u.norm(dim=1, keepdim=True).clamp_min(1e-30), j + 1


# --- the run -------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """The mutable state of a run (the arrays EosResult copies)."""

    config: EosConfig
    loss: np.ndarray
    sharpness: np.ndarray
    hvps: np.ndarray
    diverged_at: np.ndarray
    started: float = field(default_factory=time.perf_counter)
    measured: int = 0

    def result(self, steps_done: int, stopped: bool, n_pixels: int) -> EosResult:
        m = self.measured
        return EosResult(self.config, steps_done, self.loss.copy(), self.config.measure_steps[:m].copy(),
                         self.sharpness[:, :m].copy(), self.hvps[:m].copy(), self.diverged_at.copy(),
                         time.perf_counter() - self.started, stopped, n_pixels)


def active_pixels(x: np.ndarray) -> np.ndarray:
    """Indices of the columns of x [n, 784] that are nonzero in some row."""
    return np.flatnonzero((np.asarray(x) != 0).any(axis=0))


def run_stream(config: EosConfig, x: np.ndarray, y: np.ndarray, stop: Callable[[], bool] | None = None,
               report_every: float = 0.5) -> Iterator[EosResult]:
    """Full-batch GD at every lr of config on x[:n_train] [n, 784], y[:n_train] [n] int.

    Yields a partial EosResult at least every report_every seconds (after a step) and the final one
    last. stop(): polled every step; when true the run ends there (result.stopped). Runs on torch's
    current thread settings (mnist.mlp.one_thread pins them to one).
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"Invalid data: x {x.shape} and y {y.shape} (need x [n, d], y [n])")
    if config.n_train > len(x):
        raise ValueError(f"Invalid n_train: {config.n_train:,} (the data set has {len(x):,} training images)")
    dtype = getattr(torch, config.dtype)
    k, n, steps = len(config.lrs), config.n_train, config.steps
    cols = active_pixels(x[:n])
    inputs = torch.as_tensor(np.ascontiguousarray(x[:n][:, cols]), dtype=dtype)
    target = onehot(y[:n], dtype)
    net = TanhMLP(len(cols), config.hidden)
    full = TanhMLP(x.shape[1], config.hidden)
    w1, *rest = full.split(init_params(x.shape[1], config.hidden, config.seed, dtype)[None])
    p0 = torch.cat([w1[:, cols].reshape(1, -1)] + [t.reshape(1, -1) for t in rest], dim=1)
    p = p0.repeat(k, 1)
    lrs = torch.tensor(config.lrs, dtype=dtype)[:, None]
    alive = torch.ones(k, 1, dtype=dtype)

    measure = config.measure_steps
    state = _Run(config, np.full((k, steps + 1), np.nan), np.full((k, len(measure)), np.nan),
                 np.zeros(len(measure), np.int64), np.full(k, -1, np.int64))
    v = torch.randn(k, net.size, generator=torch.Generator().manual_seed(config.seed + 1), dtype=dtype)
    loss_fn = lambda q: net.loss(q, inputs, target)  # noqa: E731
    last_report = time.perf_counter()
    for t in range(steps + 1):
        if t == measure[min(state.measured, len(measure) - 1)]:
            loss, grad, hvp = hessian_vector_product(loss_fn, p)
            sharp, v, iters = top_eigenvalue(hvp, v)
            state.sharpness[:, state.measured] = np.where(state.diverged_at < 0, sharp, np.nan)
            state.hvps[state.measured] = iters
            state.measured += 1
        else:
            q = p.detach().requires_grad_(True)
            loss = loss_fn(q)
            (grad,) = torch.autograd.grad(loss.sum(), q)
        loss = loss.detach().double().numpy()
        new = (state.diverged_at < 0) & ~(loss <= DIVERGED_LOSS)  # also NaN
        if new.any():  # restart those models from p0 with lr 0: finite numbers, left out of the records
            state.diverged_at[new] = t
            idx = torch.as_tensor(np.flatnonzero(new))
            alive[idx] = 0
            p = p.detach().clone()
            p[idx] = p0
            grad = grad.clone()
            grad[idx] = 0
            if t == measure[state.measured - 1]:
                state.sharpness[new, state.measured - 1] = np.nan
        state.loss[:, t] = np.where(state.diverged_at < 0, loss, np.nan)
        if t == steps:
            break
        p = (p.detach() - lrs * alive * grad.detach()).detach()
        stopped = stop is not None and stop()
        if stopped:
            yield state.result(t + 1, True, len(cols))
            return
        now = time.perf_counter()
        if now - last_report >= report_every:
            last_report = now
            yield state.result(t + 1, False, len(cols))
    yield state.result(steps, False, len(cols))
