"""The `Surface` type shared by every 2-D test function, its registry entry, and two helpers.

A surface is a loss over points p = (x, y). `value` and `grad` take p: [..., 2] in any array
namespace `xp` (NumPy, or `array_api_compat.torch`) and return arrays of the same type, so one
definition serves the NumPy engine and the Torch one. Each surface writes its formula once as
`value_xy(x, y, xp)` and `grad_xy(x, y, xp) -> (d/dx, d/dy)` over the coordinate arrays.

A surface with parameters writes its formula as `formula(coefficients) -> (value_xy, grad_xy)`
over a few numbers derived from them (Rosenbrock's a and b, the quadratic's matrix entries):
the compiled kernels trace that formula with the coefficients as kernel inputs, so one kernel
serves every parameter value, and the array code calls it with the numbers themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperparams import Hyperparameter, validate

Array = Any  # a NumPy array or a torch tensor
Point = tuple[float, float]
ValueXY = Callable[[Array, Array, Any], Array]  # (x, y, xp) -> loss, all [...]
GradXY = Callable[[Array, Array, Any], tuple[Array, Array]]  # (x, y, xp) -> (d/dx, d/dy)
HessXY = Callable[[Array, Array, Any], tuple[Array, Array, Array]]  # (x, y, xp) -> (d2/dx2, d2/dxdy, d2/dy2)
Formula = Callable[[dict[str, Any]], tuple[ValueXY, GradXY]]  # coefficients -> (value_xy, grad_xy)


@dataclass(frozen=True)
class SurfaceEntry:
    """What a surface is before its parameters are chosen: the registry's row.

    build(entry, params) -> Surface receives parameters already checked against `specs`.
    log_levels: the contour plot should space its levels logarithmically (values span decades).
    """

    name: str
    title: str
    description: str
    specs: tuple[Hyperparameter, ...]
    log_levels: bool
    build: Callable[[SurfaceEntry, dict[str, Any]], Surface]

    def create(self, given: dict[str, Any]) -> Surface:
        """Validate `given` (missing names take their defaults) and build the surface."""
        return self.build(self, validate(self.name, self.specs, given))


@dataclass(frozen=True)
class TorchLoss:
    """A surface's loss as PyTorch source, for "Copy as PyTorch" (optimizers.torch_code writes it
    into the script as `def loss_fn(p):`, p a float64 tensor [2], or `def loss_fn(p, t=None):`).

    body: the lines of loss_fn, ending in `return <scalar tensor>`.
    setup: lines before loss_fn that define what the body reads (the data).
    imports: the import lines the setup and body need besides torch ("import math").
    per_step: loss_fn(p, t) averages over the mini-batch of step t (t=None: every sample).
    """

    body: tuple[str, ...]
    setup: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    per_step: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Surface:
    """A 2-D loss surface with its parameter values fixed.

    params: the validated parameter values, in spec order (treat as read-only).
    latex: the formula with the actual parameter values, for st.latex.
    bounds: ((xmin, xmax), (ymin, ymax)) recommended plot range.
    minima: known minima, the global one first; saddles: saddle points. All have zero gradient.
    default_starts: starting points for demos, the first is the default.
    min_value: the global minimum value, None when the surface is unbounded below.
    stochastic: `grad` depends on its `step` argument (mini-batches).
    coefficients: (name, float) pairs that `formula` turns into value_xy and grad_xy (empty for a
        surface without parameters, whose value_xy and grad_xy need none).
    hess_xy: the closed-form Hessian (x, y, xp) -> (f_xx, f_xy, f_yy), each [...], for Newton's
        method; None where there is none (a custom formula whose second derivative SymPy cannot
        write as array code). Array code only: the compiled kernels do not trace it.
    torch_loss: the loss as PyTorch source ("Copy as PyTorch").
    Equality and hashing go by name and parameter values; pickling rebuilds from them.
    """

    entry: SurfaceEntry
    params: dict[str, Any]
    latex: str
    value_xy: ValueXY
    grad_xy: GradXY
    bounds: tuple[Point, Point]
    minima: tuple[Point, ...]
    default_starts: tuple[Point, ...]
    min_value: float | None
    saddles: tuple[Point, ...] = ()
    stochastic: bool = False
    coefficients: tuple[tuple[str, float], ...] = ()
    formula: Formula | None = None
    hess_xy: HessXY | None = None
    torch_loss: TorchLoss | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def title(self) -> str:
        return self.entry.title

    @property
    def description(self) -> str:
        return self.entry.description

    @property
    def log_levels(self) -> bool:
        return self.entry.log_levels

    def value(self, p: Array, xp: Any = np) -> Array:
        """Loss at p: [..., 2] -> [...]."""
        return self.value_xy(p[..., 0], p[..., 1], xp)

    def grad(self, p: Array, xp: Any = np, step: int | None = None) -> Array:
        """Closed-form gradient at p: [..., 2] -> [..., 2]. Deterministic, so `step` is unused."""
        return xp.stack(self.grad_xy(p[..., 0], p[..., 1], xp), axis=-1)

    def hess(self, p: Array, xp: Any = np) -> tuple[Array, Array, Array]:
        """The Hessian's entries (f_xx, f_xy, f_yy) at p: [..., 2] -> three [...] arrays (full batch)."""
        if self.hess_xy is None:
            raise ValueError(f"surface {self.name!r} has no closed-form Hessian")
        return self.hess_xy(p[..., 0], p[..., 1], xp)

    def functions(self, coefficients: dict[str, Any]) -> tuple[Callable, Callable]:
        """(value, grad) over p [..., 2] with `coefficients` in place of the surface's own (traced
        leaves in the compiled kernels); a surface without coefficients ignores them."""
        value_xy, grad_xy = self.formula(coefficients) if self.formula else (self.value_xy, self.grad_xy)

        def value(p, xp):
            return value_xy(p[..., 0], p[..., 1], xp)

        def grad(p, xp):
            return xp.stack(grad_xy(p[..., 0], p[..., 1], xp), axis=-1)

        return value, grad

    def _key(self) -> tuple:
        return (self.name, tuple(self.params.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Surface) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self):
        # The formulas are closures over the parameters; rebuilding is cheaper than pickling them.
        return (self.entry.create, (dict(self.params),))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"get_surface({self.name!r}{args})"


