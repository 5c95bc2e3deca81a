"""Basin-of-convergence maps: one map per optimizer, side by side in one figure at one scale.

Each map is a PNG image in data coordinates (as plots.raster draws the surface: one cached image
rather than G^2 heatmap cells), coloured by which known minimum each start's trajectory reached,
its steps to converge or its final loss, with diverged starts in red. Over each image: the known
minima, the page's current path of that optimizer (single start only), and an invisible grid of
click points at pixel centres (role "basin-click", as the map's click grid) so that a click
selects a pixel. Legend entries (empty traces, role "key") say what each flat colour means; a
colourbar reads the continuous metrics.
"""

from __future__ import annotations

import math

import numpy as np

from .contour import trajectory_points
from .palette import DIVERGED, FONT, MINIMUM, OUTLINE, color
from .raster import png_data_uri

METRICS = {"basin": "which minimum it reached", "steps": "steps to converge", "loss": "final loss"}
# Paul Tol's "light" scheme: pale enough for the paths drawn over it, told apart from DIVERGED.
BASIN_COLORS = ("#77AADD", "#EE8866", "#EEDD88", "#44BB99", "#FFAABB", "#99DDFF", "#BBCC33", "#AAAA00")
NOWHERE_COLOR = "#D9D9D9"  # ended away from every known minimum / did not converge
VIRIDIS = ("#440154", "#482878", "#3E4989", "#31688E", "#26828E", "#1F9E89", "#35B779", "#6DCD59",
           "#B4DE2C", "#FDE725")
# Many minima: the global ones keep their own colours, the local ones cycle through four that are
# none of the first few (Rastrigin's rows hold 11 minima, so neighbours in both directions differ).
LOCAL_COLORS = ("#EE8866", "#EEDD88", "#44BB99", "#FFAABB")
MAX_INDIVIDUAL = len(BASIN_COLORS)  # more minima than this (Rastrigin): locals share repeating colours
CLICK_SIDE = 60  # click points per side of a map at most
IMAGE_SIDE = 480  # images are upscaled by whole pixels to about this, so browsers do not blur them
LOSS_FLOOR = 1e-12
COLUMNS = 3


def _rgb(hexes) -> np.ndarray:
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in hexes], dtype=float)


def _ramp(t: np.ndarray) -> np.ndarray:
    """VIRIDIS at t in [0, 1]: [..., 3] floats in 0..255."""
    stops, colours = np.linspace(0, 1, len(VIRIDIS)), _rgb(VIRIDIS)
    return np.stack([np.interp(t, stops, colours[:, j]) for j in range(3)], axis=-1)


def basin_colors(minima: np.ndarray, global_count: int) -> list[str]:
    """The colour of each known minimum's basin: one each when there are few; otherwise the global
    minima first and the local ones cycling through LOCAL_COLORS."""
    m = len(minima)
    if m <= MAX_INDIVIDUAL:
        return list(BASIN_COLORS[:m])
    return list(BASIN_COLORS[:global_count]) + [LOCAL_COLORS[i % len(LOCAL_COLORS)] for i in range(m - global_count)]


def basin_legend(minima: np.ndarray, global_count: int) -> list[tuple[str, str]]:
    """(name, colour) of each legend entry for the "basin" metric."""
    colours = basin_colors(minima, global_count)
    if len(minima) <= MAX_INDIVIDUAL:
        entries = [(f"reached {'global' if i < global_count else 'local'} minimum ({p[0]:.3g}, {p[1]:.3g})", c)
                   for i, (p, c) in enumerate(zip(minima, colours))]
    else:
        entries = [(f"reached global minimum ({p[0]:.3g}, {p[1]:.3g})", colours[i]) for i, p in enumerate(minima[:global_count])]
        entries.append((f"reached one of {len(minima) - global_count} local minima (colours repeat)",
                        colours[global_count]))
    return entries + [("no known minimum reached", NOWHERE_COLOR), ("diverged", DIVERGED)]


def loss_values(surface, loss: np.ndarray) -> tuple[np.ndarray, str]:
    """(what the loss metric colours, its colourbar title): log10(f - f*) when f* is known."""
    if surface.min_value is None:
        return loss, "final f"
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log10(np.maximum(loss - surface.min_value, LOSS_FLOOR)), "final f − f* (log scale)"


def metric_range(surface, maps, metric: str, steps: int) -> tuple[float, float]:
    """(cmin, cmax) shared by every map of the figure, so that their colours compare."""
    if metric == "steps":
        return 0.0, float(steps)
    values = [loss_values(surface, m.loss)[0][m.basin != -2] for m in maps]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(0)
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return lo, hi if hi > lo else lo + 1.0


