"""Figure builders, checked against the Result's own arrays and the surfaces' formulas.

The expected values come from the Result (path, loss, eff_lr, lr, state...) and from formulas
retyped here (Rosenbrock, Adam's bias correction), never from the builders themselves.
"""

import base64
import io
import math
import re
import time

import numpy as np
import plotly.graph_objects as go
import pytest

import plots
from optimizers import get_optimizer, run
from plots import CLICK_GRID, animation_html, color, internals_rows, legend_label, update_equation
from plots.contour import MAX_PATH_POINTS
from plots.palette import COLORSCALE, DIVERGED, PALETTE
from surfaces import get_surface

ROSENBROCK = get_surface("rosenbrock")


def validated(builder):
    """The builder with its figure dict validated by go.Figure, as the page never does (ui/charts.py)."""
    return lambda *args, **kwargs: go.Figure(builder(*args, **kwargs))


contour_figure = validated(plots.contour_figure)
distance_figure = validated(plots.distance_figure)
eff_lr_figure = validated(plots.eff_lr_figure)
grad_norm_figure = validated(plots.grad_norm_figure)
loss_figure = validated(plots.loss_figure)
schedule_figure = validated(plots.schedule_figure)
surface3d_figure = validated(plots.surface3d_figure)


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


@pytest.fixture(scope="module")
def res3():
    """K=3 on Rosenbrock from one start: Adam, SGD with momentum, and SGD lr=1 (diverges)."""
    configs = [get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1e-3, momentum=0.9), get_optimizer("sgd", lr=1.0)]
    return run(ROSENBROCK, configs, starts=[[-1.5, 2.0]], steps=200)


@pytest.fixture(scope="module")
def swarm():
    """K=2, N=50 random starts."""
    rng = np.random.default_rng(1)
    starts = np.column_stack((rng.uniform(-2, 2, 50), rng.uniform(-1, 3, 50)))
    return run(ROSENBROCK, [get_optimizer("adam", lr=0.02), get_optimizer("sgd", lr=5e-4, momentum=0.9)],
               starts=starts, steps=120)


def _role(fig, role, k=None):
    out = [t for t in fig.data if t.meta and t.meta.get("role") == role and (k is None or t.meta.get("config") == k)]
    return out


def _one(fig, role, k=None):
    (trace,) = _role(fig, role, k)
    return trace


def _legend_names(fig):
    return [t.name for t in fig.data if t.showlegend is not False]


def _trace_color(trace):
    line = trace.line.color if "line" in trace and trace.line.color else None
    return line or trace.marker.color


def _segments(x):
    """Split a NaN-separated coordinate array into its pieces."""
    x = np.asarray(x, dtype=float)
    cuts = np.nonzero(np.isnan(x))[0]
    return np.split(x, cuts + 1) if len(cuts) else [x]


# --- contour map --------------------------------------------------------------------------------


def test_contour_trace_counts(res3, swarm):
    k = 3
    assert [(res3.diverged_at[j] >= 0).any() for j in range(k)] == [False, False, True]  # SGD lr=1
    # surface, click grid, paths, start, ends, one X (SGD lr=1), minimum; Rosenbrock has no saddle
    base = 2 + k + 1 + k + 1 + 1
    assert len(contour_figure(res3).data) == base
    assert len(contour_figure(res3, step=10).data) == base + k
    # arrows: Adam and momentum SGD have a gradient, a first moment and an update; the diverged
    # SGD's frozen point lies outside the frame and gets none
    assert len(contour_figure(res3, step=10, arrows=True).data) == base + k + 6
    assert len(contour_figure(res3, arrows=True).data) == base  # arrows need a step
    assert not (swarm.diverged_at >= 0).any()
    assert len(contour_figure(swarm).data) == 2 + 2 + 1 + 2 + 1
    assert len(contour_figure(swarm, step=5).data) == 2 + 2 + 1 + 2 + 1 + 2
    roles = [t.meta["role"] for t in contour_figure(res3, step=3).data]
    assert roles == (["surface", "click"] + ["path"] * k + ["start"] + ["end"] * k + ["diverged"]
                     + ["minimum"] + ["playback"] * k)
    himmelblau = run(get_surface("himmelblau"), get_optimizer("adam", lr=0.1), starts=[[0.0, 0.0]], steps=20)
    assert [t.meta["role"] for t in contour_figure(himmelblau).data][-2:] == ["minimum", "saddle"]


def test_each_configuration_has_one_colour_and_colours_differ(res3):
    fig = contour_figure(res3, step=20, arrows=True)
    seen = []
    for k in range(3):
        own = [_trace_color(t) for role in ("path", "end", "playback", "arrow") for t in _role(fig, role, k)]
        assert set(own) == {color(k)}
        seen.append(color(k))
    assert len(set(seen)) == 3
    assert len({color(k) for k in range(len(PALETTE))}) == len(PALETTE)
    assert color(len(PALETTE)) == color(0)  # cycles


