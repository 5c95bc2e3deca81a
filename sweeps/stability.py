"""Closed-form stability of momentum SGD on a quadratic, for the two-parameter sweep's overlay.

On f(p) = p^T A p / 2, torch.optim.SGD with momentum mu (dampening d, no Nesterov) moves each
eigendirection of A (eigenvalue lambda) by the linear recurrence
    c_{t+1} = mu c_t + (1 - d) lr lambda x_t,   x_{t+1} = x_t - c_{t+1},
whose characteristic polynomial z^2 - (1 + mu - (1 - d) lr lambda) z + mu has both roots inside
the unit circle exactly when 0 < (1 - d) lr lambda < 2 + 2 mu (0 <= mu < 1). With Nesterov
(d = 0) the bound is 2 (1 + mu) / (1 + 2 mu). A run is stable when the bound holds for every
eigenvalue, so the largest stable lr is the bound over lambda_max.
"""

from __future__ import annotations

import numpy as np


def hessian_eigenvalues(surface) -> np.ndarray:
    """[2] eigenvalues (ascending) of the quadratic surface's constant Hessian A."""
    if surface.name != "quadratic":
        raise ValueError(f"surface {surface.name!r} has no constant Hessian; the closed form needs 'quadratic'")
    c = dict(surface.coefficients)
    return np.linalg.eigvalsh(np.array([[c["a11"], c["a12"]], [c["a12"], c["a22"]]]))


def momentum_lr_bound(eigenvalues, momentum, dampening: float = 0.0, nesterov: bool = False) -> np.ndarray:
    """Largest stable lr of momentum SGD for each momentum value: [M] for momentum [M].

    eigenvalues: the Hessian's eigenvalues (all > 0); a run with lr below the bound converges,
    above it diverges.
    """
    lam = float(np.max(eigenvalues))
    if not lam > 0:
        raise ValueError("the closed form needs a positive definite Hessian (every eigenvalue > 0)")
    mu = np.asarray(momentum, dtype=float)
    if nesterov:
        if dampening != 0:
            raise ValueError("nesterov needs dampening=0")
        return 2.0 * (1.0 + mu) / ((1.0 + 2.0 * mu) * lam)
    return (2.0 + 2.0 * mu) / ((1.0 - dampening) * lam)
