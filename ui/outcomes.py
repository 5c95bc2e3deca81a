"""How a trajectory ended, in words: diverged, converged to the global minimum, stuck in a local
minimum at f = 9.95, at a saddle point, or still moving after T steps.

"Converged" is the engine's (the gradient norm fell below tol, Result.converged_at); where it
converged is read off the surface: the Hessian at the point tells a minimum from a saddle or a
maximum, and its value against surface.min_value tells the global minimum from a local one. A
run that did not converge is said to be at a critical point when Newton's method from its end
point lands within NEAR (a fraction of the bounds' diagonal) of it, or it is that close to one of
the surface's known minima, and is "still moving" otherwise. Nothing here imports Streamlit.
"""

from __future__ import annotations

import numpy as np

from surfaces.base import hessian

NEAR = 1e-3  # an unconverged end point within this fraction of the bounds' diagonal of a critical point is at it
FLAT = 1e-6  # Hessian eigenvalues closer to 0 than this leave the kind of a critical point undecided
GLOBAL_GAP = 1e-6  # a minimum within this of min_value (relative to 1 + |min_value|) is a global one
NEWTON_STEPS = 20

GLOBAL, LOCAL, SADDLE, MAXIMUM, DEGENERATE = ("global minimum", "local minimum", "saddle point", "maximum",
                                              "degenerate critical point")


def critical_kind(surface, points) -> np.ndarray:
    """[...] str: the kind of critical point at each of points [..., 2] (assumed critical):
    GLOBAL, LOCAL, SADDLE, MAXIMUM or DEGENERATE (a Hessian eigenvalue within FLAT of 0).

    A minimum is the global one when its value is min_value or it lies within NEAR of a known
    global minimum (Ackley's is a cone's tip, where f grows like the distance)."""
    points = np.asarray(points, dtype=float)
    with np.errstate(all="ignore"):
        low, high = np.moveaxis(np.linalg.eigvalsh(hessian(surface.grad_xy, points)), -1, 0)
    kind = np.where(low > FLAT, LOCAL, np.where(high < -FLAT, MAXIMUM,
                                                np.where((low < -FLAT) & (high > FLAT), SADDLE, DEGENERATE)))
    if surface.min_value is not None:
        scale = 1 + abs(surface.min_value)
        best = [m for m in surface.minima if abs(surface.value(np.array(m)) - surface.min_value) <= GLOBAL_GAP * scale]
        at_best = np.zeros(points.shape[:-1], dtype=bool)
        for m in best:
            at_best |= np.linalg.norm(points - np.array(m), axis=-1) <= NEAR * _diagonal(surface)
        low_enough = surface.value(points) - surface.min_value <= GLOBAL_GAP * scale
        kind = np.where((kind != MAXIMUM) & (kind != SADDLE) & (at_best | (low_enough & (kind == LOCAL))), GLOBAL, kind)
    return kind.astype(object)


def _diagonal(surface) -> float:
    (x0, x1), (y0, y1) = surface.bounds
    return float(np.hypot(x1 - x0, y1 - y0))


def nearby_critical(surface, points) -> tuple[np.ndarray, np.ndarray]:
    """([..., 2] the critical point Newton's method reaches from each of points [..., 2] (NaN
    where it failed), [...] bool: whether it lies within NEAR x the bounds' diagonal of its point)."""
    p = np.asarray(points, dtype=float)
    start = p
    with np.errstate(all="ignore"):
        for _ in range(NEWTON_STEPS):
            g = np.stack(surface.grad_xy(p[..., 0], p[..., 1], np), axis=-1)
            h = hessian(surface.grad_xy, p)
            a, b, c, d = h[..., 0, 0], h[..., 0, 1], h[..., 1, 0], h[..., 1, 1]
            det = a * d - b * c
            p = p - np.stack((d * g[..., 0] - b * g[..., 1], a * g[..., 1] - c * g[..., 0]), axis=-1) / det[..., None]
        near = np.linalg.norm(p - start, axis=-1) <= NEAR * _diagonal(surface)
    return p, near & np.isfinite(p).all(axis=-1)