def test_legend_one_entry_per_configuration_plus_critical_points(res3):
    assert _legend_names(contour_figure(res3, step=5, arrows=True)) == [legend_label(res3, k) for k in range(3)] + [
        "minimum"]
    himmelblau = run(get_surface("himmelblau"), [get_optimizer("adam", lr=0.1), get_optimizer("sgd", lr=0.01)],
                     starts=[[0.0, 0.0]], steps=50)
    names = _legend_names(contour_figure(himmelblau))
    assert names[-2:] == ["minimum", "saddle"] and len(names) == 4
    minima = _one(contour_figure(himmelblau), "minimum")
    np.testing.assert_allclose(np.c_[minima.x, minima.y], np.array(get_surface("himmelblau").minima))
    rng = np.random.default_rng(2)
    many = run(ROSENBROCK, [get_optimizer("adam", lr=0.05), get_optimizer("sgd", lr=1.0)],
               starts=rng.uniform(-1.5, 1.5, (30, 2)), steps=20)
    assert (many.diverged_at[1] >= 0).all()
    fig = contour_figure(many)
    assert _legend_names(fig) == [legend_label(many, 0), legend_label(many, 1), "minimum"]
    assert _one(fig, "end", 1).showlegend and _one(fig, "path", 1).showlegend is False  # swarm: opaque key
    saddle = run(get_surface("saddle"), get_optimizer("sgd", lr=0.05), steps=20)
    assert _legend_names(contour_figure(saddle)) == [legend_label(saddle, 0), "saddle"]


def test_diverged_label_and_marker(res3):
    d = int(res3.diverged_at[2, 0])
    assert d > 0 and res3.diverged_at[0, 0] == -1
    fig = contour_figure(res3)
    assert _one(fig, "path", 2).name == f"SGD (lr=1) — diverged at step {d}"
    assert "diverged" not in _one(fig, "path", 0).name
    x_marker = _one(fig, "diverged", 2)
    assert x_marker.marker.symbol == ("arrow",) and x_marker.marker.color == DIVERGED  # it flew off: an arrow
    assert len(x_marker.x) == 1
    (x0, x1), (y0, y1) = ROSENBROCK.bounds
    assert x0 <= x_marker.x[0] <= x1 and y0 <= x_marker.y[0] <= y1  # visible even though the point flew off
    assert min(abs(x_marker.x[0] - x0), abs(x_marker.x[0] - x1), abs(x_marker.y[0] - y0), abs(x_marker.y[0] - y1)) < 1e-9
    last = res3.path[2, 0, d - 1]
    assert f"({last[0]:.4g}, {last[1]:.4g})" in x_marker.hovertext[0]
    assert not _role(fig, "diverged", 0)  # nothing to mark: no trace
    assert len(_one(fig, "end", 2).x) == 0 and len(_one(fig, "end", 0).x) == 1


def test_converged_label():
    res = run(get_surface("quadratic"), [get_optimizer("sgd", lr=0.5), get_optimizer("sgd", lr=1e-4)],
              starts=[[1.0, 1.0], [-2.0, 0.5]], steps=3000)
    assert (res.converged_at[0] >= 0).all() and (res.converged_at[1] < 0).all()
    assert legend_label(res, 0) == f"SGD (lr=0.5) — converged at step {res.converged_at[0].max()} (all 2 starts)"
    assert legend_label(res, 1) == "SGD (lr=0.0001)"


def test_path_traces_equal_the_result(res3, swarm):
    fig = contour_figure(res3)
    stop = res3.stop_index()
    for k in range(3):
        path = _one(fig, "path", k)
        expected = res3.path[k, 0, : stop[k, 0] + 1]
        np.testing.assert_array_equal(path.x, expected[:, 0])
        np.testing.assert_array_equal(path.y, expected[:, 1])
        assert path.mode == "lines+markers"
    fig = contour_figure(swarm)
    stop = swarm.stop_index()
    for k in range(2):
        path = _one(fig, "path", k)
        assert path.mode == "lines" and path.opacity < 1 and path.line.width <= 1.5
        xs, ys = _segments(path.x), _segments(path.y)
        assert len(xs) == 50
        for n in range(50):
            expected = swarm.path[k, n, : stop[k, n] + 1]
            np.testing.assert_array_equal(xs[n][~np.isnan(xs[n])], expected[:, 0].astype(np.float32))
            np.testing.assert_array_equal(ys[n][~np.isnan(ys[n])], expected[:, 1].astype(np.float32))
    np.testing.assert_array_equal(_one(fig, "start").x, swarm.starts[:, 0])


