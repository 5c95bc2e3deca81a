"""Trajectory kernels: the 2-D runs, traced from the rule, the surface and the gradient transforms.

For one configuration and one surface, `trajectory_kernel` traces the surface's value and
gradient, the transform chain (optimizers.transforms) and the rule (kernels.tracer) and writes
a Numba kernel around them: one loop per trajectory over time, the state in local variables,
blocks of BLOCK trajectories advanced together. Hyperparameters (hpv), surface coefficients (q)
and the clip bounds are kernel arguments, so moving any slider reuses the compiled kernel: one
kernel per surface kind, rule structure (branch outcomes of its hyperparameters) and transforms.
The L1 penalty (optimizers.transforms) is traced too: its subgradient as the chain's first
transform, its proximal step after the rule, with the strengths as kernel inputs after the
hyperparameters (hyper.L1_INPUTS), so a configuration without L1 keeps its kernel unchanged.

Two kinds, from the same trace:
- record=True writes every array of the Result up to each trajectory's stop (optimizers.freeze
  fills what follows), as the array code does;
- record=False keeps only the final state (the last good point, its loss and gradient norm) and
  the stop indices, for basin maps and sweeps (optimizers.final). Its loop is the other way
  round: blocks of WIDE trajectories, each step one branch-free pass over the block in arrays,
  which the compiler turns into SIMD code.
A trajectory stops at the first point out of bounds (optimizers.freeze's bounds) or with a
gradient norm below tol, as in the array code.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import transforms as tf
from ..freeze import GRAD_NORM_BOUND, LOSS_BOUND, PARAM_BOUND
from ..schedules import ScheduleConfig
from .cache import Kernel
from .hyper import hp_leaves, hp_values
from .source import Source, module_header
from .tracer import Emitter, Line, TraceError, TraceXP, Vec, code_of, float64_literal, leaf

BLOCK = 8  # trajectories advanced together, so the CPU overlaps their dependency chains
WIDE = 256  # the final-state kernel's block: one SIMD loop over it per step
_THREADS = os.cpu_count() or 1
_WORK_PER_THREAD = 200_000  # trajectory-steps below which a thread is not worth starting
_COMMON_ARGS = ("int64[::1], float64[:, ::1], int64, int64, float64[:, ::1], float64[:, ::1], float64[::1], "
                "float64[:, :, ::1], float64, float64, float64")
_RECORD_ARGS = ("float64[:, :, :, ::1], float64[:, :, ::1], float64[:, :, :, ::1], float64[:, :, ::1], "
                "float64[:, :, :, ::1], float64[:, :, :, :, ::1], int64[::1], int64[:, ::1], int64[:, ::1]")
_FINAL_ARGS = "float64[:, :, ::1], float64[:, ::1], float64[:, ::1], int64[:, ::1], int64[:, ::1]"


@dataclass(frozen=True)
class _Trace:
    """The traced sections of one kernel (see _write for where each goes)."""

    d: int
    hp_names: tuple[str, ...]
    coef_names: tuple[str, ...]
    recorded: tuple[str, ...]
    init: list  # Lines and str assignments: the initial state from p
    state_vars: list  # (state name, kernel variable names)
    point: list[Line]
    loss: str
    g: list[str]
    used: list[Line]
    u: list[str]
    per_step: list[Line]  # depend only on the step, lr and hyperparameters
    per_traj: list[Line]
    eff: list[str]
    recorded_items: list  # (index in recorded, dimension j, code)
    carried_new: list[str]  # new values of p and the state, in carried order


def trajectory_kernel(surface, config, d: int, transforms: tuple, record: bool = True) -> Kernel:
    """The kernel of `config` on `surface` with `transforms`; TraceError if not traceable.

    Cached by value, with the lr, schedule and label left out (they are kernel inputs or play
    no part), so dragging the lr slider traces nothing new.
    """
    if config.info.curvature:
        raise TraceError(f"{config.name}: the rule takes the surface's Hessian, which the kernels do not trace")
    if config.info.array_only:
        raise TraceError(f"{config.name}: {config.info.array_only}")
    if config.info.closure_calls is not None:
        raise TraceError(f"{config.name}: the rule evaluates the loss within its step, which the kernels do not trace")
    hparams = tuple((name, 0.0 if name == "lr" else value) for name, value in config.hparams)
    l1 = 1.0 if config.l1 > 0 else 0.0  # a kernel input too: only whether there is one shapes the code
    return _cached(surface, dataclasses.replace(config, hparams=hparams, schedule=ScheduleConfig(), label="", l1=l1),
                   d, transforms, record)


@functools.lru_cache(maxsize=512)
def _cached(surface, config, d: int, transforms: tuple, record: bool) -> Kernel:
    return build_trajectory_kernel(surface, config, d, transforms, record)


def build_trajectory_kernel(surface, config, d: int, transforms: tuple, record: bool = True) -> Kernel:
    """trajectory_kernel without its cache: traces and writes anew on every call."""
    trace = _trace(surface, config, d, transforms)
    return Kernel(_write(trace, record), trace.hp_names, trace.recorded if record else (), trace.coef_names)


def _trace(surface, config, d: int, transforms: tuple) -> _Trace:
    info = config.info
    hp, hp_names = hp_leaves(config.hp)
    l1 = {}  # the L1 penalty's strengths, kernel inputs after the hyperparameters (hyper.L1_INPUTS)
    for name, used in (("l1_subgradient", tf.L1 in transforms), ("l1_proximal", config.l1_proximal > 0)):
        if used:
            l1[name] = leaf(f"h{len(hp_names)}", getattr(config, name))
            hp_names.append(name)
    coef_names = tuple(name for name, _ in surface.coefficients)
    coefs = {name: leaf(f"q{i}", value) for i, (name, value) in enumerate(surface.coefficients)}
    value_fn, grad_fn = surface.functions(coefs)
    p = Vec(leaf(f"p{j}", traj=True) for j in range(d))

    with Emitter("a") as init_em:
        init_state = info.init(p, hp, TraceXP)
    recorded = tuple(s for s in info.state_names if s in init_state)
    state_leaves, state_init, state_vars = {}, [], []
    for i, (name, value) in enumerate(init_state.items()):
        names = [f"s{i}_{j}" for j in range(d)] if isinstance(value, Vec) else [f"s{i}"]
        state_leaves[name] = Vec(leaf(nm, traj=True) for nm in names) if isinstance(value, Vec) else leaf(names[0], traj=True)
        state_init += [f"{nm} = {code_of(v)}" for nm, v in zip(names, _items(value))]
        state_vars.append((name, names))

    with Emitter("b") as point_em:
        loss = value_fn(p, TraceXP)
        g = grad_fn(p, TraceXP)
    with Emitter("c") as used_em:
        args = {"noise": Vec(leaf(f"noise[ti, n, {j}]", traj=True) for j in range(d)),
                "clip_norm": leaf("clip_norm"), "clip_value": leaf("clip_value"), "l1": (p, l1.get("l1_subgradient"))}
        u = tf.apply(transforms, Vec(leaf(f"g{j}", traj=True) for j in range(d)), args, TraceXP)
    with Emitter("e") as step_em:
        uvec = Vec(leaf(f"u{j}", traj=True) for j in range(d))
        p_new, new_state, eff = info.rule(p, uvec, state_leaves, leaf("t"), leaf("lr_t"), hp, TraceXP)
        if "l1_proximal" in l1:
            p_new = tf.soft_threshold(p_new, leaf("lr_t") * l1["l1_proximal"], TraceXP)
    if set(new_state) != set(init_state):
        raise TraceError("rule state names differ from its init")
    return _Trace(
        d=d, hp_names=tuple(hp_names), coef_names=coef_names, recorded=recorded,
        init=init_em.code + state_init, state_vars=state_vars,
        point=point_em.code, loss=code_of(loss), g=[code_of(x) for x in g.items],
        used=used_em.code, u=[code_of(x) for x in u.items],
        per_step=[line for line in step_em.code if not line.traj],
        per_traj=[line for line in step_em.code if line.traj],
        eff=[code_of(x) for x in eff.items],
        recorded_items=[(recorded.index(name), j, code_of(new_state[name].items[j]))
                        for name, _ in state_vars if name in recorded for j in range(d)],
        carried_new=[code_of(v) for v in p_new.items]
        + [code_of(v) for name, _ in state_vars for v in _items(new_state[name])],
    )


def _items(value):
    return value.items if isinstance(value, Vec) else (value,)


def _write(tr: _Trace, record: bool) -> str:
    """The kernel module's source for trace `tr`."""
    if not record:
        return _write_final(tr)
    d = tr.d
    table_vars = [line.target for line in tr.per_step]
    carried = [f"p{j}" for j in range(d)] + [nm for _, names in tr.state_vars for nm in names]
    src = module_header("A trajectory kernel generated by optimizers.kernels.trajectory; do not edit.",
                        ["", "from optimizers.kernels.support import nan_max, nan_min"])
    src.lines([f"PARAM_BOUND = {PARAM_BOUND!r}", f"LOSS_BOUND = {LOSS_BOUND!r}",
               f"GRAD_NORM_BOUND = {GRAD_NORM_BOUND!r}", f"BLOCK = {BLOCK}", ""])
    src.line(f'SIGNATURE = "void({_COMMON_ARGS}, {_RECORD_ARGS})"')
    src.line()
    src.line()
    src.line('@njit(SIGNATURE, cache=True, error_model="numpy", nogil=True)')
    with src.block("def kernel(rows, starts, n_lo, n_hi, lr, hpv, q, noise, clip_norm, clip_value, tol, "
                   "path, loss, grad, gnorm, eff, states, sidx, diverged_at, converged_at)"):
        src.lines(["steps = lr.shape[1]", f"carry = np.empty(({len(carried)}, BLOCK))",
                   "active = np.zeros(BLOCK, dtype=np.bool_)", "step_ok = np.ones(BLOCK, dtype=np.bool_)",
                   "d_at = np.empty(BLOCK, dtype=np.int64)", "c_at = np.empty(BLOCK, dtype=np.int64)"])
        src.lines(f"q{i} = q[{i}]" for i in range(len(tr.coef_names)))
        with src.block("for kk in range(rows.shape[0])"):
            src.line("k = rows[kk]")
            src.lines(f"h{i} = hpv[kk, {i}]" for i in range(len(tr.hp_names)))
            src.line(f"tab = np.empty((steps, {max(len(table_vars), 1)}))")
            with src.block("for ti in range(steps)"):
                src.lines(["t = float(ti + 1)", "lr_t = lr[kk, ti]"])
                src.code(tr.per_step)
                src.lines(f"tab[ti, {i}] = {v}" for i, v in enumerate(table_vars))
            with src.block("for n0 in range(n_lo, n_hi, BLOCK)"):
                src.line("nb = min(BLOCK, n_hi - n0)")
                with src.block("for b in range(nb)"):
                    src.line("n = n0 + b")
                    src.lines(f"p{j} = starts[n, {j}]" for j in range(d))
                    src.lines(x.render(float64_literal) if isinstance(x, Line) else x for x in tr.init)
                    src.lines(f"carry[{i}, b] = {v}" for i, v in enumerate(carried))
                    src.lines(["active[b] = True", "step_ok[b] = True", "d_at[b] = -1", "c_at[b] = -1"])
                src.line("remaining = nb")
                with src.block("for ti in range(steps + 1)"):
                    with src.block("if remaining == 0"):
                        src.line("break")
                    with src.block("if ti < steps"):
                        src.lines(["t = float(ti + 1)", "lr_t = lr[kk, ti]"])
                        src.lines(f"{v} = tab[ti, {i}]" for i, v in enumerate(table_vars))
                    with src.block("for b in range(nb)"):
                        _write_trajectory_step(src, tr, carried)
                with src.block("for b in range(nb)"):
                    src.lines(["n = n0 + b", "diverged_at[k, n] = d_at[b]", "converged_at[k, n] = c_at[b]"])
    return src.text()


