"""The sweeps section of the 2-D page (AppTest): basin maps, the lr sweep and the two-parameter
sweep are drawn from the engine's numbers, and a click on each loads what it points at; and the
figure builders' output is accepted by go.Figure."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

import sweeps
from optimizers import get_optimizer, run
from plots.basins import METRICS, basin_figure
from plots.sweeps import GRID_METRICS, lr_sweep_figure, param_grid_figure
from surfaces import get_surface
from tests.test_app import array, config, contour, figures, ok, page, traces
from ui import sweeps_compute

HIMMELBLAU = {"surface": "himmelblau", "opt": ["sgd~lr:0.01", "adam~lr:0.05"], "start": "0.5,0.5", "steps": "100"}
QUADRATIC = {"surface": "quadratic", "opt": ["sgd~lr:0.1~momentum:0.5"], "start": "2,2", "steps": "200"}
SGD, ADAM = get_optimizer("sgd", lr=0.01), get_optimizer("adam", lr=0.05)


def view(query: dict, toggle: str, **settings):
    at = ok(page(query))
    for key, value in settings.items():
        at.session_state[key] = value
    at.toggle(key=toggle).set_value(True).run()
    return ok(at)


def figure(at, role: str) -> dict:
    (fig,) = [f for f in figures(at) if traces(f, role)]
    return fig


def select(at, key: str, x: float, y: float, customdata=None):
    """What st.plotly_chart puts in session state after a click on a point."""
    point = {"x": x, "y": y, "curve_number": 0, "point_index": 0}
    if customdata is not None:
        point["customdata"] = customdata
    at.session_state[key] = {"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}}
    at.run()
    return ok(at)


def test_the_views_cost_nothing_until_asked_for():
    at = ok(page(HIMMELBLAU))
    assert not [f for f in figures(at) if traces(f, "basin-click") or traces(f, "lr-curve") or traces(f, "grid")]
    assert [t.key for t in at.toggle if t.key.startswith("sweeps.")] == ["sweeps.basins.on", "sweeps.lr.on",
                                                                         "sweeps.grid.on"]


def test_basin_maps_are_drawn_from_the_engine_and_a_click_sets_the_start():
    at = view(HIMMELBLAU, "sweeps.basins.on", **{"sweeps.basins.resolution": 50})
    fig = figure(at, "basin-click")
    assert len(fig["layout"]["images"]) == 2  # one map per optimizer
    legend = [t["name"] for t in traces(fig, "key")]
    assert len(legend) == 4 + 2 and legend[-2:] == ["no known minimum reached", "diverged"]
    surface = get_surface("himmelblau")
    expected = sweeps.basin_map(surface, [SGD, ADAM], resolution=50, steps=100, tol=1e-8, compiled=False)
    table = [d.value for d in at.dataframe if "median steps to converge" in d.value.columns][0]
    for k in range(2):
        shares = expected.shares()[k]
        assert list(table.iloc[k, 1:7]) == [f"{s:.1%}" for s in shares]
    # the click points sit at pixel centres and describe those pixels
    (click0, click1) = traces(fig, "basin-click")
    x, y = array(click0["x"]), array(click0["y"])
    stride = -(-50 // 60)
    assert stride == 1 and len(x) == 2500
    j, i = 37, 12
    px, py = x[i * 50 + j], y[i * 50 + j]
    assert (px, py) == expected.start_at(i, j)
    b = expected.basin[1, i, j]
    assert click1["text"][i * 50 + j].startswith(f"minimum ({expected.minima[b][0]:.3g}" if b >= 0 else "")
    # a click on that pixel: the page runs from there, and each map draws the path from it
    at = select(at, "sweeps.basins.chart", float(px), float(py), [float(expected.loss[1, i, j])])
    assert config(at).start == (px, py) and config(at).swarm == 0
    (start,) = traces(contour(at), "start")
    assert (array(start["x"])[0], array(start["y"])[0]) == (px, py)
    paths = traces(figure(at, "basin-click"), "basin-path")
    assert [(array(p["x"])[0], array(p["y"])[0]) for p in paths] == [(px, py)] * 2
    # the path ends where the pixel's colour says
    res = run(surface, [SGD, ADAM], np.array([[px, py]]), 100, tol=1e-8)
    end = res.path[1, 0, res.stop_index()[1, 0]]
    np.testing.assert_allclose(end, expected.final.point[1, i * 50 + j], rtol=0, atol=1e-12)
    assert np.argmin(np.linalg.norm(expected.minima - end, axis=1)) == b


@pytest.mark.parametrize("metric", ["steps", "loss"])
def test_basin_metrics_have_a_colour_bar_and_keys(metric):
    at = view(HIMMELBLAU, "sweeps.basins.on", **{"sweeps.basins.resolution": 50, "sweeps.basins.metric": metric})
    fig = figure(at, "basin-click")
    (bar,) = traces(fig, "colorbar")
    assert bar["marker"]["colorbar"]["title"]["text"] == ("steps to converge" if metric == "steps"
                                                           else "final f − f* (log scale)")
    assert [t["name"] for t in traces(fig, "key")][-1] == "diverged"


def test_lr_sweep_matches_the_engine_and_a_click_loads_the_lr():
    at = view(HIMMELBLAU, "sweeps.lr.on", **{"sweeps.lr.count": 30, "sweeps.lr.lr_low": 1e-3, "sweeps.lr.lr_high": 1.0})
    fig = figure(at, "lr-curve")
    surface = get_surface("himmelblau")
    lrs = sweeps.lr.log_grid(1e-3, 1.0, 30)
    expected = sweeps.lr_sweep(surface, [SGD, ADAM], lrs, np.array([[0.5, 0.5]]), 100, tol=1e-8, compiled=False)
    curves = {(t["meta"]["config"], t["meta"]["metric"]): t for t in traces(fig, "lr-curve")}
    assert len(curves) == 6
    np.testing.assert_array_equal(array(curves[0, "loss"]["x"]), lrs)
    np.testing.assert_allclose(array(curves[1, "distance"]["y"]), np.maximum(expected.distance[1], 1e-16), rtol=1e-12)
    np.testing.assert_array_equal(array(curves[0, "steps"]["y"]), expected.steps[0])
    best = [t for t in traces(fig, "best") if t["meta"]["metric"] == "loss"]
    assert [b["x"][0] for b in best] == [lrs[i] for i in expected.best]
    assert "best lr" in curves[0, "loss"]["name"]
    table = [d.value for d in at.dataframe if "best lr" in d.value.columns][0]
    assert list(table["best lr"]) == [f"{lrs[i]:.4g}" for i in expected.best]
    # a click on Adam's curve at the 10th lr
    at = select(at, "sweeps.lr.chart", float(lrs[9]), 0.0, [1.0, float(lrs[9])])
    sgd, adam = config(at).optimizers
    assert sgd == SGD and adam == get_optimizer("adam", lr=float(lrs[9]))
    assert any("Loaded" in s.value for s in at.success)
    # a rerun that changes nothing (a component's trigger) keeps the note; a change of the setup drops it
    at.run()
    assert any("Loaded" in s.value for s in ok(at).success)
    at.session_state["steps"] = 90
    at.run()
    assert not any("Loaded" in s.value for s in ok(at).success) and config(at).steps == 90


def test_two_parameter_sweep_on_the_quadratic_draws_the_edge_and_a_click_loads_the_cell():
    settings = {"sweeps.grid.count": 12, "sweeps.grid.values": 8, "sweeps.grid.lr_low": 0.1, "sweeps.grid.lr_high": 10.0}
    at = view(QUADRATIC, "sweeps.grid.on", **settings)
    fig = figure(at, "grid")
    surface = get_surface("quadratic")
    values, lrs = np.linspace(0.0, 0.99, 8), sweeps.lr.log_grid(0.1, 10.0, 12)
    expected = sweeps.param_sweep(surface, get_optimizer("sgd", lr=0.1, momentum=0.5), "momentum", values, lrs,
                                  np.array([[2.0, 2.0]]), 200, tol=1e-8, compiled=False)
    (grid,) = traces(fig, "grid")
    z = array(grid["z"]).reshape(8, 12)
    np.testing.assert_allclose(z, np.log10(np.maximum(expected.loss, 1e-12)), rtol=1e-12)
    (red,) = traces(fig, "grid-diverged")
    np.testing.assert_array_equal(np.isfinite(array(red["z"]).reshape(8, 12)), expected.diverged >= 1)
    bounds = traces(fig, "bound")
    lam = sweeps.hessian_eigenvalues(surface)
    assert len(bounds) == 2
    np.testing.assert_allclose(array(bounds[0]["x"]), np.log10((2 + 2 * values) / lam.max()), rtol=1e-12)
    # theory and picture agree: cells right of the lambda_max edge diverged, those well left of it did not
    edge = sweeps.momentum_lr_bound(lam, values)
    assert np.all(expected.diverged[lrs[None, :] > edge[:, None] * 1.1] == 1)
    assert np.all(expected.diverged[lrs[None, :] < edge[:, None] * 0.9] == 0)
    # a click on a cell loads that setting
    (click,) = traces(fig, "grid-click")
    custom = array(click["customdata"]).reshape(-1, 2)
    value, lr = custom[3 * 12 + 4]
    assert (value, lr) == (values[3], lrs[4])
    at = select(at, "sweeps.grid.chart", float(np.log10(lr)), float(value), [float(value), float(lr)])
    (loaded,) = config(at).optimizers
    assert loaded == get_optimizer("sgd", lr=float(lr), momentum=float(value))


def test_nesterov_defaults_avoid_momentum_zero_and_other_surfaces_have_no_edge():
    query = {**HIMMELBLAU, "opt": ["sgd~lr:0.01~momentum:0.9~nesterov:true"]}
    at = view(query, "sweeps.grid.on", **{"sweeps.grid.count": 6, "sweeps.grid.values": 4})
    assert not at.error
    fig = figure(at, "grid")
    assert not traces(fig, "bound")
    custom = array(traces(fig, "grid-click")[0]["customdata"]).reshape(-1, 2)
    assert custom[:, 0].min() == pytest.approx(0.01)


def test_swarm_sweeps_average_over_the_starts():
    query = {**HIMMELBLAU, "swarm": "5", "opt": ["sgd~lr:0.01"]}
    at = view(query, "sweeps.lr.on", **{"sweeps.lr.count": 10})
    fig = figure(at, "lr-curve")
    starts = config(at).starts()
    lrs = sweeps.lr.log_grid(1e-4, 10.0, 10)
    expected = sweeps.lr_sweep(get_surface("himmelblau"), [SGD], lrs, starts, 100, tol=1e-8, compiled=False)
    loss = [t for t in traces(fig, "lr-curve") if t["meta"]["metric"] == "loss"][0]
    np.testing.assert_allclose(array(loss["y"]), np.maximum(expected.loss[0], 1e-16), rtol=1e-12)
    assert any("Means over the swarm" in c.value for c in at.caption)


def test_steps_are_capped_to_the_final_state_budget():
    assert sweeps_compute.capped_steps(10_000, 500 * 500) == 1000
    assert sweeps_compute.capped_steps(100, 10) == 100


# --- the builders, validated -----------------------------------------------------------------------------


@pytest.mark.parametrize("surface_name", ["himmelblau", "rastrigin", "six_hump_camel", "saddle"])
@pytest.mark.parametrize("metric", list(METRICS))
def test_basin_figures_validate(surface_name, metric):
    surface = get_surface(surface_name)
    maps = [sweeps_compute.basin_map.__wrapped__(surface_name, tuple(surface.params.items()), c, 20, 30, 1e-6)
            for c in (SGD, ADAM)]
    res = run(surface, [SGD, ADAM], np.array([surface.default_starts[0]]), 30)
    fig = basin_figure(surface, maps, ["a", "b"], metric, steps=30, global_count=sweeps_compute.global_count(surface),
                       res=res)
    go.Figure(fig)
    keys = [t["name"] for t in traces(fig, "key")]
    if metric == "basin":
        n = len(sweeps.known_minima(surface))
        assert len(keys) == (min(n, 8) if n <= 8 else 2) + 2
    assert len(traces(fig, "basin-path")) == 2


@pytest.mark.parametrize("metric", list(GRID_METRICS))
def test_sweep_figures_validate(metric):
    surface = get_surface("quadratic")
    lrs = sweeps.lr.log_grid(1e-2, 10, 6)
    lr = sweeps.lr_sweep(surface, [SGD, ADAM], lrs, np.array([[2.0, 2.0]]), 50)
    go.Figure(lr_sweep_figure(lr, ["a", "b"], min_value=0.0))
    grid = sweeps.param_sweep(surface, SGD, "momentum", [0.0, 0.5, 0.9], lrs, np.array([[2.0, 2.0]]), 50)
    go.Figure(param_grid_figure(grid, "a", metric, min_value=0.0, bounds=[("edge", np.ones(3))]))