def test_paths_are_strided_past_the_point_budget():
    starts = np.random.default_rng(0).uniform(-1.5, 1.5, (400, 2))
    res = run(ROSENBROCK, [get_optimizer("sgd", lr=1e-4), get_optimizer("sgd", lr=2e-4)], starts=starts, steps=400)
    fig = contour_figure(res)
    total = sum(np.count_nonzero(~np.isnan(np.asarray(t.x, float))) for t in _role(fig, "path"))
    assert total <= MAX_PATH_POINTS
    first = _segments(_one(fig, "path", 0).x)[0]
    first = first[~np.isnan(first)]
    stop = res.stop_index()[0, 0]
    ends = res.path[0, 0, [0, stop], 0].astype(np.float32)
    assert first[0] == ends[0] and first[-1] == ends[1]  # both ends kept


def _decoded(source: str) -> np.ndarray:
    """A PNG data URI as an [h, w, 3] int array (Pillow, not the code that wrote it)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).convert("RGB")).astype(int)


def _scale(t):
    """The palette's colour scale at t in [0, 1], linearly between its stops, as [..., 3] floats."""
    stops = [s for s, _ in COLORSCALE]
    rgb = [[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in COLORSCALE]
    return np.stack([np.interp(t, stops, [c[j] for c in rgb]) for j in range(3)], axis=-1)


def _image_check(surface, z_of):
    """The map's background image of `surface` against z_of(x, y) (the colour value, retyped):
    placed over the bounds; each pixel away from a level line has the colour of its level band,
    level-line pixels are darker; the colourbar spans exactly the bands."""
    res = run(surface, get_optimizer("sgd", lr=1e-3), steps=3)
    fig = contour_figure(res)
    image, bar = fig.layout.images[0], _one(fig, "surface")
    (x0, x1), (y0, y1) = surface.bounds
    assert (image.x, image.y, image.sizex, image.sizey) == (x0, y1, x1 - x0, y1 - y0)
    assert image.xref == "x" and image.yref == "y" and image.layer == "below"
    rgb = _decoded(image.source)
    n = rgb.shape[0]
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y1, y0, n))  # row 0 is the top
    z = z_of(gx, gy)
    start, top = bar.marker.cmin, bar.marker.cmax
    bands = bar.meta["levels"]["bands"]
    size = (top - start) / bands
    assert start <= z.min() < start + size and top - size < z.max() <= top + 1e-9
    band = np.clip(np.floor((z - start) / size), 0, bands - 1)
    expected = _scale((band + 0.5) / bands)
    # the colourbar: one flat step per band, in the band's colour
    scale = list(bar.marker.colorscale)
    assert len(scale) == 2 * bands
    for i in range(bands):
        (lo, low_colour), (hi, high_colour) = scale[2 * i], scale[2 * i + 1]
        assert (lo, hi) == pytest.approx((i / bands, (i + 1) / bands)) and low_colour == high_colour
        np.testing.assert_allclose([int(low_colour[j:j + 2], 16) for j in (1, 3, 5)],
                                   _scale((i + 0.5) / bands), atol=0.51)
    inner = np.ones(band.shape, bool)
    inner[:, 1:] &= band[:, 1:] == band[:, :-1]
    inner[1:, :] &= band[1:, :] == band[:-1, :]
    inner[:-1, :] &= band[:-1, :] == band[1:, :]  # the neighbour below draws a line where it changes
    inner[:, :-1] &= band[:, :-1] == band[:, 1:]
    assert inner.mean() > 0.5
    np.testing.assert_allclose(rgb[inner], expected[inner], atol=1.01)
    assert (rgb[~inner].sum(-1) <= expected[~inner].sum(-1) + 3).mean() > 0.99  # lines: darker
    return bar, size, start


def test_map_surface_image_follows_the_formula():
    bar, _, _ = _image_check(ROSENBROCK, lambda x, y: np.log10(_rosenbrock(x, y) + 1e-3))
    assert "log" in bar.marker.colorbar.title.text
    ticks = list(bar.marker.colorbar.ticktext)
    assert ticks[0] == "0" and "1000" in ticks
    # the tick labelled 100 sits where f = 100
    assert bar.marker.colorbar.tickvals[ticks.index("100")] == pytest.approx(math.log10(100 + 1e-3))
    # every tick lies on the bar: the "0" tick (f = f*) is its bottom end
    assert bar.marker.cmin == pytest.approx(math.log10(1e-3)) == bar.marker.colorbar.tickvals[0]
    assert all(bar.marker.cmin <= v <= bar.marker.cmax for v in bar.marker.colorbar.tickvals)
    quad = get_surface("quadratic")
    _, size, start = _image_check(quad, lambda x, y: quad.value(np.stack((x, y), -1)))
    mantissa = size / 10 ** math.floor(math.log10(size))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))  # linear views: round levels
    assert math.isclose(start / size, round(start / size), abs_tol=1e-9)