def _write_trajectory_step(src: Source, tr: _Trace, carried: list[str]) -> None:
    """One trajectory's point check and step, inside the loop over the block."""
    d = tr.d
    with src.block("if not active[b]"):
        src.line("continue")
    src.line("n = n0 + b")
    src.lines(f"{v} = carry[{i}, b]" for i, v in enumerate(carried))
    src.code(tr.point)
    src.line(f"loss_v = {tr.loss}")
    src.lines(f"g{j} = {x}" for j, x in enumerate(tr.g))
    src.line("gn = math.sqrt(" + " + ".join(f"g{j} * g{j}" for j in range(d)) + ")")
    with src.block("if ti < steps"):
        src.code(tr.used)
        src.lines(f"u{j} = {x}" for j, x in enumerate(tr.u))
    with src.block("else"):
        src.lines(f"u{j} = g{j}" for j in range(d))
    point_ok = " and ".join([f"math.isfinite(p{j}) and abs(p{j}) <= PARAM_BOUND" for j in range(d)]
                            + [f"math.isfinite(u{j})" for j in range(d)])
    src.line("ok = step_ok[b] and math.isfinite(loss_v) and loss_v <= LOSS_BOUND and gn <= GRAD_NORM_BOUND"
             f" and {point_ok}")
    src.lines(["loss[k, n, ti] = loss_v", "gnorm[k, n, ti] = gn"])
    src.lines([f"path[k, n, ti, {j}] = p{j}" for j in range(d)] + [f"grad[k, n, ti, {j}] = u{j}" for j in range(d)])
    with src.block("if not ok"):
        src.line("d_at[b] = ti")
    with src.block("elif tol > 0 and gn < tol"):
        src.line("c_at[b] = ti")
    with src.block("if not ok or (tol > 0 and gn < tol) or ti == steps"):
        src.lines(["active[b] = False", "remaining -= 1", "continue"])
    src.code(tr.per_traj)
    src.lines(f"eff[k, n, ti, {j}] = {x}" for j, x in enumerate(tr.eff))
    src.lines(f"states[sidx[{i}], k, n, ti, {j}] = {x}" for i, j, x in tr.recorded_items)
    step_ok = " and ".join([f"math.isfinite({x})" for x in tr.eff]
                           + [f"math.isfinite({x})" for _, _, x in tr.recorded_items]) or "True"
    src.line(f"step_ok[b] = {step_ok}")
    src.lines(f"carry[{i}, b] = {v}" for i, v in enumerate(tr.carried_new))


