"""A self-contained HTML animation of the playback: every configuration's markers moving together.

It is the 2-D map (plots.contour), whose surface is already a background image (plots.raster):
plotly.js would blank a contour trace as soon as an animation frame plays (plotly.js #4491).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .contour import contour_figure


def frame_steps(t: int, max_frames: int) -> np.ndarray:
    """At most max_frames point indices from 0 to t, evenly spread, both ends included."""
    return np.unique(np.linspace(0, t, max(2, min(max_frames, t + 1))).round().astype(int))


def animation_figure(res, *, max_frames: int = 200, height: int = 640) -> go.Figure:
    """The map (surface image, paths, markers; no click layer), its playback markers, and one
    frame per step of frame_steps (at most max_frames) moving them; play/pause buttons and a
    step slider."""
    fig = go.Figure(contour_figure(res, step=0, click_grid=1, height=height))
    fig.data = [tr for tr in fig.data if tr.meta["role"] not in ("click", "evals")]  # evals: of step 0 only
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
        clickmode="event", margin={"b": 110},
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
