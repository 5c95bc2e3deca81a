"""The surface in 3-D with every configuration's paths lying on it."""

from __future__ import annotations

import numpy as np

from .contour import SWARM, legend_label, path_stride, trajectory_points
from .levels import colorbar, log_scaled, surface_grid, z_values
from .palette import COLORSCALE, FONT, MINIMUM, OUTLINE, SADDLE, color

LIFT = 0.03  # paths float this fraction of the height range above the surface, to stay visible
# Light from the side, so that the valley's walls read as shape, not as one pale sheet
LIGHTING = {"ambient": 0.55, "diffuse": 0.9, "specular": 0.15, "roughness": 0.6, "fresnel": 0.1}
LIGHT_POSITION = {"x": -1e5, "y": -1e5, "z": 1e5}  # Plotly allows |x|, |y|, |z| <= 1e5


def surface3d_figure(res, *, step: int | None = None, grid: int = 160, height: int = 640) -> dict:
    """go.Surface of res.surface over its bounds (height log10(f - f* + 1e-3) where the contour
    is log-scaled, else f) with the paths lifted onto it.

    Traces: 0 the surface; 1 .. K one Scatter3d path per configuration (its starts joined by gaps,
    legend entry as on the contour map; points outside the bounds are left out); K+1 minima and
    K+2 saddles (both always present); with `step`, K playback markers at path[k, :, step].
    """
    surface = res.surface
    k_count, n, t, _ = res.shape
    xs, ys, values = surface_grid(surface, grid)
    z = z_values(surface, values)
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    lift = LIFT * (hi - lo)
    bar = colorbar(surface, z)
    (x0, x1), (y0, y1) = surface.bounds

    def height_of(xy, loss):
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        return np.where(inside, np.minimum(z_values(surface, loss), hi) + lift, np.nan)

    # the level lines of the map, drawn on the surface: where each band of the map's colourbar begins
    levels = {"show": True, "start": lo, "end": hi, "size": (hi - lo) / 12 or 1.0, "color": "#4D4D4D", "width": 1,
              "usecolormap": False, "highlight": False}
    data = [{"type": "surface", "x": xs, "y": ys, "z": z, "colorscale": COLORSCALE, "opacity": 0.92,
             "colorbar": bar, "hoverinfo": "skip", "name": "surface", "showlegend": False,
             "lighting": LIGHTING, "lightposition": LIGHT_POSITION, "contours": {"z": levels},
             "meta": {"role": "surface"}}]
    stride = path_stride(res)
    for k in range(k_count):
        xy, _, loss = trajectory_points(res, k, stride=stride)
        xyz = np.column_stack((xy, height_of(xy, loss)))
        if n > SWARM:  # thin lines need no more digits; halves what each rerun sends
            xyz = xyz.astype(np.float32)
        data.append({
            "type": "scatter3d", "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "mode": "lines",
            "line": {"color": color(k), "width": 2 if n > SWARM else 6}, "name": legend_label(res, k),
            "legendgroup": f"config {k}", "hoverinfo": "skip" if n > SWARM else "x+y+name",
            "opacity": 0.5 if n > SWARM else 1.0, "meta": {"role": "path", "config": k},
        })
    for points, name, symbol, fill in ((surface.minima, "minimum", "diamond", MINIMUM),
                                       (surface.saddles, "saddle", "square", SADDLE)):
        xy = np.array(points, dtype=float).reshape(-1, 2)
        with np.errstate(all="ignore"):
            zc = height_of(xy, surface.value(xy, np)) if len(xy) else np.zeros(0)
        data.append({"type": "scatter3d", "x": xy[:, 0], "y": xy[:, 1], "z": zc, "mode": "markers", "name": name,
                     "marker": {"symbol": symbol, "size": 7, "color": fill, "line": {"width": 2, "color": OUTLINE}},
                     "showlegend": bool(len(xy)), "meta": {"role": name}})
    if step is not None:
        s = int(np.clip(step, 0, t))
        for k in range(k_count):
            xy = res.path[k, :, s]
            data.append({"type": "scatter3d", "x": xy[:, 0], "y": xy[:, 1], "z": height_of(xy, res.loss[k, :, s]),
                         "mode": "markers", "marker": {"size": 4 if n > SWARM else 8, "color": color(k),
                                                       "line": {"width": 2, "color": OUTLINE}},
                         "name": f"{res.labels[k]} at step {s}", "legendgroup": f"config {k}", "showlegend": False,
                         "meta": {"role": "playback", "config": k}})
    span = max(x1 - x0, y1 - y0)
    zaxis = {"range": [lo, hi + 2 * lift], "title": {"text": bar["title"]["text"]}}
    if log_scaled(surface):  # label the height in the surface's units, as the colourbar does
        zaxis.update(tickvals=bar["tickvals"], ticktext=bar["ticktext"])
    layout = {
        "height": height, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "font": FONT, "paper_bgcolor": "#FFFFFF",
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0, "font": {"size": 13}},
        "scene": {"xaxis": {"range": [x0, x1], "title": {"text": "x"}},
                  "yaxis": {"range": [y0, y1], "title": {"text": "y"}},
                  "zaxis": zaxis,
                  "aspectmode": "manual",
                  "aspectratio": {"x": (x1 - x0) / span, "y": (y1 - y0) / span, "z": 0.6},
                  "camera": {"eye": {"x": -0.85, "y": -1.4, "z": 1.35}}},
        "uirevision": repr(surface),
    }
    return {"data": data, "layout": layout}
