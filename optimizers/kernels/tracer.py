"""Symbolic tracing of the array code (rules, surfaces, gradient transforms) into scalar code.

The compiled fast path is generated from the same definitions the NumPy and Torch backends run:
a rule or surface function is called once with a tracing namespace `TraceXP` in place of
`xp`, on `Vec` values (one scalar per parameter dimension). Each operation appends one `Line`
(`v12 = v3 * v7`, kept as a format and its operands) to the active `Emitter`; the source writer
(kernels.source) renders the lines, with number literals typed for the kernel's dtype.

The active emitter is per execution context (a `contextvars.ContextVar`), so sessions tracing in
different threads at once never write into each other's code.

Hyperparameters enter as `Sym` leaves that also carry their concrete value, so the Python `if`
statements in the rules (`if weight_decay != 0`, `_lerp`'s `weight < 0.5`) resolve during
tracing. The generated source then only holds for hyperparameters with the same branch
outcomes; configurations are grouped by their generated source, so this is always the case.
A comparison of values unknown at trace time (parameters, gradients, the step count) cannot
drive a Python `if`: it raises `TraceError`, and the caller falls back to the array path.
"""

from __future__ import annotations

import contextvars
import math
import operator
from dataclasses import dataclass


class TraceError(Exception):
    """The function cannot be traced (data-dependent branch or unsupported operation)."""


@dataclass(frozen=True)
class Line:
    """One traced assignment: `target = fmt.format(*operands)`, operands rendered by the writer.

    operands: variable names (str) or Python numbers (rendered as literals of the kernel's dtype).
    traj: the value differs between trajectories; False for values computed once per step.
    """

    target: str
    fmt: str
    operands: tuple
    traj: bool

    def render(self, literal) -> str:
        """The assignment as source, numbers through `literal(x) -> str`."""
        return f"{self.target} = {self.expression(literal)}"

    def expression(self, literal) -> str:
        return self.fmt.format(*(x if isinstance(x, str) else literal(x) for x in self.operands))


def float64_literal(x) -> str:
    """A Python number as a float64 literal of generated code (inf and nan through math)."""
    x = float(x)
    if math.isnan(x):
        return "math.nan"
    if math.isinf(x):
        return "math.inf" if x > 0 else "-math.inf"
    return repr(x)


class Emitter:
    """Collects the straight-line assignments of one code section.

    Operations on traced values append to the active emitter (see `active`), so leaves made
    for one section (hyperparameters) can be used in code emitted into another (the step).
    """

    def __init__(self, prefix: str):
        self.code: list[Line] = []
        self.prefix = prefix
        self.count = 0
        self._token = None

    def emit(self, fmt: str, operands: tuple, val=None, traj: bool = True) -> Sym:
        name = f"{self.prefix}{self.count}"
        self.count += 1
        self.code.append(Line(name, fmt, operands, traj))
        return Sym(name, val, traj)

    @property
    def lines(self) -> list[str]:
        """The assignments as float64 source."""
        return [line.render(float64_literal) for line in self.code]

    def __enter__(self):
        self._token = _ACTIVE.set(_ACTIVE.get() + (self,))
        return self

    def __exit__(self, *exc):
        _ACTIVE.reset(self._token)


_ACTIVE: contextvars.ContextVar[tuple[Emitter, ...]] = contextvars.ContextVar("optvis_emitters", default=())


def _emit(fmt: str, val=None, *operands) -> Sym:
    active = _ACTIVE.get()
    if not active:
        raise TraceError("traced operation outside an emitter")
    traj = any(isinstance(x, Sym) and x.traj for x in operands)
    return active[-1].emit(fmt, tuple(_operand(x) for x in operands), val, traj)


def _operand(x):
    """A traced value's variable name, or a Python number kept for the writer to type."""
    if isinstance(x, Sym):
        return x.name
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, (int, float)):
        return float(x)
    raise TraceError(f"cannot trace a value of type {type(x).__name__}")


def leaf(name: str, val=None, traj: bool = False) -> Sym:
    """A named input of the generated code (a kernel variable), with its value if known.

    traj: the value differs between trajectories (parameters, gradients, state); values that
    depend only on the step, the lr and hyperparameters are computed once per step instead.
    """
    return Sym(name, val, traj)


def code_of(x, literal=float64_literal) -> str:
    """The source text of a traced value or a Python number (numbers through `literal`)."""
    x = _operand(x)
    return x if isinstance(x, str) else literal(x)


