"""The sweeps section of the 2-D page (AppTest): basin maps, the lr sweep and the two-parameter
sweep are drawn from the engine's numbers, and a click on each loads what it points at."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

import sweeps
from optimizers import get_optimizer
from surfaces import get_surface
from tests.test_app import array, config, figures, ok, page, traces

HIMMELBLAU = {"surface": "himmelblau", "opt": ["sgd~lr:0.01", "adam~lr:0.05"], "start": "0.5,0.5", "steps": "100"}


def view(query: dict, toggle: str, **settings):
    at = ok(page(query))
    for key, value in settings.items():
        at.session_state[key] = value
    at.toggle(key=toggle).set_value(True).run()
    return ok(at)


def figure(at, role: str) -> dict:
    (fig,) = [f for f in figures(at) if traces(f, role)]
    return fig


def test_smoke_basins():
    at = view(HIMMELBLAU, "sweeps.basins.on", **{"sweeps.basins.resolution": 50})
    fig = figure(at, "basin-click")
    assert len(fig["layout"]["images"]) == 2