def test_click_grid_layer_and_layout(res3):
    fig = contour_figure(res3, click_grid=40)
    click = fig.data[1]
    assert click.name == CLICK_GRID and click.showlegend is False and click.mode == "markers"
    assert click.marker.opacity <= 0.05 and len(click.x) == 40 * 40
    assert click.hoverinfo != "skip"
    (x0, x1), (y0, y1) = ROSENBROCK.bounds
    assert min(click.x) == x0 and max(click.x) == x1 and min(click.y) == y0 and max(click.y) == y1
    np.testing.assert_allclose(click.customdata, _rosenbrock(np.asarray(click.x), np.asarray(click.y)))
    layout = fig.layout
    assert layout.clickmode == "event+select"
    assert layout.dragmode in ("zoom", "pan")
    assert tuple(layout.xaxis.range) == (x0, x1) and tuple(layout.yaxis.range) == (y0, y1)
    assert layout.yaxis.scaleanchor == "x"
    assert not layout.title.text


def test_step_marker_positions(res3, swarm):
    for step in (0, 37, 200, 10_000):
        fig = contour_figure(res3, step=step)
        s = min(step, 200)
        for k in range(3):
            marker = _one(fig, "playback", k)
            np.testing.assert_array_equal(np.c_[marker.x, marker.y], res3.path[k, :, s])
    fig = contour_figure(swarm, step=30)
    np.testing.assert_array_equal(np.c_[_one(fig, "playback", 1).x, _one(fig, "playback", 1).y], swarm.path[1, :, 30])
    fig = contour_figure(swarm, step=30, start=7)
    np.testing.assert_array_equal(np.c_[_one(fig, "playback", 1).x, _one(fig, "playback", 1).y],
                                  swarm.path[1, 7:8, 30])


# --- internals ----------------------------------------------------------------------------------


def test_internals_rows_read_the_result(res3):
    s = 12
    rows = internals_rows(res3, s)
    assert [r["label"] for r in rows] == list(res3.labels)
    adam, sgd, sgd1 = rows
    assert adam["point"] == tuple(res3.path[0, 0, s]) and adam["gradient"] == tuple(res3.grad[0, 0, s])
    assert adam["first_moment_name"] == "exp_avg" and adam["second_moment_name"] == "exp_avg_sq"
    assert adam["first_moment"] == tuple(res3.state["exp_avg"][0, 0, s])
    assert adam["second_moment"] == tuple(res3.state["exp_avg_sq"][0, 0, s])
    assert adam["eff_lr"] == tuple(res3.eff_lr[0, 0, s]) and adam["lr"] == res3.lr[0, s]
    assert adam["update"] == tuple(res3.path[0, 0, s + 1] - res3.path[0, 0, s])
    assert sgd["first_moment_name"] == "momentum_buffer" and sgd["second_moment"] is None
    assert sgd1["first_moment"] is None and sgd1["status"].startswith("diverged at step")
    assert adam["status"] == "moving"
    final = internals_rows(res3, 200)[0]
    assert final["update"] is None and final["eff_lr"] is None and final["status"] == "final point"
    assert final["point"] == tuple(res3.path[0, 0, 200])


# (optimizer, hyperparameters) -> the state shown as 1st and 2nd moment: the momentum-like
# average the step follows and the squared-gradient (or max-norm) accumulator that scales it.
MOMENTS = [
    ("sgd", {}, None, None), ("gnsgd", {}, None, None), ("adagrad", {}, None, "sum"),
    ("rmsprop", {}, None, "square_avg"), ("rmsprop", {"centered": True}, "grad_avg", "square_avg"),
    ("rmsprop", {"centered": True, "momentum": 0.5}, "momentum_buffer", "square_avg"),
    ("adadelta", {}, None, "square_avg"), ("adam", {"amsgrad": True}, "exp_avg", "exp_avg_sq"),
    ("adamw", {}, "exp_avg", "exp_avg_sq"), ("adamax", {}, "exp_avg", "exp_inf"),
    ("nadam", {}, "exp_avg", "exp_avg_sq"), ("radam", {}, "exp_avg", "exp_avg_sq"),
]


def test_internals_rows_name_each_rules_moments():
    configs = [get_optimizer(name, lr=1e-3, **hp) for name, hp, _, _ in MOMENTS]
    res = run(ROSENBROCK, configs, starts=[[-1.5, 2.0]], steps=5)
    for k, (row, (name, hp, first, second)) in enumerate(zip(internals_rows(res, 3), MOMENTS)):
        assert (row["first_moment_name"], row["second_moment_name"]) == (first, second), (name, hp)
        for key, state in (("first_moment", first), ("second_moment", second)):
            assert row[key] == (None if state is None else tuple(res.state[state][k, 0, 3])), (name, hp, key)


