"""What the map component (ui/map_component) receives: the figures once, then arrays per step.

The server sends a run's data once; the browser draws, plays, scrubs and shows the internals at
any step without asking the server again. `playback_payload(res)` gives:
  map, eff, loss   figure dicts (plots.contour / plots.series) without a playback step: the
                   component adds its cursor, arrow and preview traces and moves them itself;
                   a swarm's map draws its paths in age bands (older fainter) and the density of
                   each configuration's end points (role "density");
  frames [F]       the steps playback can show (every step up to MAX_FRAMES, else evenly spaced,
                   always with 0 and T);
  runs [K]         per configuration, at those steps, for the first start: path [F, 2], loss [F],
                   gradient [F, 2] (as received), eff_lr, update (theta_{s+1} - theta_s), first and
                   second moment (after the update) [F, 2] and the scheduled lr [F] (NaN at s = T,
                   where there is no update), float64 so hover and the table show exact values;
                   for L-BFGS also evals [F, E, 2] float32, the points its step from each frame
                   evaluated (NaN-padded; eval_slots = E), n_evals [F] and scalar_state
                   {name: [F]} (its pairs count n_pairs, step length t, func_evals) after that step;
                   its stop index, diverged_at, converged_at; same_as (the configuration whose
                   path it coincides with, plots.contour.coinciding, or None) and same_rank; swarm [F', N, 2] float32 positions of
                   every start when there are several (F' frames, evenly spaced);
  box [F, 2] in each run: 1/sqrt(second moment) (plots.internals.step_scale; NaN where v = 0 or
                   s = T; None without a second moment, or for Adamax's infinity norm);
  boxes            {scale, fraction}: the run's one factor for those boxes (box_scale);
  arrows           one scale per kind for the whole run (plots.internals.ARROWS), so arrow
                   lengths compare across steps and optimizers;
  drawn_points     how many points the map's path traces hold (decimate keeps them under the
                   pixel budget).
Arrays are in Plotly's typed-array form (plots.typed), decoded in the browser without parsing.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from .contour import SWARM, aged_path_traces, contour_figure, density_traces, path_stride, same_ranks
from .internals import ARROW_HEADS, ARROW_LENGTH, ARROWS, BOX_FRACTION, NOT_SQUARED, step_scale
from .recurrences import recurrences
from .series import eff_lr_figure, loss_figure
from .typed import typed_arrays

MAX_FRAMES = 2_001
MAX_SWARM_POINTS = 200_000  # F' * N * K positions sent for a swarm's playback
TURN_DEGREES = 20.0  # decimate keeps every point where the path turns more sharply than this


def frame_steps(steps: int, max_frames: int = MAX_FRAMES) -> np.ndarray:
    """[F] int: 0..T when T + 1 <= max_frames, else max_frames steps evenly spread (0 and T kept)."""
    if steps + 1 <= max_frames:
        return np.arange(steps + 1)
    return np.unique(np.round(np.linspace(0, steps, max_frames)).astype(np.int64))


def decimate(path: np.ndarray, max_points: int, turn_degrees: float = TURN_DEGREES) -> np.ndarray:
    """Indices of the points of path [P, 2] to draw: at most about max_points, always the first and
    the last, and every point where the direction turns by more than `turn_degrees` (so corners
    and oscillations survive), the rest evenly spaced."""
    count = len(path)
    if count <= max_points:
        return np.arange(count)
    step = np.diff(path, axis=0)
    angle = np.arctan2(step[:, 1], step[:, 0])
    turn = np.abs((np.diff(angle) + np.pi) % (2 * np.pi) - np.pi)
    moving = np.hypot(step[:-1, 0], step[:-1, 1]) > 0
    corners = np.nonzero((turn > math.radians(turn_degrees)) & moving)[0] + 1
    keep = np.zeros(count, dtype=bool)
    keep[[0, count - 1]] = True
    keep[corners] = True
    keep[np.round(np.linspace(0, count - 1, max_points)).astype(np.int64)] = True
    return np.flatnonzero(keep)


def decimate_rows(paths: np.ndarray, stops: np.ndarray, max_points: int,
                  turn_degrees: float = TURN_DEGREES) -> list[np.ndarray]:
    """`decimate` for many paths at once: paths [n, P, 2], row i drawn up to its point stops[i].
    Indices per row: the first and the stop point, every point up to the stop where the path turns
    by more than `turn_degrees`, and about max_points evenly spaced over the whole row."""
    n, count, _ = paths.shape
    if count <= max_points:
        return [np.arange(stop + 1) for stop in stops]
    step = np.diff(paths, axis=1)
    angle = np.arctan2(step[..., 1], step[..., 0])
    turn = np.abs((np.diff(angle, axis=1) + np.pi) % (2 * np.pi) - np.pi)
    moving = np.hypot(step[:, :-1, 0], step[:, :-1, 1]) > 0
    keep = np.zeros((n, count), dtype=bool)
    keep[:, 1:-1] = (turn > math.radians(turn_degrees)) & moving
    keep[:, np.round(np.linspace(0, count - 1, max_points)).astype(np.int64)] = True
    keep[np.arange(n), stops] = True
    keep[:, 0] = True
    return [np.flatnonzero(keep[i, : stops[i] + 1]) for i in range(n)]


def _moment(res, k: int, kind: str) -> tuple[str | None, np.ndarray | None]:
    names = res.state_names[k]
    wanted = getattr(res.configs[k].info, kind)
    name = next((n for n in wanted if n in names), None)
    return name, None if name is None else res.state[name][k, 0]


def _at(values: np.ndarray, frames: np.ndarray, steps: int) -> np.ndarray:
    """Step array [T, ...] at the frames, NaN at s = T (no update from the final point)."""
    out = values[np.minimum(frames, steps - 1)].astype(np.float64)
    out[frames >= steps] = np.nan
    return out


def _run(res, k: int, frames: np.ndarray) -> dict:
    t = res.shape[2]
    path = res.path[k, 0]
    nxt = np.minimum(frames + 1, t)
    update = path[nxt] - path[frames]
    update[frames >= t] = np.nan
    first_name, first = _moment(res, k, "first_moment")
    second_name, second = _moment(res, k, "second_moment")
    config = res.configs[k]
    hp = config.hp
    direction_form = not ((hp.get("decoupled_weight_decay") and hp.get("weight_decay"))
                          or (config.info.buffered_by is not None and hp[config.info.buffered_by] > 0)
                          or config.info.closure_calls is not None)
    evals = {}
    if res.evals is not None and config.info.closure_calls is not None:
        # the loss evaluations of the step from each frame (L-BFGS's line search), NaN-padded
        points = res.evals[k, 0, np.minimum(frames, t - 1)].astype(np.float32)
        points[frames >= t] = np.nan
        evals = {"evals": points, "eval_slots": int(points.shape[1]),
                 "n_evals": _at(res.n_evals[k, 0], frames, t).astype(np.float32),
                 "scalar_state": {name: _at(res.state[name][k, 0, :, 0], frames, t)
                                  for name in config.info.scalar_state if name in res.state_names[k]}}
    return {**evals,
        "label": res.labels[k], "title": config.info.title,
        "path": path[frames], "loss": res.loss[k, 0, frames], "grad": res.grad[k, 0, frames],
        "eff": _at(res.eff_lr[k, 0], frames, t), "update": update,
        "lr": _at(res.lr[k], frames, t),
        "first_name": first_name, "first": None if first is None else _at(first, frames, t),
        "second_name": second_name, "second": None if second is None else _at(second, frames, t),
        "box": None if second is None or second_name in NOT_SQUARED else step_scale(_at(second, frames, t)),
        "stop": int(res.stop_index()[k, 0]), "diverged_at": int(res.diverged_at[k, 0]),
        "converged_at": int(res.converged_at[k, 0]), "direction_form": bool(direction_form),
        "recurrences": recurrences(res, k),
    }


def _swarm(res, frames: np.ndarray) -> tuple[np.ndarray, list]:
    k, n, t, _ = res.shape
    count = max(2, min(len(frames), MAX_SWARM_POINTS // (n * k)))
    sub = frames[np.unique(np.round(np.linspace(0, len(frames) - 1, count)).astype(np.int64))]
    return sub, [res.path[i][:, sub].transpose(1, 0, 2).astype(np.float32) for i in range(k)]


def arrow_scales(res, frames: np.ndarray) -> dict:
    """{kind: factor} one per kind for the run: the 95th percentile of that kind's vector lengths
    over every configuration and frame (first start, points inside the frame) spans ARROW_LENGTH
    of the shorter side of the frame."""
    (x0, x1), (y0, y1) = res.surface.bounds
    side = min(x1 - x0, y1 - y0)
    scales = {}
    runs = [_run(res, k, frames) for k in range(res.shape[0])]
    for key, _, _ in ARROWS:
        field = {"gradient": "grad", "first_moment": "first", "update": "update"}[key]
        lengths = []
        for r in runs:
            v = r[field]
            if v is None:
                continue
            p = r["path"]
            inside = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
            norm = np.hypot(v[:, 0], v[:, 1])
            lengths.append(norm[inside & np.isfinite(norm) & (norm > 0)])
        lengths = np.concatenate(lengths) if lengths else np.zeros(0)
        if len(lengths):
            scales[key] = float(ARROW_LENGTH * side / np.percentile(lengths, 95))
    return scales


def box_scale(runs: list[dict], bounds) -> float | None:
    """The one factor of a run's second-moment boxes: the largest half-side 1/sqrt(v) over every
    configuration with a box and every frame at a point inside the frame spans BOX_FRACTION of
    the shorter frame side (None when no configuration has one). runs: `_run`'s dicts."""
    (x0, x1), (y0, y1) = bounds
    largest = 0.0
    for r in runs:
        if r["box"] is None:
            continue
        p, half = r["path"], r["box"]
        inside = (p[:, 0] >= x0) & (p[:, 0] <= x1) & (p[:, 1] >= y0) & (p[:, 1] <= y1)
        half = half[inside & np.all(np.isfinite(half), axis=1)]
        if len(half):
            largest = max(largest, float(half.max()))
    if not largest > 0 or not math.isfinite(largest):
        return None
    return BOX_FRACTION * min(x1 - x0, y1 - y0) / largest


