"""The cached engine calls of the sweeps section: basin maps, lr sweeps and two-parameter sweeps.

Like ui/compute.py, keyed by plain hashable arguments and bounded (max_entries). Entries hold only
what the views draw: the FinalResult behind a sweep (every end point, up to a million of them) is
dropped, and a basin map is kept per optimizer in small dtypes, so adding an optimizer maps only
the new one and a 500 x 500 map costs about 2.5 MB of cache.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import streamlit as st

import sweeps
from optimizers import OptimizerConfig, kernels
from optimizers.final import MAX_FINAL_TRAJECTORIES, MAX_FINAL_TRAJECTORY_STEPS
from surfaces import get_surface
from sweeps.summary import global_minima


class Basins(NamedTuple):
    """One optimizer's basin map (sweeps.BasinMap's arrays for that configuration)."""

    xs: np.ndarray
    ys: np.ndarray
    minima: np.ndarray
    basin: np.ndarray  # [G, G] int16
    steps: np.ndarray  # [G, G] float32, NaN where not converged
    loss: np.ndarray  # [G, G] float32
    slow_reason: str | None


def compiled_flag() -> bool | None:
    """Wait for the final-state kernels (about a second, once per machine) where the engine may
    compile; None (the array code) where it may not (OPTVIS_COMPILE=0, no numba)."""
    return True if kernels.AVAILABLE and kernels.cache.AUTO else None


def capped_steps(steps: int, trajectories: int) -> int:
    """`steps`, lowered so that trajectories * steps stays within the final-state runs' cap."""
    return max(1, min(int(steps), MAX_FINAL_TRAJECTORY_STEPS // max(1, trajectories)))


def global_count(surface) -> int:
    """How many of sweeps.known_minima(surface) (global ones first) are global minima."""
    return len(global_minima(surface))


def _final(call, **kwargs):
    """call(..., compiled=compiled_flag()), on the array code when the kernel cannot be had."""
    compiled = compiled_flag()
    try:
        return call(**kwargs, compiled=compiled)
    except ValueError as exc:
        if compiled and str(exc).startswith("compiled=True"):
            return call(**kwargs, compiled=None)
        raise


@st.cache_data(max_entries=24, show_spinner=False)
def basin_map(surface: str, surface_params: tuple, optimizer: OptimizerConfig, resolution: int, steps: int,
              tol: float) -> Basins:
    """sweeps.basin_map of one optimizer on the surface `surface` with `surface_params`."""
    s = get_surface(surface, **dict(surface_params))
    bm = _final(sweeps.basin_map, surface=s, configs=[optimizer], resolution=resolution,
                steps=capped_steps(steps, resolution**2), tol=tol)
    return Basins(bm.xs, bm.ys, bm.minima, bm.basin[0].astype(np.int16), bm.steps[0].astype(np.float32),
                  bm.loss[0].astype(np.float32), bm.final.slow_reason)


def _slim(result, **fields) -> tuple:
    """(the sweep without its FinalResult and with `fields` replaced, the run's slow_reason)."""
    return dataclasses.replace(result, final=None, **fields), result.final.slow_reason


@st.cache_data(max_entries=8, show_spinner="Sweeping the learning rate…")
def lr_sweep(surface: str, surface_params: tuple, optimizers: tuple, lr_range: tuple, starts: tuple, steps: int,
             tol: float) -> tuple:
    """(sweeps.lr_sweep over log_grid(*lr_range) from `starts` ((x, y) pairs), slow_reason);
    the sweep's `final` is None."""
    s = get_surface(surface, **dict(surface_params))
    lrs = sweeps.lr.log_grid(*lr_range)
    trajectories = len(optimizers) * len(lrs) * len(starts)
    return _slim(_final(sweeps.lr_sweep, surface=s, configs=list(optimizers), lrs=lrs, starts=np.array(starts),
                        steps=capped_steps(steps, trajectories), tol=tol))


@st.cache_data(max_entries=8, show_spinner="Sweeping the two hyperparameters…")
def param_sweep(surface: str, surface_params: tuple, optimizer: OptimizerConfig, axis: str, values: tuple,
                lr_range: tuple, starts: tuple, steps: int, tol: float) -> tuple:
    """(sweeps.param_sweep of `optimizer` over `values` of `axis` x log_grid(*lr_range), slow_reason);
    the sweep's `final` is None and `configs` empty (a click rebuilds its cell's)."""
    s = get_surface(surface, **dict(surface_params))
    lrs = sweeps.lr.log_grid(*lr_range)
    trajectories = len(values) * len(lrs) * len(starts)
    out = _final(sweeps.param_sweep, surface=s, config=optimizer, axis=axis, values=np.array(values), lrs=lrs,
                 starts=np.array(starts), steps=capped_steps(steps, trajectories), tol=tol)
    return _slim(out, configs=())


def max_per_start(count: int, starts: int) -> int:
    """The most of `count` settings that fit the final-state cap of trajectories with `starts` starts."""
    return max(1, min(count, MAX_FINAL_TRAJECTORIES // max(1, starts)))