def test_arrows_follow_the_vectors(res3):
    s = 30
    fig = contour_figure(res3, step=s, arrows=True)
    assert len(_role(fig, "arrow")) == 6
    (x0, x1), (y0, y1) = ROSENBROCK.bounds
    vectors = {"gradient": -res3.grad[:, 0, s], "first_moment": -res3.state["exp_avg"][:, 0, s],
               "update": res3.path[:, 0, s + 1] - res3.path[:, 0, s]}
    for kind, vec in vectors.items():
        arrow = next(t for t in _role(fig, "arrow", 0) if t.meta["kind"] == kind)
        tail, tip = np.array([arrow.x[0], arrow.y[0]]), np.array([arrow.x[1], arrow.y[1]])
        np.testing.assert_array_equal(tail, res3.path[0, 0, s])
        d = tip - tail
        assert d @ vec[0] > 0 and abs(d[0] * vec[0][1] - d[1] * vec[0][0]) < 1e-9 * np.linalg.norm(d) * np.linalg.norm(
            vec[0])
        assert x0 <= tip[0] <= x1 and y0 <= tip[1] <= y1
        assert "rescaled" in arrow.hovertemplate
    # SGD lr=1 has diverged: its frozen point lies outside the frame, so it gets no arrows
    assert not _role(fig, "arrow", 2)
    assert any("rescaled" in a.text for a in fig.layout.annotations)


def _fmt(v):
    return f"{v:.4g}"


def test_update_equation_has_the_live_numbers(res3):
    s = 10
    tex = update_equation(res3, 0, s)
    assert tex.startswith(r"\begin{aligned}") and tex.endswith(r"\end{aligned}")
    assert tex.count("{") == tex.count("}")
    for v in (*res3.path[0, 0, s], *res3.path[0, 0, s + 1], *res3.eff_lr[0, 0, s], *res3.grad[0, 0, s],
              *res3.state["exp_avg"][0, 0, s], res3.lr[0, s]):
        assert _fmt(v) in tex, v
    # the direction Adam's effective lr multiplies is m_hat = m / (1 - b1^t), t = s + 1
    m_hat = res3.state["exp_avg"][0, 0, s] / (1 - 0.9 ** (s + 1))
    for v in m_hat:
        assert _fmt(v) in tex
    assert rf"\theta_{{{s + 1}}} = \theta_{{{s}}}" in tex
    sgd = update_equation(res3, 1, s)  # momentum: the direction is the buffer
    for v in res3.state["momentum_buffer"][1, 0, s]:
        assert _fmt(v) in sgd
    stopped = update_equation(res3, 2, 5)
    assert "diverged" in stopped
    final = update_equation(res3, 0, 200)
    assert "final point" in final and _fmt(res3.path[0, 0, 200, 0]) in final


def test_update_equation_without_direction_form():
    res = run(ROSENBROCK, [get_optimizer("rmsprop", lr=0.01, momentum=0.9),
                           get_optimizer("adamw", lr=0.01, weight_decay=0.1, label="my_adamw & co")],
              starts=[[-1.0, 1.5]], steps=20)
    for k in range(2):
        tex = update_equation(res, k, 4)
        assert r"\Delta\theta_t" in tex
        for v in res.path[k, 0, 5] - res.path[k, 0, 4]:
            assert _fmt(v) in tex
    assert r"my\_adamw \& co" in update_equation(res, 1, 4)


# --- series ---------------------------------------------------------------------------------------


def test_series_single_start(res3):
    stop = res3.stop_index()
    fig = loss_figure(res3, step=40)
    assert len(fig.data) == 4 and fig.layout.yaxis.type == "log"
    for k, trace in enumerate(fig.data[:3]):
        end = stop[k, 0] + 1
        np.testing.assert_array_equal(trace.x, np.arange(end))
        np.testing.assert_array_equal(trace.y, np.maximum(res3.loss[k, 0, :end], 1e-16))
        assert trace.line.color == color(k) and trace.name == legend_label(res3, k)
    (line,) = fig.layout.shapes
    assert line.x0 == line.x1 == 40
    # the diverged SGD (lr 1) is drawn up to its last finite loss, marked there, inside the axis
    last = res3.loss[2, 0, stop[2, 0]]
    assert res3.diverged_at[2, 0] >= 0 and last > 1e6
    marker = _one(fig, "diverged", 2)
    assert (marker.x[0], marker.y[0]) == (stop[2, 0], last) and marker.marker.color == DIVERGED
    low, high = fig.layout.yaxis.range
    assert low < np.log10(np.maximum(res3.loss[:2], 1e-16)).min() and np.log10(last) < high
    gn = grad_norm_figure(res3)
    assert gn.layout.yaxis.type == "log" and not gn.layout.shapes
    np.testing.assert_array_equal(gn.data[0].y, np.maximum(res3.grad_norm[0, 0], 1e-16))
    dist = distance_figure(res3)
    np.testing.assert_allclose(dist.data[0].y, np.maximum(np.hypot(res3.path[0, 0, :, 0] - 1, res3.path[0, 0, :, 1] - 1),
                                                           1e-16))
    assert dist.layout.yaxis.type == "log" and "minimum" in dist.layout.yaxis.title.text


