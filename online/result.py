"""The result of an online run: K optimizer configurations on one 1-D online problem over T steps."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True, eq=False)
class OnlineResult:
    """Float64 NumPy arrays; step t is 1-based, array index t - 1.

    path:        [K, T+1] iterates x_1..x_{T+1}: path[:, 0] is the start x_1, path[:, t] the
                 point after step t and its projection onto the box (the point f_{t+1} is played at).
    grad:        [K, T]   the gradient of f_t at x_t, as the optimizer received it at step t.
    lr:          [K, T]   the scheduled base learning rate of step t.
    eff_lr:      [K, T]   the rule's effective learning rate at step t (the multiplier of its
                 direction, before the projection: a clamped step moves less).
    state:       {name: [K, T]} the optimizer state after step t (torch.optim names); zero for
                 configurations without that state (see state_names).
    state_names: per configuration, the tuple of state names it has.
    diverged_at: [K] int, the first index of path that is not finite (its values from there on
                 hold the last finite point, the step arrays the step before it), -1 if never.
    labels, configs: the K legend labels and OptimizerConfig; problem: the online problem;
    start: x_1.
    """

    path: np.ndarray
    grad: np.ndarray
    lr: np.ndarray
    eff_lr: np.ndarray
    state: dict
    state_names: tuple
    diverged_at: np.ndarray
    labels: tuple
    configs: tuple
    problem: object
    start: float

    @property
    def steps(self) -> int:
        return self.path.shape[1] - 1

    @cached_property
    def losses(self) -> np.ndarray:
        """[K, T] f_t(x_t): the loss the learner suffers at step t."""
        return self.problem.loss(self.path[:, :-1])

    @cached_property
    def regret(self) -> np.ndarray:
        """[K, T] R_t = sum_{s <= t} f_s(x_s) - min over the box of sum_{s <= t} f_s(x), t = 1..T."""
        return np.cumsum(self.losses, axis=1) - self.problem.best_fixed_loss(self.steps)

    @cached_property
    def average_regret(self) -> np.ndarray:
        """[K, T] R_t / t."""
        return self.regret / np.arange(1, self.steps + 1)
