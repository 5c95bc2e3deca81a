"""The MLP step kernels (kernels.mlp_step_code) through the kernel cache: compiled by a worker."""

from __future__ import annotations

from pathlib import Path

from . import cache

KERNEL = cache.Kernel(Path(__file__).with_name("mlp_step_code.py").read_text())
NAMES = ("bias_relu", "softmax_xent", "relu_grad", "take_rows", "put_rows")


class StepKernels:
    """The compiled functions: bias_relu, softmax_xent, relu_grad, take_rows, put_rows (float32
    and float64 arrays, see kernels.mlp_step_code)."""

    def __init__(self, module):
        for name in NAMES:
            setattr(self, name, getattr(module, name))


def mlp_step_kernels(*, wait: bool = False) -> StepKernels | None:
    """The step kernels, or None (numba missing, not compiled yet, unusable cache).

    wait: compile now (in a worker process) rather than in the background for a later run.
    """
    module = cache.get(KERNEL, wait=wait)
    return None if module is None else StepKernels(module)
