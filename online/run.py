"""The vectorised online runner: K optimizer configurations on one online problem in one loop over steps.

At step t the problem hands every configuration the gradient of f_t at its own x_t; the groups of
optimizers.stepper (configurations sharing a rule and its non-lr hyperparameters) each advance
in one call of their rule on a [k, 1] slice, and the new points are projected onto the box, as
torch's `optimizer.step(); p.data.clamp_(-1, 1)` does: the optimizer's state never sees the
projection. The parameter is 1-D, so the rules see D = 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hyperparams import Hyperparameter as H
from hyperparams import validate
from optimizers import OptimizerConfig
from optimizers import stepper as st
from optimizers.backend import get_backend
from optimizers.freeze import freeze

from .result import OnlineResult

MAX_STEPS = 50_000  # a Python loop over steps and groups: about 12 ms per 1,000 steps and group (2-core CPU)
MAX_CONFIGS = 16
SPECS = (
    H("steps", 1000, kind="int", low=1, high=MAX_STEPS, help="number of online steps T"),
    H("start", 0.0, low=-1, high=1, help="the first point x_1, inside the box"),
)


def run_online(problem, optimizers: Sequence[OptimizerConfig] | OptimizerConfig, steps: int = 1000, *,
               start: float = 0.0, backend: str = "numpy", device: str = "cpu") -> OnlineResult:
    """Every configuration of `optimizers` (1 to MAX_CONFIGS, from get_optimizer) on `problem`
    (an online.problem.ReddiProblem) for `steps` steps (1 to MAX_STEPS) from x_1 = `start`
    (in [-1, 1]). backend: "numpy" or "torch" (float64 on `device`), the same rules either way.
    Raises ValueError naming the parameter and its allowed range.
    """
    configs = [optimizers] if isinstance(optimizers, OptimizerConfig) else list(optimizers)
    if not 1 <= len(configs) <= MAX_CONFIGS or not all(isinstance(c, OptimizerConfig) for c in configs):
        raise ValueError(f"run_online: optimizers must be 1 to {MAX_CONFIGS} OptimizerConfig from "
                         f"get_optimizer(...), got {len(configs)} item(s)")
    st.check_curvature(configs, None, "run_online")  # a linear loss: no curvature to invert
    checked = validate("run_online", SPECS, {"steps": steps, "start": start})
    steps, start = checked["steps"], checked["start"]
    be = get_backend(backend, device)
    order, groups = st.group_configs(configs)
    lr = st.lr_table(configs, steps)  # [K, T]
    with np.errstate(all="ignore"):
        records, names = _loop(be, problem, groups, lr[order], start, steps)
    back = np.argsort(order)  # records follow the groups' row order; results the order given
    records = {name: np.ascontiguousarray(a[back]) for name, a in records.items()}
    state_names = tuple(names[int(i)] for i in back)

    path = records.pop("path")
    bad = ~np.isfinite(path)
    for a in records.values():
        bad[:, 1:] |= ~np.isfinite(a)
    diverged_at = np.where(bad.any(axis=1), bad.argmax(axis=1), -1)
    freeze({"path": path[:, None]}, {name: a[:, None] for name, a in records.items()},
           diverged_at[:, None], np.full((len(configs), 1), -1))
    state = {name[len("state_"):]: a for name, a in records.items() if name.startswith("state_")}
    return OnlineResult(path=path, grad=records["grad"], lr=lr, eff_lr=records["eff_lr"], state=state,
                        state_names=state_names, diverged_at=diverged_at, labels=tuple(c.label for c in configs),
                        configs=tuple(configs), problem=problem, start=start)


def _loop(be, problem, groups, lr, start: float, steps: int) -> tuple[dict, list]:
    """The steps, in the groups' row order. Returns ({name: [K, T(+1)] NumPy record}, the state
    names of each row): path [K, T+1], grad, eff_lr and state_<name> [K, T]."""
    xp = be.xp
    k = lr.shape[0]
    x = be.asarray(np.full((k, 1), start))
    states = st.init_states(groups, x, xp)
    own = [[s for s in g.config.info.state_names if s in s0] for g, s0 in zip(groups, states)]
    kept = dict.fromkeys(s for names in own for s in names)
    out = {"path": be.empty((steps + 1, k, 1)), "grad": be.empty((steps, k, 1)), "eff_lr": be.empty((steps, k, 1)),
           **{f"state_{s}": be.asarray(np.zeros((steps, k, 1))) for s in kept}}
    path = out["path"]
    lrs = [be.asarray(lr[g.start:g.stop].T[:, :, None]) for g in groups]  # [T, k, 1] per group
    path[0] = x
    for t in range(1, steps + 1):
        g = problem.grad(x, t, xp)
        out["grad"][t - 1] = g
        for i, group in enumerate(groups):
            rows = slice(group.start, group.stop)
            moved, states[i], out["eff_lr"][t - 1, rows] = st.step(group, x[rows], g[rows], states[i], t,
                                                                   lrs[i][t - 1], xp)
            path[t, rows] = problem.project(moved, xp)
            for s in own[i]:
                out[f"state_{s}"][t - 1, rows] = states[i][s]
        x = path[t]
    rows_names = [tuple(names) for g, names in zip(groups, own) for _ in range(g.start, g.stop)]
    return {name: be.to_numpy(a)[..., 0].T for name, a in out.items()}, rows_names
