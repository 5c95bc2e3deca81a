"""Final-state runs: where each trajectory ends, without its path, for basin maps and sweeps.

`run_final(surface, optimizers, starts, steps)` gives what `run` gives at each trajectory's stop
index (the last good point, its loss and gradient norm, and the step it diverged or converged
at) without recording the steps in between, so it takes hundreds of thousands of starts or
thousands of configurations at once. The compiled final-state kernel
(optimizers.kernels.trajectory, record=False) runs it when ready; until then the array code
below gives the same answers: it is `run`'s loop with the same rules, transforms and stop tests
applied per step instead of over a recorded history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import kernels
from . import stepper as st
from . import transforms as tf
from .freeze import GRAD_NORM_BOUND, LOSS_BOUND, PARAM_BOUND, stop_index
from .registry import OptimizerConfig
from .run import MAX_STEPS, _check_float, _check_int, _check_surface, _recorded
from .run import _check_configs as _check_run_configs
from .run import _check_starts as _check_run_starts

MAX_FINAL_STARTS = 250_000
MAX_FINAL_CONFIGS = 4_096
MAX_FINAL_TRAJECTORIES = 1_000_000  # K * N
MAX_FINAL_TRAJECTORY_STEPS = 250_000_000  # K * N * T: time, at most a second or two compiled
MAX_NOISE_ENTRIES = 5_000_000  # T * N: the noise table is float64 [T, N, 2]
_CHUNK = 16_384  # trajectories the array code advances together (bounds its memory)
_BIG = np.finfo(np.float64).max


@dataclass(frozen=True, eq=False)
class FinalResult:
    """Where K configurations' trajectories from N starts stop after at most T steps.

    point:        [K, N, D] the point at the stop index (Result.stop_index): the end, the last
                  good point before a divergence, or the converged point.
    loss:         [K, N] full loss at that point; grad_norm: [K, N] its full gradient norm.
    diverged_at:  [K, N] int, as Result.diverged_at; converged_at: [K, N] int, as Result's.
    lr:           [K, T] scheduled learning rates; steps: T.
    labels, configs, starts ([N, D]), surface, tol: as in Result.
    slow_reason:  why the array code ran instead of the compiled kernel, or None.
    """

    point: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    diverged_at: np.ndarray
    converged_at: np.ndarray
    lr: np.ndarray
    steps: int
    labels: tuple
    configs: tuple
    starts: np.ndarray
    surface: object
    tol: float
    slow_reason: str | None = None

    def stop_index(self) -> np.ndarray:
        """[K, N] index of the point in `point` (see Result.stop_index)."""
        return stop_index(self.diverged_at, self.converged_at, self.steps)

    def steps_to_converge(self) -> np.ndarray:
        """[K, N] float: converged_at where it converged, NaN otherwise."""
        return np.where(self.converged_at >= 0, self.converged_at, np.nan)


def run_final(
    surface,
    optimizers: Sequence[OptimizerConfig] | OptimizerConfig,
    starts=None,
    steps: int = 500,
    *,
    noise: float = 0.0,
    seed: int = 0,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    tol: float = 1e-8,
    compiled: bool | None = None,
) -> FinalResult:
    """The final state of each optimizer's trajectory from each start, as `run` would end it.

    The arguments are run's (NumPy only), with larger caps: N <= MAX_FINAL_STARTS, K <=
    MAX_FINAL_CONFIGS, K * N <= MAX_FINAL_TRAJECTORIES, K * N * T <= MAX_FINAL_TRAJECTORY_STEPS,
    and with noise T * N <= MAX_NOISE_ENTRIES. compiled: True waits for the final-state kernel,
    False runs the array code, None uses the kernel when it is compiled and otherwise the array
    code while it compiles (slow_reason then says so). Both give run's values at the stop index.
    """
    _check_surface(surface)
    configs = _check_configs(optimizers)
    st.check_curvature(configs, surface, "run_final")
    if compiled is not None and not isinstance(compiled, (bool, np.bool_)):
        raise ValueError(f"compiled={compiled!r} must be None (automatic), True or False")
    compiled = None if compiled is None else bool(compiled)
    starts = _check_starts(surface, starts)
    steps = _check_int("steps", steps, 1, MAX_STEPS)
    k, (n, d) = len(configs), starts.shape
    if k * n > MAX_FINAL_TRAJECTORIES:
        raise ValueError(f"K*N = {k}*{n} = {k * n:,} exceeds the cap of {MAX_FINAL_TRAJECTORIES:,} "
                         "trajectories; use fewer starts or configurations")
    if k * n * steps > MAX_FINAL_TRAJECTORY_STEPS:
        raise ValueError(f"K*N*steps = {k}*{n}*{steps} = {k * n * steps:,} exceeds the cap of "
                         f"{MAX_FINAL_TRAJECTORY_STEPS:,} trajectory-steps; use fewer starts, steps or configurations")
    noise = _check_float("noise", noise, 0.0, 1e6)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    tol = _check_float("tol", tol, 0.0, 1e6)
    clip_norm = None if clip_norm is None else _check_float("clip_norm", clip_norm, 0.0, 1e12, low_open=True)
    clip_value = None if clip_value is None else _check_float("clip_value", clip_value, 0.0, 1e12, low_open=True)
    if noise > 0 and steps * n > MAX_NOISE_ENTRIES:
        raise ValueError(f"noise > 0: steps*N = {steps}*{n} = {steps * n:,} exceeds the cap of "
                         f"{MAX_NOISE_ENTRIES:,} noise entries; use fewer starts or steps, or noise=0")
    if getattr(surface, "stochastic", False):
        raise ValueError(f"surface {surface.name!r} is stochastic (mini-batches); final-state runs need a "
                         "deterministic surface")

    lr = st.lr_table(configs, steps)
    table = tf.noise_table(seed, steps, n, d, noise) if noise > 0 else None
    chain = tf.chain(table is not None, clip_norm, clip_value, tf.uses_l1_subgradient(configs))
    bounds = {"clip_norm": clip_norm, "clip_value": clip_value}
    out, slow_reason = None, None
    if compiled is not False and kernels.AVAILABLE and (compiled or kernels.cache.AUTO):
        out, slow_reason = _compiled(surface, configs, starts, lr, table, chain, bounds, tol, wait=bool(compiled))
        if out is None and compiled:
            raise ValueError(f"compiled=True: {slow_reason}")
    elif compiled and not kernels.AVAILABLE:
        raise ValueError("compiled=True needs the numba package")
    if out is None:
        out = _array(surface, configs, starts, lr, table, chain, bounds, tol)
    _clean_start_failures(out)
    return FinalResult(**out, lr=lr, steps=steps, labels=tuple(c.label for c in configs), configs=tuple(configs),
                       starts=starts, surface=surface, tol=tol, slow_reason=slow_reason)


def _check_configs(optimizers) -> list:
    return _check_run_configs(optimizers, MAX_FINAL_CONFIGS)


def _check_starts(surface, starts) -> np.ndarray:
    return _check_run_starts(surface, starts, MAX_FINAL_STARTS)


def _compiled(surface, configs, starts, lr, table, chain, bounds, tol, wait: bool):
    """(arrays, None) from the final-state kernels, or (None, why not)."""
    d = starts.shape[1]
    try:
        found = [kernels.trajectory_kernel(surface, c, d, chain, record=False) for c in configs]
    except kernels.TraceError:
        return None, "this surface or optimizer has no compiled kernel"
    modules = kernels.get_many(found, wait=wait)
    if modules is None:
        return None, next(filter(None, map(kernels.reason, found)), "the compiled kernels are not available")
    k, n = len(configs), starts.shape[0]
    out = {"point": np.empty((k, n, d)), "loss": np.empty((k, n)), "grad_norm": np.empty((k, n)),
           "diverged_at": np.empty((k, n), dtype=np.int64), "converged_at": np.empty((k, n), dtype=np.int64)}
    by_key: dict[str, list[int]] = {}
    for row, kern in enumerate(found):
        by_key.setdefault(kern.key, []).append(row)
    for rows in by_key.values():
        kern = found[rows[0]]
        args = kernels.kernel_arguments(kern, surface, [configs[r] for r in rows], lr[rows], table, d,
                                        bounds["clip_norm"], bounds["clip_value"], tol)
        outputs = (out["point"], out["loss"], out["grad_norm"], out["diverged_at"], out["converged_at"])
        kernels.run_group(modules[rows[0]], rows, starts, args + outputs)
    return out, None


def _array(surface, configs, starts, lr, table, chain, bounds, tol) -> dict:
    """The array code, over chunks of at most _CHUNK trajectories."""
    k, (n, d) = len(configs), starts.shape
    order, groups = st.group_configs(configs)
    out = {"point": np.empty((k, n, d)), "loss": np.empty((k, n)), "grad_norm": np.empty((k, n)),
           "diverged_at": np.empty((k, n), dtype=np.int64), "converged_at": np.empty((k, n), dtype=np.int64)}
    per = max(1, _CHUNK // k)
    with np.errstate(all="ignore"):
        for lo in range(0, n, per):
            hi = min(n, lo + per)
            part = _array_chunk(surface, groups, starts[lo:hi], lr[order],
                                None if table is None else table[:, lo:hi], chain, bounds, tol)
            for name, a in part.items():
                out[name][order, lo:hi] = a
    return out


def _array_chunk(surface, groups, starts, lr, table, chain, bounds, tol) -> dict:
    """Final states of starts [n, D] for every group (internal row order), lr [K, T]."""
    xp = np
    k, (n, d), steps = lr.shape[0], starts.shape, lr.shape[1]
    p = np.broadcast_to(starts, (k, n, d)).copy()
    states = st.init_states(groups, p, xp)
    recorded = [set(_recorded(g.config)) for g in groups]
    lr_groups = [lr[g.start:g.stop].T[:, :, None, None] for g in groups]
    l1 = st.l1_rows(groups)
    fin_p, fin_loss, fin_gn = np.empty((k, n, d)), np.empty((k, n)), np.empty((k, n))
    d_at, c_at = np.full((k, n), -1), np.full((k, n), -1)
    alive, step_ok = np.ones((k, n), dtype=bool), np.ones((k, n), dtype=bool)
    for ti in range(steps + 1):
        loss = surface.value(p, xp)
        g = surface.grad(p, xp)
        gn = np.sqrt(_sum_last(g * g))
        u = g if ti == steps else tf.apply(chain, g, {"noise": None if table is None else table[ti], "l1": (p, l1),
                                                      **bounds}, xp)
        ok = (step_ok & np.isfinite(loss) & (loss <= LOSS_BOUND) & (gn <= GRAD_NORM_BOUND)
              & _all_last(np.isfinite(p) & (np.abs(p) <= PARAM_BOUND)) & _all_last(np.isfinite(u)))
        conv = ok & (gn < tol)
        keep = alive & (ok | (ti == 0))
        np.copyto(fin_p, p, where=keep[..., None])
        np.copyto(fin_loss, loss, where=keep)
        np.copyto(fin_gn, gn, where=keep)
        d_at[alive & ~ok] = ti
        c_at[alive & conv] = ti
        alive &= ok & ~conv
        if ti == steps or not alive.any():
            break
        p_next = np.empty_like(p)
        for i, grp in enumerate(groups):
            a, b = grp.start, grp.stop
            p_next[a:b], states[i], eff = st.step(grp, p[a:b], u[a:b], states[i], ti + 1, lr_groups[i][ti], xp,
                                                  surface.hess)
            good = _all_last(np.isfinite(eff))
            for name, value in states[i].items():
                if name in recorded[i] and not isinstance(value, float):
                    good &= _all_last(np.isfinite(value))
            step_ok[a:b] = good
        p = p_next
    return {"point": fin_p, "loss": fin_loss, "grad_norm": fin_gn, "diverged_at": d_at, "converged_at": c_at}


def _all_last(mask: np.ndarray) -> np.ndarray:
    """mask [..., D] all True along D (np.all over a short last axis is slow)."""
    out = mask[..., 0].copy()
    for j in range(1, mask.shape[-1]):
        out &= mask[..., j]
    return out


def _sum_last(a: np.ndarray) -> np.ndarray:
    """a [..., D] summed over D in order, as np.sum does for D < 8."""
    out = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        out += a[..., j]
    return out


def _clean_start_failures(out: dict) -> None:
    """A trajectory that failed at its start reports its start as np.nan_to_num does (as freeze)."""
    at_start = out["diverged_at"] == 0
    if at_start.any():
        for name in ("point", "loss", "grad_norm"):
            out[name][at_start] = np.nan_to_num(out[name][at_start], nan=0.0, posinf=_BIG, neginf=-_BIG)
