"""Basin-of-convergence maps: one trajectory from every pixel of a G x G grid over the bounds.

Each pixel is coloured by where its trajectory ended: which known minimum it reached (the
surface's minima plus, for Rastrigin, the local minima of its lattice), how many steps it took to
converge, or its final loss. Only end states are computed (optimizers.run_final).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from optimizers import FinalResult, run_final
from optimizers.final import MAX_FINAL_TRAJECTORIES
from surfaces.base import critical_points

MAX_RESOLUTION = 500
DIVERGED = -2  # basin label of a diverged trajectory
NOWHERE = -1  # ended away from every known minimum (still moving, or at a saddle)


@dataclass(frozen=True, eq=False)
class BasinMap:
    """K maps over a G x G grid of starts (row i is y = ys[i], column j is x = xs[j]).

    xs: [G] and ys: [G] pixel centres; minima: [M, 2] known minima (global ones first).
    basin: [K, G, G] int, the index into minima of the minimum each start's trajectory ended
        within `radius` of, NOWHERE (-1) if none, DIVERGED (-2) if it diverged.
    steps: [K, G, G] float, steps to converge (NaN where it did not converge within the steps).
    loss: [K, G, G] final loss (at the last good point for diverged starts).
    final: the FinalResult behind it (starts in row-major pixel order).
    """

    xs: np.ndarray
    ys: np.ndarray
    minima: np.ndarray
    radius: float
    basin: np.ndarray
    steps: np.ndarray
    loss: np.ndarray
    final: FinalResult

    @property
    def labels(self) -> tuple:
        return self.final.labels

    def start_at(self, i: int, j: int) -> tuple[float, float]:
        """The start of pixel (row i, column j)."""
        return float(self.xs[j]), float(self.ys[i])

    def shares(self) -> np.ndarray:
        """[K, M + 2] fraction of pixels per basin, then NOWHERE, then DIVERGED."""
        k = self.basin.shape[0]
        flat = self.basin.reshape(k, -1)
        counts = [np.sum(flat == m, axis=1) for m in range(len(self.minima))]
        counts += [np.sum(flat == NOWHERE, axis=1), np.sum(flat == DIVERGED, axis=1)]
        return np.stack(counts, axis=1) / flat.shape[1]


def known_minima(surface) -> np.ndarray:
    """[M, 2] the surface's minima, then the local minima a basin map can tell apart."""
    return np.array(_known(surface), dtype=float).reshape(-1, 2)


@functools.lru_cache(maxsize=64)
def _known(surface) -> tuple:
    points = list(surface.minima)
    if surface.name == "rastrigin":
        points += [p for p in _lattice_minima(surface) if min(np.hypot(p[0] - q[0], p[1] - q[1]) for q in points) > 1e-6]
    return tuple(points)


def _lattice_minima(surface) -> list:
    """Rastrigin's local minima: one near each integer point inside the bounds, refined by Newton."""
    (x0, x1), (y0, y1) = surface.bounds
    guesses = [(float(i), float(j)) for i in range(int(np.ceil(x0)), int(np.floor(x1)) + 1)
               for j in range(int(np.ceil(y0)), int(np.floor(y1)) + 1)]
    return list(critical_points(surface.grad_xy, tuple(guesses)))


def grid_starts(surface, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(xs [G], ys [G], starts [G*G, 2]) pixel centres over the bounds, row-major (y, then x)."""
    (x0, x1), (y0, y1) = surface.bounds
    xs = x0 + (np.arange(resolution) + 0.5) * (x1 - x0) / resolution
    ys = y0 + (np.arange(resolution) + 0.5) * (y1 - y0) / resolution
    gx, gy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([gx.ravel(), gy.ravel()], axis=-1)


def basin_map(surface, configs, resolution: int = 250, steps: int = 200, *, tol: float = 1e-6,
              radius: float | None = None, compiled: bool | None = None) -> BasinMap:
    """Basin maps of each configuration on `surface` at G x G = resolution^2 pixels.

    resolution: G, 2 <= G <= MAX_RESOLUTION, and K * G^2 <= MAX_FINAL_TRAJECTORIES.
    radius: how close to a minimum an end point must be to count as reaching it (default 2 %
        of the bounds' diagonal, at most a third of the closest two known minima's distance).
    Other arguments as run_final's.
    """
    configs = list(configs) if isinstance(configs, (list, tuple)) else [configs]
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or not 2 <= resolution <= MAX_RESOLUTION:
        raise ValueError(f"resolution={resolution!r} must be a whole number in [2, {MAX_RESOLUTION}]")
    if len(configs) * resolution**2 > MAX_FINAL_TRAJECTORIES:
        raise ValueError(f"{len(configs)} maps of {resolution} x {resolution} pixels exceed the cap of "
                         f"{MAX_FINAL_TRAJECTORIES:,} trajectories; lower the resolution or map fewer optimizers")
    minima = known_minima(surface)
    radius = _radius(surface, minima) if radius is None else float(radius)
    if not radius > 0:
        raise ValueError(f"radius={radius!r} must be > 0")
    xs, ys, starts = grid_starts(surface, int(resolution))
    fin = run_final(surface, configs, starts, steps, tol=tol, compiled=compiled)
    shape = (len(configs), resolution, resolution)
    basin = label_basins(fin.point, fin.diverged_at, minima, radius).reshape(shape)
    return BasinMap(xs, ys, minima, radius, basin, fin.steps_to_converge().reshape(shape),
                    fin.loss.reshape(shape), fin)


def label_basins(points: np.ndarray, diverged_at: np.ndarray, minima: np.ndarray, radius: float) -> np.ndarray:
    """[...] int: index of the minimum within `radius` of each point [..., 2], NOWHERE or DIVERGED."""
    if len(minima) == 0:
        label = np.full(points.shape[:-1], NOWHERE)
    else:
        dist = np.linalg.norm(points[..., None, :] - minima, axis=-1)  # [..., M]
        nearest = np.argmin(dist, axis=-1)
        label = np.where(np.take_along_axis(dist, nearest[..., None], axis=-1)[..., 0] <= radius, nearest, NOWHERE)
    return np.where(diverged_at >= 0, DIVERGED, label)


def _radius(surface, minima: np.ndarray) -> float:
    (x0, x1), (y0, y1) = surface.bounds
    radius = 0.02 * float(np.hypot(x1 - x0, y1 - y0))
    if len(minima) > 1:
        gaps = np.linalg.norm(minima[:, None] - minima[None], axis=-1)
        radius = min(radius, float(gaps[np.triu_indices(len(minima), 1)].min()) / 3)
    return radius