def _val(x):
    return x.val if isinstance(x, Sym) else x


def _known(*xs) -> bool:
    return all(_val(x) is not None for x in xs)


class Sym:
    """A scalar in traced code: a variable name, plus its concrete value when known."""

    __slots__ = ("name", "val", "traj")
    __hash__ = object.__hash__

    def __init__(self, name: str, val=None, traj: bool = False):
        self.name, self.val, self.traj = name, val, traj

    def _bin(self, op: str, a, b, fn):
        if isinstance(b, Vec) or isinstance(a, Vec):
            return NotImplemented
        val = fn(_val(a), _val(b)) if _known(a, b) else None
        return _emit(f"{{}} {op} {{}}", val, a, b)

    def __add__(self, o): return self._bin("+", self, o, operator.add)
    def __radd__(self, o): return self._bin("+", o, self, operator.add)
    def __sub__(self, o): return self._bin("-", self, o, operator.sub)
    def __rsub__(self, o): return self._bin("-", o, self, operator.sub)
    def __mul__(self, o): return self._bin("*", self, o, operator.mul)
    def __rmul__(self, o): return self._bin("*", o, self, operator.mul)
    def __truediv__(self, o): return self._bin("/", self, o, _safe_div)
    def __rtruediv__(self, o): return self._bin("/", o, self, _safe_div)
    def __pow__(self, o): return self._bin("**", self, o, _safe_pow)
    def __rpow__(self, o): return self._bin("**", o, self, _safe_pow)
    def __mod__(self, o): return self._bin("%", self, o, operator.mod)
    def __floordiv__(self, o): return self._bin("//", self, o, operator.floordiv)

    def __neg__(self):
        return _emit("-{}", None if self.val is None else -self.val, self)

    def _cmp(self, op, other, fn):
        if isinstance(other, Vec):
            return NotImplemented
        if _known(self, other):
            return fn(_val(self), _val(other))
        return _emit(f"{{}} {op} {{}}", None, self, other)

    def __lt__(self, o): return self._cmp("<", o, operator.lt)
    def __le__(self, o): return self._cmp("<=", o, operator.le)
    def __gt__(self, o): return self._cmp(">", o, operator.gt)
    def __ge__(self, o): return self._cmp(">=", o, operator.ge)
    def __eq__(self, o): return self._cmp("==", o, operator.eq)
    def __ne__(self, o): return self._cmp("!=", o, operator.ne)

    def __bool__(self):
        if self.val is None:
            raise TraceError(f"data-dependent branch on {self.name}")
        return bool(self.val)

    def __float__(self):
        raise TraceError("conversion of a traced value to float")


def _safe_div(a, b):
    try:
        return a / b
    except ZeroDivisionError:
        return math.copysign(math.inf, a) if a else math.nan


def _safe_pow(a, b):
    try:
        out = a**b
    except (OverflowError, ZeroDivisionError):
        return None
    return None if isinstance(out, complex) else out


class Vec:
    """A [D] vector of traced scalars: the tracer's stand-in for an array [..., D]."""

    __slots__ = ("items",)
    __hash__ = object.__hash__  # == compares elementwise, as on arrays

    def __init__(self, items):
        self.items = tuple(items)

    def _map(self, other, fn, reverse=False):
        if isinstance(other, Vec):
            pairs = zip(self.items, other.items)
        else:
            pairs = ((a, other) for a in self.items)
        return Vec(fn(b, a) if reverse else fn(a, b) for a, b in pairs)

    def __add__(self, o): return self._map(o, operator.add)
    def __radd__(self, o): return self._map(o, operator.add, True)
    def __sub__(self, o): return self._map(o, operator.sub)
    def __rsub__(self, o): return self._map(o, operator.sub, True)
    def __mul__(self, o): return self._map(o, operator.mul)
    def __rmul__(self, o): return self._map(o, operator.mul, True)
    def __truediv__(self, o): return self._map(o, operator.truediv)
    def __rtruediv__(self, o): return self._map(o, operator.truediv, True)
    def __pow__(self, o): return self._map(o, operator.pow)
    def __rpow__(self, o): return self._map(o, operator.pow, True)
    def __neg__(self): return Vec(-a for a in self.items)
    def __lt__(self, o): return self._map(o, operator.lt)
    def __gt__(self, o): return self._map(o, operator.gt)
    def __le__(self, o): return self._map(o, operator.le)
    def __ge__(self, o): return self._map(o, operator.ge)
    def __eq__(self, o): return self._map(o, operator.eq)
    def __ne__(self, o): return self._map(o, operator.ne)

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and key[0] is Ellipsis and isinstance(key[1], int):
            return self.items[key[1]]
        raise TraceError(f"unsupported index {key!r}")

    def __bool__(self):
        raise TraceError("data-dependent branch on a vector")

    @property
    def shape(self):
        raise TraceError("shape of a traced vector")


