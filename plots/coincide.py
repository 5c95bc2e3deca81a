"""Paths that look like one on screen, and how a figure tells them apart.

Two drawn polylines coincide when every point of either lies within COINCIDE_PX pixels of the
other (a symmetric Hausdorff distance, in the pixels of the figure as drawn): the top 2.5 px line
then leaves less than a pixel of the one under it showing anywhere. The r-th configuration of a
group of coinciding ones (r > 0) is drawn with its own dash and marker symbols, and its legend
entry says whose path it follows. The 2-D map (plots.contour) and the MNIST landscape
(plots.mnist) share this rule; each says how its paths map to pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

COINCIDE_PX = 3.0
SAME_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SAME_SYMBOLS = ("circle", "diamond", "square", "triangle-up", "cross", "star")
END_SYMBOLS = ("square", "diamond", "triangle-up", "circle", "cross", "star")


def polyline_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance of a point of a [P, 2] from the polyline b [Q, 2] (same units)."""
    if len(b) == 1:
        return float(np.hypot(*(a - b[0]).T).max())
    b0, d = b[:-1], np.diff(b, axis=0)  # [Q-1, 2]
    length2 = np.einsum("ij,ij->i", d, d)
    rel = a[:, None, :] - b0[None]  # [P, Q-1, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip(np.where(length2 > 0, np.einsum("pqj,qj->pq", rel, d) / length2, 0.0), 0.0, 1.0)
    gap = rel - t[..., None] * d[None]
    return float(np.sqrt(np.einsum("pqj,pqj->pq", gap, gap).min(axis=1)).max())


def same_polyline(a: np.ndarray, b: np.ndarray, px: float = COINCIDE_PX) -> bool:
    """Whether polylines a [P, 2] and b [Q, 2], in pixels, are within px of each other everywhere."""
    if polyline_gap(a[[0, -1]], b) >= px or polyline_gap(b[[0, -1]], a) >= px:
        return False  # the ends alone tell most pairs apart
    return polyline_gap(a, b) < px and polyline_gap(b, a) < px


def first_coinciding(count: int, same: Callable[[int, int], bool]) -> list[int | None]:
    """Per item k < count, the first earlier j that leads a group (is itself None) with
    same(j, k), or None."""
    out: list[int | None] = [None] * count
    for k in range(1, count):
        out[k] = next((j for j in range(k) if out[j] is None and same(j, k)), None)
    return out


def same_path_note(label: str) -> str:
    """The legend's note on a configuration drawn along another's path."""
    return f"same path as {label}"


def same_ranks(same: list[int | None]) -> list[int]:
    """Per configuration, its place in its group of coinciding ones (0: the first, drawn plain)."""
    return [0 if j is None else 1 + sum(1 for i in range(k) if same[i] == j) for k, j in enumerate(same)]


def mark_same(data: list[dict], same: list[int | None], labels: Sequence[str], *, dashes: bool = True,
              hollow: bool = False, note: Callable[[str], str] = same_path_note) -> list[dict]:
    """Trace dicts with the r-th of each group of coinciding configurations (r > 0) told apart.

    Traces whose meta has role "path" or "end" and a config k with same[k] = j get meta.same_as = j;
    with `dashes` a path draws its line SAME_DASHES[r] and its markers SAME_SYMBOLS[r] (size 7); an
    end marker takes END_SYMBOLS[r]; a legend entry's name gets ' — ' + note(labels[j]).
    hollow: the path drawn as its dashed line alone (no step markers) and the end marker open
    (outlined in its colour, larger), so that the first one's filled markers show along the line
    and inside the end marker where the steps lie densely (the MNIST landscape: a marker at every
    snapshot, which SAME_SYMBOLS would cover)."""
    rank = same_ranks(same)
    out = []
    for trace in data:
        meta = trace.get("meta") or {}
        k, role = meta.get("config"), meta.get("role")
        if k is None or same[k] is None or role not in ("path", "end"):
            out.append(trace)
            continue
        r = rank[k]
        trace = {**trace, "meta": {**meta, "same_as": same[k]}}
        if role == "path" and dashes:
            trace["line"] = {**trace["line"], "dash": SAME_DASHES[r % len(SAME_DASHES)]}
            trace["marker"] = {**trace["marker"], "symbol": SAME_SYMBOLS[r % len(SAME_SYMBOLS)], "size": 7}
            if hollow:
                trace["mode"] = "lines"
        if role == "end":
            trace["marker"] = {**trace["marker"], "symbol": END_SYMBOLS[r % len(END_SYMBOLS)]}
            if hollow:
                trace["marker"] = _hollow(trace["marker"], trace["marker"].get("size", 11) + 4)
        if trace.get("showlegend", True):
            trace["name"] = f"{trace['name']} — {note(labels[same[k]])}"
        out.append(trace)
    return out


def _hollow(marker: dict, size: float) -> dict:
    """A marker's open symbol, outlined 2.5 px in its own colour."""
    return {**marker, "symbol": marker["symbol"] + "-open", "size": size,
            "line": {**marker.get("line", {}), "color": marker["color"], "width": 2.5}}
