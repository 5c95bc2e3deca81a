"""A function of x and y typed as ordinary math, made safe and exact: text -> SymPy -> array code.

    expr = parse("sin(x)*y**2 + 0.1*(x**2 + y**2)")     # a SymPy expression, or ValueError
    value, dx, dy = evaluator(expr, diff(expr, X), diff(expr, Y))(x, y, xp)

The text is parsed by Python's `ast` (mode "eval"), which only builds a syntax tree, and the tree
is turned into SymPy node by node against a whitelist: numbers, x, y, pi, e, + - * / ** and the
functions in FUNCTIONS. Nothing typed reaches eval, exec or a parser that evaluates (SymPy's
`sympify` and `parse_expr` call eval). Caps keep what SymPy computes small: the length is checked
before parsing (a 10,000-deep nesting makes the parser itself recurse), then the tree's size and
depth, the constant exponents and the nesting of powers, whose exact integer arithmetic
((9**9)**9)**9... grows tenfold per level.

The gradient is SymPy's exact derivative. `evaluator` turns expressions into one straight-line
program over an array namespace `xp` (NumPy, array_api_compat.torch, or the kernels' tracer),
each distinct subexpression computed once; constant parts are folded to Python floats first, so
every backend computes the same operations on the same numbers.
"""

from __future__ import annotations

import ast
import functools
import math
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy

MAX_LENGTH = 200  # characters, checked before parsing
MAX_NODES = 100  # names, numbers, operations and calls (sin(x) is two: the call and x)
MAX_DEPTH = 30  # nesting of operations and calls (a long sum or product counts once)
MAX_NUMBER = 1e6  # magnitude of a number literal
MAX_EXPONENT = 10  # magnitude of a constant exponent
MAX_POWER_NESTING = 3  # powers within powers: ((x**2 + 1)**2 + 1)**2

_COUNTED = "names, numbers, operations and calls"

X, Y = sympy.symbols("x y", real=True)
NAMES = {"x": X, "y": Y, "pi": sympy.pi, "e": sympy.E}
FUNCTIONS = {"sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "exp": sympy.exp, "log": sympy.log,
             "sqrt": sympy.sqrt, "abs": sympy.Abs, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh}
GRAMMAR = (f"numbers, `x`, `y`, `pi`, `e`; `+ - * / **` and parentheses; `{' '.join(FUNCTIONS)}`. At most {MAX_LENGTH} "
           f"characters, {MAX_NODES} {_COUNTED}, nesting {MAX_DEPTH} deep (a long sum counts once); numbers up to "
           f"{MAX_NUMBER:,.0f}, constant exponents up to {MAX_EXPONENT}, no power in an exponent (`9**9**9`), powers nested "
           f"at most {MAX_POWER_NESTING} deep.")

_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b}
_CHAINS = {ast.Add: "sum", ast.Sub: "sum", ast.Mult: "product", ast.Div: "product"}
_OPERATORS = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
              ast.BitAnd: "&", ast.BitOr: "|", ast.Invert: "~", ast.Not: "not"}
_REFUSED = {  # syntax outside the whitelist, in the user's words
    ast.Attribute: "attribute access (a.b) is not allowed",
    ast.Subscript: "subscripts (a[i]) are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed", ast.GeneratorExp: "comprehensions are not allowed",
    ast.Compare: "comparisons are not allowed", ast.BoolOp: "and/or are not allowed",
    ast.IfExp: "if-else is not allowed", ast.NamedExpr: "assignments (:=) are not allowed",
    ast.Starred: "starred arguments (*a) are not allowed", ast.JoinedStr: "strings are not allowed",
    ast.Tuple: "tuples, lists, sets and dicts are not allowed", ast.List: "tuples, lists, sets and dicts are not allowed",
    ast.Set: "tuples, lists, sets and dicts are not allowed", ast.Dict: "tuples, lists, sets and dicts are not allowed",
}
_PRINTABLE = frozenset(string.printable) - frozenset("\x0b\x0c\r\n")


class _Refused(Exception):
    """What is wrong with the text; parse() adds which text it was."""


def parse(text: Any, owner: str = "custom: f") -> sympy.Expr:
    """The SymPy expression `text` stands for; ValueError saying what is not allowed otherwise."""
    try:
        return _parse(text)
    except _Refused as exc:
        raise ValueError(f"{owner}={_shown(text)} {exc}") from None


def _shown(text: Any) -> str:
    """The text for a message, cut short (a refused input can be a megabyte long)."""
    if not isinstance(text, str):
        return repr(text)[:40]
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")