def _unary(fn_name: str, math_fn):
    def f(x):
        if isinstance(x, Vec):
            return Vec(f(a) for a in x.items)
        if not isinstance(x, Sym):
            return math_fn(x)
        try:
            val = None if x.val is None else math_fn(x.val)
        except (ValueError, OverflowError):
            val = None
        return _emit(f"{fn_name}({{}})", val, x)

    return f


def _binary(fn_name: str, py_fn):
    def f(a, b):
        if isinstance(a, Vec) or isinstance(b, Vec):
            a_items = a.items if isinstance(a, Vec) else None
            b_items = b.items if isinstance(b, Vec) else None
            d = len(a_items or b_items)
            return Vec(f(a_items[i] if a_items else a, b_items[i] if b_items else b) for i in range(d))
        sym = a if isinstance(a, Sym) else b if isinstance(b, Sym) else None
        if sym is None:
            return py_fn(a, b)
        val = py_fn(_val(a), _val(b)) if _known(a, b) else None
        return _emit(f"{fn_name}({{}}, {{}})", val, a, b)

    return f


def _sign(x):
    """np.sign of a scalar: 1.0, -1.0, 0.0 for either zero, NaN for NaN (torch.sign through
    array_api_compat, as the Torch backend calls it, agrees)."""
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return x - x


def _nan_max(a, b):
    return a if (a != a or a >= b) and not (b != b) else b


def _nan_min(a, b):
    return a if (a != a or a <= b) and not (b != b) else b


class TraceXP:
    """The subset of the array namespace that traced code may use (scalar semantics per entry)."""

    pi = math.pi
    sqrt = staticmethod(_unary("math.sqrt", math.sqrt))
    exp = staticmethod(_unary("math.exp", math.exp))
    log = staticmethod(_unary("math.log", math.log))
    sin = staticmethod(_unary("math.sin", math.sin))
    cos = staticmethod(_unary("math.cos", math.cos))
    tan = staticmethod(_unary("math.tan", math.tan))
    sinh = staticmethod(_unary("math.sinh", math.sinh))
    cosh = staticmethod(_unary("math.cosh", math.cosh))
    tanh = staticmethod(_unary("math.tanh", math.tanh))
    abs = staticmethod(_unary("abs", abs))

    @staticmethod
    def sign(x):
        """np.sign, one conditional expression; its literals take the kernel's dtype, so a float32
        entry stays float32, and x - x is 0.0 for either zero and NaN for NaN."""
        if isinstance(x, Vec):
            return Vec(TraceXP.sign(a) for a in x.items)
        if not isinstance(x, Sym):
            return _sign(x)
        return _emit("({1} if {0} > {3} else ({2} if {0} < {3} else {0} - {0}))",
                     None if x.val is None else _sign(x.val), x, 1.0, -1.0, 0.0)
    maximum = staticmethod(_binary("nan_max", _nan_max))
    minimum = staticmethod(_binary("nan_min", _nan_min))

    @staticmethod
    def where(cond, a, b):
        if isinstance(cond, Vec) or isinstance(a, Vec) or isinstance(b, Vec):
            d = next(len(x.items) for x in (cond, a, b) if isinstance(x, Vec))
            pick = [x.items if isinstance(x, Vec) else (x,) * d for x in (cond, a, b)]
            return Vec(TraceXP.where(c, x, y) for c, x, y in zip(*pick))
        if not isinstance(cond, Sym):
            return a if cond else b
        return _emit("{1} if {0} else {2}", None, cond, a, b)

    @staticmethod
    def stack(items, axis=-1):
        if axis != -1:
            raise TraceError("stack only along the last axis")
        return Vec(items)

    @staticmethod
    def sum(x, axis=-1, keepdims=False):
        if not isinstance(x, Vec) or axis != -1:
            raise TraceError("sum only over the last axis of a vector")
        total = x.items[0]
        for a in x.items[1:]:
            total = total + a
        return Vec((total,) * len(x.items)) if keepdims else total

    @staticmethod
    def clip(x, low, high):
        return TraceXP.minimum(TraceXP.maximum(x, low), high)