def _with_step_hover(res, fig: dict) -> dict:
    """One start: each path point's hover also shows the gradient received and the effective lr
    of the update from it (customdata columns: step, f, g_x, g_y, eff_x, eff_y)."""
    if res.shape[1] != 1:
        return fig
    t = res.shape[2]
    data = []
    for trace in fig["data"]:
        meta = trace.get("meta") or {}
        if meta.get("role") == "path" and "customdata" in trace:
            k = meta["config"]
            steps = np.asarray(trace["customdata"])[:, 0]
            s = np.nan_to_num(steps, nan=0).astype(np.int64)
            grad = res.grad[k, 0, s]
            eff = res.eff_lr[k, 0, np.minimum(s, t - 1)].copy()
            eff[s >= t] = np.nan
            custom = np.column_stack([steps, np.asarray(trace["customdata"])[:, 1], grad, eff])
            custom[np.isnan(steps)] = np.nan
            custom = custom.astype(np.float32)  # hover shows 4 significant digits
            name = trace["hovertemplate"].split("<br>")[0]
            trace = {**trace, "customdata": custom, "hovertemplate": (
                name + "<br>step %{customdata[0]}: θ = (%{x:.4g}, %{y:.4g})<br>f = %{customdata[1]:.4g}"
                "<br>gradient (%{customdata[2]:.4g}, %{customdata[3]:.4g})"
                "<br>eff. lr (%{customdata[4]:.4g}, %{customdata[5]:.4g})<extra></extra>")}
        data.append(trace)
    return {"data": data, "layout": fig["layout"]}


