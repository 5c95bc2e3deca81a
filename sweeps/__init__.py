"""Which settings work, at a glance: basin maps, learning-rate sweeps and two-parameter sweeps.

Each view is one final-state run (optimizers.run_final) over many starts or many
configurations at once, summarised per pixel or per setting:

    basin_map(surface, configs, resolution=250, steps=200)         # [K, G, G] per start
    lr_sweep(surface, configs, lrs, starts, steps=200)             # [K, L] per learning rate
    param_sweep(surface, config, "momentum", values, lrs, start)   # [M, L] per cell
    momentum_lr_bound(eigenvalues, momentum)                       # closed-form stability edge

Pure array code, like the engine: no Streamlit or Plotly here.
"""

from .axes import Axis, sweep_axes, with_value
from .basins import BasinMap, basin_map, known_minima
from .grid import ParamSweep, param_sweep
from .lr import LrSweep, lr_sweep
from .stability import hessian_eigenvalues, momentum_lr_bound

__all__ = [
    "Axis", "BasinMap", "LrSweep", "ParamSweep", "basin_map", "hessian_eigenvalues", "known_minima",
    "lr_sweep", "momentum_lr_bound", "param_sweep", "sweep_axes", "with_value",
]
