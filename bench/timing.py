"""Timing helper shared by the benchmarks."""

from __future__ import annotations

import time


def best_of(fn, repeats: int) -> float:
    """Smallest wall time of `repeats` calls of fn(), in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
