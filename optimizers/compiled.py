"""The compiled fast path: Numba kernels generated from the same rule and surface definitions.

For a group of configurations with the same traced source (same rule, same branch outcomes of
its hyperparameters) and one surface, `kernel_source` traces the surface's value and gradient,
the gradient transforms and the rule (optimizers.trace) and fills them into `_TEMPLATE`: one
loop per trajectory over time, with the state in local variables, writing every recorded array
of the Result directly and freezing diverged or converged trajectories as `run._finish` does.
Hyperparameter values are kernel arguments, so moving a slider reuses the compiled kernel.

Kernels are written as modules under the user's cache directory and compiled with
`numba.njit(cache=True)`, so each one compiles once per machine.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import gradients
from .trace import SUPPORT_SOURCE, Emitter, TraceError, TraceXP, Vec, code_of, leaf

try:  # the fast path is optional: without numba the array path runs
    import numba  # noqa: F401

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

# OPTVIS_COMPILE=0 keeps run(compiled=None) on the array path (compiled=True still compiles)
AUTO = os.environ.get("OPTVIS_COMPILE", "1") != "0"

_KERNELS: dict[str, object] = {}  # key -> loaded module
_PENDING: set[str] = set()
_LOCK = threading.Lock()
_KEY_LOCKS: dict[str, threading.Lock] = {}
_QUEUE = ThreadPoolExecutor(1, thread_name_prefix="optvis-compile")  # one compile process at a time
_THREADS = os.cpu_count() or 1
_WORK_PER_THREAD = 200_000  # trajectory-steps below which a thread is not worth starting


@dataclass(frozen=True)
class Traced:
    """Generated kernel source plus what its arguments need."""

    source: str
    hp_names: tuple[str, ...]  # flattened numeric hyperparameters, order of hpv columns
    state_names: tuple[str, ...]  # recorded per-parameter states, order of the kernel's sidx

    @property
    def key(self) -> str:
        return hashlib.sha1(self.source.encode()).hexdigest()[:16]


def hp_values(config, hp_names) -> list[float]:
    """The numeric hyperparameters of `config` in kernel order (pairs flattened)."""
    hp = config.hp
    out = []
    for name in hp_names:
        base, _, index = name.partition("[")
        value = hp[base]
        out.append(float(value[int(index[:-1])]) if index else float(value))
    return out


def _hp_leaves(hp: dict) -> tuple[dict, list[str]]:
    leaves, names = {}, []
    for name, value in hp.items():
        if name == "lr":  # the scheduled lr is its own kernel input
            continue
        if isinstance(value, bool) or isinstance(value, str):
            leaves[name] = value
        elif isinstance(value, tuple):
            items = []
            for i, v in enumerate(value):
                names.append(f"{name}[{i}]")
                items.append(leaf(f"h{len(names) - 1}", float(v)))
            leaves[name] = tuple(items)
        else:
            names.append(name)
            leaves[name] = leaf(f"h{len(names) - 1}", float(value))
    return leaves, names


@functools.lru_cache(maxsize=512)
def trace_kernel(surface, config, d: int, noise: bool, clip_norm: float | None, clip_value: float | None) -> Traced:
    """Trace surface, transforms and rule for one configuration; TraceError if not traceable.

    Cached: surfaces and configurations are hashable by value.
    """
    info = config.info
    hp, hp_names = _hp_leaves(config.hp)
    p = Vec(leaf(f"p{j}", traj=True) for j in range(d))

    with Emitter("a") as init_em:
        init_state = info.init(p, hp, TraceXP)
    recorded = tuple(s for s in info.state_names if s in init_state)
    state_leaves, state_init, state_vars = {}, [], []  # state_vars: (name, kernel variable names)
    for i, (name, value) in enumerate(init_state.items()):
        if isinstance(value, Vec):
            names = [f"s{i}_{j}" for j in range(d)]
            state_leaves[name] = Vec(leaf(nm, traj=True) for nm in names)
            state_init += [f"{nm} = {code_of(v)}" for nm, v in zip(names, value.items)]
        else:
            state_leaves[name] = leaf(f"s{i}", traj=True)
            names = [f"s{i}"]
            state_init.append(f"s{i} = {code_of(value)}")
        state_vars.append((name, names))

    with Emitter("b") as point_em:
        loss = surface.value(p, TraceXP)
        g = surface.grad(p, TraceXP)
    with Emitter("c") as used_em:
        u = Vec(leaf(f"g{j}", traj=True) for j in range(d))
        if noise:
            u = u + Vec(leaf(f"noise[ti, n, {j}]", traj=True) for j in range(d))
        if clip_norm is not None:
            u = gradients.clip_by_norm(u, leaf("clip_norm", clip_norm), TraceXP)
        if clip_value is not None:
            u = gradients.clip_by_value(u, leaf("clip_value", clip_value), TraceXP)
    with Emitter("e") as step_em:
        uvec = Vec(leaf(f"u{j}", traj=True) for j in range(d))
        p_new, new_state, eff = info.rule(p, uvec, state_leaves, leaf("t"), leaf("lr_t"), hp, TraceXP)
    if set(new_state) != set(init_state):
        raise TraceError("rule state names differ from its init")

    per_step = [line for line, inv in zip(step_em.lines, step_em.invariant) if inv]
    per_traj = [line for line, inv in zip(step_em.lines, step_em.invariant) if not inv]
    table_vars = [line.split(" = ")[0] for line in per_step]
    p_vars = [f"p{j}" for j in range(d)]
    s_vars = [nm for _, names in state_vars for nm in names]
    carried = p_vars + s_vars  # loop-carried per trajectory: block array row i holds carried[i]
    recorded_items = [(recorded.index(name), j, new_state[name].items[j])
                      for name, _ in state_vars if name in recorded for j in range(d)]
    source = _TEMPLATE.format(
        support=SUPPORT_SOURCE,
        n_table=max(len(table_vars), 1),
        n_carried=len(carried),
        hp_loads=_lines([f"h{i} = hpv[kk, {i}]" for i in range(len(hp_names))], 8),
        per_step=_lines(per_step + [f"tab[ti, {i}] = {v}" for i, v in enumerate(table_vars)], 12),
        init=_lines([f"p{j} = starts[n, {j}]" for j in range(d)] + init_em.lines + state_init
                    + [f"carry[{i}, b] = {v}" for i, v in enumerate(carried)], 16),
        load_table=_lines([f"{v} = tab[ti, {i}]" for i, v in enumerate(table_vars)], 20),
        load_carried=_lines([f"{v} = carry[{i}, b]" for i, v in enumerate(carried)], 20),
        point=_lines(point_em.lines + [f"loss_v = {code_of(loss)}"] + [f"g{j} = {code_of(x)}" for j, x in enumerate(g.items)]
                     + ["gn = math.sqrt(" + " + ".join(f"g{j} * g{j}" for j in range(d)) + ")"], 20),
        used=_lines(used_em.lines + [f"u{j} = {code_of(x)}" for j, x in enumerate(u.items)], 24),
        final_used=_lines([f"u{j} = g{j}" for j in range(d)], 24),
        point_ok=" and ".join([f"math.isfinite(p{j}) and abs(p{j}) <= PARAM_BOUND" for j in range(d)]
                              + [f"math.isfinite(u{j})" for j in range(d)]),
        record_point=_lines([f"path[k, n, ti, {j}] = p{j}" for j in range(d)]
                            + [f"grad[k, n, ti, {j}] = u{j}" for j in range(d)], 20),
        step=_lines(per_traj, 20),
        record_step=_lines(
            [f"eff[k, n, ti, {j}] = {code_of(x)}" for j, x in enumerate(eff.items)]
            + [f"states[sidx[{i}], k, n, ti, {j}] = {code_of(v)}" for i, j, v in recorded_items], 20),
        step_ok=" and ".join([f"math.isfinite({code_of(x)})" for x in eff.items]
                             + [f"math.isfinite({code_of(v)})" for _, _, v in recorded_items]) or "True",
        store_carried=_lines([f"carry[{i}, b] = {code_of(v)}" for i, v in enumerate(
            list(p_new.items) + [v for name, _ in state_vars for v in _items(new_state[name])])], 20),
    )
    return Traced(source, tuple(hp_names), recorded)


def _items(value):
    return value.items if isinstance(value, Vec) else (value,)


def _lines(lines, indent: int) -> str:
    return textwrap.indent("\n".join(lines) or "pass", " " * indent)


def is_ready(traced: Traced) -> bool:
    """Whether the kernel is loaded or compiled on disk (loading it then takes milliseconds)."""
    if traced.key in _KERNELS:
        return True
    cache = kernel_dir() / "__pycache__"
    return any(cache.glob(f"k_{traced.key}.kernel*-*.nbi"))


def compile_in_background(traced: Traced) -> None:
    """Compile the kernel into the disk cache in a separate process, so that a later run finds it.

    A process, not a thread: Numba's compiler holds the GIL, which would stall the caller.
    """
    with _LOCK:
        if traced.key in _PENDING or traced.key in _KERNELS:
            return
        _PENDING.add(traced.key)
    _QUEUE.submit(_compile_in_process, traced.key, write_source(traced))


def _compile_in_process(key: str, path: Path) -> None:
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        subprocess.run(  # noqa: S603 - our own interpreter on our own generated file
            [sys.executable, "-c", _WORKER, str(path)], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        pass  # the array path keeps serving; the next run may queue it again
    finally:
        with _LOCK:
            _PENDING.discard(key)


# the module name must match _import_kernel's: Numba's cache refers to the module by name
_WORKER = (
    "import importlib.util, pathlib, sys; p = sys.argv[1]; "
    "name = '_optvis_kernel_' + pathlib.Path(p).stem[2:]; "
    "s = importlib.util.spec_from_file_location(name, p); m = importlib.util.module_from_spec(s); "
    "sys.modules[name] = m; s.loader.exec_module(m)"
)


def module_if_ready(traced: Traced, *, wait: bool):
    """The compiled module of `traced`, or None: numba missing, an unwritable kernel cache, or not
    compiled yet, in which case a background process compiles it for a later call.

    wait: compile now (seconds, once per machine) instead.
    """
    if not AVAILABLE:
        return None
    try:
        if wait or is_ready(traced):
            return load_module(traced)
        compile_in_background(traced)
    except OSError:  # an unwritable kernel cache: the caller's array code serves
        return None
    return None


def load_kernel(traced: Traced):
    """Compile (or load from the on-disk cache) the kernel of `traced`."""
    return load_module(traced).kernel


def load_module(traced: Traced):
    """The generated module of `traced`, compiled or loaded from the on-disk cache."""
    key = traced.key
    if key in _KERNELS:
        return _KERNELS[key]
    with _LOCK:
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:  # one thread compiles a given kernel; others wait for it
        if key not in _KERNELS:
            _KERNELS[key] = _import_kernel(traced)
    return _KERNELS[key]


def write_source(traced: Traced) -> Path:
    """The kernel's module file in the kernel directory (written atomically when missing)."""
    path = kernel_dir() / f"k_{traced.key}.py"
    if not path.exists() or path.read_text() != traced.source:
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(traced.source)
        os.replace(tmp, path)
    return path