def test_series_many_starts_band_and_median(swarm):
    fig = loss_figure(swarm)
    assert len(fig.data) == 4
    assert [t.meta["role"] for t in fig.data] == ["band", "band", "median", "median"]  # no band over a line
    np.testing.assert_allclose(fig.data[2].y, np.median(swarm.loss[0], axis=0))
    band = np.asarray(fig.data[0].y)
    t1 = swarm.shape[2] + 1
    np.testing.assert_allclose(band[:t1], np.percentile(swarm.loss[0], 90, axis=0))
    np.testing.assert_allclose(band[t1:], np.percentile(swarm.loss[0], 10, axis=0)[::-1])
    assert fig.data[0].showlegend is False and fig.data[2].name.startswith(swarm.labels[0])


def _over_white(css: str) -> tuple[str, float]:
    """'rgba(r,g,b,a)' -> ('#RRGGBB' of it drawn over white, a)."""
    *rgb, alpha = (float(v) for v in re.fullmatch(r"rgba\((.*)\)", css.replace(" ", "")).group(1).split(","))
    mixed = [round(alpha * c + (1 - alpha) * 255) for c in rgb]
    return "#" + "".join(f"{c:02X}" for c in mixed), alpha


BAND_APART = 7.5  # CIEDE2000 between two configurations' band fills, drawn over white
BAND_FROM_WHITE = 10.0  # a fill from the white ground (the band must read as a band)


def test_swarm_bands_of_eight_optimizers_keep_their_colours_apart():
    """Eight configurations of a swarm: their 10-90 % band fills, as drawn over the white plot,
    are pairwise at least BAND_APART CIEDE2000 apart (the CIEDE2000 of tests/test_palette, checked
    there against Sharma et al.'s published values) and BAND_FROM_WHITE from white; each band's
    edge is its configuration's colour, clearly visible; every median comes after every band."""
    from tests.test_palette import delta_e, seen

    rng = np.random.default_rng(2)
    starts = np.column_stack((rng.uniform(-2, 2, 25), rng.uniform(-1, 3, 25)))
    configs = [get_optimizer("sgd", lr=lr) for lr in (1e-4, 2e-4, 5e-4, 1e-3)]
    configs += [get_optimizer("adam", lr=lr) for lr in (1e-3, 3e-3, 1e-2, 3e-2)]
    fig = plots.loss_figure(run(ROSENBROCK, configs, starts=starts, steps=40))
    data = fig["data"] if isinstance(fig, dict) else fig.to_dict()["data"]
    roles = [t["meta"]["role"] for t in data]
    bands = [t for t in data if t["meta"]["role"] == "band"]
    assert [t["meta"]["config"] for t in bands] == list(range(8))
    assert max(i for i, r in enumerate(roles) if r == "band") < min(i for i, r in enumerate(roles) if r == "median")
    fills = [_over_white(t["fillcolor"])[0] for t in bands]
    gaps = {(i, j): delta_e(seen(fills[i], None), seen(fills[j], None)) for i in range(8) for j in range(i + 1, 8)}
    closest = min(gaps, key=gaps.get)
    assert gaps[closest] >= BAND_APART, f"bands {closest} only {gaps[closest]:.1f} apart: {fills}"
    assert min(delta_e(seen(f, None), seen("#FFFFFF", None)) for f in fills) >= BAND_FROM_WHITE, fills
    for k, band in enumerate(bands):
        rgb = re.fullmatch(r"rgba\((\d+),(\d+),(\d+),([\d.]+)\)", band["line"]["color"]).groups()
        assert "#" + "".join(f"{int(c):02X}" for c in rgb[:3]) == PALETTE[k] and float(rgb[3]) >= 0.5
        assert band["line"]["width"] >= 1


def test_series_without_minimum():
    res = run(get_surface("saddle"), [get_optimizer("sgd", lr=0.05)], steps=60)
    loss = loss_figure(res)
    assert loss.layout.yaxis.type == "linear"
    np.testing.assert_array_equal(loss.data[0].y, res.loss[0, 0, : res.stop_index()[0, 0] + 1])
    dist = distance_figure(res)
    assert "saddle" in dist.layout.yaxis.title.text
    np.testing.assert_allclose(dist.data[0].y, np.maximum(np.hypot(res.path[0, 0, :, 0], res.path[0, 0, :, 1]), 1e-16))
    camel = run(get_surface("six_hump_camel"), get_optimizer("adam", lr=0.05), steps=30)
    fig = loss_figure(camel)
    assert fig.layout.yaxis.type == "log" and "f*" in fig.layout.yaxis.title.text
    np.testing.assert_allclose(fig.data[0].y, np.maximum(camel.loss[0, 0] - camel.surface.min_value, 1e-16))


