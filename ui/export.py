"""Tables of a Result: the trajectories as CSV rows and the per-optimizer results summary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizers import Result

CSV_MAX_ROWS = 1_000_000  # a swarm's CSV keeps its first starts up to this many rows


def trajectories_frame(res: Result, max_rows: int = CSV_MAX_ROWS) -> pd.DataFrame:
    """One row per optimizer, start and step s = 0 .. its stop point.

    Columns: optimizer (label), config, start, step, x, y, loss, grad_x, grad_y (the gradient the
    optimizer received at theta_s), grad_norm (full, noise-free), then for the update from theta_s
    to theta_{s+1} (empty on the last row): lr (scheduled), eff_lr_x, eff_lr_y; and status
    ("diverged at step d", "converged at step c" or "") on every row of that trajectory.
    With many starts, only the first starts that fit in `max_rows` rows are written.
    """
    k_count, n, t, _ = res.shape
    stop = res.stop_index()
    n_kept = max(1, min(n, max_rows // (k_count * (t + 1))))
    frames = []
    for k in range(k_count):
        for j in range(n_kept):
            end = int(stop[k, j])
            s = np.arange(end + 1)
            nxt = np.where(s < t, s, 0)  # update quantities exist for s < T only
            has_next = s < t
            frames.append(pd.DataFrame({
                "optimizer": res.labels[k], "config": k, "start": j, "step": s,
                "x": res.path[k, j, s, 0], "y": res.path[k, j, s, 1], "loss": res.loss[k, j, s],
                "grad_x": res.grad[k, j, s, 0], "grad_y": res.grad[k, j, s, 1], "grad_norm": res.grad_norm[k, j, s],
                "lr": np.where(has_next, res.lr[k, nxt], np.nan),
                "eff_lr_x": np.where(has_next, res.eff_lr[k, j, nxt, 0], np.nan),
                "eff_lr_y": np.where(has_next, res.eff_lr[k, j, nxt, 1], np.nan),
                "status": _fate(res, k, j),
            }))
    return pd.concat(frames, ignore_index=True)


def trajectories_csv(res: Result) -> str:
    return trajectories_frame(res).to_csv(index=False, float_format="%.17g")


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
