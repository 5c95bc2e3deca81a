"""What the map component draws for a lecture hall (issue #14), from the data it receives
(plots.playback_data): a diverged path's exit arrow, a swarm's end-point density and exits,
coinciding paths told apart, and its words in the session's language. References: the Result's
own arrays walked point by point here, the preset's published numbers, and counts by hand."""

from __future__ import annotations

import base64
import math

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
        return flat.reshape(value["shape"]) if "shape" in value else flat
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
