"""The 2-D map: the surface's levels, every configuration's paths, start/end markers, a click layer.

The surface is a cached background image with its colourbar (plots.raster). `trajectory_points`
is shared with the 3-D view and the animation, so that every view draws the same paths.
Nothing hides: a diverged path that flew off ends in an arrow where its line leaves the map
(`exits`), paths that coincide on screen are drawn apart (`coinciding`), and a swarm can be drawn
as a picture (`aged_path_traces`, `density_traces`; plots.playback_data does for the component).
"""

from __future__ import annotations

import functools
import html
import math

import numpy as np
from scipy.ndimage import gaussian_filter

from .coincide import (
    COINCIDE_PX,
    END_SYMBOLS,
    SAME_DASHES,
    SAME_SYMBOLS,
    first_coinciding,
    same_path_note,
    same_polyline,
    same_ranks,  # noqa: F401 (plots.playback_data imports it from here)
)
from .internals import ARROW_KEY_MARGIN, arrow_key, arrow_traces
from .palette import DIVERGED, FONT, LEGEND_ABOVE, MINIMUM, OUTLINE, SADDLE, color
from .raster import surface_layer

SWARM = 20  # more starts than this: paths become thin translucent lines without markers or hover
MAX_PATH_POINTS = 100_000  # all path traces together; past it every s-th step is drawn
CLICK_GRID = "click grid"
# Step dots drawn per path at most; Plotly spreads them evenly over the points in view, so zooming
# in shows every step again. Hover still finds every step. Each SVG dot costs the browser's redraw.
STEP_DOTS = 60
LEGIBLE = "1px 1px 2px #FFFFFF, -1px -1px 2px #FFFFFF, 1px -1px 2px #FFFFFF, -1px 1px 2px #FFFFFF"  # text over lines


@functools.lru_cache(maxsize=64)
def click_layer(surface, n: int) -> dict:
    """An invisible n x n scatter grid that makes every spot of the map clickable/selectable.

    The background image returns no point on click; with clickmode 'event+select' a click selects the
    nearest grid marker (its hover shows where the start would go and f there). Plotly finds
    hovered and selected points in the data, not in the drawn markers, so only one marker is
    drawn (marker.maxdisplayed): drawing all n^2 invisible ones took 60 ms of every redraw in
    Chromium. Cached and shared like raster.surface_layer: never mutate it.
    """
    (x0, x1), (y0, y1) = surface.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    x, y = gx.ravel(), gy.ravel()
    with np.errstate(all="ignore"):
        f = surface.value(np.stack((x, y), axis=-1), np)
    for shared in (x, y, f):
        shared.flags.writeable = False
    hidden = {"marker": {"opacity": 0.0}}
    return {
        "type": "scatter", "x": x, "y": y, "customdata": f, "mode": "markers",
        "marker": {"size": 10, "opacity": 0.0, "color": "#000000", "maxdisplayed": 1},
        "selected": hidden, "unselected": hidden, "name": CLICK_GRID, "showlegend": False,
        "hovertemplate": "(%{x:.3g}, %{y:.3g})   f = %{customdata:.4g}<br><i>click: start here</i><extra></extra>",
        "meta": {"role": "click"},
    }


def path_stride(res) -> int:
    """Steps between drawn path points: 1 unless all paths together exceed MAX_PATH_POINTS."""
    k, n, t, _ = res.shape
    return max(1, math.ceil(k * n * (t + 1) / MAX_PATH_POINTS))


def trajectory_points(res, k: int, starts=None, stride: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Configuration k's paths from `starts` (indices; None = all) joined by NaN gaps.

    Returns (xy [M, 2], step [M], loss [M]), NaN between paths. Each path runs from its start
    to its stop point res.stop_index() (the frozen repeats after a divergence or convergence are
    left out); with stride > 1 every stride-th step is kept, and the stop point always.
    """
    t = res.shape[2]
    sel = np.arange(res.shape[1]) if starts is None else np.atleast_1d(starts)
    stop = res.stop_index()[k, sel]  # [n]
    idx = np.arange(0, t + 1, stride)
    if idx[-1] != t:
        idx = np.append(idx, t)
    # Keep a column while the previous kept step is before the stop; points past the stop hold
    # the stop point's values, so the first column at or past it is the stop point itself.
    keep = np.concatenate((np.ones((len(sel), 1), bool), idx[None, :-1] < stop[:, None]), axis=1)
    steps = np.minimum(idx[None, :], stop[:, None]).astype(float)
    keep = np.concatenate((keep, np.ones((len(sel), 1), bool)), axis=1).ravel()

    def joined(a):  # [n, L, c] -> [M, c]: kept columns, a NaN row after each path but the last
        a = np.concatenate((a, np.full((len(sel), 1, a.shape[-1]), np.nan)), axis=1)
        return a.reshape(-1, a.shape[-1])[keep][:-1]

    xy = joined(res.path[k][sel][:, idx])
    return xy, joined(steps[..., None])[:, 0], joined(res.loss[k][sel][:, idx, None])[:, 0]


def fate(res, k: int) -> dict:
    """Configuration k's outcome over its starts: {"kind": "diverged", "step": the first
    divergence, "count": diverged starts} if any diverged, {"kind": "converged", "step": the last
    start to converge} if all converged, else {"kind": None}; "starts": N in each."""
    div, conv = res.diverged_at[k], res.converged_at[k]
    n = int(div.size)
    if (div >= 0).any():
        return {"kind": "diverged", "step": int(div[div >= 0].min()), "count": int((div >= 0).sum()), "starts": n}
    if (conv >= 0).all():
        return {"kind": "converged", "step": int(conv.max()), "count": n, "starts": n}
    return {"kind": None, "starts": n}


def legend_label(res, k: int) -> str:
    """Configuration k's label with its fate: '— diverged at step d' (first divergence among its
    starts) if any start diverged, '— converged at step c' (the last start to converge) if all
    converged. Steps count updates: point index d was the first non-finite/out-of-bounds one."""
    label, outcome = res.labels[k], fate(res, k)
    if outcome["kind"] == "diverged":
        label += f" — diverged at step {outcome['step']}"
        if outcome["starts"] > 1:
            label += f" ({outcome['count']} of {outcome['starts']} starts)"
    elif outcome["kind"] == "converged":
        label += f" — converged at step {outcome['step']}"
        if outcome["starts"] > 1:
            label += f" (all {outcome['starts']} starts)"
    return label


def _legend_meta(res, k: int) -> dict:
    """What the map component composes a legend entry from in the session's language."""
    return {"label": res.labels[k], "fate": fate(res, k)}