def test_eff_lr_figure(res3):
    fig = eff_lr_figure(res3, step=25)
    assert len(fig.data) == 4 * 3
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    stop = res3.stop_index()[:, 0]
    for trace in fig.data:
        k, dim = trace.meta["config"], trace.meta["dim"]
        assert trace.xaxis == ("x" if dim == 0 else "x2") and trace.line.color == color(k)
        if trace.meta["role"] == "eff_lr":
            np.testing.assert_array_equal(trace.y, res3.eff_lr[k, 0, : stop[k], dim])
            assert trace.line.dash is None and (trace.showlegend is not False) == (dim == 0)
        else:
            np.testing.assert_array_equal(trace.y, res3.lr[k])
            assert trace.line.dash == "dot" and trace.name == f"{res3.labels[k]} scheduled lr"
    assert fig.layout.shapes[0].x0 == 25
    cosine = run(ROSENBROCK, get_optimizer("sgd", lr=1e-3, schedule=("polynomial", {"total_iters": 20})), steps=30)
    sched = [t for t in eff_lr_figure(cosine).data if t.meta["role"] == "lr"][0]
    assert np.isnan(np.asarray(sched.y, float)[25])  # lr 0 is a gap on the log axis


def test_schedule_figure():
    values = np.linspace(0.1, 0.0, 50)
    fig = schedule_figure(values, height=120)
    np.testing.assert_array_equal(fig.data[0].y, values)
    assert fig.layout.height == 120 and fig.layout.showlegend is False


# --- 3-D and animation --------------------------------------------------------------------------


def test_surface3d(res3):
    fig = surface3d_figure(res3, step=15, grid=30)
    assert len(fig.data) == 1 + 3 + 2 + 3
    surf = fig.data[0]
    gx, gy = np.meshgrid(surf.x, surf.y)
    np.testing.assert_allclose(surf.z, np.log10(_rosenbrock(gx, gy) + 1e-3), rtol=1e-12)
    stop = res3.stop_index()
    for k in range(3):
        path = _one(fig, "path", k)
        assert path.line.color == color(k)
        np.testing.assert_array_equal(path.x, res3.path[k, 0, : stop[k, 0] + 1, 0])
        inside = ~np.isnan(np.asarray(path.z, float))
        assert (np.asarray(path.z, float)[inside] >= np.log10(res3.loss[k, 0, : stop[k, 0] + 1] + 1e-3)[inside]).all()
    np.testing.assert_array_equal(_one(fig, "playback", 1).x, res3.path[1, :, 15, 0])


def test_animation_html(res3):
    html = animation_html(res3, max_frames=50)
    assert "plotly" in html.lower() and "<html" in html
    assert '<script src="https://cdn' not in html and len(html) > 1_000_000  # plotly.js inlined
    names = re.findall(r'"name":\s*"frame (\d+)"', html)
    assert len(names) == 50 and names[0] == "0" and names[-1] == "200"
    assert "data:image/png;base64," in html
    short = run(ROSENBROCK, get_optimizer("adam", lr=0.05), steps=10)
    assert len(re.findall(r'"name":\s*"frame \d+"', animation_html(short))) == 11


def test_builders_are_fast():
    configs = [get_optimizer(n, lr=lr) for n, lr in (("adam", 0.05), ("sgd", 1e-3), ("rmsprop", 0.01),
                                                      ("adagrad", 0.5), ("nadam", 0.02))]
    res = run(ROSENBROCK, configs, starts=[[-1.5, 2.0]], steps=1000)
    for build in (lambda: plots.contour_figure(res, step=500, arrows=True), lambda: plots.loss_figure(res, step=3),
                  lambda: plots.eff_lr_figure(res, step=3)):
        build()
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            build()
            times.append(time.perf_counter() - t0)
        assert min(times) < 0.1


# --- paths that look like one, or hide one, at the sizes the page draws the map (#14) -----------------

QUADRATIC = get_surface("quadratic", condition=1.0, angle=0.0)  # frame 6 x 6


def _shifted(offset, share: float = 1.0):
    """A Result of two configurations on QUADRATIC: 0 walks straight along y = 0 from x = -2.5 to
    x = 2.5 (drawn points every 0.05), 1 the same shifted by `offset` (dx, dy) over its first
    `share` of the steps and far away (y = 2.5) after."""
    from dataclasses import replace

    res = run(QUADRATIC, [get_optimizer("sgd", lr=0.1)] * 2, starts=[[-2.5, 0.0]], steps=100, compiled=False)
    line = np.stack([np.linspace(-2.5, 2.5, 101), np.zeros(101)], axis=-1)
    path = np.stack([line, line + offset])[:, None]
    path[1, 0, round(share * 100) + 1:, 1] = 2.5
    never = np.full((2, 1), -1)
    return replace(res, path=path, diverged_at=never, converged_at=never)


