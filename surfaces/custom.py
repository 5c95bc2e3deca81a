"""A surface the user types: f(x, y) as ordinary math, its gradient derived exactly by SymPy.

    s = get_surface("custom", f="sin(x)*y**2 + 0.1*(x**2 + y**2)", xmin=-4.0, xmax=4.0)

The formula is a text parameter like any other, so equality, hashing, pickling and links go by
the text and the plot range; surfaces/expression.py parses it against its whitelist and caps.
Its critical points are unknown: no minima or saddles are listed, min_value is None (so the map
colours f itself, linearly), and the default starts sit at fixed fractions of the plot range.
"""

from __future__ import annotations

from typing import Any

from hyperparams import Hyperparameter

from .base import Surface, SurfaceEntry, TorchLoss
from .expression import function, torch_source

DEFAULT_FORMULA = "0.1*(x**2 + y**2) + sin(x)*cos(y)"
MAX_RANGE = 1e3  # plot limits, well inside the engine's divergence bound
START_FRACTIONS = ((0.15, 0.85), (0.85, 0.2), (0.3, 0.15))  # of the plot range, from its lower corner


def _build_custom(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    f = function(params["f"])
    bounds = tuple(_limits(params, axis) for axis in "xy")
    return Surface(
        entry, params,
        latex=f"f(x, y) = {f.latex}",
        value_xy=f.value, grad_xy=f.grad, hess_xy=f.hess,
        bounds=bounds,
        minima=(),
        default_starts=tuple((_at(bounds[0], u), _at(bounds[1], v)) for u, v in START_FRACTIONS),
        min_value=None,
        torch_loss=_torch_loss(params["f"]),
    )


def _torch_loss(text: str) -> TorchLoss:
    expression, uses_math = torch_source(text)
    return TorchLoss(body=("x, y = p", f"return {expression}"), imports=("import math",) if uses_math else ())


def _limits(params: dict[str, Any], axis: str) -> tuple[float, float]:
    low, high = params[f"{axis}min"], params[f"{axis}max"]
    if not low < high:
        raise ValueError(f"custom: {axis}min={low:g} must be below {axis}max={high:g}")
    return low, high


def _at(limits: tuple[float, float], fraction: float) -> float:
    low, high = limits
    return float(f"{low + fraction * (high - low):.4g}")


def _limit_spec(name: str, default: float) -> Hyperparameter:
    return Hyperparameter(name, default, -MAX_RANGE, MAX_RANGE, help=f"plot range: {name}")


CUSTOM = SurfaceEntry(
    "custom", "Custom f(x, y)",
    "A function you type; its gradient is SymPy's exact derivative.",
    (
        Hyperparameter("f", DEFAULT_FORMULA, kind="text",
                       help="f(x, y) in ordinary math, e.g. `sin(x)*y**2 + 0.1*(x**2 + y**2)`"),
        _limit_spec("xmin", -3.0), _limit_spec("xmax", 3.0), _limit_spec("ymin", -3.0), _limit_spec("ymax", 3.0),
    ),
    log_levels=False, build=_build_custom,
)