# Two paths closer than COINCIDE_PX everywhere at the map's drawn size look like one (plots.coincide).
# The map component (ui/map_component.js FitLayout) sizes the map to the window, so the rules
# below are judged at the sizes it draws: drawn_px is the length of the frame's longer side in
# pixels (measured in Chromium in windows from 1024x768 to 1920x1200, with and without
# presentation mode; tests/e2e/test_drawn_size_browser.py checks both ends):
# - 'same path as' (coinciding) at the largest: 942 px (the six-hump camel's 6-wide frame in
#   presentation mode at 1920x1200, where the column's width caps the map; a square frame 871):
#   true there, the words are true at every smaller size. A larger window draws a larger map
#   (2560x1440: about 1070 px for a square frame), where two paths noted as one can be up to
#   3 px x 1070 / 950, about 3.4 px, apart.
# - a path hiding another (hiding) at the smallest, where paths lie closest: 285 px (the camel's
#   frame on the narrowest two-column page, a window just over 1100 px wide; a square frame 292;
#   a single column, below that, draws the map the page's width).
DRAWN_PX = 950
DRAWN_PX_MIN = 280
HIDDEN_SHARE = 0.9  # a path under a later one for this share of its drawn length is hidden by it
SHARE_POINTS = 200  # points, evenly spaced along a path's length, that measure the share
END_OVERLAP_PX = 6.0  # end markers (12 px) closer than this: the one on top hides most of the other
COMPARED_POINTS = 400  # points of a path compared (decimated: first, last and every sharp corner kept)


def _segment_distances(a: np.ndarray, b0: np.ndarray, d: np.ndarray) -> np.ndarray:
    """[P] the distance of each point of a [P, 2] from the nearest of the segments from b0 [S, 2]
    to b0 + d (same units; S >= 1)."""
    length2 = d[:, 0] ** 2 + d[:, 1] ** 2
    rx, ry = a[:, :1] - b0[:, 0], a[:, 1:] - b0[:, 1]  # [P, S]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(length2 > 0, (rx * d[:, 0] + ry * d[:, 1]) / length2, 0.0), 0.0, 1.0)
    return np.sqrt(((rx - t * d[:, 0]) ** 2 + (ry - t * d[:, 1]) ** 2).min(axis=1))


def _along(line: np.ndarray, count: int) -> np.ndarray:
    """[count, 2] points evenly spaced along the polyline `line` [P, 2] by length (its first
    point `count` times if it has no length)."""
    run = np.concatenate(([0.0], np.cumsum(np.hypot(*np.diff(line, axis=0).T))))
    at = np.linspace(0.0, run[-1], count)
    return np.stack([np.interp(at, run, line[:, 0]), np.interp(at, run, line[:, 1])], axis=-1)


def drawn_paths(res, drawn_px: float) -> list[list[np.ndarray]]:
    """[K][N] each path as drawn, in pixels from the frame's corner on a map whose frame's
    longer side is `drawn_px` pixels long (equal scale where map_layout anchors the axes, else
    each axis that long): up to its stop, clipped to the frame, at most COMPARED_POINTS points
    kept by playback_data's decimation."""
    from .playback_data import decimate  # playback_data builds on this module

    (x0, x1), (y0, y1) = res.surface.bounds
    equal = 1 / 3 <= (y1 - y0) / (x1 - x0) <= 3
    longer = max(x1 - x0, y1 - y0)
    scale = np.array([drawn_px / longer] * 2 if equal else [drawn_px / (x1 - x0), drawn_px / (y1 - y0)])
    lo, hi = np.array([x0, y0]), np.array([x1, y1])
    stop = res.stop_index()

    def drawn(k: int, i: int) -> np.ndarray:
        p = np.clip(res.path[k, i, : stop[k, i] + 1].astype(np.float64), lo, hi)
        return (p[decimate(p, COMPARED_POINTS)] - lo) * scale

    k_count, n, _, _ = res.shape
    return [[drawn(k, i) for i in range(n)] for k in range(k_count)]


