"""Grouping configurations, their states and learning-rate tables: shared by every runner.

Configurations that share a rule and its non-lr hyperparameters form a group that one call of
the rule advances, with the scheduled learning rates as a [k, 1, 1] array. The 2-D runner
(optimizers.run) and the MNIST trainer both order their rows by `group_configs`, build the lr
table with `lr_table`, start the states with `init_states` and advance a group with `step` (the
rule, then the group's proximal L1 step, if any: `proximal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import transforms as tf
from .schedules import SCHEDULES


@dataclass(frozen=True)
class Group:
    """Configurations sharing one rule, its non-lr hyperparameters and their L1 penalty: internal
    rows [start, stop)."""

    start: int
    stop: int
    config: object  # an OptimizerConfig, representative of the group


def _group_key(config) -> tuple:
    return config.name, tuple(kv for kv in config.hparams if kv[0] != "lr"), config.l1, config.l1_mode


def group_configs(configs) -> tuple[np.ndarray, list[Group]]:
    """Order configurations so each group is contiguous.

    Returns (order, groups): internal row r holds configuration order[r]; groups in order of
    first appearance.
    """
    keys = list(dict.fromkeys(_group_key(c) for c in configs))
    members = [[i for i, c in enumerate(configs) if _group_key(c) == key] for key in keys]
    order, groups, at = [], [], 0
    for idx in members:
        order.extend(idx)
        groups.append(Group(at, at + len(idx), configs[idx[0]]))
        at += len(idx)
    return np.array(order, dtype=np.int64), groups


def lr_table(configs, steps: int, metric: bool = False) -> np.ndarray:
    """[K, T] float64 scheduled learning rate of each configuration at each step.

    A schedule driven by a metric (ReduceLROnPlateau) starts at its lr and needs a runner that
    updates the table from the metric (metric=True: the MNIST trainer); other runners get a
    ValueError for it.
    """
    for c in configs:
        if SCHEDULES[c.schedule.name].metric and not metric:
            raise ValueError(f"{c.label or c.name}: schedule {c.schedule.name} follows the validation loss, "
                             "which only the MNIST trainer has")
    return np.stack([c.schedule.values(c.lr, steps) for c in configs])


def l1_rows(groups) -> np.ndarray:
    """[K, 1, 1] float64 subgradient L1 strength of every internal row (0: none or proximal), the
    `l1` input of the transform chain (optimizers.transforms)."""
    return np.concatenate([np.full(g.stop - g.start, g.config.l1_subgradient) for g in groups])[:, None, None]


def init_states(groups, p, xp) -> list[dict]:
    """Each group's initial state for its rows of p [K, ...]."""
    return [g.config.info.init(p[g.start:g.stop], g.config.hp, xp) for g in groups]


def step(group: Group, p, g, state: dict, t: int, lr, xp, hessian=None, closure=None):
    """One update of a group's rows: (p_new, state_new, eff_lr) for p, g of the group's rows.

    t: 1-based step count; lr: the group's scheduled lrs, broadcastable to p ([k, 1, 1]).
    hessian: (p, xp) -> the surface's Hessian entries at p (Surface.hess), for a rule that takes
    them (OptimizerInfo.curvature); runners check beforehand that it is given (check_curvature).
    closure: x -> (loss, gradient) of the group's rows, for a rule that evaluates the loss within
    its step (OptimizerInfo.closure_calls: L-BFGS).
    """
    cfg = group.config
    if cfg.info.closure_calls is not None:
        p_new, state, eff = cfg.info.rule(p, g, state, t, lr, cfg.hp, xp, closure=closure)
    elif cfg.info.curvature:
        p_new, state, eff = cfg.info.rule(p, g, state, t, lr, cfg.hp, xp, hess=hessian(p, xp))
    else:
        p_new, state, eff = cfg.info.rule(p, g, state, t, lr, cfg.hp, xp)
    return proximal(group, p_new, lr, xp), state, eff


def proximal(group: Group, p_new, lr, xp):
    """p_new after the group's proximal L1 step, soft-threshold by lr * l1 (unchanged without one).

    lr: the group's scheduled lrs, broadcastable to p_new ([k, 1, 1]).
    """
    strength = group.config.l1_proximal
    return tf.soft_threshold(p_new, lr * strength, xp) if strength > 0 else p_new


def check_curvature(configs, surface, owner: str, closure: bool = False) -> None:
    """ValueError unless every configuration whose rule takes a Hessian has one from `surface`
    (None: the runner gives none), and, unless the runner gives a `closure`, no rule needs one."""
    for c in configs:
        if c.info.closure_calls is not None and not closure:
            raise ValueError(f"{owner}: {c.name} evaluates the loss within its step (a closure), which only "
                             "optimizers.run provides")
        if c.info.curvature and getattr(surface, "hess_xy", None) is None:
            where = "this runner" if surface is None else f"surface {surface.name!r}"
            raise ValueError(f"{owner}: {c.name} needs the surface's Hessian, which {where} does not provide")