def _import_kernel(traced: Traced):
    path = write_source(traced)
    try:
        return _exec_kernel_module(traced.key, path)
    except Exception:  # noqa: BLE001 - an unreadable cache entry: drop it and compile afresh
        for stale in (path.parent / "__pycache__").glob(f"{path.stem}.*"):
            stale.unlink(missing_ok=True)
        return _exec_kernel_module(traced.key, path)


def _exec_kernel_module(key: str, path: Path):
    name = f"_optvis_kernel_{key}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def kernel_dir() -> Path:
    """Where generated kernels live: $OPTVIS_KERNEL_DIR or the user cache directory."""
    base = os.environ.get("OPTVIS_KERNEL_DIR")
    if base:
        directory = Path(base)
    else:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        directory = cache / "optimizer-visualizer" / "kernels"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def run_group(traced: Traced, configs, rows, starts, lr, noise, clip_norm, clip_value, tol, out, sidx):
    """Run one group's kernel, writing rows `rows` of the output arrays in `out`.

    Large runs split the starts between threads (the kernels release the GIL).
    """
    kernel = load_kernel(traced)
    hpv = np.array([hp_values(c, traced.hp_names) for c in configs], dtype=np.float64).reshape(len(configs), -1)
    n, steps = starts.shape[0], lr.shape[1]
    args = (
        np.ascontiguousarray(lr), hpv, noise if noise is not None else np.zeros((1, 1, starts.shape[1])),
        float(clip_norm or 0.0), float(clip_value or 0.0), float(tol),
        out["path"], out["loss"], out["grad"], out["grad_norm"], out["eff_lr"], out["states"],
        np.asarray(sidx, dtype=np.int64), out["diverged_at"], out["converged_at"],
    )
    rows = np.asarray(rows, dtype=np.int64)
    threads = min(_THREADS, max(1, len(rows) * n * steps // _WORK_PER_THREAD), n)
    if threads == 1:
        kernel(rows, starts, 0, n, *args)
        return
    bounds = np.linspace(0, n, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: kernel(rows, starts, bounds[i], bounds[i + 1], *args), range(threads)))


_TEMPLATE = '''"""Generated by optimizers.compiled from the traced rule and surface; do not edit."""
# kernel format 4
import math

import numpy as np
from numba import njit

from optimizers.kernel_support import finish_trajectory

PARAM_BOUND = 1e6
LOSS_BOUND = 1e12
BLOCK = 8  # trajectories advanced together, so the CPU overlaps their dependency chains
{support}

SIGNATURE = (
    "void(int64[::1], float64[:, ::1], int64, int64, float64[:, ::1], float64[:, ::1], float64[:, :, ::1], "
    "float64, float64, float64, float64[:, :, :, ::1], float64[:, :, ::1], float64[:, :, :, ::1], "
    "float64[:, :, ::1], float64[:, :, :, ::1], float64[:, :, :, :, ::1], int64[::1], int64[:, ::1], int64[:, ::1])"
)


@njit(SIGNATURE, cache=True, error_model="numpy", nogil=True)
def kernel(rows, starts, n_lo, n_hi, lr, hpv, noise, clip_norm, clip_value, tol,
           path, loss, grad, gnorm, eff, states, sidx, diverged_at, converged_at):
    steps = lr.shape[1]
    carry = np.empty(({n_carried}, BLOCK))
    active = np.zeros(BLOCK, dtype=np.bool_)
    step_ok = np.ones(BLOCK, dtype=np.bool_)
    last = np.empty(BLOCK, dtype=np.int64)
    d_at = np.empty(BLOCK, dtype=np.int64)
    c_at = np.empty(BLOCK, dtype=np.int64)
    for kk in range(rows.shape[0]):
        k = rows[kk]
{hp_loads}
        tab = np.empty((steps, {n_table}))
        for ti in range(steps):
            t = float(ti + 1)
            lr_t = lr[kk, ti]
{per_step}
        for n0 in range(n_lo, n_hi, BLOCK):
            nb = min(BLOCK, n_hi - n0)
            for b in range(nb):
                n = n0 + b
{init}
                active[b] = True
                step_ok[b] = True
                last[b] = steps
                d_at[b] = -1
                c_at[b] = -1
            remaining = nb
            for ti in range(steps + 1):
                if remaining == 0:
                    break
                if ti < steps:
                    t = float(ti + 1)
                    lr_t = lr[kk, ti]
{load_table}
                for b in range(nb):
                    if not active[b]:
                        continue
                    n = n0 + b
{load_carried}
{point}
                    if ti < steps:
{used}
                    else:
{final_used}
                    loss[k, n, ti] = loss_v
                    gnorm[k, n, ti] = gn
{record_point}
                    ok = step_ok[b] and math.isfinite(loss_v) and loss_v <= LOSS_BOUND and gn <= 1e300 and {point_ok}
                    if not ok:
                        d_at[b] = ti
                        last[b] = max(ti - 1, 0)
                    elif tol > 0 and gn < tol:
                        c_at[b] = ti
                        last[b] = ti
                    if not ok or (tol > 0 and gn < tol) or ti == steps:
                        active[b] = False
                        remaining -= 1
                        continue
{step}
{record_step}
                    step_ok[b] = {step_ok}
{store_carried}
            for b in range(nb):
                n = n0 + b
                diverged_at[k, n] = d_at[b]
                converged_at[k, n] = c_at[b]
                finish_trajectory(k, n, last[b], d_at[b], path, loss, grad, gnorm, eff, states, sidx)
'''
