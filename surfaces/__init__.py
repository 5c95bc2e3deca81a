"""2-D loss surfaces for the optimizer visualizer.

    s = get_surface("rosenbrock", b=30.0)
    s.value(p, xp)              # p: [..., 2] -> [...]
    s.grad(p, xp, step=None)    # p: [..., 2] -> [..., 2]

`xp` is `numpy` or `array_api_compat.torch`; arrays come back in the type they went in.
"""

from __future__ import annotations

from typing import Any

from hyperparams import Hyperparameter

from .analytic import ANALYTIC
from .base import Surface, SurfaceEntry
from .custom import CUSTOM
from .regression import REGRESSION, RegressionSurface

__all__ = ["SURFACES", "RegressionSurface", "Surface", "SurfaceEntry", "get_surface", "surface_params"]

# In the order the app lists them.
SURFACES: dict[str, SurfaceEntry] = {entry.name: entry for entry in (*ANALYTIC, REGRESSION, CUSTOM)}


def _entry(name: str) -> SurfaceEntry:
    try:
        return SURFACES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown surface {name!r}; valid: {', '.join(SURFACES)}") from None


def get_surface(name: str, **params: Any) -> Surface:
    """The surface `name` with `params` (the rest at their defaults), checked against its specs."""
    return _entry(name).create(params)


def surface_params(name: str) -> tuple[Hyperparameter, ...]:
    """The parameter specs of surface `name` (empty when it has none)."""
    return _entry(name).specs
