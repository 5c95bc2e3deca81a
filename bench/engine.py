"""Engine speed, measured side by side in one run: python -m bench.engine

1. Adam on Rosenbrock, 100 starts x 500 steps: run() against a loop of torch.optim per
   trajectory (what a user would otherwise write). Target: >= 1,000x.
2. 10,000 starts x 500 steps, everything recorded: trajectory-steps per second. Target: >= 40 M/s.
3. The app's default view, 5 optimizers x 1 start x 1,000 steps: time per run. Target: <= 20 ms.
Kernels are compiled (or loaded from the disk cache) before timing; the one-off cost is printed.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from bench.timing import best_of
from optimizers import get_optimizer, run
from surfaces import get_surface

ROSENBROCK = get_surface("rosenbrock")
DEFAULT_VIEW = [
    get_optimizer("sgd", lr=1e-3),
    get_optimizer("sgd", lr=1e-3, momentum=0.9),
    get_optimizer("sgd", lr=1e-3, momentum=0.9, nesterov=True),
    get_optimizer("rmsprop", lr=1e-2),
    get_optimizer("adam", lr=5e-2),
]



def torch_loop(starts: np.ndarray, steps: int) -> np.ndarray:
    """One torch.optim.Adam per trajectory on the Rosenbrock function: the user's baseline."""
    finals = []
    for start in starts:
        p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=1e-3)
        for _ in range(steps):
            opt.zero_grad()
            loss = (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2
            loss.backward()
            opt.step()
        finals.append(p.detach().numpy().copy())
    return np.array(finals)


def main() -> None:
    rng = np.random.default_rng(0)
    starts_100 = rng.uniform([-2, -1], [2, 3], (100, 2))
    starts_10k = rng.uniform([-2, -1], [2, 3], (10_000, 2))
    adam = [get_optimizer("adam", lr=1e-3)]

    t0 = time.perf_counter()
    run(ROSENBROCK, adam, starts_100[:2], steps=5, compiled=True)
    run(ROSENBROCK, DEFAULT_VIEW, steps=5, compiled=True)
    print(f"kernel compile or cache load (one-off): {time.perf_counter() - t0:.2f} s")

    print("\n1. Adam on Rosenbrock, 100 starts x 500 steps")
    ours = best_of(lambda: run(ROSENBROCK, adam, starts_100, steps=500), 5)
    array = best_of(lambda: run(ROSENBROCK, adam, starts_100, steps=500, compiled=False), 3)
    start = time.perf_counter()
    finals = torch_loop(starts_100, 500)
    ref = time.perf_counter() - start
    res = run(ROSENBROCK, adam, starts_100, steps=500, tol=0)
    print(f"   largest difference of the final points from torch.optim: {np.abs(res.path[0, :, -1] - finals).max():.1e}")
    print(f"   torch.optim loop per trajectory: {ref * 1e3:9.1f} ms")
    print(f"   run() array code (NumPy):        {array * 1e3:9.2f} ms   {ref / array:8.0f}x")
    print(f"   run() compiled (default):        {ours * 1e3:9.2f} ms   {ref / ours:8.0f}x   (target >= 1,000x)")

    print("\n2. 10,000 starts x 500 steps, everything recorded (Adam)")
    for label, kwargs in (("compiled (default)", {}), ("array code", {"compiled": False})):
        seconds = best_of(lambda kw=kwargs: run(ROSENBROCK, adam, starts_10k, steps=500, **kw), 3)
        print(f"   {label:19s} {seconds * 1e3:8.1f} ms   {10_000 * 500 / seconds / 1e6:6.1f} M trajectory-steps/s"
              + ("   (target >= 40 M/s)" if not kwargs else ""))

    print("\n3. Default view: 5 optimizers x 1 start x 1,000 steps, all series recorded")
    for label, kwargs in (("compiled (default)", {}), ("array code", {"compiled": False}),
                          ("torch backend", {"backend": "torch"})):
        seconds = best_of(lambda kw=kwargs: run(ROSENBROCK, DEFAULT_VIEW, steps=1000, **kw), 7)
        print(f"   {label:19s} {seconds * 1e3:8.2f} ms" + ("   (target <= 20 ms)" if not kwargs else ""))


if __name__ == "__main__":
    main()