def _parse(text: Any) -> sympy.Expr:
    if not isinstance(text, str):
        raise _Refused(f"must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise _Refused(f"has {len(text)} characters; at most {MAX_LENGTH} are allowed")
    odd = next((c for c in text if c not in _PRINTABLE), None)
    if odd is not None:
        raise _Refused(f"contains {odd!r}: only printable ASCII characters are allowed")
    if not text.strip():
        raise _Refused("is empty: type a function of x and y, e.g. x**2 + y**2")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise _Refused(f"is not a formula Python can read ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):  # unreachable below MAX_LENGTH; kept as a backstop
        raise _Refused("is nested too deeply") from None
    called = [node.func for node in ast.walk(tree) if isinstance(node, ast.Call)]  # counted with their calls
    nodes = sum(isinstance(node, ast.expr) for node in ast.walk(tree)) - len(called)
    if nodes > MAX_NODES:
        raise _Refused(f"has {nodes} {_COUNTED}; at most {MAX_NODES} are allowed")
    expr = _convert(tree.body, depth=1, powers=0)
    if expr.has(sympy.I, sympy.zoo, sympy.oo, sympy.nan):
        raise _Refused(f"is not a finite real function (it simplifies to {_shown(str(expr))[1:-1]})")
    if not expr.free_symbols:
        raise _Refused("is a constant: the function must depend on x or y")
    return expr


def _convert(node: ast.AST, depth: int, powers: int) -> sympy.Expr:
    """One whitelisted AST node as SymPy; `powers`: how many powers enclose it."""
    if depth > MAX_DEPTH:
        raise _Refused(f"is nested more than {MAX_DEPTH} deep")
    if isinstance(node, ast.Constant):
        return _number(node.value)
    if isinstance(node, ast.Name):
        if node.id not in NAMES:
            raise _Refused(f"uses the name {node.id!r}: only x, y, pi and e are allowed")
        return NAMES[node.id]
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = _convert(node.operand, depth + 1, powers)
            return -operand if isinstance(node.op, ast.USub) else operand
        raise _Refused(f"uses the operator {_OPERATORS[type(node.op)]!r}, which is not allowed")
    if isinstance(node, ast.BinOp):
        return _binary(node, depth, powers)
    if isinstance(node, ast.Call):
        return _call(node, depth, powers)
    raise _Refused(_REFUSED.get(type(node), f"uses Python syntax ({type(node).__name__}) that is not allowed"))


def _number(value: Any) -> sympy.Expr:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = {bool: "True and False are", complex: "complex numbers are", str: "strings are", bytes: "bytes are"}
        raise _Refused(f"contains {value!r:.20}: {kind.get(type(value), 'it is')} not allowed")
    if not abs(value) <= MAX_NUMBER:  # also NaN: inf and nan have no literal, but 1e999 is inf
        raise _Refused(f"contains the number {value:g}; numbers up to {MAX_NUMBER:,.0f} in magnitude are allowed")
    # Floats keep their exact binary value; integers stay exact (x**2, not x**2.0).
    return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)


def _binary(node: ast.BinOp, depth: int, powers: int) -> sympy.Expr:
    op = type(node.op)
    if op is ast.BitXor:
        raise _Refused("uses '^', which is not allowed: write powers as x**2")
    if op not in _BINARY:
        raise _Refused(f"uses the operator {_OPERATORS[op]!r}, which is not allowed")
    if op is ast.Pow:
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.right)):
            raise _Refused("has a power in an exponent (like 9**9**9), which is not allowed")
        powers += 1
        if powers > MAX_POWER_NESTING:
            raise _Refused(f"nests powers more than {MAX_POWER_NESTING} deep")
    # A sum or product of many terms nests to the left in the tree but counts once: SymPy
    # flattens it, and x + x + ... + x is no deeper than x + x.
    chained = _CHAINS.get(op) is not None and _CHAINS.get(type(getattr(node.left, "op", None))) == _CHAINS[op]
    left = _convert(node.left, depth if chained else depth + 1, powers)
    right = _convert(node.right, depth + 1, powers)
    if op is ast.Pow and not right.free_symbols:
        exponent = _real(right)
        if exponent is None or not abs(exponent) <= MAX_EXPONENT:
            raise _Refused(f"has the exponent {right}; constant exponents up to {MAX_EXPONENT} in magnitude "
                           "are allowed")
    return _BINARY[op](left, right)