def coinciding(res, px: float = COINCIDE_PX, drawn_px: float = DRAWN_PX) -> list[int | None]:
    """Per configuration, the first earlier one whose paths it coincides with, or None.

    Two configurations coincide when, for every start, each drawn point of either path
    (drawn_paths at `drawn_px`) lies within `px` pixels of the other's polyline: a symmetric
    Hausdorff distance below px. Identical hyperparameters, or SGD configurations with the same
    effective lr, give such paths."""
    paths = drawn_paths(res, drawn_px)
    return first_coinciding(len(paths), lambda j, k: all(same_polyline(a, b, px) for a, b in zip(paths[j], paths[k])))


NEAR_CHUNK = 20  # points of a path (consecutive, so close together) measured against one box's segments


def _near(points: np.ndarray, line: np.ndarray, px: float) -> np.ndarray:
    """[P] bool: whether each of `points` [P, 2] lies within px of the polyline `line` [Q, 2].
    Each chunk of NEAR_CHUNK points is measured against the segments that reach its bounding box
    grown by px, the only ones that can be that close."""
    if len(line) == 1:
        return np.hypot(*(points - line[0]).T) < px
    b0, d = line[:-1], np.diff(line, axis=0)
    seg_lo, seg_hi = np.minimum(line[:-1], line[1:]), np.maximum(line[:-1], line[1:])
    near = np.zeros(len(points), dtype=bool)
    for first in range(0, len(points), NEAR_CHUNK):
        chunk = points[first: first + NEAR_CHUNK]
        lo, hi = chunk.min(axis=0) - px, chunk.max(axis=0) + px
        reach = (seg_hi >= lo).all(axis=1) & (seg_lo <= hi).all(axis=1)
        if reach.any():
            near[first: first + NEAR_CHUNK] = _segment_distances(chunk, b0[reach], d[reach]) < px
    return near


def hidden_share(under: list[np.ndarray], over: list[np.ndarray], px: float = COINCIDE_PX,
                 points: int = SHARE_POINTS) -> float:
    """The share of the drawn length of the paths `under` (one per start, in px) that lies within
    `px` of the paths `over` of the same starts, drawn on top of them; measured at `points`
    points evenly spaced along each path."""
    hidden = total = 0.0
    for a, b in zip(under, over):
        length = float(np.hypot(*np.diff(a, axis=0).T).sum())
        total += length
        if length > 0:
            hidden += length * float(np.mean(_near(_along(a, points), b, px)))
    return hidden / total if total > 0 else 1.0


def hiding(res, px: float = COINCIDE_PX, drawn_px: float = DRAWN_PX_MIN,
           share: float = HIDDEN_SHARE) -> list[list[int]]:
    """Per configuration, the earlier ones (drawn under it) whose paths it hides: at least
    `share` of their drawn length (drawn_paths at `drawn_px`) lies within `px` pixels of its own
    paths. A path that coincides with an earlier one (coinciding) hides it."""
    return _hides(drawn_paths(res, drawn_px), px, share)


