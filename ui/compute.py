"""The cached engine call: a RunConfig in, a Result out. Reruns with the same config are free."""

from __future__ import annotations

import streamlit as st

from optimizers import Result, kernels, run

from .state import RunConfig, capped_steps


def compute(config: RunConfig) -> Result:
    """Every optimizer of `config` from its start(s); raises ValueError for settings run() rejects.

    Cached by config and by the kernels' compile generation: a result computed on the array code
    while its kernels compiled is computed again (on the kernels) once a compile has finished.
    """
    return _compute(config, kernels.generation())


@st.cache_data(max_entries=8, show_spinner="Running the optimizers…")
def _compute(config: RunConfig, generation: int) -> Result:
    return run(config.get_surface(), config.optimizers, config.starts(), capped_steps(config), **config.run_kwargs())
