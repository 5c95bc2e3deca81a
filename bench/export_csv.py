"""The trajectories CSV of the worst link a session can ask for, timed.

    python -m bench.export_csv

12 optimizers x 1000 starts x 20000 steps asked for (the page runs what its caps allow): the CSV
is built every k-th step within its 20 MB cap. Printed: the seconds it takes and the longest any
other thread waited meanwhile (a thread waking every millisecond: how long the export held the GIL
at a stretch, plus the machine's scheduling noise), each against its target. This was a timed
assertion in tests/test_session_bounds.py; under the suite's parallel workers the machine's noise
alone passed 0.25 s.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_session_bounds import WORST_LINK, longest_pause, ok, page, result_of  # noqa: E402
from ui import export  # noqa: E402

SECONDS_TARGET = 10.0
PAUSE_TARGET = 0.25
REPEATS = 3


def main() -> int:
    at = ok(page(WORST_LINK))
    res = result_of(at.session_state["config"])
    plan = export.plan_csv(res)
    seconds, pauses = [], []
    for _ in range(REPEATS):
        started = time.perf_counter()
        pauses.append(longest_pause(lambda: export.trajectories_csv(res, plan.stride)))
        seconds.append(time.perf_counter() - started)
    s, p = statistics.median(seconds), statistics.median(pauses)
    print(f"worst link's CSV (every {plan.stride}th step, {plan.rows} rows), median of {REPEATS}: "
          f"{s:.2f} s (target <= {SECONDS_TARGET:g}: {'met' if s <= SECONDS_TARGET else 'NOT met'}), "
          f"longest pause {p * 1000:.0f} ms (target <= {PAUSE_TARGET * 1000:.0f}: {'met' if p <= PAUSE_TARGET else 'NOT met'})"
          f"; runs {', '.join(f'{x:.2f} s' for x in seconds)}; pauses {', '.join(f'{x * 1000:.0f} ms' for x in pauses)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