def _call(node: ast.Call, depth: int, powers: int) -> sympy.Expr:
    func = node.func
    if not isinstance(func, ast.Name):
        raise _Refused(_REFUSED.get(type(func), "calls only the functions " + ", ".join(FUNCTIONS)))
    if func.id not in FUNCTIONS:
        raise _Refused(f"calls {func.id!r}: only {', '.join(FUNCTIONS)} are allowed")
    if node.keywords:
        raise _Refused(f"passes keyword arguments to {func.id}, which is not allowed")
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        raise _Refused(_REFUSED[ast.Starred])
    if len(node.args) != 1:
        raise _Refused(f"calls {func.id} with {len(node.args)} arguments; it takes one")
    return FUNCTIONS[func.id](_convert(node.args[0], depth + 1, powers))


def _real(constant: sympy.Expr) -> float | None:
    """A constant expression as a Python float: None when it is not a finite real number."""
    try:
        with np.errstate(all="ignore"):
            value = float(evaluator(constant)(0.0, 0.0, np)[0])
    except (TypeError, OverflowError, ValueError):  # I, zoo, a 10^6000 integer
        return None
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Function:
    """A typed function with its exact partial derivatives, and both as array code over x, y: [...].

    value(x, y, xp) -> f; grad(x, y, xp) -> (df/dx, df/dy), as Surface.value_xy and grad_xy;
    hess(x, y, xp) -> (f_xx, f_xy, f_yy), as Surface.hess_xy, or None where a second derivative has
    no array counterpart (abs differentiates to sign, sign to a Dirac delta).
    """

    expr: sympy.Expr
    dx: sympy.Expr
    dy: sympy.Expr
    value: Callable[[Any, Any, Any], Any]
    grad: Callable[[Any, Any, Any], tuple]
    hess: Callable[[Any, Any, Any], tuple] | None

    @property
    def latex(self) -> str:
        return sympy.latex(self.expr)


def function(text: Any, owner: str = "custom: f") -> Function:
    """The Function `text` stands for (see parse); ValueError saying what is not allowed otherwise."""
    if not isinstance(text, str):
        parse(text, owner)  # raises, naming the type
    return _function(text, owner)


@functools.lru_cache(maxsize=256)  # the page rebuilds its surface on every rerun
def _function(text: str, owner: str) -> Function:
    expr = parse(text, owner)
    dx, dy = sympy.diff(expr, X), sympy.diff(expr, Y)
    try:
        value, grad = evaluator(expr), evaluator(dx, dy)
    except ValueError as exc:
        raise ValueError(f"{owner}={_shown(text)} {exc}") from None
    try:
        hess = evaluator(sympy.diff(dx, X), sympy.diff(dx, Y), sympy.diff(dy, Y))
    except ValueError:  # Newton's method is then not offered on this surface
        hess = None
    return Function(expr, dx, dy, lambda x, y, xp: value(x, y, xp)[0], grad, hess)


