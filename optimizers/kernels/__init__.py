"""The compiled fast path: Numba kernels generated from the rule, surface and transform definitions.

One small interface for every caller. Each `*_kernel` builder traces a definition once
(kernels.tracer) and writes the module's source (kernels.source); `get(kernel, wait=False)`
returns the compiled module or None while a background process compiles it (kernels.cache):
compiling never happens in the calling process.

    kernel = trajectory_kernel(surface, config, d, transforms)   # TraceError if not traceable
    module = get(kernel)            # None: not compiled yet (queued), failed, or numba missing
    reason(kernel)                  # why not, in words, or None

Builders: `trajectory_kernel` (2-D runs, everything recorded; record=False keeps only the final
state and the stop indices), `update_kernel` (a rule per parameter entry, for MNIST) and
`mlp_step_kernels` (the MLP's elementwise forward/backward steps); `compiled_update(config)`
gives an update kernel's callable directly. `cache.AUTO` (OPTVIS_COMPILE=0 sets it False) keeps
the automatic choice on the array code.
"""

from . import cache
from .cache import AVAILABLE, Kernel, generation, get, get_many, is_ready, kernel_dir, reason, shutdown
from .hyper import hp_values
from .mlp_steps import StepKernels, mlp_step_kernels
from .tracer import TraceError
from .trajectory import kernel_arguments, run_group, trajectory_kernel
from .update import compiled_update, update_kernel

__all__ = [
    "AVAILABLE", "Kernel", "cache", "StepKernels", "TraceError", "compiled_update", "generation", "get", "get_many", "hp_values", "is_ready",
    "kernel_arguments", "kernel_dir", "mlp_step_kernels", "reason", "run_group", "shutdown", "trajectory_kernel",
    "update_kernel",
]
