"""What the map component draws for a lecture hall (issue #14), from the data it receives
(plots.playback_data): a diverged path's exit arrow, a swarm's end-point density and exits,
coinciding paths told apart, and its words in the session's language. References: the Result's
own arrays walked point by point here, the preset's published numbers, and counts by hand."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import numpy as np
import pytest

from optimizers import get_optimizer, run
from plots.playback_data import playback_payload
from surfaces import get_surface
from ui.compute import compute
from ui.presets import PRESETS


def plain(value):
    """A payload value with Plotly's typed arrays {dtype, bdata[, shape]} decoded."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return flat.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else flat
    return np.asarray(value) if isinstance(value, list) and value and not isinstance(value[0], (dict, str)) else value


def traces(payload: dict, role: str) -> list[dict]:
    return [t for t in payload["map"]["data"] if (t.get("meta") or {}).get("role") == role]


def last_exit(path: np.ndarray, bounds, samples: int = 4001) -> tuple[np.ndarray, np.ndarray]:
    """(point, direction) where the polyline `path` [P, 2] last goes from inside the frame to
    outside, found by walking each segment in `samples` small steps (no clipping formula). A
    segment's points inside the frame lie within the frame's diagonal of its point nearest the
    frame's centre, so only that stretch of a long segment is walked."""
    (x0, x1), (y0, y1) = bounds
    centre, reach = np.array([x0 + x1, y0 + y1]) / 2, math.hypot(x1 - x0, y1 - y0)
    found = None
    for a, b in zip(path[:-1], path[1:]):
        d = b - a
        length = float(np.linalg.norm(d))
        if length == 0:
            continue
        nearest = float(np.clip((centre - a) @ d / length**2, 0, 1))
        s = np.linspace(max(0.0, nearest - reach / length), min(1.0, nearest + reach / length), samples)[:, None]
        pts = a + s * d
        inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
        leaving = np.nonzero(inside[:-1] & ~inside[1:])[0]
        if len(leaving):
            found = (pts[leaving[-1]], d)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def divergence():
    return compute(PRESETS["divergence"].config)


def test_the_divergence_presets_arrow_sits_where_its_line_leaves_the_map_pointing_out(divergence):
    res = divergence
    payload = playback_payload(res)
    (arrow,) = [t for t in traces(payload, "diverged") if t["meta"]["config"] == 3]
    x, y = float(plain(arrow["x"])[0]), float(plain(arrow["y"])[0])
    (x0, x1), (y0, y1) = res.surface.bounds
    span = max(x1 - x0, y1 - y0)
    assert x0 <= x <= x1 and y0 <= y <= y1
    assert min(abs(x - x0), abs(x - x1), abs(y - y0), abs(y - y1)) < 1e-9 * span  # on the border
    stop = int(res.stop_index()[3, 0])
    point, direction = last_exit(res.path[3, 0, : stop + 1], res.surface.bounds)
    assert math.hypot(x - point[0], y - point[1]) < 2e-3 * span
    # pointing where it went: marker.angle is clockwise from up on an equal-scale map
    angle = math.radians(float(plain(arrow["marker"]["angle"])[0]))
    heading = np.array([math.sin(angle), math.cos(angle)])
    assert heading @ direction / np.linalg.norm(direction) > math.cos(math.radians(0.5))
    assert arrow["marker"]["symbol"] == ["arrow"]
    # labelled with its last finite point's step and where it got: the preset's (−5.2·10⁵, 9.0·10⁵)
    assert stop == res.diverged_at[3, 0] - 1 == 70
    assert arrow["text"] == ["step 70 → (-5.2e5, 9.0e5)"]
    assert "x" not in arrow["marker"]["symbol"]  # no cross pretending it ended inside the map


@pytest.fixture(scope="module")
def swarm():
    """300 random starts on Himmelblau: plain SGD converges, SGD lr=0.03 loses some of its
    starts off the map, Adam neither."""
    starts = np.random.default_rng(4).uniform(-5, 5, size=(300, 2))
    configs = [get_optimizer("sgd", lr=0.01), get_optimizer("adam", lr=0.1), get_optimizer("sgd", lr=0.03)]
    return run(get_surface("himmelblau"), configs, starts, 150, compiled=False)


