"""The engine call every session shares: a RunConfig in, a Result out, computed once per setting.

Results live in one server-wide store (ui/shared_results.py): every session on the same link gets
the same read-only Result, at most RESULT_BYTES of them are kept, and computations in flight hold
at most IN_FLIGHT_BYTES of records together (estimated by optimizers.run.run_bytes).
"""

from __future__ import annotations

import contextlib

import streamlit as st

from optimizers import Result, kernels, run
from optimizers.run import run_bytes

from .shared_results import InFlight, SharedResults
from .state import RunConfig, capped_steps

RESULT_BYTES = 500_000_000
IN_FLIGHT_BYTES = 450_000_000
DERIVED_SHARE = 0.3  # what building a result's views holds, as a share of the result's record
RESULTS = SharedResults(max_entries=32, max_bytes=RESULT_BYTES)
DERIVED = SharedResults(max_entries=64, max_bytes=RESULT_BYTES // 4)
IN_FLIGHT = InFlight(IN_FLIGHT_BYTES)


def compute(config: RunConfig) -> Result:
    """Every optimizer of `config` from its start(s); raises ValueError for settings run() rejects.

    Kept by config and by the kernels' compile generation: a result computed on the array code
    while its kernels compiled is computed again (on the kernels) once a compile has finished.
    The Result is shared with every session that asks for the same config: treat it as read-only
    (its arrays are).
    """
    key = (config, kernels.generation())
    return RESULTS.get(key, lambda: _run(config))


def _run(config: RunConfig) -> Result:
    with st.spinner("Running the optimizers…"):
        return run(config.get_surface(), config.optimizers, config.starts(), capped_steps(config), **config.run_kwargs())


@contextlib.contextmanager
def page_claim(config: RunConfig):
    """Hold a share of IN_FLIGHT while a page run computes and draws config's result: its record
    (unless the store has it) and what its views need beside it. A session waiting here holds no
    result, so thirty sessions on thirty links compute and draw a few at a time."""
    need = run_bytes(config.optimizers, len(config.starts()), capped_steps(config))
    kept = (config, kernels.generation()) in RESULTS
    with IN_FLIGHT(int(DERIVED_SHARE * need) + (0 if kept else need)):
        yield


def derived(config: RunConfig, name: str, build):
    """A view `name` of config's result (a table, figures), built once for every session that
    shows it (under the page's claim). Treat it as read-only."""
    return DERIVED.get((config, kernels.generation(), name), build)