def _write_final(tr: _Trace) -> str:
    """The final-state kernel's source: blocks of WIDE trajectories, each step one branch-free
    loop over the block that the compiler turns into SIMD code.

    Every carried value lives in a [WIDE] array; a stopped trajectory keeps its values (selects,
    not branches), and a block ends early once none is left moving. The last point (t = T) is
    checked after the loop, with the full gradient as the used one, as in the array code.
    """
    d = tr.d
    table_vars = [line.target for line in tr.per_step]
    carried = [f"p{j}" for j in range(d)] + [nm for _, names in tr.state_vars for nm in names]
    finals = ["f_loss", "f_gn"] + [f"f_p{j}" for j in range(d)]
    src = module_header("A final-state kernel generated by optimizers.kernels.trajectory; do not edit.",
                        ["", "from optimizers.kernels.support import nan_max, nan_min"])
    src.lines([f"PARAM_BOUND = {PARAM_BOUND!r}", f"LOSS_BOUND = {LOSS_BOUND!r}",
               f"GRAD_NORM_BOUND = {GRAD_NORM_BOUND!r}", f"WIDE = {WIDE}", ""])
    src.line(f'SIGNATURE = "void({_COMMON_ARGS}, {_FINAL_ARGS})"')
    src.line()
    src.line()
    src.line('@njit(SIGNATURE, cache=True, error_model="numpy", nogil=True)')
    with src.block("def kernel(rows, starts, n_lo, n_hi, lr, hpv, q, noise, clip_norm, clip_value, tol, "
                   "fin_p, fin_loss, fin_gnorm, diverged_at, converged_at)"):
        src.line("steps = lr.shape[1]")
        src.lines(f"c_{v} = np.empty(WIDE)" for v in carried)
        src.lines(f"{v} = np.empty(WIDE)" for v in finals)
        src.lines(["alive = np.empty(WIDE, dtype=np.bool_)", "sok = np.empty(WIDE, dtype=np.bool_)",
                   "d_at = np.empty(WIDE, dtype=np.int64)", "c_at = np.empty(WIDE, dtype=np.int64)"])
        src.lines(f"q{i} = q[{i}]" for i in range(len(tr.coef_names)))
        with src.block("for kk in range(rows.shape[0])"):
            src.line("k = rows[kk]")
            src.lines(f"h{i} = hpv[kk, {i}]" for i in range(len(tr.hp_names)))
            src.line(f"tab = np.empty((steps, {max(len(table_vars), 1)}))")
            with src.block("for ti in range(steps)"):
                src.lines(["t = float(ti + 1)", "lr_t = lr[kk, ti]"])
                src.code(tr.per_step)
                src.lines(f"tab[ti, {i}] = {v}" for i, v in enumerate(table_vars))
            with src.block("for n0 in range(n_lo, n_hi, WIDE)"):
                src.line("nb = min(WIDE, n_hi - n0)")
                with src.block("for b in range(nb)"):
                    src.line("n = n0 + b")
                    src.lines(f"p{j} = starts[n, {j}]" for j in range(d))
                    src.lines(x.render(float64_literal) if isinstance(x, Line) else x for x in tr.init)
                    src.lines(f"c_{v}[b] = {v}" for v in carried)
                    src.lines(["alive[b] = True", "sok[b] = True", "d_at[b] = -1", "c_at[b] = -1"])
                with src.block("for ti in range(steps)"):
                    src.lines(["t = float(ti + 1)", "lr_t = lr[kk, ti]", "first = ti == 0"])
                    src.lines(f"{v} = tab[ti, {i}]" for i, v in enumerate(table_vars))
                    src.line("moving = 0")
                    with src.block("for b in range(nb)"):
                        _write_final_point(src, tr, carried, used=True)
                        src.line("go = act & ok & (not conv)")
                        src.code(tr.per_traj)
                        step_ok = " & ".join([f"math.isfinite({x})" for x in tr.eff]
                                             + [f"math.isfinite({x})" for _, _, x in tr.recorded_items]) or "True"
                        src.line(f"sok[b] = {step_ok}")
                        src.lines(f"c_{v}[b] = {new} if go else {v}" for v, new in zip(carried, tr.carried_new))
                        src.lines(["alive[b] = go", "moving += go"])
                    with src.block("if moving == 0"):
                        src.line("break")
                src.line("first = steps == 0")
                with src.block("for b in range(nb)"):
                    src.line("ti = steps")
                    _write_final_point(src, tr, carried, used=False)
                with src.block("for b in range(nb)"):
                    src.line("n = n0 + b")
                    src.lines(["fin_loss[k, n] = f_loss[b]", "fin_gnorm[k, n] = f_gn[b]"])
                    src.lines(f"fin_p[k, n, {j}] = f_p{j}[b]" for j in range(d))
                    src.lines(["diverged_at[k, n] = d_at[b]", "converged_at[k, n] = c_at[b]"])
    return src.text()


