"""Tables of a Result: the trajectories as CSV rows and the per-optimizer results summary.

A CSV export is built when its button is pressed (a deferred download, in a server thread) and
weighs at most CSV_MAX_BYTES: `plan_csv` bounds its size before anything is written and, past the
cap, keeps every k-th step of each trajectory (and its stop step).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizers import Result

CSV_MAX_BYTES = 20_000_000  # the most one CSV export weighs (stated on its button)
CHUNK_ROWS = 5_000  # rows formatted at a time: other sessions' threads run between chunks
FLOAT_CHARS = 24  # the longest "%.17g" of a float64 (-2.2250738585072014e-308)
FLOAT_COLUMNS = 9  # x, y, loss, grad_x, grad_y, grad_norm, lr, eff_lr_x, eff_lr_y
ANIMATION_MAX_FRAMES = 200
# Markers over all frames of the HTML animation (~27 bytes each): with the map of the heaviest view
# (~7.5 MB, its K * N * T bounded by the page's trajectory cap) it stays within ANIMATION_MAX_BYTES.
ANIMATION_MAX_MARKERS = 400_000
ANIMATION_MAX_BYTES = 20_000_000  # stated on its button; tests/test_session_bounds.py checks the heaviest view


@dataclass(frozen=True)
class CsvPlan:
    """What a trajectories CSV of a Result holds: every `stride`-th step of each trajectory and its
    stop step (stride 1: every step), and bounds of its size in bytes."""

    stride: int
    rows: int
    max_bytes: int  # an upper bound of the file's size at this stride
    full_bytes: int  # the same bound with every step


def _quoted_bytes(text: str) -> int:
    """The UTF-8 length of `text` as one CSV field (quoted when it holds a comma, quote or newline)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow([text])
    return len(out.getvalue().encode())


