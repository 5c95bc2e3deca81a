"""Final-state speed, side by side in one run: python -m bench.final_state

Adam (lr 0.01) on Rosenbrock, 250,000 starts x 200 steps, only the end states kept:
1. run_final on the compiled final-state kernel (optimizers.final). Target: >= 300 M
   trajectory-steps per second on this 2-core machine.
2. The plain vectorised NumPy loop a user would write (Adam over [N, 2] arrays, no stop
   tests). Target: the kernel is >= 10x faster.
3. run_final's array fallback (what runs while a kernel compiles), for reference.
4. A 250 x 250 basin map (sweeps.basin_map) of Adam on Himmelblau, 200 steps, labels included.
   Target: within 1 s of asking.
The kernel's end points are checked against the array fallback (equal within 1e-9). Each
figure is the median of `--repeats` runs (default 3); the machine is shared, so figures swing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from optimizers import get_optimizer, run_final
from surfaces import get_surface
from sweeps import basin_map

N, STEPS, LR = 250_000, 200, 0.01
TARGET_RATE, TARGET_RATIO = 300e6, 10.0


def plain_numpy_adam(starts: np.ndarray, steps: int, lr: float) -> np.ndarray:
    """Adam on Rosenbrock over all starts at once, as a user would write it with NumPy."""
    p = starts.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, steps + 1):
        x, y = p[:, 0], p[:, 1]
        g = np.stack([2 * (x - 1) - 400 * x * (y - x * x), 200 * (y - x * x)], axis=-1)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    return p


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    surface = get_surface("rosenbrock")
    starts = np.random.default_rng(0).uniform([-2.0, -1.0], [2.0, 3.0], size=(N, 2))
    adam = [get_optimizer("adam", lr=LR)]
    work = N * STEPS

    start = time.perf_counter()
    run_final(surface, adam, starts[:8], STEPS, compiled=True, tol=0)
    print(f"compile or load the final-state kernel (once per machine): {time.perf_counter() - start:.2f} s")

    kernel = median_time(lambda: run_final(surface, adam, starts, STEPS, compiled=True, tol=0), args.repeats)
    plain = median_time(lambda: plain_numpy_adam(starts, STEPS, LR), args.repeats)
    fallback = median_time(lambda: run_final(surface, adam, starts, STEPS, compiled=False, tol=0), 1)

    fast = run_final(surface, adam, starts, STEPS, compiled=True, tol=0)
    slow = run_final(surface, adam, starts, STEPS, compiled=False, tol=0)
    worst = float(np.max(np.abs(fast.point - slow.point) / np.maximum(np.abs(slow.point), 1e-300)))
    print(f"Adam on Rosenbrock, {N:,} starts x {STEPS} steps, median of {args.repeats}:")
    print(f"  final-state kernel   {kernel * 1e3:8.1f} ms  {work / kernel / 1e6:7.1f} M trajectory-steps/s"
          f"  (target >= {TARGET_RATE / 1e6:.0f} M/s: {'met' if work / kernel >= TARGET_RATE else 'NOT met'})")
    print(f"  plain NumPy loop     {plain * 1e3:8.1f} ms  {work / plain / 1e6:7.1f} M/s"
          f"  ratio {plain / kernel:5.1f}x (target >= {TARGET_RATIO:.0f}x: "
          f"{'met' if plain / kernel >= TARGET_RATIO else 'NOT met'})")
    print(f"  array fallback       {fallback * 1e3:8.1f} ms  {work / fallback / 1e6:7.1f} M/s (one run)")
    print(f"  kernel vs array fallback: largest relative difference of the end points {worst:.1e}"
          f" (must be <= 1e-9: {'ok' if worst <= 1e-9 else 'FAILED'})")
    himmelblau = get_surface("himmelblau")
    adam_basins = [get_optimizer("adam", lr=0.05)]
    basin_map(himmelblau, adam_basins, 8, 200, compiled=True)  # its kernel compiled or loaded
    basins = median_time(lambda: basin_map(himmelblau, adam_basins, 250, 200, compiled=True), args.repeats)
    print(f"  basin map 250 x 250, Adam on Himmelblau, 200 steps: {basins * 1e3:.1f} ms"
          f" (target <= 1000 ms: {'met' if basins <= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