def test_a_swarms_end_point_density_counts_every_start_that_did_not_diverge(swarm):
    res = swarm
    payload = playback_payload(res)
    density = traces(payload, "density")
    assert [t["meta"]["config"] for t in density] == [0, 1, 2]
    (x0, x1), (y0, y1) = res.surface.bounds
    for t in density:
        k = t["meta"]["config"]
        kept = res.diverged_at[k] < 0
        assert t["meta"]["ends"] + t["meta"]["outside"] == kept.sum()
        nx, ny = t["meta"]["cells"]
        z = plain(t["z"])
        assert z.shape == (ny, nx)
        assert z.sum() == pytest.approx(t["meta"]["ends"], rel=1e-5)  # spread, none lost
        # the most crowded cell is where most of the ends are, counted here by hand
        end = res.path[k, kept][np.arange(kept.sum()), res.stop_index()[k, kept]]
        cx, cy = plain(t["x"]), plain(t["y"])
        j, i = np.unravel_index(np.argmax(z), z.shape)
        near = (np.abs(end[:, 0] - cx[i]) < 1.5 * (x1 - x0) / nx) & (np.abs(end[:, 1] - cy[j]) < 1.5 * (y1 - y0) / ny)
        assert near.sum() >= 0.1 * kept.sum()
    assert (res.diverged_at[2] >= 0).sum() > 10 and (res.diverged_at[:2] < 0).all()


def test_a_swarms_crosses_sit_where_each_diverged_path_leaves_the_map(swarm):
    res = swarm
    (cross,) = traces(playback_payload(res), "diverged")
    assert cross["meta"]["config"] == 2 and set(cross["marker"]["symbol"]) == {"x"}
    n = np.nonzero(res.diverged_at[2] >= 0)[0]
    xy = np.column_stack([plain(cross["x"]), plain(cross["y"])])
    assert len(xy) == len(n)
    (x0, x1), (y0, y1) = res.surface.bounds
    span = max(x1 - x0, y1 - y0)
    stop = res.stop_index()[2]
    for p, i in zip(xy, n):
        border = min(abs(p[0] - x0), abs(p[0] - x1), abs(p[1] - y0), abs(p[1] - y1))
        assert border < 1e-9 * span
        point, _ = last_exit(res.path[2, i, : stop[i] + 1], res.surface.bounds)
        assert np.linalg.norm(p - point) < 2e-3 * span, i


def test_a_swarms_paths_fade_with_age_and_join_from_band_to_band(swarm):
    res = swarm
    bands = [t for t in traces(playback_payload(res), "path") if t["meta"]["config"] == 1]
    assert len(bands) == 4
    opacity = [t["opacity"] for t in bands]
    assert opacity == sorted(opacity) and opacity[0] < 0.5 * opacity[-1]  # older segments fainter
    edges = [t["meta"]["steps"] for t in bands]
    assert edges[0][0] == 0 and edges[-1][1] == res.shape[2]
    assert all(a[1] == b[0] for a, b in zip(edges, edges[1:]))
    # every drawn point is one of the engine's points of some start, and the first band starts at every start
    first = np.column_stack([plain(bands[0]["x"]), plain(bands[0]["y"])])
    starts = first[np.r_[0, np.nonzero(np.isnan(first[:-1, 0]))[0] + 1]]
    np.testing.assert_allclose(starts, res.starts.astype(np.float32), rtol=1e-6)


def visible_line(path: np.ndarray, bounds, px_per_unit: float, spacing: float = 0.25) -> np.ndarray:
    """The part of polyline `path` [P, 2] that shows inside the frame, as points every `spacing`
    pixels along it (in pixels)."""
    (x0, x1), (y0, y1) = bounds
    centre, reach = np.array([x0 + x1, y0 + y1]) / 2, math.hypot(x1 - x0, y1 - y0)
    out = [path[:1]]
    for a, b in zip(path[:-1], path[1:]):
        length = float(np.linalg.norm(b - a))
        if length == 0:
            continue
        nearest = float(np.clip((centre - a) @ (b - a) / length**2, 0, 1))
        lo, hi = max(0.0, nearest - reach / length), min(1.0, nearest + reach / length)
        s = np.linspace(lo, hi, max(2, int((hi - lo) * length * px_per_unit / spacing)))[:, None]
        out.append(a + s * (b - a))
    pts = np.concatenate(out)
    inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)
    return pts[inside] * px_per_unit