@functools.lru_cache(maxsize=256)  # built with the surface, on every rerun of the page
def torch_source(text: str) -> tuple[str, bool]:
    """(`text` as a PyTorch expression of tensors x and y, whether it reads `math`), for "Copy as
    PyTorch": the typed formula itself, its functions torch's (math's where the argument is a
    constant, which torch's functions refuse), pi and e math's. ValueError as parse for bad text."""
    parse(text)
    tree = ast.parse(text.strip(), mode="eval")
    uses_math = False

    def constant(node: ast.AST) -> bool:
        return not any(isinstance(n, ast.Name) and n.id in ("x", "y") for n in ast.walk(node))

    class ToTorch(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            nonlocal uses_math
            if node.id in ("pi", "e"):
                uses_math = True
                return ast.Attribute(ast.Name("math", ast.Load()), node.id, ast.Load())
            return node

        def visit_Call(self, node: ast.Call) -> ast.AST:
            nonlocal uses_math
            module = "math" if constant(node.args[0]) else "torch"
            name = "fabs" if (module, node.func.id) == ("math", "abs") else node.func.id
            uses_math |= module == "math"
            self.generic_visit(node)
            return ast.Call(ast.Attribute(ast.Name(module, ast.Load()), name, ast.Load()), node.args, [])

    return ast.unparse(ToTorch().visit(tree)), uses_math


# --- SymPy expressions as array code --------------------------------------------------------------

_FUNCTION_NAMES = {sympy.sin: "sin", sympy.cos: "cos", sympy.tan: "tan", sympy.exp: "exp", sympy.log: "log",
                   sympy.sinh: "sinh", sympy.cosh: "cosh", sympy.tanh: "tanh", sympy.Abs: "abs",
                   sympy.sign: "sign"}  # sign: the derivative of abs
MAX_MULTIPLIED_POWER = 10_000  # whole powers up to this are multiplied out (SymPy folds (x**10)**10)

Step = Callable[[list, Any, Any, Any], Any]  # (registers, x, y, xp) -> value


def evaluator(*exprs: sympy.Expr) -> Callable[[Any, Any, Any], tuple]:
    """(x, y, xp) -> the values of `exprs` over arrays x, y: [...] (a constant one too takes x's shape).

    ValueError when a constant part is not a finite real number, or for a SymPy function that
    has no array counterpart (only the whitelisted functions and their derivatives appear).
    """
    steps: list[Step] = []
    known: list = []  # the folded value of each constant register, None for the others
    index: dict[sympy.Expr, int] = {}

    def visit(node: sympy.Expr) -> int:
        if node not in index:
            step = _step(node, visit)
            value = None
            if not node.free_symbols:
                value = _fold(node, step, known)
                step = _constant_step(value)
            index[node] = len(steps)
            steps.append(step)
            known.append(value)
        return index[node]

    outputs = [visit(e) for e in exprs]
    constant = [not e.free_symbols for e in exprs]

    def run(x, y, xp) -> tuple:
        registers: list = []
        for step in steps:
            registers.append(step(registers, x, y, xp))
        # A constant output (d/dx of x + y) still takes x's shape: 0 * x + c.
        return tuple(0.0 * x + registers[i] if c else registers[i] for i, c in zip(outputs, constant))

    return run


def _constant_step(value: float) -> Step:
    return lambda r, x, y, xp: value


def _fold(node: sympy.Expr, step: Step, known: list) -> float:
    """A constant part as a Python float, computed once, in NumPy float64 like the arrays."""
    try:
        with np.errstate(all="ignore"):
            value = float(step(known, None, None, np))
    except (TypeError, OverflowError, ValueError):  # a 10^6000 integer, a complex power
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"has a constant part, {node}, that is not a finite real number")
    return value


def _step(node: sympy.Expr, visit: Callable[[sympy.Expr], int]) -> Step:
    """How one node is computed from the registers of its arguments (visited first)."""
    if node == X:
        return lambda r, x, y, xp: x
    if node == Y:
        return lambda r, x, y, xp: y
    if node.is_Number or node.is_NumberSymbol:
        return lambda r, x, y, xp: np.float64(float(node))
    if isinstance(node, (sympy.Add, sympy.Mul)):
        args = [visit(a) for a in node.args]
        combine = (lambda a, b: a + b) if isinstance(node, sympy.Add) else (lambda a, b: a * b)

        def fold(r, x, y, xp):
            total = r[args[0]]
            for i in args[1:]:
                total = combine(total, r[i])
            return total

        return fold
    if isinstance(node, sympy.Pow):
        return _power(node, visit)
    name = _FUNCTION_NAMES.get(node.func)
    if name is None:
        raise ValueError(f"needs {node.func.__name__}, which has no array counterpart")
    arg = visit(node.args[0])
    return lambda r, x, y, xp: getattr(xp, name)(r[arg])


def _power(node: sympy.Pow, visit: Callable[[sympy.Expr], int]) -> Step:
    """b**n by multiplications for whole n, sqrt(b)**n for halves, b**e otherwise: the same
    operations on every backend (NumPy, Torch and libm would each round pow their own way)."""
    base, exponent = node.args
    b, e = visit(base), visit(exponent)
    if exponent.free_symbols:
        return lambda r, x, y, xp: r[b] ** r[e]
    twice = 2.0 * float(exponent)  # finite: visit folded it
    if not (twice.is_integer() and abs(twice) <= 2 * MAX_MULTIPLIED_POWER):
        return lambda r, x, y, xp: r[b] ** r[e]
    if twice == 0:  # x**0.0 (SymPy folds x**0 to 1, not x**0.0)
        return lambda r, x, y, xp: 0.0 * r[b] + 1.0
    half = int(twice) % 2 == 1
    n = abs(int(twice)) if half else abs(int(twice)) // 2

    def power(r, x, y, xp):
        out = _whole_power(xp.sqrt(r[b]) if half else r[b], n)
        return 1.0 / out if twice < 0 else out

    return power


def _whole_power(a, n: int):
    """a**n for n >= 1 by repeated squaring (a**1 is a itself)."""
    out = None
    while True:
        if n & 1:
            out = a if out is None else out * a
        n >>= 1
        if not n:
            return out
        a = a * a