def pixel_rgb(surface, m, metric: str, colours: list[str], span: tuple[float, float]) -> np.ndarray:
    """[G, G, 3] uint8 colours of one map (row i is ys[i])."""
    basin = m.basin
    if metric == "basin":
        table = _rgb([*colours, NOWHERE_COLOR, DIVERGED]) if colours else _rgb([NOWHERE_COLOR, DIVERGED])
        index = np.where(basin >= 0, basin, len(colours) + (basin == -2))
        rgb = table[index]
    else:
        values = m.steps if metric == "steps" else loss_values(surface, m.loss)[0]
        lo, hi = span
        with np.errstate(invalid="ignore"):
            t = np.clip((values - lo) / (hi - lo), 0, 1)
        rgb = np.where(np.isfinite(values)[..., None], _ramp(np.nan_to_num(t)), _rgb([NOWHERE_COLOR])[0])
        rgb = np.where((basin == -2)[..., None], _rgb([DIVERGED])[0], rgb)
    return rgb.round().astype(np.uint8)


def _image(rgb: np.ndarray, surface, suffix: str) -> dict:
    scale = max(1, IMAGE_SIDE // rgb.shape[0])
    big = np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)
    (x0, x1), (y0, y1) = surface.bounds
    return {"source": png_data_uri(big[::-1]), "xref": "x" + suffix, "yref": "y" + suffix, "x": x0, "y": y1,
            "sizex": x1 - x0, "sizey": y1 - y0, "sizing": "stretch", "layer": "below"}


def click_stride(resolution: int) -> int:
    """Every how many pixels a click point sits (about CLICK_SIDE per side)."""
    return max(1, math.ceil(resolution / CLICK_SIDE))


def pixel_text(basin: np.ndarray, steps: np.ndarray, names: list[str]) -> list[str]:
    """What the hover says about each pixel: where it went and when it converged."""
    ends = [*names, "no known minimum", "diverged"]
    out = []
    for b, s in zip(basin.ravel().tolist(), steps.ravel().tolist()):
        end = ends[b] if b >= 0 else ends[len(names) + (b == -2)]
        out.append(end if b == -2 else f"{end}, " + (f"converged at step {int(s)}" if s == s else "not converged"))
    return out


