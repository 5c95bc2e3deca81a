"""Linear regression as a 2-D surface: the mean squared error of y ~ w x + b over p = (w, b).

Data (seeded, reproducible): x_i ~ U(-1, 1), y_i = 3 x_i + 1 + noise * N(0, 1), drawn in that
order from np.random.default_rng(seed).
Mini-batch at step t: indices np.random.default_rng([seed, t]).choice(n_samples, batch_size,
replace=False), so a step's batch is fixed whatever the order in which steps are asked for.

The loss is quadratic in (w, b), so value and gradient need only sample means (moments) of the
data: they are elementwise expressions of p with Python-float coefficients and work unchanged in
every array namespace, with no data on the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyperparams import Hyperparameter

from .base import Array, Surface, SurfaceEntry, TorchLoss, constant_hess, with_formula

TRUE_W, TRUE_B = 3.0, 1.0


def make_data(n_samples: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic samples (x, y): each [n_samples]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n_samples)
    return x, TRUE_W * x + TRUE_B + noise * rng.standard_normal(n_samples)


def batch_indices(n_samples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The samples of the mini-batch used at `step`: [batch_size] distinct indices."""
    return np.random.default_rng([seed, step]).choice(n_samples, size=batch_size, replace=False)


def _gradient_moments(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """(mean x^2, mean x, mean xy, mean y): all the gradient needs of a set of samples."""
    return float(np.mean(x * x)), float(np.mean(x)), float(np.mean(x * y)), float(np.mean(y))


def _mse_grad(w: Array, b: Array, mxx: float, mx: float, mxy: float, my: float) -> tuple[Array, Array]:
    """d/dw, d/db of mean((w x + b - y)^2) from the samples' moments; w, b: [...]."""
    return 2.0 * (mxx * w + mx * b - mxy), 2.0 * (mx * w + b - my)


@dataclass(frozen=True, eq=False, repr=False)
class RegressionSurface(Surface):
    """The MSE surface of a line fit. grad(p, xp, step) uses the mini-batch of `step` when
    `stochastic`; value is always the full-batch loss.

    data: the samples (x, y), each [n_samples], for plotting the fitted line.
    """

    data: tuple[np.ndarray, np.ndarray] = field(kw_only=True)

    def grad(self, p: Array, xp: Any = np, step: int | None = None) -> Array:
        """Gradient at p: [..., 2] -> [..., 2]; full batch when step is None."""
        if step is None or not self.stochastic:
            return super().grad(p, xp)
        params = self.params
        x, y = self.data
        index = batch_indices(params["n_samples"], params["batch_size"], params["seed"], step)
        moments = _gradient_moments(x[index], y[index])
        return xp.stack(_mse_grad(p[..., 0], p[..., 1], *moments), axis=-1)


def _mse(c):
    """The full-batch loss and gradient from the fit (w*, b*, L*) and the data's moments."""
    w_star, b_star, loss_star, mxx, mx = c["w_star"], c["b_star"], c["loss_star"], c["mxx"], c["mx"]
    moments = (mxx, mx, c["mxy"], c["my"])

    def value(w, b, xp):
        # Expanded about the least-squares fit, which keeps full precision near the minimum.
        dw, db = w - w_star, b - b_star
        return loss_star + mxx * dw * dw + 2.0 * mx * dw * db + db * db

    def grad(w, b, xp):
        return _mse_grad(w, b, *moments)

    return value, grad


def _torch_loss(n: int, noise: float, batch_size: int, seed: int, stochastic: bool) -> TorchLoss:
    """The MSE in PyTorch over the same samples (make_data's draws) and mini-batches (batch_indices)."""
    setup = ("# the app's samples: x ~ U(-1, 1), then y = 3 x + 1 + noise N(0, 1), from NumPy's generator",
             f"rng = np.random.default_rng({seed!r})",
             f"x_data = torch.from_numpy(rng.uniform(-1.0, 1.0, {n!r}))",
             f"y_data = 3 * x_data + 1 + {noise!r} * torch.from_numpy(rng.standard_normal({n!r}))")
    imports = ("import numpy as np",)
    if not stochastic:
        return TorchLoss(body=("w, b = p", "return torch.mean((w * x_data + b - y_data) ** 2)"), setup=setup,
                         imports=imports)
    return TorchLoss(body=(
        "w, b = p",
        "xs, ys = x_data, y_data",
        f"if t is not None:  # step t's mini-batch: {batch_size} of the {n} samples, drawn as the app draws it",
        f"    rows = np.random.default_rng([{seed!r}, t]).choice({n!r}, size={batch_size!r}, replace=False)",
        "    xs, ys = x_data[rows], y_data[rows]",
        "return torch.mean((w * xs + b - ys) ** 2)",
    ), setup=setup, imports=imports, per_step=True)


def _build_regression(entry: SurfaceEntry, params: dict[str, Any]) -> Surface:
    n, batch_size = params["n_samples"], params["batch_size"]
    if batch_size > n:
        raise ValueError(f"regression: batch_size={batch_size} exceeds n_samples={n}; allowed [0, {n}]")
    x, y = make_data(n, params["noise"], params["seed"])
    mxx, mx, mxy, my = _gradient_moments(x, y)
    (w_star, b_star), *_ = np.linalg.lstsq(np.stack((x, np.ones_like(x)), axis=-1), y, rcond=None)
    w_star, b_star = float(w_star), float(b_star)
    loss_star = float(np.mean((w_star * x + b_star - y) ** 2))
    fit = dict(w_star=w_star, b_star=b_star, loss_star=loss_star, mxx=mxx, mx=mx, mxy=mxy, my=my)
    cw, cb = round(w_star), round(b_star)
    stochastic = batch_size not in (0, n)
    return RegressionSurface(
        entry, params,
        latex=rf"L(w, b) = \frac{{1}}{{{n}}} \sum_{{i=1}}^{{{n}}} (w x_i + b - y_i)^2",
        **with_formula(_mse, fit),
        bounds=((cw - 4.0, cw + 4.0), (cb - 4.0, cb + 4.0)),
        minima=((w_star, b_star),),
        default_starts=((cw - 3.5, cb - 3.0), (cw + 3.0, cb + 3.5), (cw - 3.0, cb + 3.0)),
        min_value=loss_star,
        stochastic=stochastic,
        data=(x, y),
        hess_xy=constant_hess(2.0 * mxx, 2.0 * mx, 2.0),  # full batch, also for mini-batch gradients
        torch_loss=_torch_loss(n, params["noise"], batch_size, params["seed"], stochastic),
    )


REGRESSION = SurfaceEntry(
    "regression", "Linear regression",
    "Mean squared error of a line w x + b fitted to noisy samples of 3x + 1; mini-batches add noise.",
    (
        Hyperparameter("n_samples", 100, 2, 10000, kind="int", log=True, help="number of data points"),
        Hyperparameter("noise", 0.5, 0.0, 10.0, help="standard deviation of the noise on y"),
        Hyperparameter("batch_size", 0, 0, 10000, kind="int",
                       help="samples per gradient step; 0 = full batch"),
        Hyperparameter("seed", 0, 0, 2**31 - 1, kind="int", help="seed of the data and batches"),
    ),
    log_levels=False, build=_build_regression,
)
