"""A self-contained HTML animation of the playback: every configuration's markers moving together.

plotly.js blanks contour and heatmap traces as soon as an animation frame plays (plotly.js
#4491, still so in the bundled version), so the animated map shows the surface as a layout
image instead: the same levels and colours as the contour map, banded and with level lines,
rasterised here and embedded as a PNG data URI.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import plotly.graph_objects as go

from .contour import N_LEVELS, colorbar, contour_figure, surface_grid, z_values
from .palette import COLORSCALE

RASTER = 480  # pixels per side of the background image


def frame_steps(t: int, max_frames: int) -> np.ndarray:
    """At most max_frames point indices from 0 to t, evenly spread, both ends included."""
    return np.unique(np.linspace(0, t, max(2, min(max_frames, t + 1))).round().astype(int))


def _png(rgb: np.ndarray) -> str:
    """An [h, w, 3] uint8 image as a PNG data URI."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _scale_rgb(t: np.ndarray) -> np.ndarray:
    """COLORSCALE evaluated at t in [0, 1]: [..., 3] floats."""
    stops = np.array([s for s, _ in COLORSCALE])
    colours = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in COLORSCALE], dtype=float)
    return np.stack([np.interp(t, stops, colours[:, j]) for j in range(3)], axis=-1)


def surface_image(surface, n: int = RASTER) -> tuple[dict, float, float]:
    """(layout image of the banded surface with level lines, z low, z high)."""
    _, _, values = surface_grid(surface, n)
    z = z_values(surface, values)
    finite = np.isfinite(z)
    lo, hi = (float(z[finite].min()), float(z[finite].max())) if finite.any() else (0.0, 1.0)
    band = np.clip(np.floor((np.where(finite, z, hi) - lo) / ((hi - lo) or 1.0) * N_LEVELS), 0, N_LEVELS - 1)
    rgb = _scale_rgb((band + 0.5) / N_LEVELS)
    edge = np.zeros(band.shape, bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge] *= 0.8
    (x0, x1), (y0, y1) = surface.bounds
    image = {"source": _png(rgb[::-1].round().astype(np.uint8)), "xref": "x", "yref": "y", "x": x0, "y": y1,
             "sizex": x1 - x0, "sizey": y1 - y0, "sizing": "stretch", "layer": "below"}
    return image, lo, hi


def animation_figure(res, *, max_frames: int = 200, height: int = 640) -> go.Figure:
    """The contour map with the surface as a background image (see the module docstring), its
    playback markers, and one frame per step of frame_steps (at most max_frames) moving them;
    play/pause buttons and a step slider."""
    fig = go.Figure(contour_figure(res, step=0, click_grid=1, height=height))
    image, lo, hi = surface_image(res.surface)
    # Trace 0 becomes an empty scatter that only carries the colourbar; the click grid goes.
    bar = {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "hoverinfo": "skip", "showlegend": False,
           "marker": {"color": [lo, hi], "cmin": lo, "cmax": hi, "colorscale": COLORSCALE, "showscale": True,
                      "colorbar": colorbar(res.surface, np.array([lo, hi]))},
           "name": "surface", "meta": {"role": "surface"}}
    fig.data = [tr for tr in fig.data if tr.meta["role"] not in ("surface", "click")]
    fig.add_trace(bar)
    fig.data = fig.data[-1:] + fig.data[:-1]
    playback = [i for i, tr in enumerate(fig.data) if tr.meta["role"] == "playback"]
    steps = frame_steps(res.shape[2], max_frames)
    frames = [
        {"name": f"frame {s}", "traces": playback,
         "data": [{"type": "scatter", "x": res.path[k, :, s, 0], "y": res.path[k, :, s, 1]}
                  for k in range(len(playback))]}
        for s in steps
    ]
    still = {"mode": "immediate", "frame": {"duration": 0, "redraw": False}, "transition": {"duration": 0}}
    fig.update(frames=frames)
    fig.update_layout(
        images=[image], clickmode="event", margin={"b": 110},
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0, "y": -0.08, "xanchor": "left", "yanchor": "top",
                      "pad": {"r": 10, "t": 10}, "showactive": False,
                      "buttons": [
                          {"label": "▶ play", "method": "animate",
                           "args": [None, {"frame": {"duration": 60, "redraw": False}, "fromcurrent": True,
                                           "transition": {"duration": 0}}]},
                          {"label": "❚❚ pause", "method": "animate", "args": [[None], still]},
                      ]}],
        sliders=[{"x": 0.22, "len": 0.78, "y": -0.08, "yanchor": "top", "pad": {"t": 10},
                  "currentvalue": {"prefix": "step "},
                  "steps": [{"label": str(s), "method": "animate", "args": [[f"frame {s}"], still]} for s in steps]}],
    )
    return fig


def animation_html(res, *, max_frames: int = 200) -> str:
    """A standalone HTML page (plotly.js inlined, works offline) of animation_figure."""
    return animation_figure(res, max_frames=max_frames).to_html(include_plotlyjs=True, full_html=True,
                                                                auto_play=False)