def end_kinds(res, k: int, starts=None) -> np.ndarray:
    """[len(starts)] str: how configuration k's trajectories from `starts` (indices, default all)
    ended: "diverged", a kind of critical_kind (converged, or not converged but at one), or
    "still moving"."""
    n = np.arange(res.shape[1]) if starts is None else np.asarray(starts)
    surface = res.surface
    points = res.path[k, n, res.stop_index()[k, n]]  # [len(n), 2]
    critical, near = nearby_critical(surface, points)
    if surface.minima:  # Newton's method misses a minimum at a cone's tip (Ackley's): a known one counts too
        known = np.asarray(surface.minima, dtype=float)
        gaps = np.linalg.norm(points[:, None] - known, axis=-1)  # [len(n), M]
        closest = known[np.argmin(gaps, axis=-1)]
        beside = (gaps.min(axis=-1) <= NEAR * _diagonal(surface)) & ~near
        critical, near = np.where(beside[:, None], closest, critical), near | beside
    converged = res.converged_at[k, n] >= 0
    at = np.where((near & ~converged)[:, None], critical, points)
    kind = np.where(converged | near, critical_kind(res.surface, at), "still moving")
    return np.where(res.diverged_at[k, n] >= 0, "diverged", kind).astype(object)


def _f(value: float) -> str:
    return f"{value:.4g}"


def outcome_text(res, k: int, n: int) -> str:
    """How trajectory (configuration k, start n) of a Result ended, in words:

    'diverged at step 71 (last finite point (-5.202e+05, 9.01e+05), f = 5.412e+11)',
    'converged to the global minimum at step 131', 'converged to a local minimum at f = 9.95 at step 40',
    'converged to a saddle point at f = 0 at step 12', 'at the global minimum after 1000 steps
    (not converged: gradient norm 0.00082)', 'in a local minimum at f = 9.95 after 500 steps (not
    converged: ...)', 'still moving after 1000 steps: f = 2.763, 1.751 from the nearest known minimum'.
    Steps count updates, as everywhere on the page.
    """
    surface, steps = res.surface, res.shape[2]
    stop = int(res.stop_index()[k, n])
    point, value = res.path[k, n, stop], float(res.loss[k, n, stop])
    kind = end_kinds(res, k, [n])[0]
    if kind == "diverged":
        return (f"diverged at step {int(res.diverged_at[k, n])} (last finite point ({_f(point[0])}, {_f(point[1])}), "
                f"f = {_f(value)})")
    if res.converged_at[k, n] >= 0:
        return f"converged to {_described(kind, value)} at step {int(res.converged_at[k, n])}"
    if kind != "still moving":
        return (f"{'in' if kind == LOCAL else 'at'} {_described(kind, value)} after {steps} steps "
                f"(not converged: gradient norm {res.grad_norm[k, n, stop]:.2g})")
    text = f"still moving after {steps} steps: f = {_f(value)}"
    if surface.minima:
        distance = np.min(np.linalg.norm(np.asarray(surface.minima) - point, axis=-1))
        text += f", {_f(distance)} from the nearest known minimum"
    return text


def _described(kind: str, value: float) -> str:
    """'the global minimum', 'a local minimum at f = 9.95', 'a saddle point at f = 0', ..."""
    return "the global minimum" if kind == GLOBAL else f"a {kind} at f = {_f(value)}"


PHRASES = {"diverged": "diverged", GLOBAL: "at the global minimum", LOCAL: "in local minima",
           SADDLE: "at saddle points", MAXIMUM: "at maxima", DEGENERATE: "at degenerate critical points",
           "still moving": "still moving"}


def outcome_counts(res, k: int) -> str:
    """Configuration k over all its starts: '37 of 100 at the global minimum, 51 in local minima,
    12 still moving' (in PHRASES order, kinds no start ended in left out)."""
    kinds = list(end_kinds(res, k))
    n = len(kinds)
    return ", ".join(f"{kinds.count(kind)} of {n} {phrase}" for kind, phrase in PHRASES.items() if kinds.count(kind))
