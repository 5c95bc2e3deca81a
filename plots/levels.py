"""The surface's values on a grid and how the views colour them: linear or log-scaled levels.

Shared by the map's background image (plots.raster), the 3-D view and the animation, so that
every view draws the same levels.
"""

from __future__ import annotations

import math

import numpy as np

LOG_FLOOR = 1e-3  # log-scaled views show log10(f - f* + LOG_FLOOR): f = f* sits 3 decades down
N_LEVELS = 24  # about as many filled levels (linear views round the step up to 1, 2, 2.5 or 5)


def surface_grid(surface, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs [n], ys [n], values [n, n]) over surface.bounds; values[i, j] = f(xs[j], ys[i])."""
    (x0, x1), (y0, y1) = surface.bounds
    xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
    gx, gy = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        return xs, ys, surface.value(np.stack((gx, gy), axis=-1), np)


def log_scaled(surface) -> bool:
    """Whether the views colour (and lift) by log10(f - f* + LOG_FLOOR) rather than by f.

    Only surfaces with log_levels and a known minimum value: f - f* needs f*.
    """
    return bool(surface.log_levels) and surface.min_value is not None


def z_values(surface, values: np.ndarray) -> np.ndarray:
    """What colour and height show for loss values: log10(f - f* + 1e-3) when log_scaled, else f."""
    if log_scaled(surface):
        return np.log10(np.maximum(values - surface.min_value, 0.0) + LOG_FLOOR)
    return values


def colorbar(surface, z: np.ndarray) -> dict:
    """Colourbar labelled in the surface's own units: decades of f - f* on log-scaled views."""
    bar = {"thickness": 14, "len": 0.85, "outlinewidth": 0}
    if not log_scaled(surface):
        return {**bar, "title": {"text": "f(x, y)", "side": "right"}}
    name = "f" if surface.min_value == 0 else "f − f*"
    top = math.floor(float(np.nanmax(z)))
    decades = list(range(int(math.log10(LOG_FLOOR)) + 1, top + 1))
    every = max(1, math.ceil(len(decades) / 8))
    decades = decades[::-1][::every][::-1]
    vals = [math.log10(LOG_FLOOR)] + [math.log10(10.0**e + LOG_FLOOR) for e in decades]
    text = ["0"] + [_decade(e) for e in decades]
    return {**bar, "tickvals": vals, "ticktext": text,
            "title": {"text": f"{name} (log scale)", "side": "right"}}


def _decade(e: int) -> str:
    return f"{10.0**e:g}" if -2 <= e <= 3 else f"10<sup>{e}</sup>"


def nice_step(step: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at least `step`: levels (and the
    colourbar ticks plotly puts on them) at round values."""
    if not step > 0 or not math.isfinite(step):
        return 1.0
    power = 10.0 ** math.floor(math.log10(step))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= step * (1 - 1e-9))