def with_formula(formula: Formula, coefficients: dict[str, float]) -> dict[str, Any]:
    """Surface keyword arguments for a formula over `coefficients`: value_xy, grad_xy and both."""
    value_xy, grad_xy = formula(coefficients)
    return dict(value_xy=value_xy, grad_xy=grad_xy, formula=formula,
                coefficients=tuple((name, float(v)) for name, v in coefficients.items()))


def hessian(grad_xy: GradXY, points, h: float = 1e-6) -> np.ndarray:
    """[..., 2, 2] Hessian at points [..., 2] by central differences of the closed-form gradient
    (symmetrised; its error, about h^2 times the third derivatives, is far below what tells a
    minimum from a saddle)."""
    p = np.asarray(points, dtype=float)
    x, y = p[..., 0], p[..., 1]
    d_dx = np.stack(grad_xy(x + h, y, np), axis=-1) - np.stack(grad_xy(x - h, y, np), axis=-1)
    d_dy = np.stack(grad_xy(x, y + h, np), axis=-1) - np.stack(grad_xy(x, y - h, np), axis=-1)
    hess = np.stack((d_dx, d_dy), axis=-1) / (2 * h)
    return 0.5 * (hess + np.swapaxes(hess, -1, -2))


def constant_hess(hxx: float, hxy: float, hyy: float):
    """The Hessian of a quadratic: the same matrix everywhere, in x's shape."""

    def hess(x, y, xp):
        zero = 0.0 * x
        return zero + hxx, zero + hxy, zero + hyy

    return hess


def critical_points(grad_xy: GradXY, guesses: tuple[Point, ...], iterations: int = 10) -> tuple[Point, ...]:
    """Refine approximate critical points until the gradient vanishes to rounding error.

    Newton's method on the closed-form gradient, all guesses at once: guesses [m, 2] -> m points.
    The Hessian comes from central differences of the gradient (`hessian`); its small error only
    slows the convergence (still a factor ~1e-9 per step), it does not move the point converged to.
    """
    p = np.array(guesses, dtype=float)
    for _ in range(iterations):
        g = np.stack(grad_xy(p[:, 0], p[:, 1], np), axis=-1)  # [m, 2]
        p = p - np.linalg.solve(hessian(grad_xy, p), g[..., None])[..., 0]
    return tuple((float(px), float(py)) for px, py in p)


def latex_number(v: float) -> str:
    """`v` for a LaTeX formula: 100, 0.5, 10^{-5}, 2.5 \\times 10^{6}."""
    text = f"{v:g}"
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \times {power}"