def _hides(paths: list[list[np.ndarray]], px: float, share: float) -> list[list[int]]:
    def hides(k: int, j: int) -> bool:  # a coarse look first: most pairs are far apart
        return (hidden_share(paths[j], paths[k], px, SHARE_POINTS // 5) >= share - 0.25
                and hidden_share(paths[j], paths[k], px) >= share)
    return [[j for j in range(k) if hides(k, j)] for k in range(len(paths))]


def _ends_meet(under: list[np.ndarray], over: list[np.ndarray]) -> bool:
    """Whether a drawn path of `over` ends within END_OVERLAP_PX of the same start's in `under`."""
    return any(float(np.hypot(*(a[-1] - b[-1]))) < END_OVERLAP_PX for a, b in zip(under, over))


def _nth(styles: tuple, r: int):
    """The r-th (r >= 1) of `styles` after its first (the plain one), cycling."""
    return styles[1 + (r - 1) % (len(styles) - 1)]


def _style_ranks(hides: list[list[int]]) -> list[int]:
    """Per configuration k, the r of its dash and symbols (_nth) if it hides others: k itself, so
    that its style stays when another configuration's setting changes which paths are dashed,
    moved on past the r of any earlier configuration that hides one of the same paths, or is one
    of them, and would draw the same dash."""
    period = len(SAME_DASHES) - 1
    ranks = list(range(len(hides)))
    for k, under in enumerate(hides):
        near = {ranks[j] % period for j in range(k) if hides[j] and (j in under or set(hides[j]) & set(under))}
        while under and ranks[k] % period in near and len(near) < period:
            ranks[k] += 1
    return ranks


def mark_coinciding(res, data: list[dict]) -> list[dict]:
    """The map's traces with paths that would hide others told apart. A configuration
    that hides or coincides with an earlier path (hiding, coinciding) draws its path dashed
    (SAME_DASHES[r], r = k unless that dash is taken near it, _style_ranks: each its own dash, so
    the paths under it show through the gaps) and its end marker another symbol (END_SYMBOLS[r])
    where it would hide one of theirs; meta.hides lists the ones it hides. One that coincides with an earlier one also draws other step-dot symbols and
    adds 'same path as <the group's first label>' to its legend entry; meta.same_as names that
    one. A swarm's thin translucent paths keep their style."""
    k_count, n, _, _ = res.shape
    same = coinciding(res)
    small = drawn_paths(res, DRAWN_PX_MIN) if n <= SWARM else None
    hides = _hides(small, COINCIDE_PX, HIDDEN_SHARE) if small else [[] for _ in range(k_count)]
    hides = [sorted({*under, same[k]} - {None}) for k, under in enumerate(hides)]
    dashed = [bool(under) for under in hides]
    order = _style_ranks(hides)
    covers_end = [bool(small) and any(_ends_meet(small[j], small[k]) for j in hides[k]) for k in range(k_count)]
    out = []
    for trace in data:
        meta = trace.get("meta") or {}
        k = meta.get("config")
        role = meta.get("role")
        if k is None or not dashed[k] or role not in ("path", "end"):
            out.append(trace)
            continue
        r = int(order[k])
        trace = {**trace, "meta": {**meta, "hides": hides[k]}}
        if same[k] is not None:
            trace["meta"]["same_as"] = same[k]
        if role == "path" and n <= SWARM:
            trace["line"] = {**trace["line"], "dash": _nth(SAME_DASHES, r)}
        if role == "path" and n <= SWARM and same[k] is not None:
            trace["marker"] = {**trace["marker"], "symbol": _nth(SAME_SYMBOLS, r), "size": 7}
        if role == "end" and (same[k] is not None or covers_end[k]):
            trace["marker"] = {**trace["marker"], "symbol": _nth(END_SYMBOLS, r)}
        if same[k] is not None and trace.get("showlegend", True):
            trace["name"] = f"{trace['name']} — {same_path_note(res.labels[same[k]])}"
        out.append(trace)
    return out


def swarm_opacity(n: int) -> float:
    """Opacity of swarm path lines: lighter the more lines overlap."""
    return float(np.clip(4.0 / math.sqrt(n), 0.15, 0.6))


def _group(k: int) -> str:
    return f"config {k}"


def _path_trace(res, k: int, stride: int, swarm: bool) -> dict:
    xy, step, loss = trajectory_points(res, k, stride=stride)
    trace = {
        "type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "name": legend_label(res, k),
        "legendgroup": _group(k), "meta": {"role": "path", "config": k, **_legend_meta(res, k)},
    }
    if swarm:  # float32 halves what each rerun sends; thin lines do not need more digits
        trace.update(x=xy[:, 0].astype(np.float32), y=xy[:, 1].astype(np.float32))
        return {**trace, "mode": "lines", "line": {"color": color(k), "width": 1.2},
                "opacity": swarm_opacity(res.shape[1]), "hoverinfo": "skip", "showlegend": False}
    name = html.escape(res.labels[k])
    return {
        **trace, "mode": "lines+markers", "line": {"color": color(k), "width": 2.5},
        "marker": {"color": color(k), "size": 4, "maxdisplayed": STEP_DOTS},
        "unselected": {"marker": {"opacity": 1.0}},
        "customdata": np.stack((step, loss), axis=-1),
        "hovertemplate": f"<b>{name}</b><br>step %{{customdata[0]}}: (%{{x:.4g}}, %{{y:.4g}})"
                         "<br>f = %{customdata[1]:.4g}<extra></extra>",
    }


AGE_BANDS = 4  # a swarm's paths drawn in this many bands of steps, the older the fainter
DENSITY_BINS = 40  # cells of the end-point density along the frame's longer side
DENSITY_BLUR = 1.0  # its Gaussian spread, in cells: ends gathered at a minimum show as a halo round it


def age_bands(steps: int, stride: int, bands: int = AGE_BANDS) -> np.ndarray:
    """[bands + 1] step edges 0 .. steps of the age bands, on drawn steps (multiples of stride)."""
    inner = np.round(np.linspace(0, steps, bands + 1)[1:-1] / stride) * stride
    return np.unique(np.concatenate(([0], inner.astype(np.int64), [steps])))


def aged_path_traces(res, k: int, stride: int, bands: int = AGE_BANDS) -> list[dict]:
    """Configuration k's swarm paths as one thin line trace per age band (steps edges[b] ..
    edges[b + 1], each band sharing its edge step with the next so the lines join), opacity
    rising from 30 % of swarm_opacity for the first band to all of it for the last: older
    segments fainter. Points as trajectory_points draws them (strided, up to each stop)."""
    xy, step, _ = trajectory_points(res, k, stride=stride)
    edges = age_bands(res.shape[2], stride, bands)
    base = swarm_opacity(res.shape[1])
    count = len(edges) - 1
    out = []
    for b in range(count):
        keep = np.isnan(step) | ((step >= edges[b]) & (step <= edges[b + 1]))
        out.append({
            "type": "scatter", "x": xy[keep, 0].astype(np.float32), "y": xy[keep, 1].astype(np.float32),
            "mode": "lines", "line": {"color": color(k), "width": 1.2},
            "opacity": base * (0.3 + 0.7 * (b + 1) / count), "hoverinfo": "skip", "showlegend": False,
            "name": legend_label(res, k), "legendgroup": _group(k),
            "meta": {"role": "path", "config": k, "band": b, "steps": [int(edges[b]), int(edges[b + 1])]},
        })
    return out


def density_grid(bounds, bins: int = DENSITY_BINS) -> tuple[np.ndarray, np.ndarray]:
    """(x edges [nx + 1], y edges [ny + 1]) of near-square cells over the frame, `bins` along
    its longer side."""
    (x0, x1), (y0, y1) = bounds
    cell = max(x1 - x0, y1 - y0) / bins
    return (np.linspace(x0, x1, max(1, round((x1 - x0) / cell)) + 1),
            np.linspace(y0, y1, max(1, round((y1 - y0) / cell)) + 1))


def density_traces(res, bins: int = DENSITY_BINS, blur: float = DENSITY_BLUR) -> list[dict]:
    """Where each configuration's swarm ended: a heat layer per configuration of its non-diverged
    end points (path at each stop) counted per cell of density_grid and spread over neighbouring
    cells by a Gaussian of `blur` cells (reflected at the frame's edges, so no end is lost: z sums
    to the ends inside the frame), from transparent to its colour, on one scale for all (the same
    shade is the same count, so ends scattered everywhere stay faint beside ends gathered at a
    minimum). meta: the ends inside the frame ("ends") and outside it ("outside"); the two add up
    to the starts that did not diverge."""
    xe, ye = density_grid(res.surface.bounds, bins)
    (x0, x1), (y0, y1) = res.surface.bounds
    layers = []
    for k in range(res.shape[0]):
        n = np.nonzero(res.diverged_at[k] < 0)[0]
        end = res.path[k, n, res.stop_index()[k, n]]
        inside = (end[:, 0] >= x0) & (end[:, 0] <= x1) & (end[:, 1] >= y0) & (end[:, 1] <= y1)
        counts, _, _ = np.histogram2d(end[inside, 1], end[inside, 0], bins=(ye, xe))  # [ny, nx]
        layers.append((gaussian_filter(counts, blur, mode="reflect", truncate=3.0) if blur > 0 else counts, inside))
    top = max(max(float(z.max(initial=0)) for z, _ in layers), 1e-9)
    out = []
    for k, (z, inside) in enumerate(layers):
        r, g, b = (int(color(k).lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
        name = html.escape(res.labels[k])
        out.append({
            "type": "heatmap", "x": (xe[:-1] + xe[1:]) / 2, "y": (ye[:-1] + ye[1:]) / 2, "z": z.astype(np.float32),
            "zmin": 0.0, "zmax": top, "zsmooth": "best", "showscale": False,
            "colorscale": [[0.0, f"rgba({r},{g},{b},0)"], [0.02, f"rgba({r},{g},{b},0.1)"],
                           [1.0, f"rgba({r},{g},{b},0.85)"]],
            "showlegend": False, "name": f"{res.labels[k]} end points", "legendgroup": _group(k),
            "hovertemplate": f"<b>{name}</b><br>%{{z:.1f}} end points per cell<extra></extra>",
            "meta": {"role": "density", "config": k, "ends": int(inside.sum()), "outside": int((~inside).sum()),
                     "cells": [len(xe) - 1, len(ye) - 1]},
        })
    return out


def _start_trace(res, swarm: bool) -> dict:
    marker = ({"size": 4, "color": OUTLINE, "opacity": 0.6} if swarm else
              {"size": 11, "color": "#FFFFFF", "line": {"width": 2.5, "color": OUTLINE}})
    return {
        "type": "scatter", "x": res.starts[:, 0], "y": res.starts[:, 1], "mode": "markers",
        "marker": {"symbol": "circle", **marker}, "name": "start", "showlegend": False,
        "unselected": {"marker": {"opacity": marker.get("opacity", 1.0)}},
        "hovertemplate": "start (%{x:.4g}, %{y:.4g})<extra></extra>", "meta": {"role": "start"},
    }


def _end_trace(res, k: int, stop: np.ndarray, swarm: bool) -> dict:
    """End squares of the trajectories that did not diverge. With a swarm this trace carries the
    configuration's legend entry: the faint swarm lines would give an invisible legend sample."""
    n = np.nonzero(res.diverged_at[k] < 0)[0]
    end = res.path[k, n, stop[k, n]]
    marker = {"size": 5, "line": {"width": 0}} if swarm else {"size": 12, "line": {"width": 2, "color": "#FFFFFF"}}
    legend = {"showlegend": False, "name": f"{res.labels[k]} end"}
    if swarm:
        legend = {"showlegend": True, "name": legend_label(res, k)}
        if not len(end):  # a lone gap keeps the legend entry when every start diverged
            end = np.full((1, 2), np.nan)
    return {
        "type": "scatter", "x": end[:, 0], "y": end[:, 1], "customdata": stop[k, n], "mode": "markers",
        "marker": {"symbol": "square", "color": color(k), **marker}, **legend,
        "legendgroup": _group(k), "unselected": {"marker": {"opacity": 1.0}},
        "hovertemplate": f"<b>{html.escape(res.labels[k])}</b><br>end at step %{{customdata}}: "
                         "(%{x:.4g}, %{y:.4g})<extra></extra>",
        "meta": {"role": "end", "config": k, **_legend_meta(res, k)},
    }


EXIT_CHUNK = 200_000  # segments clipped at once by exits


def exits(res, k: int, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where configuration k's trajectories `n` (start indices, [m]) leave the frame for the last
    time, as their drawn lines do: the exit of the last segment up to the stop point that crosses
    the frame (segments of a diverging zig-zag keep crossing it long after a point first lies
    outside). Returns (point [m, 2] on the frame's border, direction [m, 2] of that segment in data
    units, outside [m] bool: the last finite point lies outside the frame). A trajectory that ends
    inside has its last point and its last segment's direction; one that never crosses the frame
    has the frame's point nearest its last point and the direction from the frame's centre."""
    rows = max(1, EXIT_CHUNK // res.shape[2])  # trajectories clipped at once: bounded memory
    parts = [_exits(res, k, n[i:i + rows]) for i in range(0, len(n), rows)] or [_exits(res, k, n)]
    return tuple(np.concatenate(p) for p in zip(*parts))


def _exits(res, k: int, n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    (x0, x1), (y0, y1) = res.surface.bounds
    lo, hi = np.array([x0, y0]), np.array([x1, y1])
    stop = res.stop_index()[k, n]
    paths = res.path[k, n].astype(np.float64)  # [m, T+1, 2]
    rows = np.arange(len(n))
    last = paths[rows, stop]
    outside = ~np.all((last >= lo) & (last <= hi), axis=-1)
    a, d = paths[:, :-1], np.diff(paths, axis=1)
    with np.errstate(all="ignore"):  # Liang-Barsky clipping of every segment at once
        t_lo, t_hi = (lo - a) / d, (hi - a) / d
        held = (a >= lo) & (a <= hi)  # a segment parallel to an axis is inside that slab or not
        enter = np.where(d == 0, np.where(held, -np.inf, np.inf), np.minimum(t_lo, t_hi)).max(axis=-1)
        leave = np.where(d == 0, np.where(held, np.inf, -np.inf), np.maximum(t_lo, t_hi)).min(axis=-1)
    t_out = np.minimum(leave, 1.0)
    crosses = (np.maximum(enter, 0.0) <= t_out) & (np.arange(a.shape[1]) < stop[:, None])
    seen = crosses.any(axis=1)
    j = np.where(seen, a.shape[1] - 1 - np.argmax(crosses[:, ::-1], axis=1), 0)
    with np.errstate(all="ignore"):  # rows that never cross are replaced below
        point = np.clip(a[rows, j] + t_out[rows, j, None] * d[rows, j], lo, hi)
    direction = d[rows, j]
    never = outside & ~seen
    point[never] = np.clip(last[never], lo, hi)
    direction[never] = last[never] - (lo + hi) / 2
    ends = ~outside
    point[ends] = last[ends]
    direction[ends] = d[rows[ends], np.maximum(stop[ends] - 1, 0)] if a.shape[1] else 0.0
    return point, direction, outside


def screen_angle(direction: np.ndarray, bounds) -> np.ndarray:
    """[m] degrees clockwise from up of data directions [m, 2] as drawn (Plotly's marker.angle):
    equal scale where map_layout anchors the axes, else each axis spanning the same length."""
    (x0, x1), (y0, y1) = bounds
    equal = 1 / 3 <= (y1 - y0) / (x1 - x0) <= 3
    sx, sy = (1.0, 1.0) if equal else (1 / (x1 - x0), 1 / (y1 - y0))
    return np.degrees(np.arctan2(direction[:, 0] * sx, direction[:, 1] * sy))


def short_number(v: float, scale: float = 0.0) -> str:
    """A coordinate in a few characters: '-5.2e5', '9.0e5', '1.23', '0.0042'; '0' when it is
    below a millionth of `scale` (the point's other coordinate: -5.9e-14 beside 8.2e5)."""
    if abs(v) < 1e-6 * scale:
        return "0"
    if v != 0 and not 1e-3 <= abs(v) < 1e4:
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return f"{v:.3g}"


def exit_label(step: int, last) -> str:
    """The label beside a diverged path's exit arrow: the step and the point it reached."""
    scale = max(abs(last[0]), abs(last[1]))
    return f"step {step} → ({short_number(last[0], scale)}, {short_number(last[1], scale)})"


def _inward(point: np.ndarray, bounds) -> list[str]:
    """Plotly textposition per border point [m, 2] that puts its label inside the frame, beside
    the arrow's body (which runs inwards from its tip at the point), towards the frame's middle."""
    (x0, x1), (y0, y1) = bounds
    tol = 1e-9 * max(x1 - x0, y1 - y0)
    out = []
    for x, y in point.tolist():
        across = "right" if x < (x0 + x1) / 2 else "left"
        if y >= y1 - tol or y <= y0 + tol:
            out.append(f"{'bottom' if y >= y1 - tol else 'top'} {across}")
        else:
            out.append(f"{'bottom' if y > (y0 + y1) / 2 else 'top'} {across}")
    return out


def _one_or_each(values: np.ndarray):
    """A marker attribute as one number when every point has the same (presentation mode scales
    those), else one per point."""
    return values[0].item() if len(values) and (values == values[0]).all() else values.tolist()


def _diverged_trace(res, k: int, stop: np.ndarray, swarm: bool) -> dict:
    """Configuration k's diverged trajectories. One that ends inside the frame: a red X at its last
    finite point. One that flew off: an arrow on the frame's border where its drawn line leaves
    the map for the last time (exits), its tip there (Plotly's "arrow" symbol), pointing along that
    segment, labelled 'step s → (x, y)'
    with its last finite point; a swarm's get a red X there instead, without labels. meta holds
    each point's stop step, last finite point and outside flag (the component relabels them)."""
    n = np.nonzero(res.diverged_at[k] >= 0)[0]
    last = res.path[k, n, stop[k, n]].astype(np.float64)
    shown, direction, outside = exits(res, k, n)
    arrow = outside & (not swarm)
    name = html.escape(res.labels[k])
    hover = [
        f"<b>{name}</b><br>diverged at step {d}<br>last finite point at step {s}: ({px:.4g}, {py:.4g})"
        + ("<br>(outside the frame: marked where its path leaves it)" if out else "")
        for d, s, (px, py), out in zip(res.diverged_at[k, n], stop[k, n], last.tolist(), outside)
    ]
    labels = [exit_label(int(s), p) if a else "" for s, p, a in zip(stop[k, n], last, arrow)]
    angle = np.where(arrow, screen_angle(direction, res.surface.bounds), 0.0)
    return {
        "type": "scatter", "x": shown[:, 0], "y": shown[:, 1], "text": labels, "hovertext": hover,
        "mode": "markers+text" if arrow.any() else "markers", "textposition": _inward(shown, res.surface.bounds),
        "textfont": {"color": DIVERGED, "size": 16, "weight": "bold", "shadow": LEGIBLE}, "cliponaxis": False,
        "marker": {"symbol": np.where(arrow, "arrow", "x").tolist(), "angle": angle,
                   "size": _one_or_each(np.where(arrow, 26, 8 if swarm else 18)), "color": DIVERGED,
                   "line": {"width": 1.5, "color": "#FFFFFF"}},
        "name": f"{res.labels[k]} diverged", "legendgroup": _group(k), "showlegend": False,
        "unselected": {"marker": {"opacity": 1.0}}, "hovertemplate": "%{hovertext}<extra></extra>",
        "meta": {"role": "diverged", "config": k, "steps": stop[k, n].tolist(), "last": last.tolist(),
                 "outside": outside.tolist(), "diverged_at": res.diverged_at[k, n].tolist()},
    }


@functools.lru_cache(maxsize=64)
def critical_traces(surface) -> tuple[dict, dict]:
    """Known minima (gold stars, legend 'minimum') and saddle points (white diamonds, 'saddle').

    Both are returned, possibly empty (contour_figure leaves an empty one out); a legend entry only
    appears when the surface has such points.
    Cached and shared like raster.surface_layer: never mutate them.
    """
    out = []
    for points, name, symbol, fill, size in ((surface.minima, "minimum", "star", MINIMUM, 20),
                                             (surface.saddles, "saddle", "diamond", SADDLE, 13)):
        xy = np.array(points, dtype=float).reshape(-1, 2)
        out.append({
            "type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "mode": "markers", "name": name,
            "marker": {"symbol": symbol, "size": size, "color": fill, "line": {"width": 1.5, "color": OUTLINE}},
            "showlegend": bool(len(xy)), "unselected": {"marker": {"opacity": 1.0}},
            "hovertemplate": f"{name} (%{{x:.4g}}, %{{y:.4g}})<extra></extra>", "meta": {"role": name},
        })
    return tuple(out)


def playback_trace(res, k: int, step: int, start: int | None, swarm: bool) -> dict:
    """Configuration k's marker(s) at path[k, start or all, step] (step clamped to [0, T])."""
    s = int(np.clip(step, 0, res.shape[2]))
    sel = np.arange(res.shape[1]) if start is None else np.array([start])
    xy, loss = res.path[k, sel, s], res.loss[k, sel, s]
    return {
        "type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "customdata": loss, "mode": "markers",
        "marker": {"symbol": "circle", "size": 9 if swarm and start is None else 17, "color": color(k),
                   "line": {"width": 2, "color": OUTLINE}},
        "name": f"{res.labels[k]} at step {s}", "legendgroup": _group(k), "showlegend": False,
        "unselected": {"marker": {"opacity": 1.0}},
        "hovertemplate": f"<b>{html.escape(res.labels[k])}</b><br>step {s}: (%{{x:.4g}}, %{{y:.4g}})"
                         "<br>f = %{customdata:.4g}<extra></extra>",
        "meta": {"role": "playback", "config": k},
    }


def eval_traces(res, step: int, start: int = 0) -> list[dict]:
    """Per configuration that evaluates the loss within its step (L-BFGS; Result.evals), the points
    its step from path[step] evaluated (start `start`), as small faint markers numbered in call
    order in the hover; none at s = T or past the trajectory's stop, or for other configurations."""
    if res.evals is None:
        return []
    s = int(np.clip(step, 0, res.shape[2]))
    traces = []
    for k in range(res.shape[0]):
        count = int(res.n_evals[k, start, s]) if s < res.shape[2] else 0
        if not count:
            continue
        xy = res.evals[k, start, s, :count]
        traces.append({
            "type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "mode": "markers", "customdata": np.arange(1, count + 1),
            "marker": {"symbol": "circle-open", "size": 7, "color": color(k), "opacity": 0.6, "line": {"width": 1.5}},
            "name": f"{res.labels[k]}: loss evaluations of step {s + 1}", "legendgroup": _group(k), "showlegend": False,
            "hovertemplate": f"<b>{html.escape(res.labels[k])}</b><br>step {s + 1}, evaluation %{{customdata}} of "
                             f"{count}: (%{{x:.4g}}, %{{y:.4g}})<extra></extra>",
            "meta": {"role": "evals", "config": k},
        })
    return traces


def map_layout(surface, height: int) -> dict:
    """Axes fixed to the bounds (equal scale unless the frame is very elongated), legend above
    (in the margin, never over the plot),
    click-to-select; uirevision keeps the user's zoom while the same surface is shown."""
    (x0, x1), (y0, y1) = surface.bounds
    axis = {"showgrid": False, "zeroline": False, "ticks": "outside", "constrain": "domain", "mirror": True,
            "showline": True, "linecolor": "#444444"}
    # A double-click autoscales; without limits a diverged path would stretch the map to it.
    yaxis = {**axis, "range": [y0, y1], "autorangeoptions": {"minallowed": y0, "maxallowed": y1},
             "title": {"text": "y"}}
    if 1 / 3 <= (y1 - y0) / (x1 - x0) <= 3:
        yaxis.update(scaleanchor="x", scaleratio=1)
    return {
        "height": height, "margin": {"l": 60, "r": 10, "t": 10, "b": 50}, "font": FONT,
        "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF",
        "xaxis": {**axis, "range": [x0, x1], "autorangeoptions": {"minallowed": x0, "maxallowed": x1},
                  "title": {"text": "x"}},
        "yaxis": yaxis,
        "legend": {**LEGEND_ABOVE, "itemsizing": "constant"},
        "clickmode": "event+select", "dragmode": "zoom", "hovermode": "closest",
        "uirevision": repr(surface),
    }


def contour_figure(res, *, step: int | None = None, start: int | None = None, click_grid: int = 40,
                   arrows: bool = False, height: int = 600) -> dict:
    """The map of res.surface with every configuration's paths, as a figure dict.

    The surface's level bands and lines are layout.images[0] (plots.raster.surface_layer),
    log-scaled where surface.log_levels. Traces, in this order (K configurations; `meta` holds
    {"role", "config"} on each):
      0            the surface's colourbar (role "surface": an empty scatter);
      1            the invisible click grid (click_grid^2 markers, name "click grid");
      2 .. K+1     one path trace per configuration: all its starts joined by NaN gaps; it
                   carries the legend entry (legend_label: label + "— diverged/converged at
                   step ...") unless there are more than SWARM starts, then the end trace does;
      K+2          the start points, shared by all configurations;
      K+3 .. 2K+2  end markers (squares) of trajectories that did not diverge, per configuration;
      then         diverged trajectories, for each configuration with any (role "diverged"):
                   a red X where one ended inside the frame, else an arrow on the border where
                   its line leaves the map, labelled with its last finite point (see exits);
      then         minima (stars) and saddles (diamonds), where the surface has them;
    with `step`, the loss evaluations of that step follow for configurations that record them
    (L-BFGS's line search; eval_traces, role "evals"), then K playback markers (at
    path[k, start or all, step]); with `arrows` and
    `step`, the arrow traces follow (see arrow_traces, drawn for start `start` or 0), those with
    an arrow to draw. Traces with nothing to draw are left out: each one costs the browser's
    redraw about as much as a path. Legend entries: one per configuration, plus "minimum" and
    "saddle" when the surface has them. Configurations whose paths coincide are told apart
    (mark_coinciding: dashes, symbols, 'same path as ...' in the legend).
    More than SWARM starts: paths are thin translucent lines without hover, in float32; paths are
    strided so that all of them together hold at most MAX_PATH_POINTS points.
    """
    surface = res.surface
    k_count, n, _, _ = res.shape
    swarm = n > SWARM
    stop = res.stop_index()
    stride = path_stride(res)
    configs = range(k_count)
    image, bar = surface_layer(surface)
    data = [bar, click_layer(surface, click_grid)]
    data += [_path_trace(res, k, stride, swarm) for k in configs]
    data.append(_start_trace(res, swarm))
    data += [_end_trace(res, k, stop, swarm) for k in configs]
    data += [_diverged_trace(res, k, stop, swarm) for k in configs if (res.diverged_at[k] >= 0).any()]
    data += [trace for trace in critical_traces(surface) if len(trace["x"])]
    data = mark_coinciding(res, data)
    if step is not None:
        data += eval_traces(res, step, start or 0)
        data += [playback_trace(res, k, step, start, swarm) for k in configs]
    layout = map_layout(surface, height)
    layout["images"] = [image]
    if arrows and step is not None:
        traces, scales = arrow_traces(res, step, start or 0)
        data += [trace for trace in traces if len(trace["x"])]
        key = arrow_key(scales, int(np.clip(step, 0, res.shape[2])))
        if key:
            layout["annotations"] = [key]
            layout["margin"]["b"] = ARROW_KEY_MARGIN
    return {"data": data, "layout": layout}
