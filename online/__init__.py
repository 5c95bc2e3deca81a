"""Online convex optimisation in 1-D: a gradient sequence that depends on the step, the iterate
projected onto a box after each step, and the regret against the best fixed point.

    from online import get_problem, paper_optimizers, run_online
    problem = get_problem(C=3.0)
    res = run_online(problem, paper_optimizers(problem, alpha=0.1), steps=20_000)
    res.path[:, -1], res.average_regret[:, -1]   # Adam near +1, AMSGrad near -1
"""

from .problem import MAX_C, MIN_C, PAPER_SCHEDULE, REFERENCE, ReddiProblem, get_problem, paper_optimizers
from .result import OnlineResult
from .run import MAX_CONFIGS, MAX_STEPS, run_online

__all__ = [
    "MAX_C", "MAX_CONFIGS", "MAX_STEPS", "MIN_C", "PAPER_SCHEDULE", "REFERENCE", "OnlineResult", "ReddiProblem",
    "get_problem", "paper_optimizers", "run_online",
]