def _write_final_point(src: Source, tr: _Trace, carried: list[str], used: bool) -> None:
    """Inside the loop over a block: load trajectory b, check its point, record it if it is the
    last good one. `used`: apply the gradient transforms (False at t = T, where the used gradient
    is the full one)."""
    d = tr.d
    src.lines(["n = n0 + b", "act = alive[b]"])
    src.lines(f"{v} = c_{v}[b]" for v in carried)
    src.code(tr.point)
    src.line(f"loss_v = {tr.loss}")
    src.lines(f"g{j} = {x}" for j, x in enumerate(tr.g))
    src.line("gn = math.sqrt(" + " + ".join(f"g{j} * g{j}" for j in range(d)) + ")")
    if used:
        src.code(tr.used)
        src.lines(f"u{j} = {x}" for j, x in enumerate(tr.u))
    else:
        src.lines(f"u{j} = g{j}" for j in range(d))
    point_ok = " & ".join([f"math.isfinite(p{j}) & (abs(p{j}) <= PARAM_BOUND)" for j in range(d)]
                          + [f"math.isfinite(u{j})" for j in range(d)])
    src.line("ok = sok[b] & math.isfinite(loss_v) & (loss_v <= LOSS_BOUND) & (gn <= GRAD_NORM_BOUND)"
             f" & {point_ok}")
    src.line("conv = ok & (gn < tol)")  # tol = 0 never converges: gn >= 0
    src.line("keep = act & (ok | first)")  # a start out of bounds is kept, as the array code does
    src.lines(["f_loss[b] = loss_v if keep else f_loss[b]", "f_gn[b] = gn if keep else f_gn[b]"])
    src.lines(f"f_p{j}[b] = p{j} if keep else f_p{j}[b]" for j in range(d))
    src.lines(["d_at[b] = ti if act & (not ok) else d_at[b]", "c_at[b] = ti if act & conv else c_at[b]"])


