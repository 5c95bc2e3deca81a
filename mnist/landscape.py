"""The loss landscape around the optimizers' paths: one shared PCA plane (Li et al. 2018).

"Visualizing the Loss Landscape of Neural Nets" (Li, Xu, Taylor, Studer, Goldstein, 2018) plots
an optimizer's path on the plane spanned by the first two principal components of its parameter
snapshots. With several optimizers started from the same weights, the snapshots of all of them
are stacked, centred on their mean c, and the plane is c + a d1 + b d2 with d1, d2 the top two
right singular vectors of the centred stack M [N, P]. The fraction of the variance it explains
is (s1^2 + s2^2) / sum(s_i^2); each snapshot is drawn at its projection ((theta - c) . d1,
(theta - c) . d2), and the loss is evaluated on a grid of (a, b) on a fixed validation batch.

The grid evaluation uses that the first layer is linear in the parameters: the pre-activations
at c + a d1 + b d2 are Z_c + a Z_1 + b Z_2, three products computed once, so each grid point
costs an elementwise ReLU and a small [n, H] x [H, 10] product, batched over grid points.
NumPy only, float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mlp import Layout, log_softmax_np, one_thread

GRID_CHUNK = 64  # grid points per batched forward pass


@dataclass(frozen=True)
class Plane:
    """centre [P], directions [2, P] (orthonormal rows), variance_ratio [2] of each direction."""

    centre: np.ndarray
    directions: np.ndarray
    variance_ratio: np.ndarray

    @property
    def explained(self) -> float:
        """Fraction of the stacked, centred trajectories' variance the plane explains."""
        return float(self.variance_ratio.sum())

    def project(self, params: np.ndarray) -> np.ndarray:
        """[..., P] -> [..., 2] coordinates of the orthogonal projection onto the plane."""
        return (np.asarray(params, np.float64) - self.centre) @ self.directions.T

    def point(self, coords: np.ndarray) -> np.ndarray:
        """[..., 2] -> [..., P] parameters at those plane coordinates."""
        return self.centre + np.asarray(coords, np.float64) @ self.directions


@dataclass(frozen=True)
class Landscape:
    """The contour data and the projected paths (K configurations, S snapshots).

    plane: the PCA plane; a [Ga], b [Gb]: grid coordinates along d1 and d2;
    loss: [Gb, Ga] mean cross-entropy at plane.point((a[j], b[i])) on the batch (row i = b[i]);
    paths: [K, S, 2] projected snapshots; steps: [S] their steps;
    fitted: [K] which configurations' snapshots defined the plane (diverged ones are left out,
    still projected); images: [n] indices of the validation images the loss is measured on.
    """

    plane: Plane
    a: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    paths: np.ndarray
    steps: np.ndarray
    fitted: np.ndarray
    images: np.ndarray

    @property
    def explained(self) -> float:
        return self.plane.explained


def pca_plane(trajectories: np.ndarray, seed: int = 0) -> Plane:
    """The top-2 PCA plane of stacked trajectories [K, S, P] (or [N, P]) centred on their mean.

    Computed from the N x N Gram matrix of the centred stack (N = K S is small, P is ~100k),
    in float64. Signs are fixed so the first row projects to non-positive coordinates (paths run
    left to right, bottom to top). When the stack has rank < 2 (one straight path, a single
    point), the missing direction is a seeded random unit vector orthogonal to the others, with
    variance ratio 0. Raises ValueError for an empty stack.
    """
    x = np.asarray(trajectories, np.float64).reshape(-1, np.shape(trajectories)[-1])
    if x.shape[0] == 0:
        raise ValueError("Invalid trajectories: no snapshots to fit a plane to")
    centre = x.mean(axis=0)
    m = x - centre
    gram = m @ m.T
    evals, evecs = np.linalg.eigh(gram)
    evals, evecs = np.maximum(evals[::-1], 0.0), evecs[:, ::-1]
    total = evals.sum()
    tiny = 1e-12 * total if total > 0 else 0.0
    directions, ratios = [], []
    for i in range(min(2, len(evals))):
        if evals[i] > tiny:
            d = m.T @ evecs[:, i] / np.sqrt(evals[i])
            directions.append(d / np.linalg.norm(d))
            ratios.append(evals[i] / total)
    rng = np.random.default_rng(seed)
    while len(directions) < 2:
        d = rng.standard_normal(x.shape[1])
        for e in directions:
            d -= (d @ e) * e
        directions.append(d / np.linalg.norm(d))
        ratios.append(0.0)
    directions = np.stack(directions)
    first = m[0] @ directions.T
    directions *= np.where(first > 0, -1.0, 1.0)[:, None]
    return Plane(centre, directions, np.array(ratios))


