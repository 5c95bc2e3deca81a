"""The cached engine call: a RunConfig in, a Result out. Reruns with the same config are free."""

from __future__ import annotations

import streamlit as st

from optimizers import Result, run

from .state import RunConfig, capped_steps


@st.cache_data(max_entries=8, show_spinner="Running the optimizers…")
def compute(config: RunConfig) -> Result:
    """Every optimizer of `config` from its start(s); raises ValueError for settings run() rejects."""
    return run(config.get_surface(), config.optimizers, config.starts(), capped_steps(config), **config.run_kwargs())
