"""Optimizer engine: update rules, schedules and the vectorized trajectory runner.

    from optimizers import get_optimizer, run
    res = run(surface, [get_optimizer("adam", lr=0.01)], starts=[[-1.5, 2.0]], steps=500)
    fin = run_final(surface, configs, starts, steps)   # end states only: basin maps, sweeps
"""

from hyperparams import Hyperparameter

from .final import FinalResult, run_final
from .registry import OPTIMIZERS, OptimizerConfig, OptimizerInfo, get_optimizer
from .result import Result
from .run import MAX_CONFIGS, MAX_STARTS, MAX_STEPS, MAX_TRAJECTORY_STEPS, run
from .schedules import SCHEDULES, ScheduleConfig, get_schedule

__all__ = [
    "OPTIMIZERS", "SCHEDULES", "MAX_CONFIGS", "MAX_STARTS", "MAX_STEPS", "MAX_TRAJECTORY_STEPS",
    "FinalResult", "Hyperparameter", "OptimizerConfig", "OptimizerInfo", "Result", "ScheduleConfig",
    "get_optimizer", "get_schedule", "run", "run_final",
]