def visible_gap(res, j: int, k: int) -> float:
    """The symmetric Hausdorff distance in pixels between the visible lines of configurations j
    and k (first start) on an equal-scale map whose longer side is DRAWN_PX long (the largest the
    page draws it, where 'same path as' is judged)."""
    from scipy.spatial import cKDTree

    from plots.contour import DRAWN_PX

    (x0, x1), (y0, y1) = res.surface.bounds
    scale = DRAWN_PX / max(x1 - x0, y1 - y0)
    stop = res.stop_index()[:, 0]
    a, b = (visible_line(res.path[i, 0, : stop[i] + 1], res.surface.bounds, scale) for i in (j, k))
    return max(cKDTree(b).query(a)[0].max(), cKDTree(a).query(b)[0].max())


def path_traces(payload: dict) -> dict[int, dict]:
    return {t["meta"]["config"]: t for t in traces(payload, "path")}


def test_identical_optimizers_are_drawn_apart_and_named_as_one_path():
    configs = [get_optimizer("sgd", lr=1e-3), get_optimizer("sgd", lr=1e-3), get_optimizer("adam", lr=0.05)]
    res = run(get_surface("rosenbrock"), configs, [[-1.5, 2.0]], 200, compiled=False)
    np.testing.assert_array_equal(res.path[0], res.path[1])
    payload = playback_payload(res)
    paths = path_traces(payload)
    assert paths[1]["name"] == "SGD (lr=0.001) — same path as SGD (lr=0.001)"
    assert paths[1]["line"].get("dash") == "dash" and paths[1]["marker"]["symbol"] != paths[0]["marker"].get("symbol")
    assert paths[0]["line"].get("dash") in (None, "solid") and paths[0]["name"] == "SGD (lr=0.001)"
    assert paths[2]["meta"].get("same_as") is None and visible_gap(res, 0, 2) > 3.0
    ends = {t["meta"]["config"]: t for t in traces(payload, "end")}
    assert ends[1]["marker"]["symbol"] != ends[0]["marker"]["symbol"]
    assert [(r["same_as"], r["same_rank"]) for r in payload["runs"]] == [(None, 0), (0, 1), (None, 0)]


@pytest.mark.parametrize("name", ["saddle_escape", "conditioning"])
def test_presets_paths_that_look_like_one_are_the_ones_marked(name):
    res = compute(PRESETS[name].config)
    payload = playback_payload(res)
    paths = path_traces(payload)
    k_count = res.shape[0]
    for k in range(1, k_count):
        j = paths[k]["meta"].get("same_as")
        gaps = [visible_gap(res, i, k) for i in range(k)]
        if j is None:
            # not marked: apart by more than 3 px from every earlier path that heads a group
            assert all(g > 3.0 - 0.5 for i, g in enumerate(gaps) if paths[i]["meta"].get("same_as") is None), gaps
        else:
            assert gaps[j] < 3.0 + 0.5, gaps  # the sampled visible lines agree with the definition
            assert paths[k]["name"].endswith(f"same path as {res.labels[j]}")
            assert paths[k]["line"]["dash"] != "solid"
    marked = sum(paths[k]["meta"].get("same_as") is not None for k in range(k_count))
    # saddle_escape's lr 0.2 path is more than 3 px from lr 0.05's at that size: dashed, not named
    assert marked == {"saddle_escape": 1, "conditioning": 1}[name]


def test_the_component_gets_its_words_in_the_sessions_language():
    from streamlit.testing.v1 import AppTest

    from tests.test_app import APP, TIMEOUT, component_data
    from ui import i18n, state

    en, zh = (i18n.flat(i18n.catalogue(lang)["map"]) for lang in ("en", "zh"))
    for lang, expected in (("en", en), ("zh", zh)):
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        for name, value in {**state.encode(PRESETS["divergence"].config, "divergence"), "lang": lang}.items():
            at.query_params[name] = value
        at.run()
        assert not at.exception
        text = component_data(at)["text"]
        assert text == expected
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert all(cjk.search(v) for v in zh.values()), [k for k, v in zh.items() if not cjk.search(v)]


def test_every_word_the_component_looks_up_is_in_the_catalogue():
    from ui import i18n

    source = (Path(__file__).parents[1] / "ui" / "map_component.js").read_text()
    used = set(re.findall(r"""\btr\(\s*["'](\w+)["']""", source))
    used |= set(re.findall(r"""data-t(?:-title|-aria)?="(\w+)\"""", source))
    used |= {"hover_step_full", "hover_step"}  # chosen by a conditional expression
    assert len(used) > 40
    assert used <= set(i18n.catalogue("en")["map"]), used - set(i18n.catalogue("en")["map"])