def _side(fig: dict) -> dict:
    """A chart beside the map: no legend (colours as on the map), values in float32 (drawing
    needs no more; the exact values are in the runs)."""
    data = [{**t, "y": np.asarray(t["y"], dtype=np.float32)} if isinstance(t.get("y"), np.ndarray) else t
            for t in fig["data"]]
    return {"data": data, "layout": {**fig["layout"], "showlegend": False}}


def _without_click_layer(fig: dict) -> dict:
    return {"data": [t for t in fig["data"] if (t.get("meta") or {}).get("role") != "click"], "layout": fig["layout"]}


def _swarm_picture(res, fig: dict) -> dict:
    """A swarm's map as a picture: each configuration's paths in age bands (older fainter) and,
    above them, the density of its end points (contour.aged_path_traces, density_traces)."""
    if res.shape[1] <= SWARM:
        return fig
    stride = path_stride(res)
    data = []
    for trace in fig["data"]:
        meta = trace.get("meta") or {}
        if meta.get("role") == "path":
            data += aged_path_traces(res, meta["config"], stride)
        elif meta.get("role") == "start":  # the densities go under the start and end marks
            data += density_traces(res) + [trace]
        else:
            data.append(trace)
    return {"data": data, "layout": fig["layout"]}


def playback_payload(res, *, map_height: int = 620, side_height: int = 330, smooth: float | None = None) -> dict:
    """The component's data for Result `res` (see the module docstring), its loss chart smoothed
    over `smooth` steps (plots.series.ema; None: raw); JSON-ready."""
    k, n, t, _ = res.shape
    frames = frame_steps(t)
    map_fig = _swarm_picture(res, _with_step_hover(res, _without_click_layer(
        contour_figure(res, height=map_height, click_grid=2))))
    payload = {
        "steps": t, "frames": frames.astype(np.int32), "starts": n,
        "map": map_fig, "eff": _side(eff_lr_figure(res, height=side_height)),
        "loss": _side(loss_figure(res, height=side_height - 60, smooth=smooth)),
        "runs": [_run(res, i, frames) for i in range(k)],
        "arrows": arrow_scales(res, frames),
        "arrow_kinds": [{"key": key, "text": text, "line": line, "head": ARROW_HEADS[key]} for key, text, line in ARROWS],
        "bounds": [list(b) for b in res.surface.bounds],
        "drawn_points": int(sum(len(tr.get("x", [])) for tr in map_fig["data"] if (tr.get("meta") or {}).get("role") == "path")),
    }
    payload["boxes"] = {"scale": box_scale(payload["runs"], res.surface.bounds), "fraction": BOX_FRACTION}
    same = [None] * k
    for trace in map_fig["data"]:
        meta = trace.get("meta") or {}
        if "same_as" in meta:
            same[meta["config"]] = meta["same_as"]
    for run, j, rank in zip(payload["runs"], same, same_ranks(same)):
        run.update(same_as=j, same_rank=rank)
    if n > 1:
        sub, positions = _swarm(res, frames)
        payload["swarm_frames"] = sub.astype(np.int32)
        payload["swarm"] = positions
    payload = typed_arrays(payload)
    payload["id"] = hashlib.sha256(repr(_identity(res)).encode()).hexdigest()[:16]
    return payload


def _identity(res) -> tuple:
    return (res.labels, repr(res.surface), res.starts.tobytes(), res.shape, float(res.path[..., -1, :].sum()))