def _click_trace(m, k: int, names: list[str], suffix: str) -> dict:
    s = click_stride(len(m.xs))
    rows, cols = np.arange(s // 2, len(m.ys), s), np.arange(s // 2, len(m.xs), s)
    gx, gy = np.meshgrid(m.xs[cols], m.ys[rows])
    cells = np.ix_(rows, cols)
    loss = m.loss[cells].ravel()
    hidden = {"marker": {"opacity": 0.0}}
    return {
        "type": "scatter", "x": gx.ravel(), "y": gy.ravel(), "xaxis": "x" + suffix, "yaxis": "y" + suffix,
        "mode": "markers", "text": pixel_text(m.basin[cells], m.steps[cells], names), "customdata": loss,
        "marker": {"size": 8, "opacity": 0.0, "color": "#000000", "maxdisplayed": 1},
        "selected": hidden, "unselected": hidden, "showlegend": False, "name": "click",
        "hovertemplate": "start (%{x:.4g}, %{y:.4g}): %{text}<br>final f = %{customdata:.4g}"
                         "<br><i>click: start here</i><extra></extra>",
        "meta": {"role": "basin-click", "config": k},
    }


def _key_trace(name: str, colour: str) -> dict:
    return {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "name": name, "showlegend": True,
            "marker": {"symbol": "square", "size": 14, "color": colour, "line": {"width": 1, "color": OUTLINE}},
            "hoverinfo": "skip", "meta": {"role": "key"}}


def _colorbar_trace(title: str, span: tuple[float, float], log_ticks: bool) -> dict:
    lo, hi = span
    bar = {"thickness": 14, "len": 0.9, "outlinewidth": 0, "title": {"text": title, "side": "right"}}
    if log_ticks:
        decades = list(range(math.ceil(lo), math.floor(hi) + 1))
        every = max(1, math.ceil(len(decades) / 8))
        decades = decades[::every]
        bar.update(tickvals=decades, ticktext=[f"1e{e}" if not -2 <= e <= 3 else f"{10.0**e:g}" for e in decades])
    return {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "hoverinfo": "skip", "showlegend": False,
            "marker": {"color": [lo, hi], "cmin": lo, "cmax": hi, "showscale": True, "colorbar": bar,
                       "colorscale": [[i / (len(VIRIDIS) - 1), c] for i, c in enumerate(VIRIDIS)]},
            "meta": {"role": "colorbar"}}


def _overlays(res, k: int, suffix: str, minima: np.ndarray, global_count: int) -> list[dict]:
    axes = {"xaxis": "x" + suffix, "yaxis": "y" + suffix}
    if len(minima) > MAX_INDIVIDUAL:  # a star on each of Rastrigin's 121 minima hides the map
        minima = minima[:global_count]
    out = [{"type": "scatter", "x": minima[:, 0], "y": minima[:, 1], "mode": "markers", **axes, "showlegend": False,
            "name": "minimum", "marker": {"symbol": "star", "size": 14,
                                          "color": MINIMUM, "line": {"width": 1, "color": OUTLINE}},
            "hoverinfo": "skip", "meta": {"role": "minimum", "config": k}}] if len(minima) else []
    if res is not None and res.shape[1] == 1 and k < res.shape[0]:
        xy, _, _ = trajectory_points(res, k, starts=[0])
        out.append({"type": "scatter", "x": xy[:, 0], "y": xy[:, 1], "mode": "lines", **axes, "showlegend": False,
                    "name": f"{res.labels[k]} path", "line": {"color": OUTLINE, "width": 2},
                    "hoverinfo": "skip", "meta": {"role": "basin-path", "config": k}})
        out.append({"type": "scatter", "x": res.starts[:1, 0], "y": res.starts[:1, 1], "mode": "markers", **axes,
                    "showlegend": False, "name": "start", "hoverinfo": "skip",
                    "marker": {"size": 11, "color": "#FFFFFF", "line": {"width": 2.5, "color": OUTLINE}},
                    "meta": {"role": "basin-start", "config": k}})
    return out


def basin_figure(surface, maps, labels, metric: str = "basin", *, steps: int, global_count: int = 1,
                 res=None, row_height: int = 330) -> dict:
    """One map per configuration, COLUMNS to a row, all at one scale, as a figure dict.

    maps: per configuration an object with xs [G], ys [G], minima [M, 2], basin [G, G], steps
    [G, G] and loss [G, G], as sweeps.BasinMap holds them for one configuration (row i is
    y = ys[i]); labels: their names (subplot titles, with the configuration's colour).
    metric: a key of METRICS; steps: the steps each trajectory ran (the steps scale's top).
    global_count: how many of minima (listed first) are global. res: the page's Result, whose
    first start's path is drawn over each map when it has a single start.
    Traces: legend keys (role "key"), a colourbar for steps / loss (role "colorbar"), then per
    map the minima, the path and start, and the click points (role "basin-click", config k).
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}; valid: {', '.join(METRICS)}")
    k_count = len(maps)
    cols = min(COLUMNS, max(k_count, 1))
    rows = max(1, math.ceil(k_count / cols))
    minima = maps[0].minima if maps else np.zeros((0, 2))
    colours = basin_colors(minima, global_count)
    names = [f"minimum ({p[0]:.3g}, {p[1]:.3g})" for p in minima]
    span = metric_range(surface, maps, metric, steps) if metric != "basin" else (0.0, 1.0)
    data: list[dict] = []
    if metric == "basin":
        data += [_key_trace(n, c) for n, c in basin_legend(minima, global_count)]
    else:
        if metric == "steps":
            data.append(_key_trace("did not converge", NOWHERE_COLOR))
        data.append(_key_trace("diverged", DIVERGED))
        title = METRICS[metric] if metric == "steps" else loss_values(surface, np.zeros(1))[1]
        data.append(_colorbar_trace(title, span, metric == "loss" and surface.min_value is not None))
    (x0, x1), (y0, y1) = surface.bounds
    layout: dict = {
        "height": rows * row_height + 130,
        "margin": {"l": 50, "r": 20 if metric == "basin" else 90, "t": 100, "b": 30}, "font": FONT,
        "paper_bgcolor": "#FFFFFF", "plot_bgcolor": "#FFFFFF", "hovermode": "closest",
        "clickmode": "event+select", "dragmode": "zoom", "images": [], "annotations": [],
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0 + 30 / (rows * row_height), "xanchor": "left",
                   "x": 0, "font": {"size": 13}, "itemclick": False, "itemdoubleclick": False},
        "uirevision": repr(surface),
    }
    gap_x, gap_y = 0.04, 0.10 / rows
    for k, m in enumerate(maps):
        r, c = divmod(k, cols)
        suffix = "" if k == 0 else str(k + 1)
        xd = [c / cols + gap_x / 2, (c + 1) / cols - gap_x / 2]
        yd = [1 - (r + 1) / rows + gap_y / 2, 1 - r / rows - gap_y]
        axis = {"showgrid": False, "zeroline": False, "ticks": "outside", "mirror": True, "showline": True,
                "linecolor": "#444444", "constrain": "domain"}
        layout["xaxis" + suffix] = {**axis, "domain": xd, "range": [x0, x1], "anchor": "y" + suffix}
        layout["yaxis" + suffix] = {**axis, "domain": yd, "range": [y0, y1], "anchor": "x" + suffix,
                                    "scaleanchor": "x" + suffix, "scaleratio": 1}
        rgb = pixel_rgb(surface, m, metric, colours, span)
        layout["images"].append(_image(rgb, surface, suffix))
        layout["annotations"].append({
            "text": f"<b>{labels[k]}</b>", "xref": "x" + suffix + " domain", "yref": "y" + suffix + " domain",
            "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom", "yshift": 3, "showarrow": False,
            "font": {"size": 13, "color": color(k)}})
        data += _overlays(res, k, suffix, minima, global_count)
        data.append(_click_trace(m, k, names, suffix))
    return {"data": data, "layout": layout}