def _px(units: float, drawn_px: float) -> float:
    return units * drawn_px / 6.0  # QUADRATIC's frame is 6 wide and high


@pytest.mark.parametrize(("factor", "same"), [(0.98, True), (1.02, False)])
def test_same_path_is_judged_at_the_largest_map_drawn(factor, same):
    """Two parallel paths COINCIDE_PX x factor apart on the largest map the page draws
    (DRAWN_PX, the frame's longer side) are one path (factor < 1) or two; at the old nominal
    560 px both pairs lie within 3 px, which the larger maps of big windows would belie."""
    from plots.contour import COINCIDE_PX, DRAWN_PX, coinciding

    gap = factor * COINCIDE_PX * 6.0 / DRAWN_PX  # data units
    res = _shifted((0.0, gap))
    assert _px(gap, DRAWN_PX) == pytest.approx(factor * COINCIDE_PX)
    assert coinciding(res) == ([None, 0] if same else [None, None])
    assert coinciding(res, drawn_px=560) == [None, 0] and _px(gap, 560) < 0.7 * COINCIDE_PX
    paths = {t["meta"]["config"]: t for t in plots.contour_figure(res)["data"]
             if (t.get("meta") or {}).get("role") == "path"}
    assert paths[1]["name"].endswith("same path as SGD (lr=0.1)") == same
    # either way the one on top is dashed, since on the smallest map it hides the other
    assert paths[1]["line"]["dash"] == "dash" and paths[0]["line"].get("dash", "solid") == "solid"


@pytest.mark.parametrize(("factor", "hides"), [(0.98, True), (1.02, False)])
def test_a_path_hides_one_within_3px_on_the_smallest_map(factor, hides):
    """On the smallest map the page draws (DRAWN_PX_MIN) a path COINCIDE_PX x factor from
    another along all of it hides it (factor < 1): it is drawn dashed, with another end symbol
    (their ends meet), and says so in meta.hides; 2 % farther it is left solid."""
    from plots.contour import COINCIDE_PX, DRAWN_PX_MIN, hiding

    gap = factor * COINCIDE_PX * 6.0 / DRAWN_PX_MIN
    res = _shifted((0.0, gap))
    assert hiding(res) == [[], [0] if hides else []]
    data = plots.contour_figure(res)["data"]
    path, end = ({t["meta"]["config"]: t for t in data if (t.get("meta") or {}).get("role") == role}[1]
                 for role in ("path", "end"))
    assert (path["line"].get("dash", "solid") != "solid") == hides
    assert (end["marker"]["symbol"] != "square") == hides  # ends 3 px apart: the upper would cover the lower
    assert path["meta"].get("hides", []) == ([0] if hides else [])
    assert "same path" not in path["name"]


@pytest.mark.parametrize(("share", "hides"), [(0.95, True), (0.85, False)])
def test_a_path_hides_one_it_covers_for_nine_tenths_of_its_length(share, hides):
    """A path that runs on top of another (1 px away) for `share` of that one's length and then
    leaves hides it from HIDDEN_SHARE = 0.9 on; the other, drawn under, hides nothing."""
    from plots.contour import DRAWN_PX_MIN, HIDDEN_SHARE, drawn_paths, hidden_share, hiding

    res = _shifted((0.0, 6.0 / DRAWN_PX_MIN), share)
    assert HIDDEN_SHARE == 0.9
    paths = drawn_paths(res, DRAWN_PX_MIN)
    assert hidden_share(paths[0], paths[1]) == pytest.approx(share, abs=0.02)  # the leaving segment starts close
    assert hiding(res) == [[], [0] if hides else []]


def _path_dashes(second) -> list[str]:
    """The map's path dash of each of three configurations on the Rosenbrock surface from
    (-1.5, 2): Adam lr 0.05, `second`, Adam lr 0.05 again."""
    adam = get_optimizer("adam", lr=0.05)
    res = run(ROSENBROCK, [adam, second, adam], starts=[[-1.5, 2.0]], steps=100, compiled=False)
    paths = {t["meta"]["config"]: t for t in plots.contour_figure(res)["data"]
             if (t.get("meta") or {}).get("role") == "path"}
    return [paths[k]["line"].get("dash", "solid") for k in range(3)]


def test_a_paths_dash_stays_when_another_configurations_setting_changes():
    """Configuration 2 runs configuration 0's setting, so it is drawn dashed along its path; making
    configuration 1 SGD with momentum (no longer on that path, not dashed) leaves configuration 2's dash as it
    was (it used to take the dash configuration 1 gave up), and no two dashed paths share one."""
    together = _path_dashes(get_optimizer("adam", lr=0.05))
    apart = _path_dashes(get_optimizer("sgd", lr=1e-3, momentum=0.9))
    assert together[0] == apart[0] == apart[1] == "solid"
    assert "solid" not in together[1:] and together[1] != together[2]
    assert apart[2] == together[2]