def _row_counts(stop: np.ndarray, stride: int) -> np.ndarray:
    """[K, N] rows of each trajectory at `stride`: ceil(end / stride) + 1 (1 for end = 0)."""
    return np.where(stop > 0, -(-stop // stride) + 1, 1)


def _row_bytes(res: Result) -> np.ndarray:
    """[K] an upper bound of one row's bytes for each configuration."""
    k_count, n, t, _ = res.shape
    fixed = (len(str(k_count - 1)) + len(str(n - 1)) + len(str(t)) + FLOAT_COLUMNS * FLOAT_CHARS
             + len("converged at step ") + len(str(t)) + 14)  # 13 commas and the newline
    return np.array([fixed + _quoted_bytes(label) for label in res.labels])


def plan_csv(res: Result, max_bytes: int = CSV_MAX_BYTES) -> CsvPlan:
    """The smallest stride whose CSV stays within `max_bytes` (by the bound), and its size."""
    stop, per_row = res.stop_index(), _row_bytes(res)
    header = len(",".join(COLUMNS)) + 1

    def size(stride: int) -> int:
        return header + int((_row_counts(stop, stride).sum(axis=1) * per_row).sum())

    low, high = 1, max(1, int(stop.max()))
    while low < high:  # size is non-increasing in the stride
        mid = (low + high) // 2
        low, high = (mid + 1, high) if size(mid) > max_bytes else (low, mid)
    return CsvPlan(low, int(_row_counts(stop, low).sum()), size(low), size(1))


COLUMNS = ("optimizer", "config", "start", "step", "x", "y", "loss", "grad_x", "grad_y", "grad_norm", "lr",
           "eff_lr_x", "eff_lr_y", "status")


def _rows(res: Result, stride: int, final: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(config, start, step) of every row, trajectory by trajectory: every `stride`-th step and the
    stop step, or only the stop step (`final`)."""
    stop = res.stop_index()
    k, j = (a.ravel() for a in np.indices(stop.shape))
    end = stop.ravel()
    if final:
        return k, j, end
    counts = _row_counts(end, stride)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    steps = np.minimum((np.arange(counts.sum()) - first) * stride, np.repeat(end, counts))
    return np.repeat(k, counts), np.repeat(j, counts), steps


def _frame(res: Result, k: np.ndarray, j: np.ndarray, s: np.ndarray) -> pd.DataFrame:
    """The rows (config k, start j, step s) of the trajectories table (see trajectories_frame)."""
    t = res.shape[2]
    has_next = s < t  # update quantities exist for s < T only
    nxt = np.where(has_next, s, 0)
    fates = {(a, b): _fate(res, a, b) for a, b in set(zip(k.tolist(), j.tolist()))}
    return pd.DataFrame({
        "optimizer": np.asarray(res.labels, dtype=object)[k], "config": k, "start": j, "step": s,
        "x": res.path[k, j, s, 0], "y": res.path[k, j, s, 1], "loss": res.loss[k, j, s],
        "grad_x": res.grad[k, j, s, 0], "grad_y": res.grad[k, j, s, 1], "grad_norm": res.grad_norm[k, j, s],
        "lr": np.where(has_next, res.lr[k, nxt], np.nan),
        "eff_lr_x": np.where(has_next, res.eff_lr[k, j, nxt, 0], np.nan),
        "eff_lr_y": np.where(has_next, res.eff_lr[k, j, nxt, 1], np.nan),
        "status": [fates[a, b] for a, b in zip(k.tolist(), j.tolist())],
    }, columns=list(COLUMNS))


def trajectories_frame(res: Result, stride: int = 1) -> pd.DataFrame:
    """One row per optimizer, start and step s = 0 .. its stop point (every `stride`-th step and the
    stop point when stride > 1).

    Columns: optimizer (label), config, start, step, x, y, loss, grad_x, grad_y (the gradient the
    optimizer received at theta_s), grad_norm (full, noise-free), then for the update from theta_s
    to theta_{s+1} (empty on the last row): lr (scheduled), eff_lr_x, eff_lr_y; and status
    ("diverged at step d", "converged at step c" or "") on every row of that trajectory.
    """
    return _frame(res, *_rows(res, stride))


def trajectories_csv(res: Result, stride: int = 1, final: bool = False) -> bytes:
    """trajectories_frame as CSV (floats exact to 17 digits), or only each trajectory's stop row
    (`final`). Written CHUNK_ROWS rows at a time, resting after each chunk as long as it took: it
    runs in a server thread while other sessions' scripts run, and takes at most half of the GIL
    from them however often a student asks for it."""
    k, j, s = _rows(res, stride, final)
    parts = []
    for first in range(0, len(k), CHUNK_ROWS):
        rows = slice(first, first + CHUNK_ROWS)
        started = time.perf_counter()
        parts.append(_frame(res, k[rows], j[rows], s[rows]).to_csv(index=False, header=first == 0,
                                                                   float_format="%.17g").encode())
        time.sleep(time.perf_counter() - started)
    return b"".join(parts)


def animation_frames(res: Result) -> int:
    """Frames of the playback animation: ANIMATION_MAX_FRAMES, fewer for swarms (each frame moves
    K * N markers)."""
    k_count, n, _, _ = res.shape
    return max(2, min(ANIMATION_MAX_FRAMES, ANIMATION_MAX_MARKERS // (k_count * n)))


def _fate(res: Result, k: int, j: int) -> str:
    if res.diverged_at[k, j] >= 0:
        return f"diverged at step {int(res.diverged_at[k, j])}"
    if res.converged_at[k, j] >= 0:
        return f"converged at step {int(res.converged_at[k, j])}"
    return ""


def _distance(res: Result, points: np.ndarray) -> np.ndarray | None:
    """Distance of points [..., 2] to the nearest known minimum; None when none is known."""
    minima = np.asarray(res.surface.minima, dtype=float).reshape(-1, 2)
    if not len(minima):
        return None
    return np.min(np.linalg.norm(points[..., None, :] - minima, axis=-1), axis=-1)


def summary_frame(res: Result) -> pd.DataFrame:
    """Per optimizer: final loss, distance to the nearest minimum, and its fate.

    One start: the values at its stop point and "converged at step c" / "diverged at step d" /
    "not converged in T steps". Many starts: medians over the starts and counts of each fate.
    """
    k_count, n, t, _ = res.shape
    stop = res.stop_index()
    ks, ns = np.indices((k_count, n))
    final = res.path[ks, ns, stop]  # [K, N, 2]
    loss = res.loss[ks, ns, stop]
    dist = _distance(res, final)
    rows = []
    for k in range(k_count):
        div, conv = res.diverged_at[k], res.converged_at[k]
        if n == 1:
            fate = _fate(res, k, 0) or f"not converged in {t} steps"
            row = {"optimizer": res.labels[k], "final loss": loss[k, 0],
                   "distance to minimum": None if dist is None else dist[k, 0], "outcome": fate}
        else:
            parts = [f"{int((conv >= 0).sum())}/{n} converged"]
            if (div >= 0).any():
                parts.append(f"{int((div >= 0).sum())}/{n} diverged (first at step {int(div[div >= 0].min())})")
            row = {"optimizer": res.labels[k], "final loss": float(np.median(loss[k])),
                   "distance to minimum": None if dist is None else float(np.median(dist[k])),
                   "outcome": ", ".join(parts)}
        rows.append(row)
    frame = pd.DataFrame(rows)
    if n > 1:
        frame = frame.rename(columns={"final loss": f"final loss (median of {n})",
                                      "distance to minimum": f"distance to minimum (median of {n})"})
    return frame
