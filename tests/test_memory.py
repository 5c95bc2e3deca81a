"""What a run holds in memory: the estimate run() caps by, against the peak measured by tracemalloc.

NumPy reports its array allocations to tracemalloc, so the traced peak is the arrays' true peak
(Python objects are a rounding error beside them).
"""

import tracemalloc

import numpy as np
import pytest

from optimizers import get_optimizer, run
from optimizers.run import MAX_RUN_BYTES, run_bytes
from surfaces import get_surface
from tests.test_compiled import SETTINGS

CONFIGS = [get_optimizer(name, **kw) for name, kw in (SETTINGS * 4)[:64]]


def traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("compiled", [False, True])
def test_the_peak_of_a_run_and_its_ratio_stays_within_a_third_of_the_estimate(compiled):
    surface = get_surface("rosenbrock")
    starts = np.random.default_rng(0).uniform([-2, -1], [2, 3], size=(300, 2))
    run(surface, CONFIGS[:2], starts[:2], 3, compiled=compiled)  # kernels loaded before measuring

    def full():
        res = run(surface, CONFIGS, starts, 31, compiled=compiled)
        return res.ratio, res.ratio_defined  # computed lazily: their arrays count in the peak

    need = run_bytes(CONFIGS, len(starts), 31)
    peak = traced_peak(full)
    assert need / 1.05 <= peak <= 1.35 * need, (peak, need)


def test_a_run_over_the_memory_cap_is_refused_before_it_allocates():
    """The issue's case: 64 optimizers x 10,000 starts x 31 steps peaked at 4.1 GB (5.4 GB with ratio;
    4.5 GB estimated for the mix of then, more now that the mix holds more kinds of state)."""
    surface = get_surface("rosenbrock")
    starts = np.zeros((10_000, 2))
    need = run_bytes(CONFIGS, 10_000, 31)
    assert need > 4.5e9 > MAX_RUN_BYTES
    with pytest.raises(ValueError, match=rf"record about {need / 1e9:.1f} GB .* cap of 2\.5 GB"):
        run(surface, CONFIGS, starts, 31)
    peak = traced_peak(lambda: pytest.raises(ValueError, run, surface, CONFIGS, starts, 31))
    assert peak < 50e6


def test_one_optimizer_at_the_step_cap_fits():
    """Adam alone records 2 kinds of state: 20M trajectory-steps need about 2.3 GB, within the cap."""
    adam = [get_optimizer("adam")]
    assert run_bytes(adam, 10_000, 2_000) <= MAX_RUN_BYTES
