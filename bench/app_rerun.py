"""Server-side time of a page rerun after a slider change on the default view (AppTest).

    python -m bench.app_rerun [--changes 20]

Moves Adam's learning rate of the opening view (as its slider's release does) to `changes` different values (every one
a new run: the compute cache misses) and times each rerun: the whole script, from the widget
change to the last element, with the engine run, the figures and their serialisation. Also
times reruns with nothing changed (everything cached) and the engine call alone, for scale.
Target: median <= 150 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from optimizers import run  # noqa: E402
from ui.state import make_config  # noqa: E402
from ui.widgets import log_grid  # noqa: E402

TARGET_MS = 150.0


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1e3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    first = timed(at.run)
    assert not at.exception, at.exception
    for _ in range(3):  # warm-up: imports, caches, first-figure costs
        at.run()
    # Adam's lr: its live slider (ui/live_slider, a custom component AppTest cannot move) writes
    # the released notch into the panel's number input, which is what is set here
    key = next(n.key for n in at.number_input if n.key and n.key.endswith(".adam.lr"))
    grid = [v for v in log_grid(1e-3, 0.2) if v != at.number_input(key=key).value]
    values = (grid * (args.changes // len(grid) + 1))[: args.changes]

    changed = []
    for value in values:
        box = at.number_input(key=key).set_value(value)
        changed.append(timed(box.run))
        assert not at.exception, at.exception
    unchanged = [timed(at.run) for _ in range(10)]
    cfg = make_config()
    engine = [timed(lambda: run(cfg.get_surface(), cfg.optimizers, cfg.starts(), cfg.steps, **cfg.run_kwargs()))
              for _ in range(5)]

    median = statistics.median(changed)
    print(f"default view: {len(cfg.optimizers)} optimizers x {cfg.steps} steps on {cfg.surface}")
    print(f"first run (cold):                  {first:8.1f} ms")
    print(f"rerun after a slider change, n={len(changed)}: median {median:6.1f} ms   "
          f"p95 {percentile(changed, 95):6.1f} ms   min {min(changed):6.1f} ms")
    print(f"rerun with nothing changed, n={len(unchanged)}:  median {statistics.median(unchanged):6.1f} ms")
    print(f"engine run alone:                  median {statistics.median(engine):6.1f} ms")
    print(f"target median <= {TARGET_MS:.0f} ms: {'met' if median <= TARGET_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
