"""Outcomes in words on real runs: a run stuck in a local minimum says so, with its value."""

import numpy as np
import pytest

from optimizers import get_optimizer, run
from surfaces import get_surface
from surfaces.base import critical_points
from ui.outcomes import (
    DEGENERATE,
    GLOBAL,
    LOCAL,
    MAXIMUM,
    SADDLE,
    critical_kind,
    end_kinds,
    outcome_counts,
    outcome_text,
)

SGD = get_optimizer("sgd", lr=1e-3)


def text(surface: str, start, optimizer=SGD, steps: int = 500, **kw) -> str:
    res = run(get_surface(surface), [optimizer], np.array([start], dtype=float), steps, compiled=False, **kw)
    return outcome_text(res, 0, 0)


@pytest.mark.parametrize(("surface", "start", "expected"), [
    ("rastrigin", (0.4, 0.6), "converged to a local minimum at f = 0.995 at step 42"),
    ("rastrigin", (-4.2, 4.6), "converged to a local minimum at f = 40.79 at step 42"),
    ("rastrigin", (0.1, 0.1), "converged to the global minimum at step 36"),
    ("six_hump_camel", (-2.0, 1.5), "converged to a local minimum at f = -0.2155 at step 72"),
    ("himmelblau", (-4.0, 0.0), "converged to the global minimum at step 395"),
])
def test_converged_runs_say_which_minimum(surface, start, expected):
    steps = {"six_hump_camel": 500}.get(surface, 1000)
    optimizer = get_optimizer("sgd", lr=0.01) if surface == "six_hump_camel" else SGD
    assert text(surface, start, optimizer, steps, tol=1e-6) == expected


def test_ackley_local_and_global():
    """Ackley's global minimum is a cone's tip: the gradient never vanishes there, so a run ends
    beside it without converging, and is still at the global minimum."""
    assert text("ackley", (-4.0, 3.5), steps=1000, tol=1e-6) == "converged to a local minimum at f = 10.12 at step 408"
    near = text("ackley", (0.3, 0.2))
    assert near.startswith("at the global minimum after 500 steps (not converged: gradient norm ")


def test_saddle_divergence_and_still_moving():
    assert text("saddle", (-2.0, 0.0), get_optimizer("sgd", lr=0.1)).startswith("converged to a saddle point at f = ")
    diverged = text("quadratic", (-2.5, 2.0), get_optimizer("sgd", lr=2.2), 100)
    assert diverged == "diverged at step 71 (last finite point (-5.202e+05, 9.01e+05), f = 5.412e+11)"
    assert text("rosenbrock", (-1.5, 2.0), steps=1000) == (
        "still moving after 1000 steps: f = 2.763, 1.751 from the nearest known minimum")
    assert text("quadratic", (-2.5, 2.0), get_optimizer("sgd", lr=0.01, momentum=0.9), 1000).startswith(
        "at the global minimum after 1000 steps (not converged: gradient norm ")


def test_counts_over_a_swarm():
    surface = get_surface("six_hump_camel")
    (x0, x1), (y0, y1) = surface.bounds
    starts = np.random.default_rng(0).uniform((x0, y0), (x1, y1), (200, 2))
    res = run(surface, [get_optimizer("sgd", lr=0.01)], starts, 500, compiled=False, tol=1e-6)
    kinds = end_kinds(res, 0)
    assert outcome_counts(res, 0) == (f"{(kinds == GLOBAL).sum()} of 200 at the global minimum, "
                                      f"{(kinds == LOCAL).sum()} of 200 in local minima")
    assert (kinds == GLOBAL).sum() + (kinds == LOCAL).sum() == 200 and (kinds == LOCAL).sum() > 50
    ends = res.path[0, np.arange(200), res.stop_index()[0]]
    values = surface.value(ends)
    assert np.all(values[kinds == GLOBAL] < surface.min_value + 1e-9)
    assert np.all(values[kinds == LOCAL] > surface.min_value + 0.5)


def test_kinds_of_critical_points():
    rastrigin = get_surface("rastrigin")
    peak, ridge = critical_points(rastrigin.grad_xy, ((0.5, 0.5), (0.5, 0.0)))
    assert list(critical_kind(rastrigin, np.array([peak, ridge]))) == [MAXIMUM, SADDLE]
    assert critical_kind(get_surface("monkey_saddle"), np.zeros(2))[()] == DEGENERATE
    camel = get_surface("six_hump_camel")
    assert list(critical_kind(camel, np.array(camel.minima))) == [GLOBAL, GLOBAL] + [LOCAL] * 4
    himmelblau = get_surface("himmelblau")
    assert set(critical_kind(himmelblau, np.array(himmelblau.minima))) == {GLOBAL}
