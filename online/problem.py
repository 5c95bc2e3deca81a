"""The online problem of Reddi, Kale & Kumar (ICLR 2018, section 3) and the paper's optimizer settings.

The learner plays x_t in the box [-1, 1] at steps t = 1, 2, 3, ..., then sees the linear loss

    f_t(x) = C x   if t mod 3 == 1,      f_t(x) = -x   otherwise,

so its gradient g_t (a constant in x) is C at t = 1, 4, 7, ... and -1 at the other steps. Over a
cycle of three steps the loss is (C - 2) x: for C > 2 the average loss (C - 2) x / 3 is minimised
at x = -1, although two steps in three push x up. With beta1 = 0, beta2 = 1 / (1 + C^2) and
lr_t = alpha / sqrt(t), Adam drifts to +1 (the paper's Theorem 1: its average regret does not
vanish); AMSGrad, which divides by the running maximum of v_t, goes to -1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hyperparams import Hyperparameter as H
from hyperparams import validate
from optimizers import OptimizerConfig, get_optimizer

MIN_C, MAX_C = 1e-3, 1e3  # below ~1e-8 the paper's beta2 = 1 / (1 + C^2) would round to 1
PERIOD = 3  # f_t = C x at the first step of every cycle of three
LOW, HIGH = -1.0, 1.0  # the box the iterate is projected onto
SPECS = (
    H("C", 3.0, low=MIN_C, high=MAX_C,
      help="the rare gradient (every third step; -1 otherwise); the paper's failure of Adam needs C > 2"),
)
# lr_t = alpha / sqrt(t) for the 1-based step t: the engine's lr_t / sqrt(1 + t) with its 0-based t,
# i.e. torch's LambdaLR(opt, lambda s: 1 / math.sqrt(s + 1)). (This "alpha" is the schedule's decay
# rate, not the paper's alpha, which is the optimizer's base lr.)
PAPER_SCHEDULE = ("inverse_sqrt", {"alpha": 1.0})
REFERENCE = "Reddi, Kale & Kumar, On the Convergence of Adam and Beyond, ICLR 2018"


@dataclass(frozen=True)
class ReddiProblem:
    """The problem for one C in [MIN_C, MAX_C] (validated by get_problem; the lesson needs C > 2, smaller
    values are allowed to show why). Steps t are 1-based throughout."""

    C: float = 3.0

    low = LOW
    high = HIGH
    period = PERIOD

    @property
    def latex(self) -> str:
        return (r"f_t(x) = \begin{cases} C\,x & t \bmod 3 = 1 \\ -x & \text{otherwise} \end{cases},"
                r"\qquad x \in [-1, 1],\quad C = " + f"{self.C:g}")

    def coefficients(self, steps: int) -> np.ndarray:
        """[T] float64 gradients g_1..g_T (f_t(x) = g_t x): C at t = 1 mod 3, -1 elsewhere."""
        t = np.arange(1, steps + 1)
        return np.where(t % PERIOD == 1, self.C, -1.0)

    def rare(self, steps: int) -> np.ndarray:
        """[T] bool: the steps whose gradient is the large C."""
        return np.arange(1, steps + 1) % PERIOD == 1

    def grad(self, x, t: int, xp):
        """Gradient of f_t at x (any shape, on the namespace xp): g_t everywhere."""
        return x * 0 + (self.C if t % PERIOD == 1 else -1.0)

    def loss(self, x: np.ndarray) -> np.ndarray:
        """f_t(x_t) for x [..., T] holding x_1..x_T along the last axis: [..., T]."""
        return x * self.coefficients(x.shape[-1])

    def project(self, x, xp):
        """The nearest point of [-1, 1]: what torch's `p.data.clamp_(-1, 1)` does (NaN stays NaN)."""
        return xp.clip(x, LOW, HIGH)

    def best_fixed_loss(self, steps: int) -> np.ndarray:
        """[T] min over x in [-1, 1] of sum_{s <= t} f_s(x), for t = 1..T: -|sum_{s <= t} g_s|."""
        return -np.abs(np.cumsum(self.coefficients(steps)))

    def minimiser(self) -> float | None:
        """The point minimising the average loss (C - 2) x / 3: -1 for C > 2, +1 for C < 2, None
        for C = 2 (the average loss is 0 everywhere)."""
        if self.C == 2:
            return None
        return LOW if self.C > 2 else HIGH

    def worst_average_regret(self) -> float:
        """The limit of R_T / T for the worst fixed point (+1 when C > 2): 2 |C - 2| / 3."""
        return 2 * abs(self.C - 2) / PERIOD

    @property
    def lesson_holds(self) -> bool:
        """Whether C > 2, where the best point is -1 and Adam's drift to +1 is a failure."""
        return self.C > 2

    def paper_beta2(self) -> float:
        """The paper's beta2 = 1 / (1 + C^2)."""
        return 1 / (1 + self.C**2)


def get_problem(**params) -> ReddiProblem:
    """Validate C (MIN_C <= C <= MAX_C); ValueError names the parameter and its range."""
    return ReddiProblem(**validate("online problem", SPECS, params))


def paper_optimizers(problem: ReddiProblem, alpha: float) -> tuple[OptimizerConfig, OptimizerConfig]:
    """Adam and AMSGrad with the paper's settings: beta1 = 0, beta2 = 1 / (1 + C^2),
    lr_t = alpha / sqrt(t) (torch's defaults otherwise: eps = 1e-8, no weight decay)."""
    betas = (0.0, problem.paper_beta2())
    return tuple(
        get_optimizer("adam", lr=alpha, betas=betas, amsgrad=ams, schedule=PAPER_SCHEDULE,
                      label=f"{title} (α={alpha:g}, β₁=0, β₂=1/(1+C²)={betas[1]:.4g})")
        for ams, title in ((False, "Adam"), (True, "AMSGrad"))
    )
