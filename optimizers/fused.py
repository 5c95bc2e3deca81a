"""Fused elementwise updates: one compiled loop per rule for large parameter vectors (MNIST).

The array path applies a rule as a dozen NumPy expressions, each a full pass over the
parameters (a temporary per expression). For the ~100k parameters of an MLP that is most of a
training step. Here the same rule from optimizers/rules.py is traced on one scalar entry
(optimizers.trace: `leaf` values for the parameter, the gradient and each state entry) into
straight-line code, and placed in one Numba loop over the entries of every row:

    kernel(p, u, out, eff, record, lr, hpv, t, *states)
        p, u, out, eff: [k, P] parameters, gradient, new parameters, effective lr (written only
                        when `record`); states: [k, P] each, updated in place
        lr: [k] float64 scheduled lr per row; hpv: the numeric hyperparameters (kernel order);
        t: 1-based step count

Lines that depend only on the step, the lr and the hyperparameters run once per row. Rules
that reduce over the parameter vector (gnsgd's norm) or keep a scalar state (NAdam's
mu_product) cannot be written per entry: tracing them raises TraceError and the caller keeps
the array path. Arithmetic runs in float64 on the loaded values; in float64 the results equal
the array path's, in float32 they are the float64 result rounded once (the array path rounds
after every operation).

Kernels are compiled for float32 and float64 arrays and cached on disk like the 2-D kernels
(optimizers.compiled: same directory, same background compilation).
"""

from __future__ import annotations

import functools
import re

from . import compiled
from .compiled import Traced, _hp_leaves, _lines
from .trace import SUPPORT_SOURCE, Emitter, Sym, TraceError, TraceXP, code_of, leaf


class EntryXP(TraceXP):
    """TraceXP for one parameter entry: reductions over the parameter vector are refused."""

    @staticmethod
    def sum(x, axis=-1, keepdims=False):
        raise TraceError("a reduction over the parameter vector cannot be fused per entry")

    @staticmethod
    def stack(items, axis=-1):
        raise TraceError("stack cannot be fused per entry")


@functools.lru_cache(maxsize=256)
def trace_update(config) -> Traced:
    """The fused kernel source for `config`'s rule and branch outcomes; TraceError if it has none.

    Configurations with the same rule and the same hyperparameter branch outcomes share a
    source (hyperparameter values are kernel arguments), so moving a slider reuses a kernel.
    """
    info = config.info
    hp, hp_names = _hp_leaves(config.hp)
    p = leaf("p0", traj=True)
    with Emitter("a"):
        init_state = info.init(p, hp, EntryXP)
    names = tuple(init_state)
    for name, value in init_state.items():
        if not (isinstance(value, Sym) and value.traj):
            raise TraceError(f"state {name!r} is not per parameter")
    states = {name: leaf(f"s{i}", traj=True) for i, name in enumerate(names)}
    with Emitter("e") as em:
        p_new, new_state, eff = info.rule(p, leaf("u0", traj=True), states, leaf("t"), leaf("lr_t"), hp, EntryXP)
    if set(new_state) != set(names):
        raise TraceError("rule state names differ from its init")
    per_row = [line for line, inv in zip(em.lines, em.invariant) if inv]
    per_entry = [line for line, inv in zip(em.lines, em.invariant) if not inv]
    row_vars = ["lr_t"] + [f"h{i}" for i in range(len(hp_names))] + [line.split(" = ")[0] for line in per_row]
    loads = ["p0 = p[kk, i]", "u0 = u[kk, i]"] + [f"s{i} = st{i}[kk, i]" for i in range(len(names))]
    stores = [f"out[kk, i] = {code_of(p_new)}"] + [f"st{i}[kk, i] = {code_of(new_state[n])}"
                                                   for i, n in enumerate(names)]
    body = loads + [_cast_literals(line) for line in per_entry] + stores
    record = body + [f"eff[kk, i] = {code_of(eff)}"]
    state_args = "".join(f", st{i}" for i in range(len(names)))
    kernels = "\n".join(_KERNEL.format(
        dtype=dtype, cast=cast, state_args=state_args,
        row=_lines([f"h{i} = hpv[{i}]" for i in range(len(hp_names))] + per_row, 4),
        unpack=_lines([f"{v} = {cast}(row[{i}])" for i, v in enumerate(row_vars)], 8),
        body_record=_lines([line.replace("CAST(", f"{cast}(") for line in record], 16),
        body=_lines([line.replace("CAST(", f"{cast}(") for line in body], 16),
        signature=_signature(dtype, len(names)),
    ) for dtype, cast in (("float32", "np.float32"), ("float64", "np.float64")))
    source = _TEMPLATE.format(support=SUPPORT_SOURCE, state_args=state_args, kernels=kernels,
                              row_vars=", ".join(row_vars), row=_lines([f"h{i} = hpv[{i}]" for i in range(len(hp_names))]
                                                                       + per_row, 4))
    return Traced(source, tuple(hp_names), names)


def _signature(dtype: str, n_states: int) -> str:
    arr = f"{dtype}[:, ::1]"
    return '"void(' + ", ".join([arr] * 4 + ["boolean", "float64[::1]", "float64[::1]", "float64"]
                                + [arr] * n_states) + ')"'


_LITERAL = re.compile(r"(?<![\w.])(\d+\.\d*(?:e[-+]?\d+)?|\d+e[-+]?\d+|inf|nan)(?![\w.])")


def _cast_literals(line: str) -> str:
    """Number literals of a per-entry line as CAST(...): in the float32 kernel they stay float32,
    as a Python float meeting a float32 array does in NumPy."""
    target, _, expr = line.partition(" = ")
    return f"{target} = " + _LITERAL.sub(lambda m: f"CAST({m.group(1)!r})" if m.group(1) in ("inf", "nan")
                                         else f"CAST({m.group(1)})", expr)


def traceable(config) -> bool:
    try:
        trace_update(config)
    except TraceError:
        return False
    return True


def get_kernel(config, *, wait: bool):
    """The compiled update of `config`, or None (untraceable, numba missing, or not yet compiled).

    wait: compile now (seconds, once per machine) rather than in a background process while
    the caller goes on with the array path.
    """
    try:
        traced = trace_update(config)
    except TraceError:
        return None
    module = compiled.module_if_ready(traced, wait=wait)
    return None if module is None else module.kernel


_TEMPLATE = '''"""Generated by optimizers.fused from the traced rule; do not edit."""
# fused format 2
import math

import numpy as np
from numba import njit
{support}


@njit(cache=True, nogil=True, error_model="numpy")
def row_values(lr_t, hpv, t):
    """Values that depend only on the row's lr, the hyperparameters and the step (float64)."""
{row}
    return ({row_vars},)

{kernels}

def kernel(p, u, out, eff, record, lr, hpv, t{state_args}):
    """The update of every row of p [k, P] (float32 or float64), states in place."""
    (kernel_float32 if p.dtype == np.float32 else kernel_float64)(p, u, out, eff, record, lr, hpv, t{state_args})
'''

_KERNEL = '''
@njit({signature}, cache=True, nogil=True, error_model="numpy")
def kernel_{dtype}(p, u, out, eff, record, lr, hpv, t{state_args}):
    for kk in range(p.shape[0]):
        row = row_values(lr[kk], hpv, t)
{unpack}
        if record:
            for i in range(p.shape[1]):
{body_record}
        else:
            for i in range(p.shape[1]):
{body}
'''
