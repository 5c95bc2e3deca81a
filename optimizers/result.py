"""The result of a trajectory run: NumPy arrays with documented shapes, all finite."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .freeze import stop_index


@dataclass(frozen=True, eq=False)
class Result:
    """Trajectories of K optimizer configurations from N starts over T steps in D dimensions.

    path:        [K, N, T+1, D] parameters; index 0 is the start.
    loss:        [K, N, T+1]    full (noise-free, full-batch) loss at each point.
    grad:        [K, N, T+1, D] gradient the optimizer received at each point (after noise and
                 clipping); index T is the full gradient at the final point.
    grad_norm:   [K, N, T+1]    Euclidean norm of the full, noise-free gradient at each point.
    lr:          [K, T]         scheduled base learning rate used by step t (0-based).
    eff_lr:      [K, N, T, D]   effective learning rate of step t: the per-parameter multiplier the
                 rule applied to its search direction (see each rule's docstring / README).
    ratio:       [K, N, T, D]   realised ratio -(theta_{t+1} - theta_t) / g_t; 0 where undefined
                 (computed on first access).
    ratio_defined: [K, N, T, D] bool, where ratio is defined: |g_t| > 1e-12 and step t comes
                 before the trajectory's stop index.
    state:       {name: [K, N, T, D]} internal state after step t, torch.optim's state names;
                 zero for configurations that do not have that state (see state_names).
    state_names: per configuration, the tuple of state names it has.
    diverged_at: [K, N] int, first point index whose values were non-finite or out of bounds
                 (the trajectory is frozen at its last good point from there), -1 if never.
    converged_at:[K, N] int, first point index with grad_norm < tol (the trajectory stops there),
                 -1 if never.
    labels:      K legend labels; configs: the K OptimizerConfig; starts: [N, D].
    slow_reason: None when the compiled kernels ran or none applies (torch backend, mini-batch
                 surfaces, compiled=False); otherwise why the array code ran instead, in words.
    evals:       [K, N, T, E, D] or None: for a run with a rule that evaluates the loss within its
                 step (L-BFGS), the points of the closure calls of step t in call order (the first
                 is path[t]), NaN after the last and in the rows of other configurations; the one
                 array of a Result with NaN in it. E = optimizers.run.eval_slots(configs).
    n_evals:     [K, N, T] int64 or None: how many of evals[k, n, t] are points; 0 from the
                 trajectory's stop index on (its path is frozen there) and for other configurations.
    """

    path: np.ndarray
    loss: np.ndarray
    grad: np.ndarray
    grad_norm: np.ndarray
    lr: np.ndarray
    eff_lr: np.ndarray
    state: dict
    state_names: tuple
    diverged_at: np.ndarray
    converged_at: np.ndarray
    labels: tuple
    configs: tuple
    starts: np.ndarray
    surface: object
    tol: float
    slow_reason: str | None = None
    evals: np.ndarray | None = None
    n_evals: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(K, N, T, D)."""
        k, n, t1, d = self.path.shape
        return k, n, t1 - 1, d

    def stop_index(self) -> np.ndarray:
        """[K, N] index of the last meaningful point: the trajectory is frozen after it.

        T when it ran to the end; the last good point before divergence; the converged point.
        """
        return stop_index(self.diverged_at, self.converged_at, self.shape[2])

    @cached_property
    def ratio_defined(self) -> np.ndarray:
        steps = self.shape[2]
        moving = np.arange(steps) < self.stop_index()[..., None]
        return (np.abs(self.grad[:, :, :-1]) > 1e-12) & moving[..., None]

    @cached_property
    def ratio(self) -> np.ndarray:
        defined = self.ratio_defined
        delta = self.path[:, :, 1:] - self.path[:, :, :-1]
        g = np.where(defined, self.grad[:, :, :-1], 1.0)
        return np.where(defined, -delta / g, 0.0)