def plane_loss(layout: Layout, plane: Plane, coords: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean cross-entropy on (x [n, 784], y [n]) at plane.point(coords) for coords [M, 2]: [M] float64."""
    coords = np.asarray(coords, np.float64).reshape(-1, 2)
    x = np.asarray(x, np.float64)
    basis = np.stack([plane.centre, *plane.directions])[:, None]  # [3, 1, P]: c, d1, d2
    w1, b1, w2, b2 = layout.views(basis)
    z = np.matmul(x, w1) + b1  # [3, n, H]: first layer of c, d1, d2
    rows = np.arange(len(y))
    out = np.empty(len(coords))
    for i in range(0, len(coords), GRID_CHUNK):
        ab = coords[i:i + GRID_CHUNK]
        mix = np.concatenate([np.ones((len(ab), 1)), ab], axis=1)  # [M, 3]
        hidden = np.maximum(np.einsum("mj,jnh->mnh", mix, z), 0.0)
        logits = np.matmul(hidden, np.einsum("mj,jho->mho", mix, w2)) + np.einsum("mj,jo->mo", mix, b2[:, 0])[:, None]
        out[i:i + GRID_CHUNK] = -log_softmax_np(logits)[:, rows, y].mean(axis=1)
    return out


def loss_landscape(result, x_val: np.ndarray, y_val: np.ndarray, *, resolution: int = 41, n_images: int = 500,
                   margin: float = 0.2, seed: int = 0) -> Landscape:
    """The landscape of a TrainResult's snapshots (mnist.train.TrainResult).

    The plane is fitted to the configurations that did not diverge (all of them if every one
    did); the grid spans their projected paths with `margin` of the span added on each side,
    resolution x resolution points; the loss is evaluated on n_images validation images
    (a fixed seeded subset). Raises ValueError when there are no snapshots.
    """
    if resolution < 2 or resolution > 401:
        raise ValueError(f"Invalid resolution: {resolution} (allowed 2..401)")
    snaps = np.asarray(result.snapshots)
    if snaps.shape[1] == 0:
        raise ValueError("No parameter snapshots recorded yet")
    fitted = np.asarray(result.diverged_at) < 0
    if not fitted.any():
        fitted = np.ones_like(fitted)
    with one_thread():
        return _landscape(result, snaps, fitted, x_val, y_val, resolution, n_images, margin, seed)


def _landscape(result, snaps, fitted, x_val, y_val, resolution, n_images, margin, seed) -> Landscape:
    plane = pca_plane(snaps[fitted], seed)
    paths = plane.project(snaps)  # [K, S, 2]
    inside = paths[fitted].reshape(-1, 2)
    lo, hi = inside.min(axis=0), inside.max(axis=0)
    span = np.maximum(hi - lo, 1e-3 * max(1.0, float(np.abs(inside).max())))
    lo, hi = lo - margin * span, hi + margin * span
    a, b = np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    idx = np.random.default_rng([seed, 7]).permutation(len(x_val))[:n_images]
    grid = np.stack(np.meshgrid(a, b), axis=-1).reshape(-1, 2)  # row-major over (b, a)
    layout = Layout(result.config.hidden)
    with np.errstate(all="ignore"):
        loss = plane_loss(layout, plane, grid, x_val[idx], y_val[idx]).reshape(resolution, resolution)
    return Landscape(plane=plane, a=a, b=b, loss=loss, paths=paths, steps=np.asarray(result.snapshot_steps),
                     fitted=fitted, images=idx)
