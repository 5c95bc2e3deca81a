"""The surface as a banded background image with level lines, and the colourbar that reads it.

The 2-D map and the playback animation draw the surface this way rather than as a Plotly
contour trace: the browser then shows one cached PNG instead of tracing two dozen level
curves on every redraw (the contour was a third of the map's redraw time in Chromium), and
plotly.js blanks contour traces once an animation frame plays (plotly.js #4491).

Levels: log-scaled surfaces (plots.levels.log_scaled) get N_LEVELS equal bands of
log10(f - f* + 1e-3) from f = f*; linear ones get bands at round values (nice_step). Band i
covers [start + i * size, start + (i + 1) * size) and is coloured by COLORSCALE at its middle;
the colourbar spans [start, start + bands * size] with the same flat colour per band, so bar
and image agree.
"""

from __future__ import annotations

import base64
import functools
import io
import math

import numpy as np
from PIL import Image

from .levels import LOG_FLOOR, N_LEVELS, colorbar, log_scaled, nice_step, surface_grid, z_values
from .palette import COLORSCALE

RASTER = 640  # pixels per side of the image: about the map's plot area, so it is drawn ~1:1
LINE_SHADE = 0.8  # level lines: band colour times this


def png_data_uri(pixels: np.ndarray, palette: np.ndarray | None = None, compress_level: int = 6) -> str:
    """A PNG data URI of `pixels` (row 0 at the top): [h, w, 3] uint8 RGB, or with `palette`
    ([c <= 256, 3] uint8 colours) [h, w] uint8 palette indices (an indexed PNG: one byte a
    pixel). zlib's compress_level 0-9 (1: several times faster, about half again as large)."""
    if palette is None:
        image = Image.fromarray(pixels, mode="RGB")
    else:
        image = Image.fromarray(pixels, mode="P")
        image.putpalette(palette.ravel().tolist())
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=compress_level)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def scale_rgb(t: np.ndarray) -> np.ndarray:
    """COLORSCALE evaluated at t in [0, 1]: [..., 3] floats in 0..255."""
    stops = np.array([s for s, _ in COLORSCALE])
    colours = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for _, c in COLORSCALE], dtype=float)
    return np.stack([np.interp(t, stops, colours[:, j]) for j in range(3)], axis=-1)


def banded_scale(bands: int) -> list[tuple[float, str]]:
    """A Plotly colour scale with `bands` flat steps, each the colour its band has in the image."""
    colours = scale_rgb((np.arange(bands) + 0.5) / bands).round().astype(int)
    hexes = ["#{:02X}{:02X}{:02X}".format(*c) for c in colours]
    return [(edge / bands, hexes[i]) for i in range(bands) for edge in (i, i + 1)]


def levels(surface, z: np.ndarray) -> tuple[float, float, int]:
    """(start, size, bands) of the level bands over the finite values of z (see module docstring)."""
    finite = z[np.isfinite(z)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if log_scaled(surface):  # from f = f* itself, where the colourbar's "0" tick sits
        lo = min(lo, math.log10(LOG_FLOOR))
        size = (hi - lo) / N_LEVELS or 1.0
        return lo, size, N_LEVELS
    size = nice_step((hi - lo) / N_LEVELS)
    start = math.floor(lo / size) * size
    return start, size, max(1, math.ceil((hi - start) / size - 1e-9))


def band_index(z: np.ndarray, start: float, size: float, bands: int) -> np.ndarray:
    """The band of each value of z (int array of z's shape; non-finite values get the top band)."""
    with np.errstate(invalid="ignore"):
        top = start + bands * size
        return np.clip(np.floor((np.where(np.isfinite(z), z, top) - start) / size), 0, bands - 1).astype(int)


@functools.lru_cache(maxsize=64)
def surface_layer(surface, n: int = RASTER) -> tuple[dict, dict]:
    """(layout image, colourbar trace) of `surface` on an n x n raster over its bounds.

    The image is placed in data coordinates (it zooms with the axes); the trace is an empty
    scatter (role "surface") that only draws the colourbar. Cached per surface and shared by
    every figure and session: never mutate them.
    """
    image, z, (start, size, bands) = surface_image(surface, n)
    top = start + bands * size
    bar = {"type": "scatter", "x": [None], "y": [None], "mode": "markers", "hoverinfo": "skip", "showlegend": False,
           "marker": {"color": [start, top], "cmin": start, "cmax": top, "colorscale": banded_scale(bands), "showscale": True,
                      "colorbar": colorbar(surface, z)},
           "name": "surface", "meta": {"role": "surface", "levels": {"start": start, "size": size, "bands": bands}}}
    return image, bar


def surface_image(surface, n: int = RASTER, compress_level: int = 6) -> tuple[dict, np.ndarray, tuple[float, float, int]]:
    """(layout image, z [n, n], (start, size, bands)): the banded image of `surface` on an n x n
    raster over its bounds, its PNG compressed at zlib's compress_level; not cached."""
    _, _, values = surface_grid(surface, n)
    z = z_values(surface, values)
    start, size, bands = levels(surface, z)
    band = band_index(z, start, size, bands)
    edge = np.zeros(band.shape, bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    colours = scale_rgb((np.arange(bands) + 0.5) / bands)  # band i: colours[i]; its level line: bands + i
    palette = np.concatenate([colours, colours * LINE_SHADE]).round().astype(np.uint8)
    (x0, x1), (y0, y1) = surface.bounds
    source = png_data_uri((band + bands * edge)[::-1].astype(np.uint8), palette, compress_level)
    image = {"source": source, "xref": "x", "yref": "y", "x": x0, "y": y1,
             "sizex": x1 - x0, "sizey": y1 - y0, "sizing": "stretch", "layer": "below"}
    return image, z, (start, size, bands)