def kernel_arguments(kernel: Kernel, surface, configs, lr, noise, d: int, clip_norm, clip_value, tol) -> tuple:
    """The arguments after (rows, starts, n_lo, n_hi) shared by both kinds, for one group.

    lr: [k, T] the group's lr table; noise: [T, N, D] or None.
    """
    hpv = np.array([hp_values(c, kernel.hp_names) for c in configs], dtype=np.float64).reshape(len(configs), -1)
    q = np.array([dict(surface.coefficients)[name] for name in kernel.coef_names], dtype=np.float64)
    return (np.ascontiguousarray(lr), hpv, q, noise if noise is not None else np.zeros((1, 1, d)),
            float(clip_norm or 0.0), float(clip_value or 0.0), float(tol))


def run_group(module, rows, starts, args: tuple) -> None:
    """Run one group's kernel over all starts (args: the kernel's arguments after n_hi).

    Large runs split the starts between threads (the kernels release the GIL).
    """
    rows = np.asarray(rows, dtype=np.int64)
    n, steps = starts.shape[0], args[0].shape[1]
    threads = min(_THREADS, max(1, len(rows) * n * steps // _WORK_PER_THREAD), n)
    if threads == 1:
        module.kernel(rows, starts, 0, n, *args)
        return
    bounds = np.linspace(0, n, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: module.kernel(rows, starts, bounds[i], bounds[i + 1], *args), range(threads)))
