"""The vectorized trajectory loop: all configurations and starts advance together.

`run(surface, optimizers, starts, steps)` advances K optimizer configurations from N starting
points for T steps in one loop over steps. Configurations that share a rule and its
non-lr hyperparameters form a group (optimizers.stepper) that advances in one call of the rule
on a [k, N, D] slice, with the scheduled learning rates as a [k, 1, 1] array. After the loop,
losses, full gradients, divergence and convergence are computed on the whole record at once.
The compiled kernels (optimizers.kernels) compute the same arrays when they are ready.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import kernels
from . import stepper as st
from . import transforms as tf
from .backend import get_backend
from .freeze import GRAD_NORM_BOUND, LOSS_BOUND, PARAM_BOUND, freeze, stop_index
from .registry import OptimizerConfig
from .result import Result

MAX_STEPS = 20_000
MAX_STARTS = 10_000
MAX_CONFIGS = 64
MAX_TRAJECTORY_STEPS = 20_000_000  # K * N * T
MAX_RUN_BYTES = 2_500_000_000  # what a run records, ratio included (run_bytes)
MAX_START = 1e6


def run(
    surface,
    optimizers: Sequence[OptimizerConfig] | OptimizerConfig,
    starts=None,
    steps: int = 500,
    *,
    backend: str = "numpy",
    device: str = "cpu",
    noise: float = 0.0,
    seed: int = 0,
    clip_norm: float | None = None,
    clip_value: float | None = None,
    tol: float = 1e-8,
    compiled: bool | None = None,
) -> Result:
    """Trajectories of each optimizer from each start on `surface`.

    surface: a surfaces.Surface (value/grad over [..., D]).
    optimizers: K OptimizerConfig from get_optimizer (1 <= K <= MAX_CONFIGS).
    starts: [N, D] starting points (default: the surface's first default start), 1 <= N <= MAX_STARTS.
    steps: T, 1 <= T <= MAX_STEPS; also K * N * T <= MAX_TRAJECTORY_STEPS.
    noise: standard deviation of additive Gaussian gradient noise (seeded by `seed`).
    clip_norm / clip_value: gradient clipping by global norm / by value (None = off).
    tol: converged when the full gradient norm falls below tol (0 disables).
    compiled: numpy backend only: True runs the generated Numba kernels (compiling them first
        in a worker process if needed, about a second each, once per machine), False the array
        code. None (default) uses the kernels when they are compiled, and otherwise runs the
        array code while one background process compiles them for the next call
        (Result.slow_reason then says so). Both give the same results (tests compare them).
    Returns a Result with float64 NumPy arrays (see Result for shapes).
    """
    _check_surface(surface)
    configs = _check_configs(optimizers)
    if compiled is not None and not isinstance(compiled, (bool, np.bool_)):
        raise ValueError(f"compiled={compiled!r} must be None (automatic), True or False")
    compiled = None if compiled is None else bool(compiled)
    starts = _check_starts(surface, starts)
    steps = _check_int("steps", steps, 1, MAX_STEPS)
    k, (n, d) = len(configs), starts.shape
    if k * n * steps > MAX_TRAJECTORY_STEPS:
        raise ValueError(
            f"K*N*steps = {k}*{n}*{steps} = {k * n * steps:,} exceeds the cap of "
            f"{MAX_TRAJECTORY_STEPS:,} trajectory-steps; use fewer starts, steps or optimizers"
        )
    noise = _check_float("noise", noise, 0.0, 1e6)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    tol = _check_float("tol", tol, 0.0, 1e6)
    clip_norm = None if clip_norm is None else _check_float("clip_norm", clip_norm, 0.0, 1e12, low_open=True)
    clip_value = None if clip_value is None else _check_float("clip_value", clip_value, 0.0, 1e12, low_open=True)
    need = run_bytes(configs, n, steps, d)
    if need > MAX_RUN_BYTES:
        kinds = len({s for c in configs for s in _recorded(c)})
        raise ValueError(
            f"this run would record about {need / 1e9:.1f} GB ({k} optimizers x {n:,} starts x {steps:,} steps, "
            f"{need / (k * n * steps):.0f} bytes per step with {kinds} kinds of optimizer state), over the cap of "
            f"{MAX_RUN_BYTES / 1e9:.1f} GB; use fewer starts, steps or optimizers (or run_final for end states only)"
        )
    st.check_curvature(configs, surface, "run", closure=True)
    be = get_backend(backend, device)

    lr = st.lr_table(configs, steps)  # [K, T]
    table = tf.noise_table(seed, steps, n, d, noise) if noise > 0 else None
    chain = tf.chain(table is not None, clip_norm, clip_value, tf.uses_l1_subgradient(configs))
    bounds = {"clip_norm": clip_norm, "clip_value": clip_value}
    slow_reason = None
    if _use_compiled(compiled, be, surface):
        try:
            found = [kernels.trajectory_kernel(surface, c, d, chain) for c in configs]
        except kernels.TraceError:
            if compiled:
                raise ValueError("compiled=True: this surface or optimizer cannot be traced") from None
            slow_reason = "this surface or optimizer has no compiled kernel"
        else:
            modules = kernels.get_many(found, wait=bool(compiled))
            if modules is not None:
                return _run_compiled(surface, configs, found, modules, starts, lr, table, bounds, tol)
            slow_reason = next(filter(None, map(kernels.reason, found)), "the compiled kernels are not available")
            if compiled:
                raise ValueError(f"compiled=True: {slow_reason}")
    order, groups = st.group_configs(configs)
    with np.errstate(all="ignore"):
        raw = _loop(be, surface, groups, starts, lr[order], steps, table, chain, bounds)
    arrays = _unpermute(raw, np.argsort(order))
    return _finish(surface, configs, starts, lr, arrays, tol, bool(chain), slow_reason)


def _unpermute(raw: dict, inverse: np.ndarray) -> dict:
    """The loop's time-major records [T(+1), K, ...] in the configurations' order, as [K, N, T(+1), ...].

    One array at a time, each time-major record dropped once copied, so the peak stays near one
    copy of the record rather than two.
    """
    out = {}
    for name in list(raw):
        out[name] = np.moveaxis(raw.pop(name), 0, 2)[inverse]  # fancy indexing copies, C-contiguous
    return out


def run_bytes(configs, n: int, steps: int, d: int = 2) -> int:
    """The bytes a run of `configs` from n starts over `steps` steps records, ratio included.

    Per trajectory: path, grad (D each), loss and grad_norm at T+1 points; eff_lr and one array per
    kind of state any configuration has (D each, K rows each: zeros where a configuration lacks
    it) at T steps; ratio (D float64) and ratio_defined (D bool) once read; with a closure rule
    (L-BFGS), Result.evals (E x D, E = eval_slots) and n_evals (an int64) at T steps, every row.
    Computing it costs up to about a quarter more on top, briefly (tests/test_memory.py measures
    it); with evals, up to one more copy of evals (the loop's time-major record, reordered).
    """
    kinds = len({s for c in configs for s in _recorded(c)})
    per_traj = (steps + 1) * (2 * d + 2) * 8 + steps * d * (1 + kinds) * 8 + steps * d * 9
    slots = eval_slots(configs)
    if slots:
        per_traj += steps * (slots * d + 1) * 8
    return len(configs) * n * per_traj


def eval_slots(configs) -> int:
    """E: the most closure calls one step of any configuration makes (0 when none takes a closure)."""
    return max((c.info.closure_calls(c.hp) for c in configs if c.info.closure_calls is not None), default=0)


def _use_compiled(compiled, be, surface) -> bool:
    if compiled is False or be.name != "numpy" or getattr(surface, "stochastic", False):
        if compiled:
            raise ValueError("compiled=True needs backend='numpy' and a deterministic surface")
        return False
    if not kernels.AVAILABLE:
        if compiled:
            raise ValueError("compiled=True needs the numba package")
        return False
    return compiled is True or kernels.cache.AUTO


def _run_compiled(surface, configs, found, modules, starts, lr, table, bounds, tol) -> Result:
    """All groups through their compiled kernels, writing the Result arrays in place."""
    k, (n, d), steps = len(configs), starts.shape, lr.shape[1]
    names = sorted({s for kern in found for s in kern.state_names})
    out = {
        "path": np.empty((k, n, steps + 1, d)), "loss": np.empty((k, n, steps + 1)),
        "grad": np.empty((k, n, steps + 1, d)), "grad_norm": np.empty((k, n, steps + 1)),
        "eff_lr": np.empty((k, n, steps, d)),
        "states": np.empty((len(names), k, n, steps, d)),
        "diverged_at": np.empty((k, n), dtype=np.int64), "converged_at": np.empty((k, n), dtype=np.int64),
    }
    for i, name in enumerate(names):
        for row, kern in enumerate(found):
            if name not in kern.state_names:
                out["states"][i, row] = 0.0
    by_key: dict[str, list[int]] = {}
    for row, kern in enumerate(found):
        by_key.setdefault(kern.key, []).append(row)
    for rows in by_key.values():
        kern = found[rows[0]]
        args = kernels.kernel_arguments(kern, surface, [configs[r] for r in rows], lr[rows], table, d,
                                        bounds["clip_norm"], bounds["clip_value"], tol)
        outputs = (out["path"], out["loss"], out["grad"], out["grad_norm"], out["eff_lr"], out["states"],
                   np.array([names.index(s) for s in kern.state_names], dtype=np.int64),
                   out["diverged_at"], out["converged_at"])
        kernels.run_group(modules[rows[0]], rows, starts, args + outputs)
    state = {name: out["states"][i] for i, name in enumerate(names)}
    points = {name: out[name] for name in ("path", "loss", "grad", "grad_norm")}
    freeze(points, {"eff_lr": out["eff_lr"], **state}, out["diverged_at"], out["converged_at"])
    return Result(
        **points, lr=lr, eff_lr=out["eff_lr"], state=state,
        state_names=tuple(kern.state_names for kern in found),
        diverged_at=out["diverged_at"], converged_at=out["converged_at"],
        labels=tuple(c.label for c in configs), configs=tuple(configs), starts=starts, surface=surface, tol=tol,
    )


def _loop(be, surface, groups, starts, lr, steps, table, chain, bounds):
    """Run the steps; return time-major NumPy records: path [T+1,K,N,D], grad, eff_lr, state_*.

    lr: [K, T] in the groups' internal row order.
    """
    xp = be.xp
    k, (n, d) = lr.shape[0], starts.shape
    stochastic = getattr(surface, "stochastic", False)
    p = be.asarray(np.broadcast_to(starts, (k, n, d)).copy())
    path = be.empty((steps + 1, k, n, d))
    grads = be.empty((steps, k, n, d))
    eff = be.empty((steps, k, n, d))
    names = sorted({s for g in groups for s in _recorded(g.config)})
    states = {s: be.asarray(np.zeros((steps, k, n, d))) for s in names}
    slots = eval_slots([g.config for g in groups])
    evals = be.asarray(np.full((steps, k, n, slots, d), np.nan)) if slots else None
    n_evals = be.asarray(np.zeros((steps, k, n))) if slots else None
    lr_groups = [be.asarray(lr[g.start:g.stop].T[:, :, None, None]) for g in groups]  # [T, k, 1, 1]
    noise = None if table is None else be.asarray(table)
    l1 = be.asarray(st.l1_rows(groups))
    group_state = st.init_states(groups, p, xp)
    path[0] = p
    for t in range(steps):
        g = surface.grad(p, xp, step=t) if stochastic else surface.grad(p, xp)
        g = tf.apply(chain, g, {"noise": None if noise is None else noise[t], "l1": (p, l1), **bounds}, xp)
        grads[t] = g
        for i, grp in enumerate(groups):
            a, b = grp.start, grp.stop
            p_new, group_state[i], eff[t, a:b] = st.step(grp, p[a:b], g[a:b], group_state[i], t + 1, lr_groups[i][t], xp,
                                                         surface.hess, grp.config.info.closure_calls and _closure(surface, chain, noise, bounds, t, xp, l1[a:b]))
            if "evals" in group_state[i]:  # a closure rule's evaluated points, not carried to the next step
                step_evals = group_state[i].pop("evals")
                evals[t, a:b, :, :step_evals.shape[-2]] = step_evals
                n_evals[t, a:b] = group_state[i].pop("n_evals")[..., 0]
            path[t + 1, a:b] = p_new
            for s, value in group_state[i].items():
                if s in states and not isinstance(value, float):
                    states[s][t, a:b] = value
        p = path[t + 1]
    out = {"path": path, "grad": grads, "eff_lr": eff}
    if slots:
        out.update(evals=evals, n_evals=n_evals)
    out.update({f"state_{s}": v for s, v in states.items()})
    return {name: be.to_numpy(a) for name, a in out.items()}


def _closure(surface, chain, noise, bounds, t: int, xp, l1):
    """Step t's closure for a rule that evaluates the loss within its step (L-BFGS): x [..., D] ->
    (loss [..., 1], gradient [..., D]), the gradient as every rule receives it at step t (the same
    mini-batch, noise draw, L1 subgradient and clipping), the loss the surface's (full-batch) value
    plus l1 * sum(|x|) (l1: the rows' subgradient strengths [k, 1, 1], as a torch closure adding it)."""
    stochastic = getattr(surface, "stochastic", False)
    args = {"noise": None if noise is None else noise[t], **bounds}

    def closure(x):
        g = surface.grad(x, xp, step=t) if stochastic else surface.grad(x, xp)
        loss = surface.value(x, xp)[..., None] + l1 * xp.sum(xp.abs(x), axis=-1, keepdims=True)
        return loss, tf.apply(chain, g, {**args, "l1": (x, l1)}, xp)

    return closure


def _finish(surface, configs, starts, lr, arrays, tol, transformed, slow_reason) -> Result:
    """Losses, full gradients, divergence and convergence, then freezing (optimizers.freeze)."""
    path = arrays.pop("path")  # [K, N, T+1, D]
    evals, n_evals = arrays.pop("evals", None), arrays.pop("n_evals", None)
    k, n, t1, d = path.shape
    step_arrays = arrays
    with np.errstate(all="ignore"):
        loss = surface.value(path, np)
        full_grad = surface.grad(path, np)  # noise-free, full-batch
        used_grad = np.concatenate([step_arrays.pop("grad"), full_grad[:, :, -1:]], axis=2)
        if not transformed and not getattr(surface, "stochastic", False):
            full_grad = used_grad
        grad_norm = np.sqrt(np.sum(full_grad * full_grad, axis=-1))

        bad = ~np.isfinite(loss) | (loss > LOSS_BOUND) | ~(grad_norm <= GRAD_NORM_BOUND)
        bad |= ~np.all(np.isfinite(path) & (np.abs(path) <= PARAM_BOUND), axis=-1)
        bad |= ~np.all(np.isfinite(used_grad), axis=-1)
        for a in step_arrays.values():
            bad[:, :, 1:] |= ~np.all(np.isfinite(a), axis=-1)
    diverged_at = _first(bad)
    good_norm = np.where(np.arange(t1) < np.where(diverged_at < 0, t1, diverged_at)[..., None], grad_norm, np.inf)
    converged_at = _first(good_norm < tol) if tol > 0 else np.full((k, n), -1)
    # a trajectory stops where it converged: what the loop computed past that point (and the
    # compiled kernels never compute) is no divergence
    diverged_at = np.where(converged_at >= 0, -1, diverged_at)

    points = {"path": path, "loss": loss, "grad": used_grad, "grad_norm": grad_norm}
    freeze(points, step_arrays, diverged_at, converged_at)
    if evals is not None:
        evals, n_evals = _stop_evals(evals, n_evals, diverged_at, converged_at)
    state = {name[len("state_"):]: a for name, a in step_arrays.items() if name.startswith("state_")}
    return Result(
        evals=evals, n_evals=n_evals,
        **points, lr=lr, eff_lr=step_arrays["eff_lr"], state=state,
        state_names=tuple(_recorded(c) for c in configs),
        diverged_at=diverged_at, converged_at=converged_at,
        labels=tuple(c.label for c in configs), configs=tuple(configs), starts=starts,
        surface=surface, tol=tol, slow_reason=slow_reason,
    )


def _stop_evals(evals, n_evals, diverged_at, converged_at):
    """Evaluated points of the steps before each trajectory's stop index (NaN and a count of 0
    from there, as the path is frozen), non-finite coordinates as NaN: (evals, n_evals int64)."""
    steps = evals.shape[2]
    moving = np.arange(steps) < stop_index(diverged_at, converged_at, steps)[..., None]  # [K, N, T]
    evals[~moving] = np.nan
    evals[~np.isfinite(evals)] = np.nan
    return evals, np.where(moving, n_evals, 0).astype(np.int64)


def _first(mask) -> np.ndarray:
    """[K, N] index of the first True along the last axis of mask [K, N, T], -1 if none."""
    return np.where(mask.any(axis=-1), mask.argmax(axis=-1), -1)


def _recorded(config) -> tuple[str, ...]:
    """The per-parameter states this configuration has, in its optimizer's order."""
    present = config.info.init(np.zeros((1, 1, 1)), config.hp, np)
    return tuple(s for s in config.info.state_names if s in present)


def _check_surface(surface) -> None:
    if not all(hasattr(surface, a) for a in ("value", "grad", "default_starts", "bounds")):
        raise TypeError(f"surface={surface!r} must be a Surface; build one with surfaces.get_surface(name, ...)")


def _check_configs(optimizers, max_configs: int = MAX_CONFIGS):
    if isinstance(optimizers, OptimizerConfig):
        optimizers = [optimizers]
    if isinstance(optimizers, (str, bytes)) or not hasattr(optimizers, "__iter__"):
        raise TypeError(f"optimizers={optimizers!r} must be an OptimizerConfig or a list of them; "
                        "build one with get_optimizer(...)")
    configs = list(optimizers)
    if not 1 <= len(configs) <= max_configs:
        raise ValueError(f"optimizers: {len(configs)} given, allowed 1 to {max_configs}")
    for c in configs:
        if not isinstance(c, OptimizerConfig):
            raise ValueError(f"optimizers: {c!r} is not an OptimizerConfig; build one with get_optimizer(...)")
    return configs


def _check_starts(surface, starts, max_starts: int = MAX_STARTS):
    if starts is None:
        starts = surface.default_starts[:1]
    try:
        arr = np.array(starts, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"starts={starts!r} must be an [N, 2] array of numbers") from None
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"starts must have shape [N, 2], got {list(arr.shape)}")
    if not 1 <= arr.shape[0] <= max_starts:
        raise ValueError(f"starts: {arr.shape[0]} points given, allowed 1 to {max_starts}")
    if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > MAX_START):
        raise ValueError(f"starts must be finite with |x| <= {MAX_START:g}, got {arr[~np.all(np.isfinite(arr) & (np.abs(arr) <= MAX_START), axis=1)][0].tolist()}")
    return arr


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name}={value!r} must be a whole number in [{low}, {high}]")
    return int(value)


def _check_float(name, value, low, high, low_open=False):
    given = value
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, (bool, np.timedelta64)))
    if ok:
        try:
            value = float(value)
        except OverflowError:  # an int beyond float64
            value = float("inf")
        ok = (low < value if low_open else low <= value) and value <= high
    if not ok:
        value = given
        left = "(" if low_open else "["
        raise ValueError(f"{name}={value!r} is outside the allowed range {left}{low:g}, {high:g}]")
    return value
